//! Password hashing (Argon2id) behind a gate. Each hash or verification holds ~19 MiB for
//! its duration, so at most `auth.max_concurrent_hashes` run at once, on the blocking pool;
//! at most `auth.max_hash_waiters` more requests wait for a slot, and any beyond that are
//! answered "busy" at once. A flood of logins or registrations then costs a bounded amount
//! of memory and no growing queue, whatever the usernames or addresses.

use super::{ChatError, ChatResult};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// How long a client told "busy" should wait before trying again.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Admits password work; see the module doc.
#[derive(Debug)]
pub struct PasswordGate {
    slots: Arc<Semaphore>,
    /// Requests running or waiting.
    admitted: Arc<AtomicUsize>,
    /// Most requests running or waiting at once.
    limit: usize,
}

/// Whether a request may be turned away when too many wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Clients' requests: answered "busy" past the waiter limit.
    Bounded,
    /// The server's own work (demo data, administration): waits its turn.
    Wait,
}

/// One admitted request; leaves the count when dropped.
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordGate {
    pub fn new(concurrent: usize, waiters: usize) -> PasswordGate {
        PasswordGate {
            slots: Arc::new(Semaphore::new(concurrent.max(1))),
            admitted: Arc::new(AtomicUsize::new(0)),
            limit: concurrent.max(1) + waiters,
        }
    }

    /// Hashes a password with a fresh salt (a PHC string).
    pub async fn hash(&self, password: String, queue: Queue) -> ChatResult<String> {
        self.run(queue, move || hash_password(&password))
            .await?
            .map_err(ChatError::Internal)
    }

    /// Checks a password against a PHC string. `None` checks against a decoy, so that a
    /// login for an unknown name takes as long as one with a wrong password.
    pub async fn verify(&self, password: String, hash: Option<String>) -> ChatResult<bool> {
        self.run(Queue::Bounded, move || {
            let hash = hash.as_deref().unwrap_or_else(|| decoy_hash());
            verify_password(&password, hash)
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        queue: Queue,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> ChatResult<T> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admission = Admission(self.admitted.clone());
        if queue == Queue::Bounded && before >= self.limit {
            return Err(ChatError::Busy(
                "the server is busy checking passwords; try again in a moment".into(),
            ));
        }
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ChatError::Internal(format!("password gate closed: {e}")))?;
        // The slot and the admission go with the work: a request dropped meanwhile (its
        // client went away) does not free a slot while its hash still runs.
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop(slot);
            drop(admission);
            out
        })
        .await
        .map_err(|e| ChatError::Internal(format!("password hashing failed: {e}")))
    }
}

/// A hash to verify against when the user does not exist.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

fn hash_password(password: &str) -> Result<String, String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[tokio::test]
    async fn past_the_waiters_requests_are_turned_away_and_the_servers_own_work_waits() {
        // One slot, no waiters: with one verification running, the next is busy.
        let gate = Arc::new(PasswordGate::new(1, 0));
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let g = gate.clone();
        let running = tokio::spawn(async move {
            g.run(Queue::Bounded, move || {
                let _ = started_tx.send(());
                let _ = release_rx.recv();
            })
            .await
        });
        tokio::task::spawn_blocking(move || started_rx.recv())
            .await
            .unwrap()
            .unwrap();
        let busy = gate.verify("pw".into(), None).await.unwrap_err();
        assert!(matches!(busy, ChatError::Busy(_)), "{busy:?}");
        let g = gate.clone();
        let own = tokio::spawn(async move { g.run(Queue::Wait, || 7).await });
        release_tx.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert_eq!(own.await.unwrap().unwrap(), 7);
        assert_eq!(gate.admitted.load(Ordering::Acquire), 0);
    }
}
