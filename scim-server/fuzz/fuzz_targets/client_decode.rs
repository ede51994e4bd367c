//! The client's decoding of server answers on arbitrary bytes: ListResponse<User>,
//! ListResponse<Group>, User, Group, the SCIM error body, ServiceProviderConfig; whatever
//! decodes must encode again and decode to the same value. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_client::{Group, ListResponse, ScimErrorBody, ServiceProviderConfig, User};

fn roundtrip<T>(data: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let text = serde_json::to_string(&v).expect("a decoded value encodes");
        let again: T = serde_json::from_str(&text).expect("an encoded value decodes");
        assert_eq!(
            serde_json::to_value(&again).expect("encodes"),
            serde_json::to_value(&v).expect("encodes"),
        );
    }
}

fuzz_target!(|data: &[u8]| {
    roundtrip::<ListResponse<User>>(data);
    roundtrip::<ListResponse<Group>>(data);
    roundtrip::<User>(data);
    roundtrip::<Group>(data);
    let _ = serde_json::from_slice::<ScimErrorBody>(data);
    let _ = serde_json::from_slice::<ServiceProviderConfig>(data);
});
