//! `tidings-server`: parse flags, set up logging, serve until SIGTERM or Ctrl-C.

use anyhow::Context;
use clap::Parser;
use std::io::Write;
use tidings_server::cli::{Cli, CliCommand};
use tidings_server::{auth::Authenticator, ServerState};

/// Rust's allocations go to mimalloc: with glibc's malloc (15 % of the server's CPU at the
/// chat ceiling, flat profile in docs/benchmarks.md) the persisted chat held 3,765 to 5,271
/// messages/s; with mimalloc 7,379 in four runs out of four on the same machine. The cost is
/// memory held after a connection flood (idle: 9.9 to 11.5 KB per connection at 10k);
/// docs/benchmarks.md has both. C code (SQLite) keeps glibc's malloc, tuned in `malloc`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    tidings_server::malloc::tune();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.options.resolve()?;
    if let Some(CliCommand::Token { sub, ttl, role }) = &cli.command {
        let auth = Authenticator::from_config(&config.jwt, &config.data_dir)?;
        println!("{}", auth.mint(sub, role, *ttl)?);
        return Ok(());
    }
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for d in tidings_server::socketio::LOG_CEILING {
        filter = filter.add_directive(d.parse()?);
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let state = ServerState::new(config)?;
    // Before listening: a node that cannot reach its bus says so and exits.
    state.start_bus().await?;
    if cli.options.demo {
        let seeded = tidings_server::demo::seed(state.chat())
            .await
            .context("cannot seed the demo data")?;
        tracing::info!(seeded, "demo data ready");
    }
    let listener = tokio::net::TcpListener::bind(state.config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", state.config.listen))?;
    let stomp = tidings_server::stomp_tcp::StompListener::bind(&state.config).await?;
    let addr = listener.local_addr()?;
    // One machine-readable line on stdout, for scripts that start the server on port 0
    // (and a second one for STOMP over TCP, when it is on).
    let mut lines = format!("tidings-server listening on {addr}\n");
    if let Some(s) = &stomp {
        let stomp_addr = s.local_addr()?;
        let tls = if s.is_tls() { " (TLS)" } else { "" };
        lines.push_str(&format!(
            "tidings-server STOMP over TCP listening on {stomp_addr}{tls}\n"
        ));
        tracing::info!(addr = %stomp_addr, tls = s.is_tls(), "STOMP over TCP listening");
    }
    // One write: a script that reads the first line finds the second beside it.
    std::io::stdout().write_all(lines.as_bytes())?;
    std::io::stdout().flush()?;
    tracing::info!(%addr, "listening");
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    tidings_server::serve_with(listener, stomp, state).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
