//! The `attendance-hub` binary: command line, logging, signals.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use attendance_proto::v1::admin_service_client::AdminServiceClient;
use attendance_proto::v1::{RederiveRequest, Vendor};
use attendance_proto::Timestamp;
use attendance_server::config::{redact_url, LogFormat};
use attendance_server::{hash_token, Config, Hub, ProcessEnvironment};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Many small buffers live and die per event on the commit path; mimalloc
/// handles them at a fraction of glibc malloc's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "attendance-hub",
    version,
    about = "Unifies Feishu and DingTalk attendance into one gRPC feed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub. Without --config: SQLite file attendance-hub.db in the
    /// working directory, gRPC on 127.0.0.1:50051, HTTP on 127.0.0.1:8080.
    Serve {
        /// A TOML config file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a config file and print it with secrets (and token hashes) redacted.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
    },
    /// Read a client's bearer token from stdin and print its SHA-256, the
    /// `token_sha256` of its `[[clients]]` entry, so the config never holds
    /// the token itself.
    HashToken,
    /// Ask a running hub to translate stored deliveries again through the
    /// current mapping (AdminService/Rederive) and print what changed. A hub
    /// with clients wants a token: it is read from ATTENDANCE_HUB_TOKEN.
    Rederive {
        /// The hub's gRPC address.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        grpc: String,
        #[arg(long, value_enum)]
        vendor: VendorName,
        /// Configured app name; default: every app of the vendor.
        #[arg(long, default_value = "")]
        app: String,
        /// Vendor tenant (tenant_key, corpId); default: every tenant.
        #[arg(long, default_value = "")]
        tenant: String,
        /// Deliveries received at or after this RFC 3339 instant.
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Deliveries received before this RFC 3339 instant.
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

/// The environment variable `rederive` reads its bearer token from.
const TOKEN_VARIABLE: &str = "ATTENDANCE_HUB_TOKEN";

#[derive(Clone, Copy, clap::ValueEnum)]
enum VendorName {
    Feishu,
    Dingtalk,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: most errors here
/// repeat their source in their own message, and a chain of four lines
/// saying one thing four times hides what an operator should do.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Installs logging to stderr, in `format`, at the level `RUST_LOG` asks
/// (`info` without it).
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: in a file, a journal or
    // a collector they are noise around every word.
    let ansi = std::io::stderr().is_terminal();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => logs.init(),
        // One object per line, an event's fields beside its message, the
        // spans it happened in (vendor, app, connection) listed with it.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    // Logging waits for the config, which says its format; errors before
    // it are the one line `main` prints.
    if !matches!(command, Command::Serve { .. }) {
        init_logging(LogFormat::Text);
    }
    match command {
        Command::Serve { config } => serve(config).await,
        Command::CheckConfig { config } => {
            let config = Config::from_file(&config, &ProcessEnvironment)?;
            println!("{config:#?}");
            Ok(())
        }
        Command::HashToken => {
            let mut token = String::new();
            std::io::stdin()
                .read_to_string(&mut token)
                .context("cannot read the token from stdin")?;
            println!("{}", hash_token(&token)?);
            Ok(())
        }
        Command::Rederive {
            grpc,
            vendor,
            app,
            tenant,
            from,
            until,
        } => {
            let timestamp = |at: chrono::DateTime<chrono::FixedOffset>| Timestamp {
                seconds: at.timestamp(),
                nanos: at.timestamp_subsec_nanos() as i32,
            };
            let request = RederiveRequest {
                vendor: match vendor {
                    VendorName::Feishu => Vendor::Feishu,
                    VendorName::Dingtalk => Vendor::Dingtalk,
                } as i32,
                app,
                tenant,
                received_from: from.map(timestamp),
                received_until: until.map(timestamp),
            };
            let channel = tonic::transport::Endpoint::from_shared(grpc.clone())
                .with_context(|| format!("{grpc} is not a URL"))?
                .connect()
                .await
                .with_context(|| format!("cannot reach the hub at {grpc}"))?;
            // From the environment, never the command line, where any user
            // of the machine could read it.
            let authorization = match std::env::var(TOKEN_VARIABLE) {
                Ok(token) => Some(
                    format!("Bearer {}", token.trim())
                        .parse::<tonic::metadata::MetadataValue<_>>()
                        .with_context(|| format!("{TOKEN_VARIABLE} is not a header value"))?,
                ),
                Err(_) => None,
            };
            let mut admin = AdminServiceClient::with_interceptor(
                channel,
                move |mut request: tonic::Request<()>| {
                    if let Some(value) = &authorization {
                        request
                            .metadata_mut()
                            .insert("authorization", value.clone());
                    }
                    Ok(request)
                },
            );
            let report = admin
                .rederive(request)
                .await
                .map_err(|status| anyhow::anyhow!("re-derivation refused: {}", status.message()))?
                .into_inner();
            println!("{report:#?}");
            Ok(())
        }
    }
}

async fn serve(path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = match &path {
        Some(path) => Config::from_file(path, &ProcessEnvironment)
            .with_context(|| format!("invalid config {}", path.display()))?,
        None => Config::default(),
    };
    init_logging(config.log.format);
    let hub = Hub::bind(config.clone())
        .await
        .context("cannot start the hub")?;
    tracing::info!(
        grpc = %hub.grpc_addr(),
        http = %hub.http_addr(),
        storage = %redact_url(&config.storage.url),
        feishu_apps = config.feishu.len(),
        clients = config.clients.len(),
        "attendance hub ready"
    );
    // A stable line on stdout, so scripts and tests can find the bound ports.
    println!(
        "attendance-hub ready grpc={} http={}",
        hub.grpc_addr(),
        hub.http_addr()
    );
    hub.run(shutdown_signal())
        .await
        .context("the hub stopped with an error")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
