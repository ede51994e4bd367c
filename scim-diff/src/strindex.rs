//! A set of strings numbered in insertion order, stored in one buffer.
//!
//! Planning a large organisation is mostly lookups of ids and names. A `HashMap<&str, _>`
//! borrowing from the inputs follows each probe to a string somewhere in the inputs' heap:
//! at 100k users that is a cache miss per lookup, and it was a fifth of the planning time.
//! Here the strings sit side by side in one buffer and each table entry holds its string's
//! place there (and its number), so checking a candidate reads the buffer and nothing else.
//! Values live in the caller's `Vec`, by number.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::FxBuildHasher;

/// A table entry: the string's place in the buffer, so that checking a probe's candidate
/// reads the buffer only, and its number.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: u32,
    end: u32,
    n: u32,
}

#[derive(Debug, Default)]
pub(crate) struct StrIndex {
    bytes: String,
    /// End offset in `bytes` of each string (its start is the previous end).
    ends: Vec<u32>,
    table: HashTable<Slot>,
}

#[inline]
fn hash(s: &str) -> u64 {
    FxBuildHasher.hash_one(s)
}

impl Slot {
    #[inline]
    fn key(self, bytes: &str) -> &str {
        &bytes[self.start as usize..self.end as usize]
    }
}

impl StrIndex {
    /// Room for `n` strings of about `avg_len` bytes.
    pub(crate) fn with_capacity(n: usize, avg_len: usize) -> Self {
        Self {
            bytes: String::with_capacity(n * avg_len),
            ends: Vec::with_capacity(n),
            table: HashTable::with_capacity(n),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The string numbered `i`.
    pub(crate) fn key(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    /// The number of `s`, if it is in the set.
    #[inline]
    pub(crate) fn get(&self, s: &str) -> Option<u32> {
        self.table
            .find(hash(s), |e| e.key(&self.bytes) == s)
            .map(|e| e.n)
    }

    /// Adds `s`: `Ok(its new number)`, or `Err(the number it already has)`.
    pub(crate) fn insert(&mut self, s: &str) -> Result<u32, u32> {
        let Self { bytes, ends, table } = self;
        let entry = table.entry(hash(s), |e| e.key(bytes) == s, |e| hash(e.key(bytes)));
        match entry {
            Entry::Occupied(e) => Err(e.get().n),
            Entry::Vacant(e) => {
                let n = u32::try_from(ends.len()).expect("fewer than 2^32 strings");
                let start = u32::try_from(bytes.len()).expect("under 4 GiB of keys");
                bytes.push_str(s);
                let end = u32::try_from(bytes.len()).expect("under 4 GiB of keys");
                ends.push(end);
                e.insert(Slot { start, end, n });
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StrIndex;

    #[test]
    fn numbers_strings_in_insertion_order_and_finds_them_after_growing() {
        let mut ix = StrIndex::with_capacity(1, 1);
        let words: Vec<String> = (0..5000).map(|i| format!("w{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            assert_eq!(ix.insert(w), Ok(i as u32));
        }
        assert_eq!(ix.insert(""), Ok(5000), "the empty string is a string");
        assert_eq!(ix.insert("w42"), Err(42));
        assert_eq!(ix.len(), 5001);
        for (i, w) in words.iter().enumerate() {
            assert_eq!(ix.get(w), Some(i as u32));
            assert_eq!(ix.key(i as u32), w);
        }
        assert_eq!(ix.get(""), Some(5000));
        assert_eq!(ix.get("w5000"), None);
        assert_eq!(
            ix.get("w4"),
            Some(4),
            "a prefix of another key is its own key"
        );
    }
}
