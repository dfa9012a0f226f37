//! `tidings`: the command-line client. Parses flags, runs one command over the desktop
//! engine (`tidings-client`), and exits with a code that says what happened:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | failed (a local error, or the server failed) |
//! | 2 | bad usage |
//! | 3 | not signed in, or the credentials were refused |
//! | 4 | the server could not be reached |
//! | 5 | the server refused the request (invalid, forbidden, not found) |
//! | 75 | `send`: queued in the outbox while offline; it goes out on the next connection |

mod chat;
mod commands;
mod context;
mod files;
mod output;
mod session;
mod timeline;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = context::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDINGS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tidings: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("tidings: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
