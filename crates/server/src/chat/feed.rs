//! Live notifications for SSE streams: one broadcast channel per user with a stream open.
//! A stream that falls behind (the channel lagged) re-reads the store from its last `seq`,
//! so a slow reader loses nothing and memory stays bounded. [`Feed::end_streams`] ends every
//! stream (the bus between nodes lost events: clients resume from `Last-Event-ID`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tidings_proto::Notification;
use tokio::sync::{broadcast, watch};

/// Notifications buffered per user for slow streams before they must re-read the store.
const CAPACITY: usize = 256;

#[derive(Debug)]
pub struct Feed {
    // A plain mutex: lookups and inserts only.
    users: Mutex<HashMap<String, broadcast::Sender<Arc<Notification>>>>,
    /// Bumped by [`Feed::end_streams`].
    ended: watch::Sender<u64>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            users: Mutex::default(),
            ended: watch::channel(0).0,
        }
    }
}

impl Feed {
    /// Ends every stream open now.
    pub fn end_streams(&self) {
        self.ended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Resolves when [`Feed::end_streams`] runs after this call.
    pub fn ended(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.ended.subscribe();
        async move {
            let _ = rx.changed().await;
        }
    }

    /// Starts receiving `user`'s new notifications.
    pub fn subscribe(&self, user: &str) -> broadcast::Receiver<Arc<Notification>> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users
            .entry(user.to_owned())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    /// How many streams `user` has open.
    pub fn streams(&self, user: &str) -> usize {
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .map_or(0, |s| s.receiver_count())
    }

    pub fn publish(&self, n: &Notification) {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = users.get(&n.user_id) {
            if tx.send(Arc::new(n.clone())).is_err() {
                // Nobody listens any more.
                users.remove(&n.user_id);
            }
        }
    }
}
