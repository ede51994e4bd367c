//! The ACTIVATE side, as configured: the library's [`Source`] built from the CLI's
//! configuration (the API client with its options, ACTIVATE's SCIM API, or an export file).

use activate_client::ActivateClient;
use scim_client::transport::RetryPolicy;
use scim_sync::Source;

use crate::config::{Config, SourceConfig};

/// Builds the source; an error here is a configuration error (exit 2).
pub fn from_config(config: &SourceConfig, run: &Config) -> Result<Source, String> {
    match config {
        SourceConfig::File(path) => Ok(Source::ExportFile {
            path: path.clone(),
            max_bytes: run.opts.source_file_max_bytes,
        }),
        SourceConfig::Scim(scim) => scim_client::ScimClient::builder(&scim.url)
            .bearer_token(scim.token.clone())
            .allow_insecure_http(run.opts.allow_insecure_http)
            .timeout(run.opts.request_timeout)
            .retry_policy(RetryPolicy::default().with_total_budget(run.opts.retry_budget))
            .page_size(run.opts.page_size)
            .user_agent(crate::USER_AGENT)
            .build()
            .map(|client| {
                Source::ScimDirectory(
                    scim_sync::ScimDirectory::new(client).organization(scim.org_name.clone()),
                )
            })
            .map_err(|e| format!("ACTIVATE SCIM client: {e}")),
        SourceConfig::Api(api) => {
            let mut builder = ActivateClient::builder(api.api_key.clone())
                .allow_insecure_http(run.opts.allow_insecure_http)
                .timeout(run.opts.request_timeout)
                .retry_policy(RetryPolicy::default().with_total_budget(run.opts.retry_budget))
                .org_name(api.org_name.clone())
                .key_concurrency(api.key_concurrency)
                .user_agent(crate::USER_AGENT)
                .key_source(api.key_source.clone());
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
