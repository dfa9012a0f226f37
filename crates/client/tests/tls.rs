//! `https://` and `wss://` through a TLS-terminating proxy whose certificate comes from a
//! CA the system does not know: trusted with the extra CA, refused without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;
use tidings_client::cache::Cache;
use tidings_client::engine::{
    Engine, EngineConfig, EngineState, MemoryRefreshStore, Target, TidingsServer,
};
use tidings_testkit::*;

fn engine(http: &str, who: &TestUser, cache: Arc<Cache>, ca: Option<&std::path::Path>) -> Engine {
    let target = Target::Tidings(TidingsServer {
        http: http.to_owned(),
        ws: TidingsServer::ws_url(http),
        user: who.name.clone(),
        refresh: Arc::new(MemoryRefreshStore::new(&who.refresh)),
        access: None,
    });
    let config = EngineConfig::new(target, tidings_client::tls::client_config(ca).unwrap());
    Engine::start(config, cache).unwrap()
}

async fn first_outcome(e: &Engine) -> EngineState {
    let mut state = e.state();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let s = state.borrow_and_update().clone();
            if matches!(
                s,
                EngineState::Live
                    | EngineState::Reconnecting { .. }
                    | EngineState::SignedOut { .. }
            ) {
                return s;
            }
            state.changed().await.unwrap();
        }
    })
    .await
    .expect("an outcome")
}

#[tokio::test]
async fn a_server_behind_tls_is_reached_with_the_extra_ca_and_refused_without_it() {
    let dir = TempDir::new("tls");
    let server = Server::start(dir.path(), None, |_| {}).await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.group(&alice, &[&bob]).await;
    api.send(&bob, &cid, "k", "over TLS").await;
    let proxy = TlsProxy::start(server.addr, dir.path()).await;
    assert!(TidingsServer::ws_url(&proxy.https()).starts_with("wss://localhost:"));

    let caches = TempDir::new("tls-cache");
    let trusted = engine(
        &proxy.https(),
        &alice,
        Arc::new(Cache::open(&caches.0.join("a.db")).unwrap()),
        Some(&proxy.ca_pem),
    );
    assert_eq!(first_outcome(&trusted).await, EngineState::Live);
    assert_eq!(
        trusted.settle(Duration::from_secs(20)).await,
        EngineState::Live
    );
    let cached = trusted.cache().messages_after(&cid, 0).unwrap();
    assert_eq!(cached[0].content, "over TLS");
    trusted.shutdown().await;

    let bob_cache = Arc::new(Cache::open(&caches.0.join("b.db")).unwrap());
    let untrusted = engine(&proxy.https(), &bob, bob_cache, None);
    match first_outcome(&untrusted).await {
        EngineState::Reconnecting { reason, .. } => {
            assert!(reason.to_lowercase().contains("certificate"), "{reason}")
        }
        other => panic!("an unknown CA must be refused, got {other:?}"),
    }
    untrusted.shutdown().await;
    server.stop().await;
}
