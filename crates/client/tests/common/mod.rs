//! What the engine tests share: starting an engine for a test user, and waiting (bounded)
//! for a condition on its cache or state.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;
use tidings_client::backoff::Backoff;
use tidings_client::cache::Cache;
use tidings_client::engine::{
    Engine, EngineConfig, EngineState, MemoryRefreshStore, Target, TidingsServer,
};
use tidings_testkit::TestUser;

pub fn start_engine(http: &str, who: &TestUser, cache: Arc<Cache>) -> Engine {
    start_engine_with(http, who, cache, |_| {})
}

/// [`start_engine`] with changes to its configuration.
pub fn start_engine_with(
    http: &str,
    who: &TestUser,
    cache: Arc<Cache>,
    tweak: impl FnOnce(&mut EngineConfig),
) -> Engine {
    let target = Target::Tidings(TidingsServer {
        http: http.to_owned(),
        ws: TidingsServer::ws_url(http),
        user: who.name.clone(),
        refresh: Arc::new(MemoryRefreshStore::new(&who.refresh)),
        access: Some((who.token.clone(), Duration::from_secs(who.expires_in))),
    });
    let mut config = EngineConfig::new(target, tidings_client::tls::client_config(None).unwrap());
    // Tests wait for reconnects: keep the backoff short (the shape stays the same).
    config.backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(400));
    tweak(&mut config);
    Engine::start(config, cache).unwrap()
}

/// Waits (bounded) until `check` holds, re-checking whenever the engine changed something.
pub async fn until(engine: &Engine, what: &str, mut check: impl FnMut(&Cache) -> bool) {
    let mut changed = engine.changed();
    let mut state = engine.state();
    bounded(engine, what, async {
        loop {
            if check(engine.cache()) {
                return;
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = state.changed() => {}
            }
        }
    })
    .await;
}

pub async fn until_state(engine: &Engine, what: &str, mut check: impl FnMut(&EngineState) -> bool) {
    let mut state = engine.state();
    bounded(engine, what, async {
        loop {
            if check(&state.borrow_and_update()) {
                return;
            }
            state.changed().await.unwrap();
        }
    })
    .await;
}

/// Runs `wait` for at most 20 s; past that, fails naming `what` and the engine's state.
async fn bounded(engine: &Engine, what: &str, wait: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "timed out waiting for: {what} (state {:?})",
                engine.state().borrow()
            )
        });
}

pub fn cached_seqs(cache: &Cache, cid: &str) -> Vec<i64> {
    cache
        .messages_after(cid, 0)
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect()
}
