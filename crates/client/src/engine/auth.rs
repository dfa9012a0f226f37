//! Access tokens for a Tidings server: the refresh token lives in a [`RefreshStore`] (the OS
//! keyring or a 0600 file, chosen by the embedder) and changes on every refresh; access
//! tokens live in memory and are refreshed a minute before they expire.
//!
//! Another process of the same client may have refreshed meanwhile (and so revoked the
//! token we hold): a refused refresh re-reads the store once before giving up.

use crate::error::{ClientError, ClientResult};
use crate::http::Api;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Where a refresh token is kept.
pub trait RefreshStore: Send + Sync + std::fmt::Debug {
    fn load(&self) -> Option<String>;
    fn save(&self, token: &str) -> Result<(), String>;
}

/// A refresh store in memory (tests, embedders that persist elsewhere).
#[derive(Debug, Default)]
pub struct MemoryRefreshStore(Mutex<Option<String>>);

impl MemoryRefreshStore {
    pub fn new(token: &str) -> MemoryRefreshStore {
        MemoryRefreshStore(Mutex::new(Some(token.to_owned())))
    }
}

impl RefreshStore for MemoryRefreshStore {
    fn load(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn save(&self, token: &str) -> Result<(), String> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.to_owned());
        Ok(())
    }
}

/// Refresh this long before expiry.
const MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Access {
    token: String,
    expires: Instant,
}

/// The access token of one account, shared by the engine and its catch-up tasks.
#[derive(Debug)]
pub(crate) struct Tokens {
    api: Api,
    store: Arc<dyn RefreshStore>,
    // An async mutex: a refresh awaits the server, and concurrent callers should wait for
    // its result rather than refresh twice.
    access: tokio::sync::Mutex<Option<Access>>,
}

impl Tokens {
    pub(crate) fn new(
        api: Api,
        store: Arc<dyn RefreshStore>,
        initial: Option<(String, Duration)>,
    ) -> Tokens {
        Tokens {
            api,
            store,
            access: tokio::sync::Mutex::new(initial.map(|(token, ttl)| Access {
                token,
                expires: Instant::now() + ttl,
            })),
        }
    }

    /// A valid access token, refreshing it if it expires within a minute.
    /// `Unauthorized` means signed out for good.
    pub(crate) async fn get(&self) -> ClientResult<String> {
        let mut access = self.access.lock().await;
        if let Some(a) = access.as_ref() {
            if a.expires > Instant::now() + MARGIN {
                return Ok(a.token.clone());
            }
        }
        let fresh = self.refresh().await?;
        let token = fresh.token.clone();
        *access = Some(fresh);
        Ok(token)
    }

    /// Forgets the access token (the server refused it).
    pub(crate) async fn invalidate(&self) {
        *self.access.lock().await = None;
    }

    pub(crate) async fn replace(&self, initial: Option<(String, Duration)>) {
        *self.access.lock().await = initial.map(|(token, ttl)| Access {
            token,
            expires: Instant::now() + ttl,
        });
    }

    async fn refresh(&self) -> ClientResult<Access> {
        let Some(mut refresh) = self.store.load() else {
            return Err(ClientError::Unauthorized(
                "no saved session: sign in".into(),
            ));
        };
        for attempt in 0..2 {
            match self.api.refresh(&refresh).await {
                Ok(t) => {
                    self.store
                        .save(&t.refresh_token)
                        .map_err(|e| ClientError::Io(format!("cannot save the session: {e}")))?;
                    return Ok(Access {
                        token: t.access_token,
                        expires: Instant::now() + Duration::from_secs(t.expires_in),
                    });
                }
                Err(ClientError::Unauthorized(reason)) => {
                    // Another process may have rotated it: try the newest saved token once.
                    match self.store.load() {
                        Some(newer) if newer != refresh && attempt == 0 => refresh = newer,
                        _ => return Err(ClientError::Unauthorized(reason)),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Unauthorized("the session was refused".into()))
    }
}
