//! Who may take a contested name (a `userName`, a group's `displayName`), and in which wave.

use std::borrow::Cow;
use std::collections::HashMap;

/// One record holding a (lowercased) name in the target.
pub(super) struct Holder<'a> {
    pub(super) id: &'a str,
    /// Its `externalId`, when it is a managed record's.
    pub(super) managed_ext: Option<&'a str>,
    /// Its `externalId`, whoever manages it.
    pub(super) external_id: Option<&'a str>,
}

/// A desired record's name: its own SCIM id (if it exists), the lowercased name it should
/// have, and whether that is a change.
pub(super) struct Want<'a> {
    pub(super) own_id: Option<&'a str>,
    pub(super) lower_new: Cow<'a, str>,
    pub(super) needs: bool,
}

/// Decides whether a record may take its desired name in this plan, and in which wave: a
/// name held only by managed records that give it up in this plan (in earlier waves) is
/// free; any other holder is a conflict, and so is a cycle of renames.
pub(super) struct NameResolver<'a, 'f> {
    kind: &'static str,
    holders: &'f dyn Fn(&str) -> Vec<Holder<'a>>,
    want: &'f dyn Fn(&str) -> Option<Want<'a>>,
    /// `None` while being resolved (cycle detection).
    memo: HashMap<String, Option<Result<u32, String>>>,
}

impl<'a, 'f> NameResolver<'a, 'f> {
    /// A resolver for names of `kind` (`"user"`, `"group"`): `holders` says who holds a
    /// lowercased name in the target, `want` what a record (by `externalId`) should be named.
    pub(super) fn new(
        kind: &'static str,
        holders: &'f dyn Fn(&str) -> Vec<Holder<'a>>,
        want: &'f dyn Fn(&str) -> Option<Want<'a>>,
    ) -> Self {
        Self {
            kind,
            holders,
            want,
            memo: HashMap::new(),
        }
    }

    fn describe(&self, h: &Holder<'_>) -> String {
        match h.managed_ext {
            Some(e) => format!("managed {} {} (id {})", self.kind, e, h.id),
            None => match h.external_id {
                Some(e) => format!("unmanaged {} id {} (externalId {e:?})", self.kind, h.id),
                None => format!("unmanaged {} id {} (no externalId)", self.kind, h.id),
            },
        }
    }

    /// The wave in which the record with this `externalId` may take its name, or who holds
    /// it for good.
    pub(super) fn resolve(&mut self, ext: &str) -> Result<u32, String> {
        match self.memo.get(ext) {
            Some(Some(r)) => return r.clone(),
            Some(None) => return Err(format!("a cycle of {} renames", self.kind)),
            None => {}
        }
        let Some(want) = (self.want)(ext) else {
            return Err(format!("{ext}, which is not synced"));
        };
        if !want.needs {
            return Ok(0);
        }
        let others: Vec<Holder<'_>> = (self.holders)(&want.lower_new)
            .into_iter()
            .filter(|h| Some(h.id) != want.own_id)
            .collect();
        if others.is_empty() {
            return Ok(0);
        }
        self.memo.insert(ext.to_owned(), None);
        let mut wave = 0;
        let mut blockers: Vec<String> = Vec::new();
        for h in &others {
            let leaving = h.managed_ext.filter(|e| {
                (self.want)(e).is_some_and(|w| {
                    w.own_id == Some(h.id) && w.needs && w.lower_new != want.lower_new
                })
            });
            match leaving {
                Some(e) => match self.resolve(e) {
                    Ok(w) => wave = wave.max(w + 1),
                    Err(why) => blockers.push(format!("{} ({why})", self.describe(h))),
                },
                None => blockers.push(self.describe(h)),
            }
        }
        blockers.sort();
        let result = if blockers.is_empty() {
            Ok(wave)
        } else {
            Err(blockers.join(", "))
        };
        self.memo.insert(ext.to_owned(), Some(result.clone()));
        result
    }
}
