//! Probing both ends without writing: a verdict per item, for a front end to show (the
//! CLI's `check`). ACTIVATE credentials and organization (or the export, or the SCIM
//! directory source: its token and a whole read of it), the SCIM token, the
//! target's `ServiceProviderConfig`, whether the `externalId sw` filter is honoured (the same
//! rule as the run's, [`refused_filter`](crate::target::refused_filter)) and `externalId`
//! echoed back, the page size the target really serves, and whether it declares the CoreWeave
//! user extension the SSH keys go to. Only `GET` requests are sent.

use scim_client::{Error as ScimError, Filter, ListQuery, ScimClient};
use serde::Serialize;

use crate::Source;
use crate::directory::ScimDirectory;
use crate::document::Outcome;
use crate::target::ExtensionSupport;
use scim_diff::Policy;

/// Which end an item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The identity source.
    Activate,
    /// The SCIM target.
    Scim,
}

impl Side {
    /// `activate` or `scim`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Activate => "activate",
            Side::Scim => "scim",
        }
    }
}

/// How one probe went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Works as the syncer needs.
    Ok,
    /// Works, with a caveat the operator should know.
    Warn,
    /// Does not work: a run would fail.
    Fail,
}

impl Verdict {
    /// `ok`, `warn` or `FAIL`, as a verdict column shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One probed item.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Which end.
    pub side: Side,
    /// What was probed.
    pub item: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found, and what to do about it.
    pub detail: String,
}

/// The items probed so far.
#[derive(Default)]
struct Items(Vec<Item>);

impl Items {
    fn push(&mut self, side: Side, item: &str, verdict: Verdict, detail: impl Into<String>) {
        self.0.push(Item {
            side,
            item: item.to_owned(),
            verdict,
            detail: detail.into(),
        });
    }
}

/// Probes `source` and `scim` (listing with pages of `page_size`, the managed set by the
/// policy's prefix; the CoreWeave extension when the policy syncs SSH keys) and returns a
/// verdict per item, the source's first.
pub async fn probe(
    source: &Source,
    scim: &ScimClient,
    page_size: u32,
    policy: &Policy,
) -> Vec<Item> {
    let mut items = Items::default();
    check_source(source, &mut items).await;
    if check_target(scim, page_size, &policy.external_id_prefix, &mut items).await {
        check_extension(scim, policy.sync_ssh_keys, &mut items).await;
    } else if let Ok(Some(spc)) = scim.service_provider_config().await {
        // the lists were refused: what the target says of the token tells the operator why
        token_permissions(&spc, &mut items);
    }
    items.0
}

/// The `/ServiceProviderConfig` extension in which a service provider that scopes its
/// tokens (this project's `scim-server` with a tokens file) tells a token what it may do:
/// `{"allow": [rule...], "deny": [rule...]}`, rules named `scim:list_users`, ...
/// (`scim_server::schema::TOKEN_POLICY` serves it; this crate does not depend on the server.)
pub const TOKEN_POLICY: &str = "urn:parallelworks:params:scim:schemas:extension:2.0:TokenPolicy";

/// The operations a plan needs: the reads of the managed users and groups.
const PLAN_RULES: [&str; 2] = ["scim:list_users", "scim:list_groups"];
/// The operations a run's writes need (a user or group is never deleted).
const APPLY_RULES: [&str; 4] = [
    "scim:create_user",
    "scim:update_user",
    "scim:create_group",
    "scim:update_group",
];

/// What the token may do, from what the target declares of it in its
/// `ServiceProviderConfig` (already read for its own item): a token whose writes are denied
/// can plan (`plan`, `--dry-run`) but not apply, and is told so here rather than by a run's
/// first write. `check` never sends a write to find out.
fn token_permissions(spc: &scim_client::ServiceProviderConfig, items: &mut Items) {
    const ITEM: &str = "token permissions";
    let Some(declared) = spc.extra.get(TOKEN_POLICY) else {
        items.push(
            Side::Scim,
            ITEM,
            Verdict::Ok,
            "the target declares no per-token policy (check sends no write: a denied write \
             would show at a run's first write)",
        );
        return;
    };
    let listed = |key: &str, rule: &str| {
        declared[key]
            .as_array()
            .is_some_and(|rules| rules.iter().any(|r| r.as_str() == Some(rule)))
    };
    // a rule the token is not said to be allowed counts as denied
    let denied = |rules: &[&'static str]| -> Vec<&'static str> {
        rules
            .iter()
            .copied()
            .filter(|rule| listed("deny", rule) || !listed("allow", rule))
            .collect()
    };
    let (no_plan, no_apply) = (denied(&PLAN_RULES), denied(&APPLY_RULES));
    let (verdict, detail) = if !no_plan.is_empty() {
        (
            Verdict::Fail,
            format!(
                "cannot plan: the target's policy denies this token {}",
                no_plan.join(", ")
            ),
        )
    } else if !no_apply.is_empty() {
        (
            Verdict::Warn,
            format!(
                "can plan, cannot apply: the target's policy denies this token {}; `plan` \
                 and a dry run work, a run would fail at its first write (use a token \
                 allowed to write)",
                no_apply.join(", ")
            ),
        )
    } else {
        (
            Verdict::Ok,
            "can plan and apply: the target's policy allows this token to list, create and \
             update users and groups"
                .to_owned(),
        )
    };
    items.push(Side::Scim, ITEM, verdict, detail);
}

/// Whether the target declares the CoreWeave user extension the SSH keys are written to.
async fn check_extension(scim: &ScimClient, sync_ssh_keys: bool, items: &mut Items) {
    const ITEM: &str = "CoreWeave user extension";
    if !sync_ssh_keys {
        items.push(
            Side::Scim,
            ITEM,
            Verdict::Ok,
            "not needed: SSH key sync is off, users and groups are synced without keys",
        );
        return;
    }
    match crate::target::extension_support(scim).await {
        Ok(support @ ExtensionSupport::Declared) => items.push(
            Side::Scim,
            ITEM,
            Verdict::Ok,
            format!(
                "{}: SSH keys can be written to sunkSshKeys",
                support.explain()
            ),
        ),
        Ok(missing @ ExtensionSupport::NotDeclared { .. }) => {
            items.push(Side::Scim, ITEM, Verdict::Fail, missing.explain());
        }
        Ok(unknown @ ExtensionSupport::NoDiscovery) => {
            items.push(Side::Scim, ITEM, Verdict::Warn, unknown.explain());
        }
        Err(e) => items.push(
            Side::Scim,
            ITEM,
            Verdict::Warn,
            format!("the target's discovery could not be read: {e}"),
        ),
    }
}

async fn check_source(source: &Source, items: &mut Items) {
    match source {
        Source::Activate(client) => {
            match client.organization().await {
                Ok(org) => items.push(
                    Side::Activate,
                    "credentials and organization",
                    Verdict::Ok,
                    format!(
                        "the API key works for organization `{org}` at {}",
                        client.base_url()
                    ),
                ),
                Err(e) => {
                    items.push(
                        Side::Activate,
                        "credentials and organization",
                        Verdict::Fail,
                        e.to_string(),
                    );
                    return;
                }
            }
            match client.users().await {
                Ok(users) => {
                    let active = users.iter().filter(|u| u.active).count();
                    items.push(
                        Side::Activate,
                        "users",
                        Verdict::Ok,
                        format!("{} users ({active} active) readable", users.len()),
                    );
                }
                Err(e) => items.push(Side::Activate, "users", Verdict::Fail, e.to_string()),
            }
            match client.groups().await {
                Ok(groups) => items.push(
                    Side::Activate,
                    "groups",
                    Verdict::Ok,
                    format!("{} groups readable", groups.len()),
                ),
                Err(e) => items.push(Side::Activate, "groups", Verdict::Fail, e.to_string()),
            }
        }
        Source::ScimDirectory(directory) => check_directory(directory, items).await,
        Source::ExportFile { .. } | Source::ExportText(_) => {
            match source.read(&Default::default()).await {
                Ok(snap) => items.push(
                    Side::Activate,
                    "export file",
                    if snap.warnings.is_empty() {
                        Verdict::Ok
                    } else {
                        Verdict::Warn
                    },
                    format!(
                        "{}: {} users, {} groups{}",
                        source.describe(),
                        snap.snapshot.users.len(),
                        snap.snapshot.groups.len(),
                        if snap.warnings.is_empty() {
                            String::new()
                        } else {
                            format!("; {}", snap.warnings.join("; "))
                        }
                    ),
                ),
                Err(e) => items.push(Side::Activate, "export file", Verdict::Fail, e),
            }
        }
    }
}

/// The SCIM directory source: its token (one page of one user), then a whole read, as a
/// run makes it (every page of users and groups, mapped to a snapshot).
async fn check_directory(directory: &ScimDirectory, items: &mut Items) {
    const CREDENTIALS: &str = "SCIM directory credentials";
    let scim = directory.client();
    match scim.users().list_page(&ListQuery::new(), 1, 1).await {
        Ok(page) => items.push(
            Side::Activate,
            CREDENTIALS,
            Verdict::Ok,
            format!(
                "the token can list users at {}{}",
                scim.base_url(),
                directory
                    .organization_name()
                    .map_or(String::new(), |org| format!(" (organization `{org}`)"))
            ) + &page
                .total_results
                .map_or(String::new(), |t| format!(", {t} users")),
        ),
        Err(e) => {
            items.push(Side::Activate, CREDENTIALS, Verdict::Fail, e.to_string());
            return;
        }
    }
    match directory.snapshot(&Default::default()).await {
        Ok(snap) => {
            let users = &snap.snapshot.users;
            let active = users.iter().filter(|u| u.active).count();
            let keys: usize = users
                .iter()
                .filter_map(|u| u.ssh_keys.as_ref())
                .map(Vec::len)
                .sum();
            let with_keys = users
                .iter()
                .filter(|u| u.ssh_keys.as_ref().is_some_and(|k| !k.is_empty()))
                .count();
            items.push(
                Side::Activate,
                "users",
                Verdict::Ok,
                format!(
                    "{} users ({active} active) readable; {keys} SSH key(s) of {with_keys} user(s)",
                    users.len()
                ),
            );
            let groups = &snap.snapshot.groups;
            let members: usize = groups.iter().map(|g| g.members.len()).sum();
            items.push(
                Side::Activate,
                "groups",
                if snap.warnings.is_empty() {
                    Verdict::Ok
                } else {
                    Verdict::Warn
                },
                format!(
                    "{} groups readable, {members} memberships{}",
                    groups.len(),
                    if snap.warnings.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", snap.warnings.join("; "))
                    }
                ),
            );
        }
        Err(e) => items.push(
            Side::Activate,
            "users and groups",
            Verdict::Fail,
            e.to_string(),
        ),
    }
}

fn unauthorized(e: &ScimError) -> bool {
    matches!(e, ScimError::Unauthorized { .. })
}

/// The target's items; whether its credentials work (the probes after it need them).
async fn check_target(scim: &ScimClient, page_size: u32, prefix: &str, items: &mut Items) -> bool {
    // credentials first: a list needs the token (discovery may not)
    let users_page = scim
        .users()
        .list_page(&ListQuery::new(), 1, page_size)
        .await;
    let total_users = match &users_page {
        Ok(page) => {
            items.push(
                Side::Scim,
                "credentials",
                Verdict::Ok,
                format!(
                    "the token can list users at {} ({} users)",
                    scim.base_url(),
                    page.total_results.map_or("?".to_owned(), |t| t.to_string())
                ),
            );
            page.total_results
        }
        Err(e) => {
            items.push(Side::Scim, "credentials", Verdict::Fail, e.to_string());
            if unauthorized(e) {
                return false;
            }
            None
        }
    };

    match scim.service_provider_config().await {
        Ok(Some(spc)) => {
            let flag = |s: Option<bool>| match s {
                Some(true) => "yes",
                Some(false) => "no",
                None => "?",
            };
            let patch_ok = spc.patch.supported != Some(false);
            items.push(
                Side::Scim,
                "ServiceProviderConfig",
                if patch_ok { Verdict::Ok } else { Verdict::Fail },
                format!(
                    "patch={} filter={} (maxResults {}) bulk={} etag={} sort={}{}",
                    flag(spc.patch.supported),
                    flag(spc.filter.supported),
                    spc.filter
                        .max_results
                        .map_or("?".to_owned(), |n| n.to_string()),
                    flag(spc.bulk.supported),
                    flag(spc.etag.supported),
                    flag(spc.sort.supported),
                    if patch_ok {
                        ""
                    } else {
                        "; the syncer needs PATCH"
                    }
                ),
            );
            token_permissions(&spc, items);
        }
        Ok(None) => items.push(
            Side::Scim,
            "ServiceProviderConfig",
            Verdict::Warn,
            "not served (404); the syncer does not need it, capabilities are probed below",
        ),
        Err(e) => items.push(
            Side::Scim,
            "ServiceProviderConfig",
            Verdict::Warn,
            e.to_string(),
        ),
    }

    // the managed-records filter
    let filtered = ListQuery::new().filter(Filter::sw("externalId", prefix));
    match scim.users().list_page(&filtered, 1, page_size).await {
        Ok(page) => {
            let ext = |u: &scim_client::User| u.external_id.clone();
            let foreign = page
                .resources
                .iter()
                .filter(|u| ext(u).is_some_and(|e| !e.starts_with(prefix)))
                .count();
            let without = page.resources.iter().filter(|u| ext(u).is_none()).count();
            let managed = page.resources.len() - foreign - without;
            let (verdict, detail) = if foreign > 0 {
                (
                    Verdict::Warn,
                    format!(
                        "ignored: the filtered list returned {foreign} record(s) with another \
                         externalId; the engine still never writes them, but every run reads \
                         every record"
                    ),
                )
            } else if without > 0 {
                (
                    Verdict::Warn,
                    format!(
                        "the filtered list returned {without} record(s) without an externalId: \
                         the filter is ignored, or externalId is not echoed back"
                    ),
                )
            } else {
                (
                    Verdict::Ok,
                    format!(
                        "honoured ({} managed user(s), {} user(s) in all)",
                        page.total_results.unwrap_or(managed as u64),
                        total_users.map_or("?".to_owned(), |t| t.to_string())
                    ),
                )
            };
            items.push(Side::Scim, "externalId sw filter", verdict, detail);
            let echoed = page.resources.iter().any(|u| u.external_id.is_some())
                || users_page
                    .as_ref()
                    .is_ok_and(|p| p.resources.iter().any(|u| u.external_id.is_some()));
            if echoed {
                items.push(
                    Side::Scim,
                    "externalId echoed",
                    Verdict::Ok,
                    "the target returns externalId on users",
                );
            } else {
                items.push(
                    Side::Scim,
                    "externalId echoed",
                    Verdict::Warn,
                    "unknown: no user with an externalId seen yet; run check again after the \
                     first sync (the syncer cannot recognise its records if it is not echoed)",
                );
            }
        }
        Err(e) if crate::target::refused_filter(&e) => items.push(
            Side::Scim,
            "externalId sw filter",
            Verdict::Warn,
            format!("refused ({e}); the syncer lists every record and filters itself"),
        ),
        Err(e) => items.push(
            Side::Scim,
            "externalId sw filter",
            Verdict::Fail,
            e.to_string(),
        ),
    }

    // page size: what the server really serves
    if let Ok(page) = &users_page {
        let served = page.resources.len() as u64;
        let total = page.total_results.unwrap_or(served);
        let per_page = page.items_per_page.unwrap_or(served);
        if total > served && served < u64::from(page_size) {
            items.push(
                Side::Scim,
                "page size",
                Verdict::Warn,
                format!(
                    "asked for {page_size}, the server serves {served} per page \
                     (itemsPerPage {per_page}); the client pages on, each run costs more requests"
                ),
            );
        } else {
            items.push(
                Side::Scim,
                "page size",
                Verdict::Ok,
                format!("asked for {page_size}, got {served} of {total}"),
            );
        }
    }

    match scim.groups().list_page(&ListQuery::new(), 1, 1).await {
        Ok(page) => items.push(
            Side::Scim,
            "groups",
            Verdict::Ok,
            format!(
                "groups can be listed ({} in all)",
                page.total_results.map_or("?".to_owned(), |t| t.to_string())
            ),
        ),
        Err(e) => items.push(Side::Scim, "groups", Verdict::Fail, e.to_string()),
    }
    true
}

/// A check as people and tools read it: the one JSON object of `check --output json`, and
/// its text ([`CheckDocument::render_text`]). Exit code 0 when nothing failed (warnings
/// allowed), 4 when an end cannot be used.
#[derive(Debug, Clone, Serialize)]
pub struct CheckDocument {
    /// Always `check`.
    pub command: &'static str,
    /// The target's base URL.
    pub target: String,
    /// The source, described ([`Source::describe`]).
    pub source: String,
    /// Every probed item, source first.
    pub items: Vec<Item>,
    /// `ok`, or `read_failed` when an item failed.
    pub outcome: Outcome,
    /// The process exit code of the outcome.
    pub exit_code: u8,
    /// The requests the probes made.
    pub requests: CheckRequests,
}

/// Requests a check made, per side.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckRequests {
    /// The source's API (zero for an export file).
    pub activate: SourceRequests,
    /// The SCIM target.
    pub scim: TargetRequests,
}

/// Requests made to the source.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SourceRequests {
    /// HTTP requests sent.
    pub count: u64,
}

/// Requests made to the target.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TargetRequests {
    /// HTTP requests sent (retries included).
    pub count: u64,
    /// Retries among them.
    pub retries: u64,
    /// 429 answers received.
    pub throttled: u64,
}

impl CheckDocument {
    /// The document of `items`, probed from `source` and the target `scim`.
    pub fn new(source: &Source, scim: &ScimClient, items: Vec<Item>) -> Self {
        let target = scim.base_url().as_str().trim_end_matches('/');
        let failed = items.iter().any(|i| i.verdict == Verdict::Fail);
        let outcome = if failed {
            Outcome::ReadFailed
        } else {
            Outcome::Ok
        };
        let stats = scim.stats();
        CheckDocument {
            command: "check",
            target: target.to_owned(),
            source: source.describe(),
            items,
            outcome,
            exit_code: outcome.code(),
            requests: CheckRequests {
                activate: SourceRequests {
                    count: source.stats().map_or(0, |s| s.requests),
                },
                scim: TargetRequests {
                    count: stats.requests,
                    retries: stats.retries,
                    throttled: stats.throttled,
                },
            },
        }
    }

    /// Logs the line a check ends with (`run finished`: the outcome, the verdicts counted,
    /// the requests), after `duration`.
    pub fn log_summary(&self, duration: std::time::Duration) {
        tracing::info!(
            command = "check",
            outcome = self.outcome.as_str(),
            exit_code = self.exit_code,
            ok = self.count(Verdict::Ok),
            warn = self.count(Verdict::Warn),
            fail = self.count(Verdict::Fail),
            activate_requests = self.requests.activate.count,
            scim_requests = self.requests.scim.count,
            duration_ms = crate::document::millis(duration),
            "run finished"
        );
    }

    /// How many items got `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.items.iter().filter(|i| i.verdict == verdict).count()
    }

    /// One line per item (verdict, `side/item`, detail), then what the verdicts mean. The
    /// details quote the peers' text: escape it before it reaches a terminal.
    pub fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let width = self
            .items
            .iter()
            .map(|i| i.item.len() + i.side.as_str().len() + 1)
            .max()
            .unwrap_or(10);
        let mut out = String::new();
        for i in &self.items {
            let name = format!("{}/{}", i.side.as_str(), i.item);
            let _ = writeln!(out, "{:4}  {name:width$}  {}", i.verdict.as_str(), i.detail);
        }
        let verdict = match self.outcome {
            Outcome::Ok => {
                "Both ends can be read; a sync can run (warnings above, if any, say what to \
                 watch). Nothing was written."
            }
            _ => "At least one end cannot be used: fix the FAIL items above. Nothing was written.",
        };
        let _ = writeln!(out, "\n{verdict}");
        out
    }
}
