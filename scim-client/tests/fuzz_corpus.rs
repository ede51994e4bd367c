//! The `client_decode` fuzz corpus of `scim-server/fuzz` (and any crash reproducer kept in
//! `scim-server/fuzz/regressions/client_decode/`) replayed as regular tests, plus a seeded,
//! coverage-less mutation run: decoding a server's answer never panics, and whatever decodes
//! encodes and decodes again to the same value.

use std::path::PathBuf;

use scim_client::{Group, ListResponse, ScimErrorBody, ServiceProviderConfig, User};

/// Mutated inputs in the seeded run (spread over the corpus).
const MUTATIONS: usize = 30_000;

fn inputs() -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scim-server/fuzz");
    let mut out = Vec::new();
    for dir in [
        root.join("corpus/client_decode"),
        root.join("regressions/client_decode"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            out.push(std::fs::read(&f).unwrap());
        }
    }
    out
}

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

fn roundtrip<T>(data: &[u8]) -> bool
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    match serde_json::from_slice::<T>(data) {
        Ok(v) => {
            let text = serde_json::to_string(&v).expect("a decoded value encodes");
            let again: T = serde_json::from_str(&text).expect("an encoded value decodes");
            let (a, b) = (
                serde_json::to_value(&again).unwrap(),
                serde_json::to_value(&v).unwrap(),
            );
            assert!(
                same(&a, &b),
                "not stable through a round trip: {}",
                String::from_utf8_lossy(data)
            );
            true
        }
        Err(_) => false,
    }
}

/// What the `client_decode` fuzz target does with one input; how many types decoded it.
fn decode_one(data: &[u8]) -> usize {
    let mut n = 0;
    n += usize::from(roundtrip::<ListResponse<User>>(data));
    n += usize::from(roundtrip::<ListResponse<Group>>(data));
    n += usize::from(roundtrip::<User>(data));
    n += usize::from(roundtrip::<Group>(data));
    n += usize::from(serde_json::from_slice::<ScimErrorBody>(data).is_ok());
    n += usize::from(serde_json::from_slice::<ServiceProviderConfig>(data).is_ok());
    n
}

const DICT: &[&str] = &[
    "null",
    "true",
    "\"1\"",
    "-1",
    "1e400",
    "18446744073709551616",
    "[]",
    "{}",
    ",",
    ":",
    "\"Resources\":",
    "\"totalResults\":",
    "\"itemsPerPage\":",
    "\"startIndex\":",
    "\"members\":",
    "\"emails\":",
    "\"active\":",
    "\"name\":",
    "\"status\":",
    "\"\\ud800\"",
    "\"é\"",
    "\u{0}",
];

fn mutate(rng: &mut fastrand::Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let at = if v.is_empty() {
            0
        } else {
            rng.usize(0..=v.len())
        };
        match rng.u8(0..5) {
            0 if !v.is_empty() => {
                let i = rng.usize(0..v.len());
                v[i] = rng.u8(..);
            }
            1 => {
                let t = DICT[rng.usize(0..DICT.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            2 if !v.is_empty() => v.truncate(rng.usize(0..v.len())),
            3 if !v.is_empty() => {
                let a = rng.usize(0..v.len());
                let b = rng.usize(a..=v.len().min(a + 16));
                v.drain(a..b);
            }
            _ => v.insert(at, rng.u8(0x20..0x7f)),
        }
    }
    v
}

/// Kept crash reproducers: each was a finding of the fuzzer (see RELIABILITY.md).
#[test]
fn kept_reproducers_replay() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scim-server/fuzz/regressions/client_decode");
    let files: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert!(!files.is_empty());
    for f in files {
        decode_one(&std::fs::read(f.unwrap().path()).unwrap());
    }
}

#[test]
fn client_decode_corpus_replays() {
    let corpus = inputs();
    assert!(corpus.len() >= 8, "the corpus is checked in");
    let decoded = corpus.iter().filter(|c| decode_one(c) > 0).count();
    assert!(decoded >= 8, "{decoded} of {}", corpus.len());
}

#[test]
fn seeded_mutations_of_the_client_corpus_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x00c1_1e27);
    let corpus = inputs();
    let mut decoded = 0;
    for i in 0..MUTATIONS {
        decoded += usize::from(decode_one(&mutate(&mut rng, &corpus[i % corpus.len()])) > 0);
    }
    // the mutations stay close enough to the grammar that some still decode
    assert!(decoded > 100, "{decoded} of {MUTATIONS}");
}
