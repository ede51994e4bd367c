//! The fuzz corpus of `scim-server/fuzz` (and any crash reproducer kept in
//! `fuzz/regressions/<target>/`) replayed as regular tests, plus a seeded, coverage-less
//! mutation run over the same inputs, so that CI on stable Rust exercises the filter parser
//! and the PATCH path parser/engine with hostile text on every run.

use std::path::PathBuf;

use scim_server::ResourceKind;
use scim_server::filter::{Filter, parse_attr_path};
use scim_server::fuzzing::{patch_apply, patch_path};
use serde_json::json;

/// Mutated inputs per target in the seeded run (spread over the corpus).
const MUTATIONS: usize = 30_000;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
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

/// What the `filter` fuzz target does with one input.
fn filter_one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_attr_path(text);
    if let Ok(filter) = Filter::parse(text) {
        let record = json!({
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
}

/// What the `patch_path` fuzz target does with one input.
fn patch_one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let _ = patch_path(kind, text);
    }
    if let Ok(body) = serde_json::from_str::<serde_json::Value>(text) {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let mut record = match kind {
                ResourceKind::User => json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "id": "u1", "userName": "ada@example.org", "active": true,
                    "name": {"givenName": "Ada", "familyName": "Lovelace"},
                    "emails": [{"value": "ada@example.org", "primary": true, "type": "work"}],
                }),
                _ => json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "id": "g1", "displayName": "team",
                    "members": [{"value": "u1", "type": "User"}],
                }),
            };
            let map = record.as_object_mut().unwrap();
            let _ = patch_apply(kind, &body, map);
        }
    }
}

/// Tokens the mutator splices in: the grammar's punctuation and keywords, escapes, odd
/// Unicode, and JSON structure.
const DICT: &[&str] = &[
    "[",
    "]",
    "(",
    ")",
    "\"",
    "\\",
    ".",
    ":",
    " ",
    " eq ",
    " sw ",
    " pr",
    " and ",
    " or ",
    "not ",
    "urn:ietf:params:scim:schemas:core:2.0:User:",
    "members[value eq \"",
    "\u{0}",
    "é",
    "𝒳",
    "\u{202e}",
    "true",
    "null",
    "1e999",
    "-0",
    "{",
    "}",
    ",",
    "\"op\":",
    "\"path\":",
    "\"value\":",
    "\"remove\"",
    "\"add\"",
    "\"replace\"",
    "[]",
    "{}",
    "\\u0000",
    "\\ud800",
];

/// A seeded mutation of `input`: byte edits, dictionary splices, truncation, duplication.
fn mutate(rng: &mut fastrand::Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let at = if v.is_empty() {
            0
        } else {
            rng.usize(0..=v.len())
        };
        match rng.u8(0..6) {
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
                let b = rng.usize(a..=v.len());
                let chunk = v[a..b].to_vec();
                v.splice(at..at, chunk);
            }
            4 if !v.is_empty() => {
                let a = rng.usize(0..v.len());
                let b = rng.usize(a..=v.len().min(a + 8));
                v.drain(a..b);
            }
            _ => v.insert(at, rng.u8(0x20..0x7f)),
        }
    }
    v
}

fn mutation_run(target: &str, one: fn(&[u8])) -> usize {
    let corpus = inputs(target);
    let mut rng = fastrand::Rng::with_seed(0x5c1a_f022);
    for i in 0..MUTATIONS {
        one(&mutate(&mut rng, &corpus[i % corpus.len()]));
    }
    MUTATIONS
}

#[test]
fn filter_corpus_replays_without_a_panic() {
    let corpus = inputs("filter");
    assert!(corpus.len() >= 10, "the corpus is checked in");
    let mut parsed = 0;
    for input in &corpus {
        filter_one(input);
        parsed += usize::from(Filter::parse(std::str::from_utf8(input).unwrap_or("")).is_ok());
    }
    // many entries are valid filters: the parser is exercised past the first token
    assert!(parsed >= 10, "{parsed} of {}", corpus.len());
}

#[test]
fn patch_corpus_replays_without_a_panic() {
    let corpus = inputs("patch_path");
    assert!(corpus.len() >= 10, "the corpus is checked in");
    for input in &corpus {
        patch_one(input);
    }
    assert!(patch_path(ResourceKind::User, "name.familyName").is_ok());
    assert!(patch_path(ResourceKind::User, "name[").is_err());
}

#[test]
fn seeded_mutations_of_the_filter_corpus_never_panic() {
    let n = mutation_run("filter", filter_one);
    assert_eq!(n, MUTATIONS);
}

#[test]
fn seeded_mutations_of_the_patch_corpus_never_panic() {
    let n = mutation_run("patch_path", patch_one);
    assert_eq!(n, MUTATIONS);
}
