//! Schema and message URNs.

/// Core User schema (RFC 7643).
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema (RFC 7643).
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// CoreWeave user extension (`sunkSshKeys`, POSIX attributes).
pub const COREWEAVE_USER: &str =
    "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser";
/// CoreWeave group extension (`sunkPosixGroupId`, `sunkPosixGroupName`).
pub const COREWEAVE_GROUP: &str =
    "urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveGroup";
/// List response message.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// PATCH request message.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Error response message.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// Service provider configuration schema.
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// Resource type schema.
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// Schema schema.
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
