//! What the convergence runs look at and do: each user's engine on its cache, the server's
//! view and a cache's view of the same conversations (every field), a random edit,
//! deletion or reaction, and a bounded wait for an engine's outbox.

use rand::Rng;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tidings_client::backoff::Backoff;
use tidings_client::cache::Cache;
use tidings_client::engine::{Engine, EngineConfig, MemoryRefreshStore, Target, TidingsServer};
use tidings_proto::{ContentType, Message};
use tidings_testkit::*;

const EMOJI: [&str; 4] = ["👍", "🎉", "❤️", "😂"];

/// Per conversation: every message as it is, in `seq` order.
pub type Messages = BTreeMap<String, Vec<Message>>;
/// Per conversation: (read marker, unread count, participant ids); conversations the user
/// is not in are absent.
pub type Reads = BTreeMap<String, (i64, i64, Vec<String>)>;

pub struct Client {
    pub who: TestUser,
    pub cache_path: std::path::PathBuf,
    pub refresh: Arc<MemoryRefreshStore>,
    pub engine: Option<Engine>,
}

impl Client {
    pub fn start(&mut self, http: &str) {
        let cache = Arc::new(Cache::open(&self.cache_path).unwrap());
        let target = Target::Tidings(TidingsServer {
            http: http.to_owned(),
            ws: TidingsServer::ws_url(http),
            user: self.who.name.clone(),
            refresh: self.refresh.clone(),
            access: None,
        });
        let mut config =
            EngineConfig::new(target, tidings_client::tls::client_config(None).unwrap());
        config.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(300));
        self.engine = Some(Engine::start(config, cache).unwrap());
    }

    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }
}

/// The server's view, per conversation: every message, and each conversation the user is
/// in with their read marker and its participants.
pub async fn server_view(api: &Api, who: &TestUser, cids: &[String]) -> (Messages, Reads) {
    let mut msgs = BTreeMap::new();
    for cid in cids {
        let all = api.all_messages(who, cid).await;
        msgs.insert(
            cid.clone(),
            all.into_iter()
                .map(|m| serde_json::from_value(m).unwrap())
                .collect(),
        );
    }
    let mut reads = BTreeMap::new();
    for c in api.conversations(who).await {
        let c: Value = c;
        let ids = participant_ids(&c);
        reads.insert(
            c["id"].as_str().unwrap().to_owned(),
            (
                c["readSeq"].as_i64().unwrap(),
                c["unreadCount"].as_i64().unwrap(),
                ids,
            ),
        );
    }
    (msgs, reads)
}

pub fn cache_view(cache: &Cache, cids: &[String]) -> (Messages, Reads) {
    let mut msgs = BTreeMap::new();
    let mut reads = BTreeMap::new();
    for cid in cids {
        msgs.insert(cid.clone(), cache.messages_after(cid, 0).unwrap());
        if let Some(c) = cache.conversation(cid).unwrap().filter(|c| !c.left) {
            let ids = c.participants.into_iter().map(|p| p.id).collect();
            reads.insert(cid.clone(), (c.read_seq, c.unread_count, ids));
        }
    }
    (msgs, reads)
}

/// One random edit, deletion or reaction by `who`'s engine on a recent message it has
/// (refusals and failures are part of the chaos: offline, a race with a deletion).
pub async fn random_action(rng: &mut impl Rng, c: &Client, cid: &str) {
    let recent = c.engine().cache().history(cid, None, 30).unwrap();
    let usable: Vec<&Message> = recent
        .iter()
        .filter(|m| !m.deleted && m.system.is_none())
        .collect();
    if usable.is_empty() {
        return;
    }
    let m = usable[rng.random_range(0..usable.len())];
    let own = m.sender_id == c.who.name;
    let e = c.engine();
    let _ = match rng.random_range(0..4) {
        0 if own => e
            .edit_message(
                cid,
                &m.id,
                &format!("{} (edited)", m.content),
                ContentType::Text,
                vec![],
            )
            .await
            .map(drop),
        1 if own => e.delete_message(cid, &m.id).await.map(drop),
        n => {
            let emoji = EMOJI[rng.random_range(0..EMOJI.len())];
            e.react(cid, &m.id, emoji, n != 3).await.map(drop)
        }
    };
}

/// Waits (bounded) until the engine's outbox holds fewer than `n` unconfirmed messages.
pub async fn wait_outbox_below(engine: &Engine, n: i64) {
    let mut changed = engine.changed();
    let work = async {
        while engine.cache().outbox_waiting().unwrap() >= n {
            let _ = changed.changed().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), work)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the outbox did not drain (state {:?})",
                engine.state().borrow()
            )
        });
}
