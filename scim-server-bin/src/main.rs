//! `scim-server`: run the embeddable SCIM 2.0 service provider on its own.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use scim_server::faults::{Fault, FaultPlan, FaultRule, RetryAfter};
use scim_server::{Profile, ScimServer};

/// An in-memory SCIM 2.0 service provider (RFC 7643/7644) for tests and demos.
#[derive(Debug, Parser)]
#[command(name = "scim-server", version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Bearer token clients must send (no authentication when absent, unless --tokens):
    /// one token for every tenant and every operation.
    #[arg(long, env = "SCIM_SERVER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// JSON file of tokens (SHA-256 digests) with their tenants and per-operation rules
    /// (see the crate README; `scim-server token hash` prints a digest).
    #[arg(long, env = "SCIM_SERVER_TOKENS")]
    tokens: Option<PathBuf>,
    /// Accept the token in an `X-Auth-Token` header too (SCIM 1.1 / Keystone clients) on
    /// this tenant ("" is the default tenant at /v2); may be repeated.
    #[arg(long = "x-auth-token-tenant", value_name = "TENANT")]
    x_auth_token_tenants: Vec<String>,
    /// Which service provider to imitate.
    #[arg(long, value_enum, default_value_t = ProfileArg::Rfc)]
    profile: ProfileArg,
    /// Largest page a list returns (default: 1000, or 50 with --profile coreweave).
    #[arg(long)]
    max_page_size: Option<usize>,
    /// Answer successful PATCH requests with 204 No Content.
    #[arg(long)]
    patch_no_content: bool,
    /// Require the token on discovery endpoints too.
    #[arg(long)]
    private_discovery: bool,
    /// Load the store from this JSON file at start and save it there at exit.
    #[arg(long)]
    persist: Option<PathBuf>,
    /// Seed of the fault decisions (the same seed and request order misbehave alike).
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
    /// Answer this fraction of requests (0.0-1.0) with 429 and `Retry-After: 1`.
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Answer this fraction of requests (0.0-1.0) with 503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Add this many milliseconds of latency to every request.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The most connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Close a connection that sends no request (or no complete headers) for this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    idle_timeout: std::time::Duration,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Helpers for the tokens file.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Read one token from stdin and print its SHA-256 digest, the `sha256` of a tokens
    /// file entry (surrounding whitespace is not part of the token).
    Hash,
}

/// The largest token `token hash` reads.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

fn hash_stdin() -> anyhow::Result<()> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_TOKEN_BYTES + 1)
        .read_to_end(&mut buf)
        .context("reading the token from stdin")?;
    anyhow::ensure!(
        buf.len() as u64 <= MAX_TOKEN_BYTES,
        "the token on stdin is longer than {MAX_TOKEN_BYTES} bytes"
    );
    let text = String::from_utf8(buf).context("the token on stdin is not UTF-8")?;
    let token = text.trim();
    anyhow::ensure!(!token.is_empty(), "no token on stdin");
    anyhow::ensure!(
        !token.chars().any(char::is_control),
        "the token on stdin holds control characters or several lines; give one token"
    );
    println!("{}", scim_server::policy::digest_hex(token));
    Ok(())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProfileArg {
    /// Plain RFC 7643/7644.
    Rfc,
    /// CoreWeave IAM's known constraints.
    Coreweave,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Some(Command::Token {
        command: TokenCommand::Hash,
    }) = args.command
    {
        return hash_stdin();
    }
    let mut b = ScimServer::builder()
        .bearer_token(args.token)
        .profile(match args.profile {
            ProfileArg::Rfc => Profile::Rfc,
            ProfileArg::Coreweave => Profile::CoreWeave,
        })
        .patch_returns_no_content(args.patch_no_content)
        .public_discovery(!args.private_discovery)
        .max_connections(args.max_connections)
        .idle_timeout(args.idle_timeout);
    let mut plan = FaultPlan::new(args.fault_seed);
    if args.latency_ms > 0 {
        plan = plan.rule(FaultRule::new(Fault::Latency(
            std::time::Duration::from_millis(args.latency_ms),
        )));
    }
    if args.throttle_rate > 0.0 {
        plan = plan.rule(
            FaultRule::new(Fault::TooManyRequests {
                retry_after: Some(RetryAfter::Seconds(1)),
            })
            .probability(args.throttle_rate),
        );
    }
    if args.error_rate > 0.0 {
        plan = plan.rule(
            FaultRule::new(Fault::Status {
                status: 503,
                retry_after: None,
            })
            .probability(args.error_rate),
        );
    }
    b = b.faults(plan);
    if let Some(n) = args.max_page_size {
        b = b.max_page_size(n);
    }
    if let Some(p) = &args.persist {
        b = b.persist(p);
    }
    if let Some(p) = &args.tokens {
        b = b.tokens_file(p);
    }
    for t in args.x_auth_token_tenants {
        b = b.accept_x_auth_token(t);
    }
    let server = b.start(&args.listen).await.context("starting the server")?;
    println!("scim-server listening on {}", server.base_url());
    wait_for_signal().await;
    server.shutdown().await.context("stopping the server")?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
