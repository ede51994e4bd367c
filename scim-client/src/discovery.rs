//! Discovery documents: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (RFC 7643 §5-7).
//!
//! Every field is optional or defaults, because servers fill these documents unevenly.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lenient;
use crate::resource::Meta;

/// A `{ "supported": bool }` capability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Supported {
    /// Whether the capability is offered.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub supported: Option<bool>,
    /// Other attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Supported {
    /// `true` only if the server said so.
    pub fn is_supported(&self) -> bool {
        self.supported == Some(true)
    }
}

/// Bulk capability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkConfig {
    /// Whether bulk is offered.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub supported: Option<bool>,
    /// Maximum operations per bulk request.
    #[serde(default, deserialize_with = "lenient::opt_u64_string_or_number")]
    pub max_operations: Option<u64>,
    /// Maximum payload size in bytes.
    #[serde(default, deserialize_with = "lenient::opt_u64_string_or_number")]
    pub max_payload_size: Option<u64>,
}

/// Filter capability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterConfig {
    /// Whether filtering is offered.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub supported: Option<bool>,
    /// Maximum resources a filtered query returns.
    #[serde(default, deserialize_with = "lenient::opt_u64_string_or_number")]
    pub max_results: Option<u64>,
}

/// Pagination capability (RFC 9865 §4): which paging methods the server offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationConfig {
    /// Cursor paging (`cursor`, `nextCursor`).
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub cursor: Option<bool>,
    /// Index paging (`startIndex`).
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub index: Option<bool>,
    /// `cursor` or `index`: the method used when a request names none.
    #[serde(default)]
    pub default_pagination_method: Option<String>,
    /// Page size when a request has no `count`.
    #[serde(default, deserialize_with = "lenient::opt_u64_string_or_number")]
    pub default_page_size: Option<u64>,
    /// The largest page, whatever `count` asks for.
    #[serde(default, deserialize_with = "lenient::opt_u64_string_or_number")]
    pub max_page_size: Option<u64>,
    /// Seconds a cursor stays valid between requests, at least.
    #[serde(default, deserialize_with = "lenient::opt_u64_string_or_number")]
    pub cursor_timeout: Option<u64>,
}

impl PaginationConfig {
    /// `true` only if the server said it serves cursor paging.
    pub fn supports_cursor(&self) -> bool {
        self.cursor == Some(true)
    }

    /// Whether a client should walk this server by cursor: it serves cursors, and either
    /// prefers them (`defaultPaginationMethod: cursor`) or does not say it serves index
    /// paging. A server that offers both and defaults to index is walked by index, whose
    /// pages after the first can be requested at once.
    pub fn prefers_cursor(&self) -> bool {
        let default_cursor = self
            .default_pagination_method
            .as_deref()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("cursor"));
        self.supports_cursor() && (default_cursor || self.index != Some(true))
    }
}

/// `/ServiceProviderConfig` (RFC 7643 §5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderConfig {
    /// Schema URNs.
    #[serde(default, deserialize_with = "lenient::vec")]
    pub schemas: Vec<String>,
    /// Documentation link.
    #[serde(default)]
    pub documentation_uri: Option<String>,
    /// PATCH support.
    #[serde(default)]
    pub patch: Supported,
    /// Bulk support.
    #[serde(default)]
    pub bulk: BulkConfig,
    /// Filter support.
    #[serde(default)]
    pub filter: FilterConfig,
    /// Password change support.
    #[serde(default)]
    pub change_password: Supported,
    /// Sorting support.
    #[serde(default)]
    pub sort: Supported,
    /// ETag support.
    #[serde(default)]
    pub etag: Supported,
    /// Pagination methods (RFC 9865), when the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<PaginationConfig>,
    /// Authentication schemes, as sent.
    #[serde(default, deserialize_with = "lenient::vec")]
    pub authentication_schemes: Vec<Value>,
    /// Metadata.
    #[serde(default)]
    pub meta: Option<Meta>,
    /// Other attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One schema extension of a resource type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaExtension {
    /// Extension schema URN.
    #[serde(default)]
    pub schema: String,
    /// Whether resources must carry it.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub required: Option<bool>,
}

/// A `/ResourceTypes` entry (RFC 7643 §6).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceType {
    /// Id, e.g. `User`.
    #[serde(default)]
    pub id: Option<String>,
    /// Name, e.g. `User`.
    #[serde(default)]
    pub name: String,
    /// Endpoint relative to the base URL, e.g. `/Users`.
    #[serde(default)]
    pub endpoint: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Core schema URN.
    #[serde(default)]
    pub schema: String,
    /// Schema extensions.
    #[serde(default, deserialize_with = "lenient::vec")]
    pub schema_extensions: Vec<SchemaExtension>,
    /// Metadata.
    #[serde(default)]
    pub meta: Option<Meta>,
    /// Other attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `/Schemas` entry (RFC 7643 §7).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// Schema URN.
    #[serde(default)]
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Attribute definitions.
    #[serde(default, deserialize_with = "lenient::vec")]
    pub attributes: Vec<SchemaAttribute>,
    /// Metadata.
    #[serde(default)]
    pub meta: Option<Meta>,
    /// Other attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One attribute definition in a [`Schema`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaAttribute {
    /// Attribute name.
    #[serde(default)]
    pub name: String,
    /// `string`, `boolean`, `complex`, `reference`, ...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Whether multi-valued.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub multi_valued: Option<bool>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether required.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub required: Option<bool>,
    /// Whether case-exact.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub case_exact: Option<bool>,
    /// `readOnly`, `readWrite`, `immutable`, `writeOnly`.
    #[serde(default)]
    pub mutability: Option<String>,
    /// `always`, `never`, `default`, `request`.
    #[serde(default)]
    pub returned: Option<String>,
    /// `none`, `server`, `global`.
    #[serde(default)]
    pub uniqueness: Option<String>,
    /// Sub-attributes of a complex attribute.
    #[serde(default, deserialize_with = "lenient::vec")]
    pub sub_attributes: Vec<SchemaAttribute>,
    /// Other attributes (canonicalValues, referenceTypes, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
