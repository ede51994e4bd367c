//! The ACTIVATE side, as configured: the library's [`Source`] built from the CLI's
//! configuration (the API client with its options, or an export file).

use std::time::Duration;

use activate_client::{ActivateClient, KeySource};
use scim_client::transport::RetryPolicy;
use scim_sync::Source;

use crate::config::{self, Config, SourceConfig};

/// How long one `pw ssh-public-keys` invocation may run.
const PW_CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the source; an error here is a configuration error (exit 2).
pub fn from_config(config: &SourceConfig, run: &Config) -> Result<Source, String> {
    match config {
        SourceConfig::File(path) => Ok(Source::ExportFile {
            path: path.clone(),
            max_bytes: run.source_file_max_bytes,
        }),
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
                .map(Source::Activate)
                .map_err(|e| format!("ACTIVATE client: {e}"))
        }
    }
}
