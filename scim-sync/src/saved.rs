//! Plans saved to a file, reviewed, and applied later: [`SavedPlan`].
//!
//! A saved plan carries what it was planned against (its *basis*): every target record an
//! operation touches or depends on, and every record that held a name the plan takes, as they
//! were read. Applying it ([`ApplySaved`](crate::ApplySaved)) reads the target again and
//! applies exactly the saved operations only if that basis still holds — each record by its
//! `meta.version` where the target gives one, else by every attribute the engine reads — and
//! nothing it would create exists meanwhile. Otherwise the plan is stale and nothing is
//! written.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use scim_diff::{
    ObservedGroup, ObservedState, ObservedUser, Operation, Plan, Policy, RefusalKind, RefusalReason,
};
use serde::{Deserialize, Serialize};

/// What the `kind` of a plan file says.
pub const PLAN_FILE_KIND: &str = "pw-activate-scim-sync/plan";

/// The format version this build writes and reads.
pub const PLAN_FILE_VERSION: u32 = 1;

/// The largest plan file read (a plan for a million users is far smaller).
pub const PLAN_FILE_MAX_BYTES: u64 = 1 << 30;

/// How far in the future a plan's `createdAt` may lie (clocks of two machines disagree).
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Records named in one refusal message; the rest are counted.
const NAMED_IN_MESSAGE: usize = 10;

/// A plan as saved for review and a later apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavedPlan {
    /// Always [`PLAN_FILE_KIND`].
    pub kind: String,
    /// The format version ([`PLAN_FILE_VERSION`]).
    pub version: u32,
    /// When the plan was made (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    pub created_at: SystemTime,
    /// What made it (`scim-sync <version>`).
    pub created_by: String,
    /// The source it was planned from, as described in logs (never a credential).
    pub source: String,
    /// The ACTIVATE organization, when the source named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The SCIM base URL it was planned against (never a credential).
    pub target: String,
    /// The settings in force when it was made.
    pub policy: Policy,
    /// The target records the plan was made against.
    pub basis: Basis,
    /// The operations to apply, with the conflicts, warnings and refusal the planner found.
    pub plan: Plan,
}

/// The target as a saved plan depends on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Basis {
    /// The users the source projected to (for the empty-source limit when applied).
    pub source_users: usize,
    /// Every user an operation touches, names as a member, or whose `userName` the plan
    /// takes, sorted by SCIM id.
    pub users: Vec<ObservedUser>,
    /// Every group an operation touches or whose `displayName` the plan takes, by SCIM id.
    pub groups: Vec<ObservedGroup>,
}

impl SavedPlan {
    /// A plan to save: `plan` as made against `observed` (the managed records read and the
    /// holders of the names it takes) under `policy`.
    pub fn new(
        plan: Plan,
        observed: &ObservedState,
        policy: Policy,
        source: String,
        target: &url::Url,
        source_users: usize,
    ) -> SavedPlan {
        let (users, groups) = dependencies(&plan, observed);
        SavedPlan {
            kind: PLAN_FILE_KIND.to_owned(),
            version: PLAN_FILE_VERSION,
            created_at: whole_seconds(SystemTime::now()),
            created_by: concat!("scim-sync ", env!("CARGO_PKG_VERSION")).to_owned(),
            source,
            organization: None,
            target: target_of(target),
            policy,
            basis: Basis {
                source_users,
                users,
                groups,
            },
            plan,
        }
    }

    /// The plan file's text (pretty JSON, so that it reviews well in a diff).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a saved plan always serialises");
        text.push('\n');
        text
    }

    /// Parses a plan file's text; the error says where it is wrong and what to do.
    pub fn from_json(text: &str) -> Result<SavedPlan, String> {
        match serde_json::from_str::<SavedPlan>(text) {
            Ok(saved) => {
                check_header(Some(&saved.kind), Some(saved.version))?;
                Ok(saved)
            }
            // a file that is no plan, or another format's, is said so before its details
            Err(e) => {
                #[derive(Deserialize)]
                struct Header {
                    kind: Option<String>,
                    version: Option<u32>,
                }
                let header: Header = serde_json::from_str(text)
                    .map_err(|e| format!("not a plan file (expected a JSON object): {e}"))?;
                check_header(header.kind.as_deref(), header.version)?;
                Err(format!("the plan file is not valid: {e}"))
            }
        }
    }

    /// Reads and parses a plan file (at most [`PLAN_FILE_MAX_BYTES`]).
    pub fn read(path: &Path) -> Result<SavedPlan, String> {
        let text = activate_client::read_text_file(path, PLAN_FILE_MAX_BYTES)
            .map_err(|e| format!("cannot read the plan file {}: {e}", path.display()))?;
        SavedPlan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes the plan file: readable by its owner only (it names people and their keys),
    /// and whole or not at all.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        activate_client::write_private_file(path, &self.to_json())
    }

    /// Why this plan may not be applied to `target` at `now` under `policy` (before reading
    /// the target): another target, another `externalId` prefix, older than `max_age`, or
    /// operations the syncer never makes.
    pub fn preconditions(
        &self,
        target: &url::Url,
        policy: &Policy,
        max_age: Duration,
        now: SystemTime,
    ) -> Vec<RefusalReason> {
        let mut reasons = Vec::new();
        let here = target_of(target);
        if self.target != here {
            reasons.push(reason(
                RefusalKind::OtherTarget,
                format!(
                    "the plan was made for the target {}, not {here}; make a plan for this target",
                    self.target
                ),
            ));
        }
        if self.policy.external_id_prefix != policy.external_id_prefix {
            reasons.push(reason(
                RefusalKind::OtherTarget,
                format!(
                    "the plan was made for the externalId prefix \"{}\", this run's is \"{}\"",
                    self.policy.external_id_prefix, policy.external_id_prefix
                ),
            ));
        }
        match now.duration_since(self.created_at) {
            Ok(age) if age > max_age => reasons.push(reason(
                RefusalKind::ExpiredPlan,
                format!(
                    "the plan was made {} ago, longer than the maximum plan age of {}; make it again",
                    humantime::format_duration(Duration::from_secs(age.as_secs())),
                    humantime::format_duration(max_age)
                ),
            )),
            Ok(_) => {}
            Err(ahead) if ahead.duration() > CLOCK_SKEW => reasons.push(reason(
                RefusalKind::ExpiredPlan,
                format!(
                    "the plan claims to be made {} in the future; check the clocks, then make it again",
                    humantime::format_duration(Duration::from_secs(ahead.duration().as_secs()))
                ),
            )),
            Err(_) => {}
        }
        let outside: Vec<&str> = self
            .plan
            .operations
            .iter()
            .map(Operation::external_id)
            .filter(|ext| !ext.starts_with(&self.policy.external_id_prefix))
            .collect();
        if !outside.is_empty() {
            reasons.push(reason(
                RefusalKind::InvalidPlan,
                format!(
                    "operations on records outside the managed prefix: {}",
                    named(&outside)
                ),
            ));
        }
        reasons
    }

    /// Why the plan no longer holds against the target as read now (`now`: the managed
    /// records and the holders of the names the plan takes): the records that changed, went or
    /// appeared since it was made, and writes to records that are not (or no longer) the
    /// syncer's to make.
    pub fn staleness(&self, now: &ObservedState, policy: &Policy) -> Vec<RefusalReason> {
        let (users, groups) = dependencies(&self.plan, now);
        let mut changed = compare(&self.basis.users, &users);
        changed.extend(compare(&self.basis.groups, &groups));
        let mut reasons = Vec::new();
        if !changed.is_empty() {
            reasons.push(reason(
                RefusalKind::StalePlan,
                format!(
                    "the target changed since the plan was made: {} record(s) the plan depends \
                     on are new (holding a name or externalId it takes), gone (or no longer \
                     holding it) or changed: {}; make the plan again",
                    changed.len(),
                    named(&changed)
                ),
            ));
        }
        let not_ours = self.writes_not_allowed(now, policy);
        if !not_ours.is_empty() {
            reasons.push(reason(
                RefusalKind::InvalidPlan,
                format!(
                    "the plan writes to records the syncer may not write now: {}",
                    named(&not_ours)
                ),
            ));
        }
        reasons
    }

    /// The operations that address a record by SCIM id which does not carry the operation's
    /// `externalId` now (or, for an adoption, the `externalId` it was adopted from, under an
    /// adoption rule that allows it).
    fn writes_not_allowed(&self, now: &ObservedState, policy: &Policy) -> Vec<String> {
        let users: BTreeMap<&str, &ObservedUser> =
            now.users.iter().map(|u| (u.id.as_str(), u)).collect();
        let groups: BTreeMap<&str, &ObservedGroup> =
            now.groups.iter().map(|g| (g.id.as_str(), g)).collect();
        let prefix = &policy.external_id_prefix;
        let mut wrong = Vec::new();
        for op in &self.plan.operations {
            let allowed = match op {
                Operation::CreateUser { .. } | Operation::CreateGroup { .. } => true,
                Operation::UpdateMembers { id: None, .. } => true,
                Operation::UpdateUser {
                    id, external_id, ..
                }
                | Operation::DeactivateUser {
                    id, external_id, ..
                }
                | Operation::ReactivateUser {
                    id, external_id, ..
                } => users
                    .get(id.as_str())
                    .is_some_and(|u| u.external_id.as_deref() == Some(external_id)),
                Operation::RenameGroup {
                    id, external_id, ..
                }
                | Operation::UpdateMembers {
                    id: Some(id),
                    external_id,
                    ..
                } => groups
                    .get(id.as_str())
                    .is_some_and(|g| g.external_id.as_deref() == Some(external_id)),
                Operation::AdoptUser {
                    id,
                    previous_external_id,
                    ..
                } => {
                    policy.adoption.users
                        && users.get(id.as_str()).is_some_and(|u| {
                            u.external_id == *previous_external_id
                                && policy.adoption.matches(prefix, u.external_id.as_deref())
                        })
                }
                Operation::AdoptGroup {
                    id,
                    previous_external_id,
                    ..
                } => {
                    policy.adoption.groups
                        && groups.get(id.as_str()).is_some_and(|g| {
                            g.external_id == *previous_external_id
                                && policy.adoption.matches(prefix, g.external_id.as_deref())
                        })
                }
            };
            if !allowed {
                wrong.push(format!("{} {}", op.kind(), op.external_id()));
            }
        }
        wrong
    }
}

/// `time` without its fraction of a second, as the file holds it.
fn whole_seconds(time: SystemTime) -> SystemTime {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs())
}

/// The plan file's `kind` and `version` are this build's.
fn check_header(kind: Option<&str>, version: Option<u32>) -> Result<(), String> {
    if kind != Some(PLAN_FILE_KIND) {
        return Err(format!(
            "not a plan file: `kind` is not \"{PLAN_FILE_KIND}\"; make one with `plan --out FILE`"
        ));
    }
    match version {
        Some(PLAN_FILE_VERSION) => Ok(()),
        Some(other) => Err(format!(
            "plan file format version {other} is not the one this build reads \
             ({PLAN_FILE_VERSION}); make the plan again with this build"
        )),
        None => Err("the plan file has no `version`".to_owned()),
    }
}

fn reason(kind: RefusalKind, message: String) -> RefusalReason {
    RefusalReason { kind, message }
}

/// The first few items, then how many more.
fn named<T: AsRef<str>>(items: &[T]) -> String {
    let shown: Vec<&str> = items
        .iter()
        .take(NAMED_IN_MESSAGE)
        .map(AsRef::as_ref)
        .collect();
    let text = shown.join(", ");
    match items.len().checked_sub(NAMED_IN_MESSAGE) {
        Some(more) if more > 0 => format!("{text} and {more} more"),
        _ => text,
    }
}

/// A target as a plan file names it: its base URL without credentials, query or trailing
/// slash.
fn target_of(url: &url::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.as_str().trim_end_matches('/').to_owned()
}

/// The records of `observed` that `plan` depends on: every user or group an operation
/// addresses by SCIM id or `externalId` (members included), and every record holding a name
/// the plan takes; each sorted by SCIM id.
fn dependencies(plan: &Plan, observed: &ObservedState) -> (Vec<ObservedUser>, Vec<ObservedGroup>) {
    let mut user_ids: HashSet<&str> = HashSet::new();
    let mut user_exts: HashSet<&str> = HashSet::new();
    let mut group_ids: HashSet<&str> = HashSet::new();
    let mut group_exts: HashSet<&str> = HashSet::new();
    for op in &plan.operations {
        match op {
            Operation::CreateUser { user, .. } => {
                user_exts.insert(&user.external_id);
            }
            Operation::UpdateUser {
                id, external_id, ..
            }
            | Operation::DeactivateUser {
                id, external_id, ..
            }
            | Operation::ReactivateUser {
                id, external_id, ..
            }
            | Operation::AdoptUser {
                id, external_id, ..
            } => {
                user_ids.insert(id);
                user_exts.insert(external_id);
            }
            Operation::CreateGroup {
                external_id,
                members,
                ..
            } => {
                group_exts.insert(external_id);
                for member in members {
                    user_ids.extend(member.id.as_deref());
                    user_exts.extend(member.external_id.as_deref());
                }
            }
            Operation::RenameGroup {
                id, external_id, ..
            }
            | Operation::AdoptGroup {
                id, external_id, ..
            } => {
                group_ids.insert(id);
                group_exts.insert(external_id);
            }
            Operation::UpdateMembers {
                id,
                external_id,
                add,
                remove,
            } => {
                if let Some(id) = id {
                    group_ids.insert(id);
                }
                group_exts.insert(external_id);
                for member in add.iter().chain(remove) {
                    user_ids.extend(member.id.as_deref());
                    user_exts.extend(member.external_id.as_deref());
                }
            }
        }
    }
    let names = plan.names_to_take();
    let users = select(&observed.users, &user_ids, &user_exts, &names.user_names);
    let groups = select(
        &observed.groups,
        &group_ids,
        &group_exts,
        &names.group_names,
    );
    (users, groups)
}

/// The records addressed by one of `ids` or `exts`, or holding one of `names`
/// (case-insensitively), each once, sorted by SCIM id.
fn select<T: Record + Clone>(
    records: &[T],
    ids: &HashSet<&str>,
    exts: &HashSet<&str>,
    names: &[String],
) -> Vec<T> {
    let names: HashSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
    let mut selected: Vec<T> = records
        .iter()
        .filter(|r| {
            ids.contains(r.id())
                || r.external_id().is_some_and(|e| exts.contains(e))
                || names.contains(&r.name().to_lowercase())
        })
        .cloned()
        .collect();
    selected.sort_by(|a, b| a.id().cmp(b.id()));
    selected.dedup_by(|a, b| a.id() == b.id());
    selected
}

/// How each record of `then` (as planned) and `now` (as read again) differ, matched by SCIM
/// id: gone, new, or changed (and what changed).
fn compare<T: Record>(then: &[T], now: &[T]) -> Vec<String> {
    let then_by_id: BTreeMap<&str, &T> = then.iter().map(|r| (r.id(), r)).collect();
    let now_by_id: BTreeMap<&str, &T> = now.iter().map(|r| (r.id(), r)).collect();
    let ids: BTreeSet<&str> = then_by_id.keys().chain(now_by_id.keys()).copied().collect();
    let noun = T::NOUN;
    let mut changed = Vec::new();
    for id in ids {
        match (then_by_id.get(id), now_by_id.get(id)) {
            (Some(then), None) => {
                changed.push(format!("{noun} \"{}\" (id {id}) gone", then.name()))
            }
            (None, Some(now)) => changed.push(format!("{noun} \"{}\" (id {id}) new", now.name())),
            (Some(then), Some(now)) => match (then.version(), now.version()) {
                (Some(a), Some(b)) if a != b => changed.push(format!(
                    "{noun} \"{}\" (id {id}) changed (version {a} -> {b})",
                    now.name()
                )),
                (Some(_), Some(_)) => {}
                _ => {
                    if let Err(attributes) = then.same_as(now) {
                        changed.push(format!(
                            "{noun} \"{}\" (id {id}) changed ({})",
                            now.name(),
                            attributes.join(", ")
                        ));
                    }
                }
            },
            (None, None) => unreachable!("every id comes from one side"),
        }
    }
    changed
}

/// A target record as a saved plan depends on it.
trait Record {
    /// `user` or `group`, for messages.
    const NOUN: &'static str;
    fn id(&self) -> &str;
    fn version(&self) -> Option<&str>;
    fn external_id(&self) -> Option<&str>;
    /// `userName` or `displayName`.
    fn name(&self) -> &str;
    /// The attributes in which two reads of it differ, if any.
    fn same_as(&self, other: &Self) -> Result<(), Vec<&'static str>>;
}

impl Record for ObservedUser {
    const NOUN: &'static str = "user";
    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }
    fn name(&self) -> &str {
        &self.user_name
    }
    fn same_as(&self, other: &Self) -> Result<(), Vec<&'static str>> {
        same_user(self, other)
    }
}

impl Record for ObservedGroup {
    const NOUN: &'static str = "group";
    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
    fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }
    fn name(&self) -> &str {
        &self.display_name
    }
    fn same_as(&self, other: &Self) -> Result<(), Vec<&'static str>> {
        same_group(self, other)
    }
}

/// The attributes in which two reads of one user differ.
fn same_user(a: &ObservedUser, b: &ObservedUser) -> Result<(), Vec<&'static str>> {
    let mut differ = Vec::new();
    let checks: [(&'static str, bool); 7] = [
        ("externalId", a.external_id == b.external_id),
        ("userName", a.user_name == b.user_name),
        ("displayName", a.display_name == b.display_name),
        ("name", a.name == b.name),
        ("emails", a.emails == b.emails),
        ("active", a.active == b.active),
        ("sunkSshKeys", a.ssh_keys == b.ssh_keys),
    ];
    for (attribute, same) in checks {
        if !same {
            differ.push(attribute);
        }
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(differ)
    }
}

/// The attributes in which two reads of one group differ (members as a set).
fn same_group(a: &ObservedGroup, b: &ObservedGroup) -> Result<(), Vec<&'static str>> {
    let mut differ = Vec::new();
    if a.external_id != b.external_id {
        differ.push("externalId");
    }
    if a.display_name != b.display_name {
        differ.push("displayName");
    }
    let members = |g: &ObservedGroup| g.members.iter().cloned().collect::<BTreeSet<String>>();
    if members(a) != members(b) {
        differ.push("members");
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(differ)
    }
}

/// `SystemTime` as an RFC 3339 timestamp (UTC, whole seconds).
mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_seconds(*time))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not an RFC 3339 time like 2026-12-03T10:00:00Z ({e})"
            ))
        })
    }
}

/// Whether a file can be created at `path` (a plan, an export): its directory exists, and it
/// is not a directory. Checked before both ends are read, not after. The error starts with
/// the path.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if path.is_dir() {
        return Err(format!("{}: is a directory; name a file", path.display()));
    }
    if !dir.is_dir() {
        return Err(format!(
            "{}: the directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, version: Option<&str>, name: &str) -> ObservedUser {
        ObservedUser {
            id: id.to_owned(),
            version: version.map(str::to_owned),
            external_id: Some(format!("pw-activate:user:{name}")),
            user_name: format!("{name}@example.org"),
            display_name: None,
            name: Default::default(),
            emails: vec![format!("{name}@example.org")],
            active: true,
            ssh_keys: Vec::new(),
        }
    }

    #[test]
    fn records_are_compared_by_version_where_both_reads_have_one_else_by_attributes() {
        let then = [user("1", Some("W/\"1\""), "ada"), user("2", None, "alan")];
        // same version, other attributes: the version decides (the target vouches for it)
        let mut same_version = then[0].clone();
        same_version.active = false;
        assert!(compare(&then, &[same_version, then[1].clone()]).is_empty());

        let mut bumped = then[0].clone();
        bumped.version = Some("W/\"2\"".into());
        let mut keys = then[1].clone();
        keys.ssh_keys = vec!["ssh-ed25519 AAAA".into()];
        let changed = compare(&then, &[bumped, keys]);
        assert_eq!(
            changed,
            [
                "user \"ada@example.org\" (id 1) changed (version W/\"1\" -> W/\"2\")",
                "user \"alan@example.org\" (id 2) changed (sunkSshKeys)"
            ]
        );

        let changed = compare(&then[..1], &then[1..]);
        assert_eq!(
            changed,
            [
                "user \"ada@example.org\" (id 1) gone",
                "user \"alan@example.org\" (id 2) new"
            ]
        );
    }

    #[test]
    fn members_are_compared_as_a_set() {
        let group = |members: &[&str]| ObservedGroup {
            id: "g".into(),
            version: None,
            external_id: Some("pw-activate:group:1".into()),
            display_name: "HPC".into(),
            members: members.iter().map(|m| m.to_string()).collect(),
        };
        assert_eq!(same_group(&group(&["a", "b"]), &group(&["b", "a"])), Ok(()));
        assert_eq!(
            same_group(&group(&["a", "b"]), &group(&["a"])),
            Err(vec!["members"])
        );
    }

    #[test]
    fn a_target_is_named_without_credentials_query_or_trailing_slash() {
        let url = url::Url::parse("https://user:pw@api.example.com/scim/abc/?x=1").unwrap();
        assert_eq!(target_of(&url), "https://api.example.com/scim/abc");
    }
}
