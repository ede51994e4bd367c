//! The PATCH path parser on arbitrary text, and, when the input is JSON, the whole PATCH
//! engine (request parsing + apply) on a stored-looking record. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_server::ResourceKind;
use scim_server::fuzzing::{patch_apply, patch_path};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let _ = patch_path(kind, text);
    }
    if let Ok(body) = serde_json::from_str::<serde_json::Value>(text) {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let mut record = match kind {
                ResourceKind::User => serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "id": "u1", "userName": "ada@example.org", "active": true,
                    "name": {"givenName": "Ada", "familyName": "Lovelace"},
                    "emails": [{"value": "ada@example.org", "primary": true, "type": "work"}],
                }),
                _ => serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "id": "g1", "displayName": "team",
                    "members": [{"value": "u1", "type": "User"}],
                }),
            };
            let map = record.as_object_mut().expect("object");
            let _ = patch_apply(kind, &body, map);
        }
    }
});
