//! `payscore-gateway`: config → tracing → runtime → serve → drain.
#![forbid(unsafe_code)]

/// Allocation was a quarter of the gateway's instructions under glibc malloc
/// (callgrind, see BENCH.md); mimalloc is built for many small, short-lived
/// allocations across threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use payscore_gateway::clock::SystemClock;
use payscore_gateway::config::Config;
use payscore_gateway::server::Gateway;
use tracing_subscriber::EnvFilter;

/// sysexits: usage / bad input (DESIGN: bad config exits 64 before binding).
const EX_USAGE: u8 = 64;
/// sysexits: a service we need is unavailable.
const EX_UNAVAILABLE: u8 = 69;

#[derive(Parser)]
#[command(version, about = "PayScore Gateway: deposit-free rentals over gRPC")]
struct Args {
    /// TOML configuration file; PAYSCORE__SECTION__KEY variables override it.
    #[arg(long, env = "PAYSCORE_CONFIG")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("payscore-gateway: invalid configuration: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("payscore-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

fn init_tracing(config: &Config) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log.json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(config: Config) -> ExitCode {
    let listen = config.listen();
    if let Some(metrics) = &config.metrics.listen {
        let addr = metrics.parse().expect("validated in load");
        if let Err(e) = payscore_gateway::metrics::install(addr) {
            tracing::error!(error = %e, %addr, "cannot serve metrics");
            return ExitCode::from(EX_UNAVAILABLE);
        }
    }
    let gateway = match Gateway::build(config, Arc::new(SystemClock)).await {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::from(EX_UNAVAILABLE);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, %listen, "cannot bind");
            return ExitCode::from(EX_UNAVAILABLE);
        }
    };
    tracing::info!(%listen, "payscore-gateway serving");
    match gateway.serve(listener, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("drained; bye");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: draining"),
    }
}
