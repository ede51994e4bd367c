//! `check`: probes both ends without writing and prints a verdict per item: ACTIVATE
//! credentials and organization (or the export file), the SCIM token, the target's
//! `ServiceProviderConfig`, whether the `externalId sw` filter is honoured and `externalId`
//! echoed back, and the page size the target really serves. Only `GET` requests are sent.
//!
//! Exit code: 0 when nothing failed (warnings allowed), 4 when an end could not be read.

use std::fmt::Write as _;
use std::time::Instant;

use scim_client::{Error as ScimError, Filter, ListQuery, ScimClient};
use scim_diff::Policy;
use serde::Serialize;
use serde_json::json;

use crate::app::{elapsed_ms, finish_early, scim_client};
use crate::config::{Config, OutputFormat, SourceConfig};
use crate::exit::Outcome;
use scim_sync::Source;

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
    fn as_str(self) -> &'static str {
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
    /// `activate` or `scim`.
    pub side: &'static str,
    /// What was probed.
    pub item: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found, and what to do about it.
    pub detail: String,
}

#[derive(Default)]
struct Items(Vec<Item>);

impl Items {
    fn push(
        &mut self,
        side: &'static str,
        item: &str,
        verdict: Verdict,
        detail: impl Into<String>,
    ) {
        self.0.push(Item {
            side,
            item: item.to_owned(),
            verdict,
            detail: detail.into(),
        });
    }
}

/// Runs every probe and prints the verdicts.
pub async fn run(config: &Config) -> Outcome {
    let started = Instant::now();
    let (Some(source_config), Some(target_config)) = (&config.source, &config.target) else {
        unreachable!("a check configuration always names both ends");
    };
    let source = match crate::source::from_config(source_config, config) {
        Ok(s) => s,
        Err(e) => return finish_early(config, "check", e, Outcome::Usage),
    };
    let scim = match scim_client(target_config, config) {
        Ok(c) => c,
        Err(e) => return finish_early(config, "check", e, Outcome::Usage),
    };
    let mut items = Items::default();
    check_source(&source, source_config, &mut items).await;
    let prefix = Policy::default().external_id_prefix;
    check_target(&scim, config.page_size, &prefix, &mut items).await;

    let failed = items.0.iter().any(|i| i.verdict == Verdict::Fail);
    let outcome = if failed {
        Outcome::ReadFailed
    } else {
        Outcome::Ok
    };
    let scim_stats = scim.stats();
    let activate_requests = source.stats().map_or(0, |s| s.requests);
    match config.output {
        OutputFormat::Json => println!(
            "{}",
            json!({
                "command": "check",
                "target": target_config.base_url,
                "source": source.describe(),
                "items": items.0,
                "outcome": outcome,
                "exit_code": outcome.code(),
                "requests": {
                    "activate": {"count": activate_requests},
                    "scim": {"count": scim_stats.requests, "retries": scim_stats.retries,
                             "throttled": scim_stats.throttled},
                },
            })
        ),
        OutputFormat::Text => print!(
            "{}",
            scim_client::transport::escape_controls(&render(&items.0, outcome), true)
        ),
    }
    let count = |v: Verdict| items.0.iter().filter(|i| i.verdict == v).count();
    tracing::info!(
        command = "check",
        outcome = outcome.as_str(),
        exit_code = outcome.code(),
        ok = count(Verdict::Ok),
        warn = count(Verdict::Warn),
        fail = count(Verdict::Fail),
        activate_requests,
        scim_requests = scim_stats.requests,
        duration_ms = elapsed_ms(started),
        "run finished"
    );
    outcome
}

fn render(items: &[Item], outcome: Outcome) -> String {
    let width = items
        .iter()
        .map(|i| i.item.len() + i.side.len() + 1)
        .max()
        .unwrap_or(10);
    let mut out = String::new();
    for i in items {
        let name = format!("{}/{}", i.side, i.item);
        let _ = writeln!(out, "{:4}  {name:width$}  {}", i.verdict.as_str(), i.detail);
    }
    let _ = writeln!(
        out,
        "\n{}",
        match outcome {
            Outcome::Ok =>
                "Both ends can be read; a sync can run (warnings above, if any, say \
                            what to watch). Nothing was written.",
            _ => "At least one end cannot be used: fix the FAIL items above. Nothing was written.",
        }
    );
    out
}

async fn check_source(source: &Source, config: &SourceConfig, items: &mut Items) {
    match source {
        Source::Activate(client) => {
            match client.organization().await {
                Ok(org) => items.push(
                    "activate",
                    "credentials and organization",
                    Verdict::Ok,
                    format!(
                        "the API key works for organization `{org}` at {}",
                        client.base_url()
                    ),
                ),
                Err(e) => {
                    items.push(
                        "activate",
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
                        "activate",
                        "users",
                        Verdict::Ok,
                        format!("{} users ({active} active) readable", users.len()),
                    );
                }
                Err(e) => items.push("activate", "users", Verdict::Fail, e.to_string()),
            }
            match client.groups().await {
                Ok(groups) => items.push(
                    "activate",
                    "groups",
                    Verdict::Ok,
                    format!("{} groups readable", groups.len()),
                ),
                Err(e) => items.push("activate", "groups", Verdict::Fail, e.to_string()),
            }
        }
        Source::ExportFile { .. } | Source::ExportText(_) => {
            let _ = config;
            match source.read(None).await {
                Ok(snap) => items.push(
                    "activate",
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
                Err(e) => items.push("activate", "export file", Verdict::Fail, e),
            }
        }
    }
}

fn unauthorized(e: &ScimError) -> bool {
    matches!(e, ScimError::Unauthorized { .. })
}

async fn check_target(scim: &ScimClient, page_size: u32, prefix: &str, items: &mut Items) {
    // credentials first: a list needs the token (discovery may not)
    let users_page = scim
        .users()
        .list_page(&ListQuery::new(), 1, page_size)
        .await;
    let total_users = match &users_page {
        Ok(page) => {
            items.push(
                "scim",
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
            items.push("scim", "credentials", Verdict::Fail, e.to_string());
            if unauthorized(e) {
                return;
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
                "scim",
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
        }
        Ok(None) => items.push(
            "scim",
            "ServiceProviderConfig",
            Verdict::Warn,
            "not served (404); the syncer does not need it, capabilities are probed below",
        ),
        Err(e) => items.push(
            "scim",
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
            items.push("scim", "externalId sw filter", verdict, detail);
            let echoed = page.resources.iter().any(|u| u.external_id.is_some())
                || users_page
                    .as_ref()
                    .is_ok_and(|p| p.resources.iter().any(|u| u.external_id.is_some()));
            if echoed {
                items.push(
                    "scim",
                    "externalId echoed",
                    Verdict::Ok,
                    "the target returns externalId on users",
                );
            } else {
                items.push(
                    "scim",
                    "externalId echoed",
                    Verdict::Warn,
                    "unknown: no user with an externalId seen yet; run check again after the \
                     first sync (the syncer cannot recognise its records if it is not echoed)",
                );
            }
        }
        Err(e) if scim_sync::target::refused_filter(&e) => items.push(
            "scim",
            "externalId sw filter",
            Verdict::Warn,
            format!("refused ({e}); the syncer lists every record and filters itself"),
        ),
        Err(e) => items.push("scim", "externalId sw filter", Verdict::Fail, e.to_string()),
    }

    // page size: what the server really serves
    if let Ok(page) = &users_page {
        let served = page.resources.len() as u64;
        let total = page.total_results.unwrap_or(served);
        let per_page = page.items_per_page.unwrap_or(served);
        if total > served && served < u64::from(page_size) {
            items.push(
                "scim",
                "page size",
                Verdict::Warn,
                format!(
                    "asked for {page_size}, the server serves {served} per page \
                     (itemsPerPage {per_page}); the client pages on, each run costs more requests"
                ),
            );
        } else {
            items.push(
                "scim",
                "page size",
                Verdict::Ok,
                format!("asked for {page_size}, got {served} of {total}"),
            );
        }
    }

    match scim.groups().list_page(&ListQuery::new(), 1, 1).await {
        Ok(page) => items.push(
            "scim",
            "groups",
            Verdict::Ok,
            format!(
                "groups can be listed ({} in all)",
                page.total_results.map_or("?".to_owned(), |t| t.to_string())
            ),
        ),
        Err(e) => items.push("scim", "groups", Verdict::Fail, e.to_string()),
    }
}
