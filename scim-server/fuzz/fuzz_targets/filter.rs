//! The SCIM filter parser (RFC 7644 §3.4.2.2) on arbitrary text: parse, validate for both
//! resource types, evaluate against a record. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_server::ResourceKind;
use scim_server::filter::{Filter, parse_attr_path};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_attr_path(text);
    if let Ok(filter) = Filter::parse(text) {
        let record = serde_json::json!({
            "id": "1", "userName": "ada@example.org", "active": true,
            "externalId": "pw-activate:user:ada", "displayName": "Ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.org", "primary": true, "type": "work"}],
            "members": [{"value": "2", "type": "User"}],
            "meta": {"created": "2024-01-01T00:00:00Z", "lastModified": "2024-01-02T00:00:00Z"},
        });
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let _ = filter.validate(kind);
            let _ = filter.matches(&record, kind);
        }
    }
});
