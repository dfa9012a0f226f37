//! Typing indicators: ephemeral, never stored. A `typing: true` lasts the TTL (5 s by
//! default, `limits.typing_ttl_ms`) unless
//! renewed; when it lapses (the client never sent the stop, or went away) the server sends
//! the `typing: false` itself. Sending a message or losing the last session stops it too.

use crate::app::Broker;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tidings_proto::{dest, Envelope, Event, Typing};

/// (conversation, user) → generation of the latest `typing: true`.
type Entries = Arc<Mutex<HashMap<(String, String), u64>>>;

#[derive(Debug)]
pub struct TypingState {
    entries: Entries,
    next: std::sync::atomic::AtomicU64,
    broker: Broker,
    ttl: Duration,
}

fn envelope(cid: &str, user: &str, typing: bool, ttl: Duration) -> Envelope {
    Envelope::new(
        Event::Typing(Typing {
            conversation_id: cid.to_owned(),
            user_id: user.to_owned(),
            typing,
            expires_in_ms: typing.then_some(ttl.as_millis() as u64),
        }),
        Some(user),
    )
}

impl TypingState {
    pub fn new(broker: Broker, ttl: Duration) -> TypingState {
        TypingState {
            entries: Arc::default(),
            next: Default::default(),
            broker,
            ttl,
        }
    }

    /// Announces `typing: true` and arms its expiry.
    pub fn start(&self, cid: &str, user: &str, publish: impl Fn(String, &Envelope)) {
        let generation = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = (cid.to_owned(), user.to_owned());
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone(), generation);
        publish(
            dest::conversation_topic(cid),
            &envelope(cid, user, true, self.ttl),
        );
        let entries = self.entries.clone();
        let broker = self.broker.clone();
        let ttl = self.ttl;
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            let lapsed = {
                let mut map = entries.lock().unwrap_or_else(PoisonError::into_inner);
                let current = map.get(&key) == Some(&generation);
                if current {
                    map.remove(&key);
                }
                current
            };
            if lapsed {
                let (cid, user) = key;
                let body = bytes::Bytes::from(envelope(&cid, &user, false, ttl).to_json());
                let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
                let _ = broker.publish(&dest::conversation_topic(&cid), headers, body, true);
            }
        });
    }

    /// Announces `typing: false` if the user was typing there.
    pub fn stop(&self, cid: &str, user: &str, publish: impl Fn(String, &Envelope)) {
        let was = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(cid.to_owned(), user.to_owned()))
            .is_some();
        if was {
            publish(
                dest::conversation_topic(cid),
                &envelope(cid, user, false, self.ttl),
            );
        }
    }

    /// Stops every indicator of `user` (the last session closed).
    pub fn stop_all(&self, user: &str, publish: impl Fn(String, &Envelope)) {
        let gone: Vec<String> = {
            let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let keys: Vec<_> = map.keys().filter(|(_, u)| u == user).cloned().collect();
            keys.into_iter()
                .filter_map(|k| map.remove(&k).map(|_| k.0))
                .collect()
        };
        for cid in gone {
            publish(
                dest::conversation_topic(&cid),
                &envelope(&cid, user, false, self.ttl),
            );
        }
    }
}
