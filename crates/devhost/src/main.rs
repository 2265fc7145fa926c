//! The `devhost` command line: `devhost up` serves the app, like `spin up`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use devhost::app::{App, AppOptions};
use devhost::engine::EngineOptions;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Runs a Spin app locally (manifest version 2) on wasmtime.
#[derive(Debug, Parser)]
#[command(name = "devhost", version)]
struct Cli {
    /// The application manifest.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "DEVHOST_LISTEN")]
    listen: String,
    /// Spin runtime config file (sqlite_database, key_value_store, variables providers).
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// State folder (default: `.spin` beside the manifest).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// SQL statement, or `@file.sql`, run against the default SQLite database before serving.
    #[arg(long = "sqlite")]
    sqlite: Vec<String>,
    /// Per-request time limit, in seconds.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 32 * 1024 * 1024)]
    max_request_body_bytes: u64,
    /// Largest linear memory of one instance, in MiB.
    #[arg(long, default_value_t = 256)]
    max_memory_mib: usize,
    /// Instances that may run at once (size of the instance pool).
    #[arg(long, default_value_t = 256)]
    max_instances: u32,
    /// Use the on-demand allocator instead of the instance pool.
    #[arg(long)]
    no_pooling: bool,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Every this many seconds, POST /api/admin/outbox/flush to the app with the bearer
    /// token in SPIN_VARIABLE_OUTBOX_FLUSH_TOKEN (as SpinKube's CronJob does); 0: never.
    #[arg(long, default_value_t = 0, env = "DEVHOST_OUTBOX_FLUSH_SECS")]
    outbox_flush_secs: u64,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEVHOST_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
    });
    match cli.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("devhost: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devhost: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let options = AppOptions {
        manifest_path: cli.manifest,
        runtime_config_file: cli.runtime_config_file,
        state_dir: cli.state_dir,
        engine: EngineOptions {
            pooling: !cli.no_pooling,
            max_memory_bytes: cli.max_memory_mib << 20,
            max_instances: cli.max_instances,
        },
        request_timeout: Duration::from_secs(cli.request_timeout_secs),
        max_request_body_bytes: cli.max_request_body_bytes,
        sqlite_statements: cli.sqlite,
    };
    let app = tokio::task::block_in_place(|| App::load(&options))?;
    let listener = tokio::net::TcpListener::bind(&cli.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cli.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving");
    if cli.outbox_flush_secs > 0 {
        match std::env::var("SPIN_VARIABLE_OUTBOX_FLUSH_TOKEN") {
            Ok(token) if !token.trim().is_empty() => {
                devhost::server::spawn_ticker(
                    app.clone(),
                    Duration::from_secs(cli.outbox_flush_secs),
                    "/api/admin/outbox/flush",
                    token,
                );
            }
            _ => tracing::warn!(
                "--outbox-flush-secs is set but SPIN_VARIABLE_OUTBOX_FLUSH_TOKEN is not: not flushing"
            ),
        }
    }
    println!("Serving http://{addr}");
    devhost::server::serve(app, listener).await
}
