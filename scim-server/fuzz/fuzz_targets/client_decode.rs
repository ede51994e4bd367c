//! The client's decoding of server answers on arbitrary bytes: ListResponse<User>,
//! ListResponse<Group>, User, Group, the SCIM error body, ServiceProviderConfig; whatever
//! decodes must encode again and decode to the same value. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_client::{Group, ListResponse, ScimErrorBody, ServiceProviderConfig, User};

/// JSON equality where numbers may differ in the last bits: serde_json (without its
/// `float_roundtrip` feature) does not parse every float to the nearest double, so a decoded
/// float can move by one ulp through an encode/decode round trip.
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) if x.is_f64() || y.is_f64() => {
                p == q || (p - q).abs() <= p.abs().max(q.abs()) * 1e-12
            }
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| same(p, q)))
        }
        _ => a == b,
    }
}

fn roundtrip<T>(data: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let text = serde_json::to_string(&v).expect("a decoded value encodes");
        let again: T = serde_json::from_str(&text).expect("an encoded value decodes");
        let (a, b) = (
            serde_json::to_value(&again).expect("encodes"),
            serde_json::to_value(&v).expect("encodes"),
        );
        assert!(same(&a, &b), "not stable through a round trip: {a} vs {b}");
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
