//! The projection: a [`SourceSnapshot`] under a [`Policy`] becomes the desired SCIM state.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};

use crate::observed::Name;
use crate::par;
use crate::plan::{Conflict, ConflictKind, Warning, WarningKind};
use crate::planner::fold;
use crate::policy::{Policy, UsernameFrom};
use crate::source::{SourceSnapshot, SourceUser};
use crate::ssh::{KeyRef, normalize_key_refs_into};
use crate::strindex::StrIndex;

/// A user as the target should hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredUser {
    /// `<prefix>user:<username lowercased>`.
    pub external_id: String,
    /// `userName` (the email by default, or the ACTIVATE username).
    pub user_name: String,
    /// `displayName`: the name, or the username when there is none.
    pub display_name: String,
    /// `name` (formatted, given/family split best-effort).
    #[serde(default)]
    pub name: Name,
    /// `emails`: zero or one value, written as primary, type work.
    #[serde(default)]
    pub emails: Vec<String>,
    /// Normalised SSH key lines, sorted; `None`: unknown, leave the target's keys alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_keys: Option<Vec<String>>,
}

/// A group as the target should hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredGroup {
    /// `<prefix>group:<ACTIVATE group id>`.
    pub external_id: String,
    /// `displayName`: the ACTIVATE group name, exactly.
    pub display_name: String,
    /// `externalId`s of the members (synced, active users), sorted.
    pub members: Vec<String>,
}

/// The projected source: desired users and groups, sorted by `externalId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// Desired users, sorted by `externalId`, unique `externalId` and `userName`.
    pub users: Vec<DesiredUser>,
    /// Desired groups, sorted by `externalId`, unique `externalId` and `displayName`.
    pub groups: Vec<DesiredGroup>,
    /// Source records that cannot be synced as they are.
    pub conflicts: Vec<Conflict>,
    /// Things an operator should know.
    pub warnings: Vec<Warning>,
}

/// Splits a full name into (given, family), best-effort: the last word is the family name.
pub fn split_name(full: &str) -> (Option<String>, Option<String>) {
    let (given, family) = split_name_ref(full);
    (given.map(Cow::into_owned), family.map(str::to_owned))
}

/// [`split_name`], borrowing unless the given names need their spacing collapsed.
pub(crate) fn split_name_ref(full: &str) -> (Option<Cow<'_, str>>, Option<&str>) {
    let t = full.trim();
    match t.rsplit_once(char::is_whitespace) {
        None if t.is_empty() => (None, None),
        None => (Some(Cow::Borrowed(t)), None),
        Some((given, family)) => {
            let given = given.trim_end();
            let given = if given.contains(|c: char| c.is_whitespace() && c != ' ')
                || given.contains("  ")
            {
                Cow::Owned(given.split_whitespace().collect::<Vec<_>>().join(" "))
            } else {
                Cow::Borrowed(given)
            };
            (Some(given), Some(family))
        }
    }
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Whether a projected user is synced, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Synced,
    DuplicateExternalId,
    DuplicateUserName,
}

/// A source user as projected, borrowing from the snapshot: the planner keeps one per user
/// and copies a value only into the operations that need it.
///
/// Small on purpose (40 bytes): at a million users the rows are written once each, and
/// every byte of them is memory the kernel must first hand over. The email and name are
/// read from the source user when needed; the keys live in [`Projection::keys`].
#[derive(Debug)]
pub(crate) struct Row<'a> {
    pub(crate) src: &'a SourceUser,
    pub(crate) user_name: &'a str,
    /// Where this user's normalised keys are in [`Projection::keys`]: (start, count), sorted;
    /// `start` is `UNKNOWN_KEYS` when they are unknown.
    keys: (u32, u32),
    pub(crate) status: Status,
}

/// See [`Row::keys`].
const UNKNOWN_KEYS: u32 = u32::MAX;

impl<'a> Row<'a> {
    /// The trimmed, non-blank email.
    pub(crate) fn email(&self) -> Option<&'a str> {
        non_blank(self.src.email.as_deref())
    }

    /// The trimmed, non-blank full name.
    pub(crate) fn full(&self) -> Option<&'a str> {
        non_blank(self.src.name.as_deref())
    }

    pub(crate) fn display_name(&self) -> &'a str {
        self.full().unwrap_or(&self.src.username)
    }

    /// Whether `name` is the name this user should have.
    pub(crate) fn name_matches(&self, name: &Name) -> bool {
        let full = self.full();
        let (given, family) = full.map(split_name_ref).unwrap_or((None, None));
        name.formatted.as_deref() == full
            && name.given_name.as_deref() == given.as_deref()
            && name.family_name.as_deref() == family
    }

    pub(crate) fn name(&self) -> Name {
        let full = self.full();
        let (given, family) = full.map(split_name).unwrap_or((None, None));
        Name {
            formatted: full.map(str::to_owned),
            given_name: given,
            family_name: family,
        }
    }

    pub(crate) fn emails(&self) -> Vec<String> {
        self.email().map(str::to_owned).into_iter().collect()
    }
}

/// A group to sync, borrowing from the snapshot; members are indexes into
/// [`Projection::users`], sorted: every in-scope active user the group names, synced or
/// not, so the lookups need not read the rows; whoever uses them keeps the synced ones.
#[derive(Debug)]
pub(crate) struct GroupRow<'a> {
    pub(crate) external_id: String,
    pub(crate) src: &'a crate::source::SourceGroup,
    pub(crate) members: Vec<u32>,
}

/// The projection as the planner uses it: every in-scope active user once (synced or not,
/// see [`Row::status`]), the groups to sync sorted by `externalId`, conflicts and warnings.
#[derive(Debug)]
pub(crate) struct Projection<'a> {
    pub(crate) users: Vec<Row<'a>>,
    /// The normalised keys of every user, each user's together (see [`Row::keys`]).
    keys: Vec<KeyRef<'a>>,
    /// Lowercased username -> index in `users`.
    pub(crate) by_key: StrIndex,
    pub(crate) groups: Vec<GroupRow<'a>>,
    pub(crate) conflicts: Vec<Conflict>,
    pub(crate) warnings: Vec<Warning>,
    scoped_groups: Vec<&'a crate::source::SourceGroup>,
    /// Lowercased `userName`s that several synced users would get -> those users.
    same_user_name: BTreeMap<String, Vec<u32>>,
    /// `externalId`s of source records refused for their identifiers (see
    /// [`unusable_identifier`]): not synced, and their target records left as they are.
    pub(crate) held: Vec<String>,
}

/// Why an identifier (a username, an email, a name, a group's id or name) cannot be synced
/// as it is: empty, or holding a character that would change what a terminal, a log line or
/// a downstream file shows (a line break, an escape, a bidirectional override…).
pub(crate) fn unusable_identifier(value: &str) -> Option<&'static str> {
    if value.trim().is_empty() {
        return Some("is empty");
    }
    // printable ASCII, the common case, needs no look at characters (a million users)
    (!printable_ascii(value.as_bytes()) && value.chars().any(is_hostile_char))
        .then_some("contains a control or bidirectional formatting character")
}

/// Whether every byte is printable ASCII (0x20..=0x7E), eight bytes at a time.
fn printable_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let v = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // with no high bit set (non-ASCII), a byte below 0x20 borrows when 0x20 is
        // subtracted, and 0x7F is the one byte whose increment sets the high bit
        let below_space = v.wrapping_sub(0x2020_2020_2020_2020) & !v;
        let del = v.wrapping_add(0x0101_0101_0101_0101);
        if (v | below_space | del) & HIGH != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|b| (0x20..0x7f).contains(b))
}

/// Control characters (C0, DEL, C1), line and paragraph separators and the bidirectional
/// formatting characters: the set `http_transport::escape_controls` escapes on output (kept
/// here too, since the engine depends on no HTTP crate).
fn is_hostile_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// The first unusable identifier of a user: which field, and why.
fn unusable_user(u: &SourceUser) -> Option<(&'static str, &'static str)> {
    if let Some(why) = unusable_identifier(&u.username) {
        return Some(("username", why));
    }
    for (field, value) in [("email", &u.email), ("name", &u.name)] {
        if let Some(v) = value
            && !v.trim().is_empty()
            && let Some(why) = unusable_identifier(v)
        {
            return Some((field, why));
        }
    }
    None
}

impl<'a> Projection<'a> {
    /// A user's normalised keys, sorted; `None`: unknown.
    pub(crate) fn keys(&self, r: &Row<'a>) -> Option<&[KeyRef<'a>]> {
        let (start, count) = r.keys;
        (start != UNKNOWN_KEYS).then(|| &self.keys[start as usize..(start + count) as usize])
    }

    pub(crate) fn key_lines(&self, r: &Row<'a>) -> Option<Vec<String>> {
        self.keys(r)
            .map(|keys| keys.iter().map(KeyRef::line).collect())
    }

    pub(crate) fn to_desired(&self, r: &Row<'a>, external_id: String) -> DesiredUser {
        DesiredUser {
            external_id,
            user_name: r.user_name.to_owned(),
            display_name: r.display_name().to_owned(),
            name: r.name(),
            emails: r.emails(),
            ssh_keys: self.key_lines(r),
        }
    }

    /// The synced user with this `externalId`.
    pub(crate) fn user_by_external_id(&self, policy: &Policy, ext: &str) -> Option<u32> {
        let key = ext
            .strip_prefix(policy.external_id_prefix.as_str())?
            .strip_prefix("user:")?;
        let i = self.by_key.get(key)?;
        (self.users[i as usize].status == Status::Synced).then_some(i)
    }

    /// The group to sync with this `externalId`.
    pub(crate) fn group_by_external_id(&self, ext: &str) -> Option<&GroupRow<'a>> {
        self.groups
            .binary_search_by(|g| g.external_id.as_str().cmp(ext))
            .ok()
            .map(|i| &self.groups[i])
    }
}

/// The names (compared lowercased, as a server compares `userName`s and group names) that
/// several of `names` share: each with the numbers of those that share it, ascending.
///
/// Finds them by sorting hashes rather than by inserting every name in a set: only names
/// whose hashes meet (nearly always because they are equal) are compared, and a sort of
/// small integers costs far less than a million probes of a table that does not fit in the
/// cache.
fn shared_names<'n>(
    names: impl Iterator<Item = (u32, &'n str)>,
    name_of: impl Fn(u32) -> &'n str,
) -> BTreeMap<String, Vec<u32>> {
    use std::hash::BuildHasher;
    let mut hashed: Vec<(u64, u32)> = names
        .map(|(i, name)| (FxBuildHasher.hash_one(&*fold(name)), i))
        .collect();
    hashed.sort_unstable();
    let mut shared: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut run: Vec<(Cow<'n, str>, u32)> = Vec::new();
    for same_hash in hashed.chunk_by(|a, b| a.0 == b.0) {
        if same_hash.len() < 2 {
            continue;
        }
        run.clear();
        run.extend(same_hash.iter().map(|&(_, i)| (fold(name_of(i)), i)));
        run.sort_unstable();
        for same_name in run.chunk_by(|a, b| a.0 == b.0) {
            if let [(name, _), _, ..] = same_name {
                shared.insert(
                    name.clone().into_owned(),
                    same_name.iter().map(|&(_, i)| i).collect(),
                );
            }
        }
    }
    shared
}

/// The first part of the projection, which needs nothing from the target: scope, users
/// (keys parsed on several threads for a large organisation), duplicate `externalId`s.
pub(crate) fn project_users<'a>(source: &'a SourceSnapshot, policy: &Policy) -> Projection<'a> {
    let mut conflicts = Vec::new();
    let mut warnings = Vec::new();

    // Groups in scope (exact names).
    let scoped_groups: Vec<&crate::source::SourceGroup> = match &policy.sync_groups {
        None => source.groups.iter().collect(),
        Some(names) => {
            let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
            let present: BTreeSet<&str> = source.groups.iter().map(|g| g.name.as_str()).collect();
            for name in wanted.difference(&present) {
                warnings.push(Warning::new(
                    WarningKind::UnknownScopeGroup,
                    format!("group-scope:{name}"),
                    format!("sync_groups names {name:?}, which matches no ACTIVATE group"),
                ));
            }
            source
                .groups
                .iter()
                .filter(|g| wanted.contains(g.name.as_str()))
                .collect()
        }
    };
    let in_scope: Option<HashSet<Cow<'_, str>, FxBuildHasher>> =
        policy.sync_groups.as_ref().map(|_| {
            scoped_groups
                .iter()
                .flat_map(|g| g.members.iter())
                .map(|m| fold(m))
                .collect()
        });

    // Active users in scope, once per lowercased username; usernames differing only in case
    // are conflicts.
    let mut users: Vec<Row<'_>> = Vec::with_capacity(source.users.len());
    let mut by_key = StrIndex::with_capacity(source.users.len(), 16);
    let mut same_key: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    // users whose userName falls back to the username for want of an email
    let mut no_email: Vec<u32> = Vec::new();
    let mut held: Vec<String> = Vec::new();
    for u in source.users.iter().filter(|u| u.active) {
        if let Some((field, why)) = unusable_user(u) {
            let ext = policy.user_external_id(&u.username);
            warnings.push(Warning::new(
                WarningKind::UserNotSynced,
                ext.clone(),
                format!(
                    "user {:?} is not synced: its {field} {why}; fix it in ACTIVATE (its \
                     target record, if any, is left as it is)",
                    u.username
                ),
            ));
            held.push(ext);
            continue;
        }
        let key = fold(&u.username);
        if in_scope.as_ref().is_some_and(|s| !s.contains(&key)) {
            continue;
        }
        match by_key.insert(&key) {
            Err(first) => {
                users[first as usize].status = Status::DuplicateExternalId;
                same_key
                    .entry(first)
                    .or_insert_with(|| vec![users[first as usize].src.username.as_str()])
                    .push(&u.username);
            }
            Ok(i) => {
                debug_assert_eq!(i as usize, users.len(), "one row per key, in order");
                let user_name = match (policy.username_from, non_blank(u.email.as_deref())) {
                    (UsernameFrom::Email, Some(e)) => e,
                    (UsernameFrom::Email, None) => {
                        no_email.push(i);
                        &u.username
                    }
                    (UsernameFrom::Username, _) => &u.username,
                };
                users.push(Row {
                    src: u,
                    status: Status::Synced,
                    user_name,
                    keys: (UNKNOWN_KEYS, 0),
                });
            }
        }
    }
    drop(in_scope);
    for (first, mut names) in same_key {
        names.sort_unstable();
        conflicts.push(Conflict::new(
            policy.user_external_id(&users[first as usize].src.username),
            ConflictKind::DuplicateExternalId,
            format!("ACTIVATE usernames {names:?} map to one externalId; none of them is synced"),
        ));
    }

    // Keys, on every core: each thread's users' keys in one buffer, then the buffers joined.
    let parsed = par::map_chunks(&users, users.len(), |offset, rows| {
        let mut keys: Vec<KeyRef<'_>> = Vec::with_capacity(rows.len());
        let mut spans: Vec<(u32, u32)> = Vec::with_capacity(rows.len());
        let mut invalid: Vec<(u32, usize, String)> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            match &r.src.ssh_keys {
                Some(lines) if r.status == Status::Synced && policy.sync_ssh_keys => {
                    let start = keys.len();
                    normalize_key_refs_into(lines, &mut keys, |line, e| {
                        invalid.push(((offset + i) as u32, line, e));
                    });
                    spans.push((start as u32, (keys.len() - start) as u32));
                }
                _ => spans.push((UNKNOWN_KEYS, 0)),
            }
        }
        (keys, spans, invalid)
    });
    let mut keys: Vec<KeyRef<'_>> = Vec::with_capacity(parsed.iter().map(|p| p.0.len()).sum());
    let mut invalid_keys: Vec<(u32, usize, String)> = Vec::new();
    let mut rows = users.iter_mut();
    for (part_keys, spans, invalid) in parsed {
        let base = u32::try_from(keys.len()).expect("fewer than 2^32 keys");
        keys.extend(part_keys);
        // `spans` first: zip then stops without taking a row too many
        for ((start, count), r) in spans.into_iter().zip(rows.by_ref()) {
            r.keys = if start == UNKNOWN_KEYS {
                (UNKNOWN_KEYS, 0)
            } else {
                (base + start, count)
            };
        }
        invalid_keys.extend(invalid);
    }
    for i in no_email {
        let r = &users[i as usize];
        if r.status == Status::Synced {
            warnings.push(Warning::new(
                WarningKind::NoEmail,
                policy.user_external_id(&r.src.username),
                format!(
                    "user {} has no email; userName falls back to the ACTIVATE username",
                    r.src.username
                ),
            ));
        }
    }
    for (i, line, err) in invalid_keys {
        let r = &users[i as usize];
        warnings.push(Warning::new(
WarningKind::InvalidSshKey,
            policy.user_external_id(&r.src.username),
            format!(
                "user {}: SSH key on line {line} is not a valid OpenSSH public key ({err}); it is skipped",
                r.src.username
            ),
        ));
    }

    // userName uniqueness among source users (case-insensitive, as on the server); which
    // one keeps a shared name depends on the target (see `project_groups`).
    let same_user_name = shared_names(
        users
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status == Status::Synced)
            .map(|(i, r)| (i as u32, r.user_name)),
        |i| users[i as usize].user_name,
    );

    Projection {
        users,
        keys,
        by_key,
        groups: Vec::new(),
        conflicts,
        warnings,
        scoped_groups,
        same_user_name,
        held,
    }
}

/// The rest of the projection: `userName` uniqueness among source users, then the groups.
///
/// `holds_user_name(projected user, its externalId, lowercased userName)` answers "does
/// this record hold this name in the target now": among source users that would share a `userName`, the one
/// holding it wins (otherwise the smallest `externalId`) and the others become conflicts.
/// `holds_group_name` does the same for lowercased group names.
pub(crate) fn project_groups(
    p: &mut Projection<'_>,
    source: &SourceSnapshot,
    policy: &Policy,
    holds_user_name: &dyn Fn(u32, &str, &str) -> bool,
    holds_group_name: &dyn Fn(&str, &str) -> bool,
) {
    // userName uniqueness among source users: the winner of each shared name
    for (lower, mut idxs) in std::mem::take(&mut p.same_user_name) {
        let exts: BTreeMap<String, u32> = idxs
            .iter()
            .map(|&i| {
                (
                    policy.user_external_id(&p.users[i as usize].src.username),
                    i,
                )
            })
            .collect();
        idxs = exts.values().copied().collect(); // by externalId
        let ext_of = |i: u32| exts.iter().find(|(_, j)| **j == i).map(|(e, _)| e.as_str());
        let winner = idxs
            .iter()
            .copied()
            .find(|&i| holds_user_name(i, ext_of(i).unwrap_or_default(), &lower))
            .unwrap_or(idxs[0]);
        for &i in &idxs {
            if i != winner {
                p.users[i as usize].status = Status::DuplicateUserName;
                p.conflicts.push(Conflict::new(
                    ext_of(i).unwrap_or_default().to_owned(),
                    ConflictKind::DuplicateUserName,
                    format!(
                        "userName {:?} is also the userName of {}, which is synced instead",
                        p.users[i as usize].user_name,
                        ext_of(winner).unwrap_or_default()
                    ),
                ));
            }
        }
    }

    // Groups: members are synced, active users; duplicate ids or names are conflicts.
    let mut groups: Vec<(String, &crate::source::SourceGroup)> =
        std::mem::take(&mut p.scoped_groups)
            .into_iter()
            .map(|g| (policy.group_external_id(&g.id), g))
            .collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<(String, &crate::source::SourceGroup)> = Vec::with_capacity(groups.len());
    let mut rest = groups.as_mut_slice();
    while let Some((ext, _)) = rest.first() {
        let run = rest.iter().take_while(|(e, _)| e == ext).count();
        let (gs, tail) = std::mem::take(&mut rest).split_at_mut(run);
        rest = tail;
        let ext = std::mem::take(&mut gs[0].0);
        if gs.len() > 1 {
            p.conflicts.push(Conflict::new(
                ext,
                ConflictKind::DuplicateExternalId,
                format!("{} ACTIVATE groups share this id; none is synced", gs.len()),
            ));
            continue;
        }
        let g = gs[0].1;
        if let Some((field, why)) = [("id", &g.id), ("name", &g.name)]
            .into_iter()
            .find_map(|(field, v)| unusable_identifier(v).map(|why| (field, why)))
        {
            p.warnings.push(Warning::new(
                WarningKind::GroupNotSynced,
                ext.clone(),
                format!(
                    "group {:?} is not synced: its {field} {why}; fix it in ACTIVATE (its \
                     target record, if any, is left as it is)",
                    g.name
                ),
            ));
            p.held.push(ext);
            continue;
        }
        if policy
            .reserved_group_names
            .iter()
            .any(|r| r.eq_ignore_ascii_case(g.name.trim()))
        {
            p.warnings.push(Warning::new(
                WarningKind::ReservedGroupName,
                ext,
                format!(
                    "group {:?} is not synced: the target reserves this name for its default \
                     groups, so creating it would collide; rename the group in ACTIVATE",
                    g.name
                ),
            ));
            continue;
        }
        kept.push((ext, g));
    }
    drop(groups);
    // Members: projected users, by index; names that are no source user at all are set
    // aside.
    let work = kept.iter().map(|(_, g)| g.members.len()).sum();
    let by_key = &p.by_key;
    let resolved = par::map(
        &kept,
        work,
        || (),
        |(), _, (_, g)| {
            let mut members: Vec<u32> = Vec::with_capacity(g.members.len());
            let mut missing: Vec<&str> = Vec::new();
            for m in &g.members {
                match by_key.get(&fold(m)) {
                    Some(i) => members.push(i),
                    None => missing.push(m),
                }
            }
            members.sort_unstable();
            members.dedup();
            (members, missing)
        },
    );
    // lowercased usernames of inactive users: known, just not synced (built when needed)
    let mut inactive: Option<HashSet<Cow<'_, str>, FxBuildHasher>> = None;
    let mut desired_groups: Vec<GroupRow<'_>> = Vec::with_capacity(kept.len());
    for ((ext, g), (members, missing)) in kept.into_iter().zip(resolved) {
        for m in missing {
            let known = inactive
                .get_or_insert_with(|| {
                    source
                        .users
                        .iter()
                        .filter(|u| !u.active)
                        .map(|u| fold(&u.username))
                        .collect()
                })
                .contains(&fold(m));
            if !known {
                p.warnings.push(Warning::new(
                    WarningKind::UnknownMember,
                    ext.clone(),
                    format!(
                        "group {:?}: member {m:?} is not an ACTIVATE user; skipped",
                        g.name
                    ),
                ));
            }
        }
        desired_groups.push(GroupRow {
            external_id: ext,
            src: g,
            members,
        });
    }
    // Group names are compared case-insensitively: servers (and CoreWeave's default groups)
    // may treat "HPC" and "hpc" as one name.
    let by_name = shared_names(
        desired_groups
            .iter()
            .enumerate()
            .map(|(i, g)| (i as u32, g.src.name.as_str())),
        |i| desired_groups[i as usize].src.name.as_str(),
    );
    let mut gdropped = vec![false; desired_groups.len()];
    for (lower, idxs) in &by_name {
        let idxs: Vec<usize> = idxs.iter().map(|&i| i as usize).collect();
        let winner = idxs
            .iter()
            .copied()
            .find(|&i| holds_group_name(&desired_groups[i].external_id, lower))
            .unwrap_or(idxs[0]);
        for &i in idxs.iter().filter(|&&i| i != winner) {
            gdropped[i] = true;
            p.conflicts.push(Conflict::new(
                desired_groups[i].external_id.clone(),
                ConflictKind::DuplicateDisplayName,
                format!(
                    "group name {:?} is also the name of {}, which is synced instead",
                    desired_groups[i].src.name, desired_groups[winner].external_id
                ),
            ));
        }
    }
    if !by_name.is_empty() {
        let mut i = 0;
        desired_groups.retain(|_| {
            i += 1;
            !gdropped[i - 1]
        });
    }
    p.groups = desired_groups;
}

/// Projects a snapshot into the desired SCIM state.
///
/// `holds_user_name(externalId, lowercased userName)` answers "does this record hold this
/// name in the target now": among source users that would share a `userName`, the one
/// holding it wins (otherwise the smallest `externalId`) and the others become conflicts.
/// `holds_group_name` does the same for lowercased group names.
pub fn project(
    source: &SourceSnapshot,
    policy: &Policy,
    holds_user_name: &dyn Fn(&str, &str) -> bool,
    holds_group_name: &dyn Fn(&str, &str) -> bool,
) -> Desired {
    let mut p = project_users(source, policy);
    project_groups(
        &mut p,
        source,
        policy,
        &|_, ext, lower| holds_user_name(ext, lower),
        holds_group_name,
    );
    let exts: Vec<Option<String>> = p
        .users
        .iter()
        .map(|r| (r.status == Status::Synced).then(|| policy.user_external_id(&r.src.username)))
        .collect();
    let mut users: Vec<DesiredUser> = p
        .users
        .iter()
        .zip(&exts)
        .filter_map(|(r, e)| e.as_ref().map(|e| p.to_desired(r, e.clone())))
        .collect();
    users.sort_unstable_by(|a, b| a.external_id.cmp(&b.external_id));
    let groups = p
        .groups
        .iter()
        .map(|g| {
            let mut members: Vec<String> = g
                .members
                .iter()
                .filter_map(|&i| exts[i as usize].clone())
                .collect();
            members.sort_unstable();
            DesiredGroup {
                external_id: g.external_id.clone(),
                display_name: g.src.name.clone(),
                members,
            }
        })
        .collect();
    let mut conflicts = p.conflicts;
    conflicts.sort();
    let mut warnings = p.warnings;
    warnings.sort();
    warnings.dedup();
    Desired {
        users,
        groups,
        conflicts,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_agrees_with_the_byte_by_byte_check() {
        let simple = |b: &[u8]| b.iter().all(|b| (0x20..0x7f).contains(b));
        let mut samples: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b; 9]).collect();
        for b in 0u8..=255 {
            for at in 0..17 {
                let mut v = b"ada.lovelace@example.org".to_vec();
                v.insert(at, b);
                samples.push(v);
            }
        }
        for s in samples {
            assert_eq!(printable_ascii(&s), simple(&s), "{s:?}");
        }
    }

    #[test]
    fn names_split_best_effort() {
        assert_eq!(split_name(""), (None, None));
        assert_eq!(split_name("Ada"), (Some("Ada".into()), None));
        assert_eq!(
            split_name("Ada  King Lovelace"),
            (Some("Ada King".into()), Some("Lovelace".into()))
        );
    }
}
