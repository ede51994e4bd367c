//! Lenient decoding for values that real servers send in more than one shape.

use serde::de::{self, Deserialize, Deserializer};
use serde_json::Value;

/// An absent or `null` multi-valued attribute reads as empty.
pub(crate) fn vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn number_from(v: Value) -> Result<Option<Value>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(Some(Value::Number(n))),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => {
            let n: serde_json::Number = s
                .trim()
                .parse()
                .map_err(|_| format!("expected a number, got {s:?}"))?;
            Ok(Some(Value::Number(n)))
        }
        other => Err(format!(
            "expected a number or a numeric string, got {other}"
        )),
    }
}

/// A non-negative integer sent as a JSON number or a numeric string.
pub(crate) fn opt_u64_string_or_number<'de, D>(d: D) -> Result<Option<u64>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = number_from(Value::deserialize(d)?).map_err(de::Error::custom)?;
    v.map(|n| {
        n.as_u64()
            .ok_or_else(|| de::Error::custom(format!("expected a non-negative integer, got {n}")))
    })
    .transpose()
}

/// An integer sent as a JSON number or a numeric string.
pub(crate) fn opt_i64_string_or_number<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = number_from(Value::deserialize(d)?).map_err(de::Error::custom)?;
    v.map(|n| {
        n.as_i64()
            .ok_or_else(|| de::Error::custom(format!("expected an integer, got {n}")))
    })
    .transpose()
}

/// A boolean sent as JSON `true`/`false` or as the strings `"true"`/`"false"` (any case).
pub(crate) fn opt_bool<'de, D>(d: D) -> Result<Option<bool>, D::Error>
where
    D: Deserializer<'de>,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        other => Err(de::Error::custom(format!(
            "expected a boolean, got {other}"
        ))),
    }
}
