//! Opening the engine for a command: the signed-in account's target and cache, and waiting
//! for it to be live with nothing left to send (or for the sign that it is offline).

use crate::context::{Context, Failure, NOT_SIGNED_IN};
use std::sync::Arc;
use tidings_client::cache::Cache;
use tidings_client::engine::{Engine, EngineConfig, EngineState, Target, TidingsServer};

pub fn account_key(a: &tidings_client::credentials::Account) -> String {
    let host = a.server.split("://").nth(1).unwrap_or(&a.server);
    format!("{}@{host}", a.user)
}

pub fn tidings_target(ctx: &Context, account: &tidings_client::credentials::Account) -> Target {
    Target::Tidings(TidingsServer {
        http: account.server.clone(),
        ws: TidingsServer::ws_url(&account.server),
        user: account.user.clone(),
        refresh: ctx.credentials.refresh_store(account),
        access: None,
    })
}

pub fn start(ctx: &Context, target: Target, key: &str) -> Result<Engine, Failure> {
    start_with(ctx, target, open_cache(ctx, key)?)
}

pub fn open_cache(ctx: &Context, key: &str) -> Result<Arc<Cache>, Failure> {
    Ok(Arc::new(
        Cache::open(&ctx.cache_path(key)).map_err(tidings_client::ClientError::from)?,
    ))
}

pub fn start_with(ctx: &Context, target: Target, cache: Arc<Cache>) -> Result<Engine, Failure> {
    Ok(Engine::start(
        EngineConfig::new(target, ctx.tls.clone()),
        cache,
    )?)
}

/// How a connection attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Live, caught up, outbox sent.
    Synced,
    /// The server could not be reached (or not in time): working from the cache.
    Offline(String),
}

/// Waits for the engine to be live with nothing left to send, or for its first failure.
pub async fn settle(ctx: &Context, engine: &Engine) -> Result<Outcome, Failure> {
    let mut state = engine.state();
    let mut changed = engine.changed();
    let work = async {
        loop {
            let s = state.borrow_and_update().clone();
            match s {
                EngineState::Live if engine.cache().outbox_waiting().unwrap_or(1) == 0 => {
                    return Ok(Outcome::Synced)
                }
                EngineState::SignedOut { reason } => {
                    return Err(Failure::new(
                        NOT_SIGNED_IN,
                        format!("signed out: {reason}; run `tidings login` again"),
                    ))
                }
                EngineState::Reconnecting { reason, .. } => return Ok(Outcome::Offline(reason)),
                _ => {}
            }
            tokio::select! {
                r = state.changed() => if r.is_err() { return Ok(Outcome::Offline("the engine stopped".into())) },
                _ = changed.changed() => {}
            }
        }
    };
    match tokio::time::timeout(ctx.timeout, work).await {
        Ok(r) => r,
        Err(_) => Ok(Outcome::Offline(format!(
            "no answer within {} s",
            ctx.timeout.as_secs()
        ))),
    }
}

/// Opens the engine for the signed-in account and syncs (or says it works offline).
pub async fn connect_and_settle(ctx: &Context) -> Result<(Engine, Outcome), Failure> {
    let account = ctx.account()?;
    let engine = start(ctx, tidings_target(ctx, &account), &account_key(&account))?;
    let outcome = settle(ctx, &engine).await?;
    if let Outcome::Offline(reason) = &outcome {
        eprintln!("tidings: offline ({reason}): showing what was cached");
    }
    Ok((engine, outcome))
}
