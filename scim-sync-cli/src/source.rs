//! The ACTIVATE side: a complete [`SourceSnapshot`] from the API ([`ActivateClient`]), an
//! ACTIVATE export file (`--source-file`), or an export compiled into the binary (the demo).

use std::path::PathBuf;
use std::time::Duration;

use activate_client::{ActivateClient, KeySource, Snapshot, SnapshotOptions, StatsSnapshot};

use crate::config::{self, Config, SourceConfig};
use scim_client::transport::RetryPolicy;

/// Where this run's snapshot comes from.
#[derive(Debug)]
pub enum Source {
    /// The ACTIVATE API.
    Api(ActivateClient),
    /// An ACTIVATE export file, read up to this many bytes.
    File(PathBuf, u64),
    /// An ACTIVATE export held in memory (the demo's sample organization).
    Text(&'static str),
}

/// How long one `pw ssh-public-keys` invocation may run.
const PW_CLI_TIMEOUT: Duration = Duration::from_secs(30);

impl Source {
    /// Builds the source; an error here is a configuration error (exit 2).
    pub fn from_config(config: &SourceConfig, run: &Config) -> Result<Source, String> {
        match config {
            SourceConfig::File(path) => Ok(Source::File(path.clone(), run.source_file_max_bytes)),
            SourceConfig::Api(api) => {
                let mut builder = ActivateClient::builder(api.api_key.clone())
                    .allow_insecure_http(run.allow_insecure_http)
                    .timeout(run.request_timeout)
                    .retry_policy(RetryPolicy::default().with_total_budget(run.retry_budget))
                    .org_name(api.org_name.clone())
                    .key_concurrency(api.key_concurrency)
                    .user_agent(crate::USER_AGENT)
                    .key_source(match &api.key_source {
                        config::KeySource::Rest => KeySource::Rest,
                        config::KeySource::PwCli { path } => KeySource::PwCli {
                            path: path.clone(),
                            timeout: PW_CLI_TIMEOUT,
                        },
                    });
                if let Some(url) = &api.api_url {
                    builder = builder.base_url(url.clone());
                }
                builder
                    .build()
                    .map(Source::Api)
                    .map_err(|e| format!("ACTIVATE client: {e}"))
            }
        }
    }

    /// A short description for logs (never a credential).
    pub fn describe(&self) -> String {
        match self {
            Source::Api(client) => format!("ACTIVATE API at {}", client.base_url()),
            Source::File(path, _) => format!("ACTIVATE export {}", path.display()),
            Source::Text(_) => "the built-in sample organization".to_owned(),
        }
    }

    /// Reads a complete snapshot, or fails (then nothing may be written).
    pub async fn read(&self, sync_groups: Option<Vec<String>>) -> Result<Snapshot, String> {
        let result = match self {
            Source::Api(client) => client
                .snapshot(&SnapshotOptions { sync_groups })
                .await
                .map_err(|e| e.to_string()),
            Source::File(path, max_bytes) => {
                activate_client::read_export_with_limit(path, *max_bytes).map_err(|e| e.to_string())
            }
            Source::Text(text) => activate_client::parse_export(text),
        };
        if let Ok(snap) = &result {
            tracing::info!(
                source = %self.describe(),
                users = snap.snapshot.users.len(),
                groups = snap.snapshot.groups.len(),
                warnings = snap.warnings.len(),
                "read the source"
            );
        }
        result
    }

    /// A handle on the API client (shares its counters), when reading the API.
    pub fn api_client(&self) -> Option<ActivateClient> {
        match self {
            Source::Api(client) => Some(client.clone()),
            Source::File(..) | Source::Text(_) => None,
        }
    }

    /// Requests made to ACTIVATE so far (none for a file).
    pub fn stats(&self) -> Option<StatsSnapshot> {
        match self {
            Source::Api(client) => Some(client.stats()),
            Source::File(..) | Source::Text(_) => None,
        }
    }
}
