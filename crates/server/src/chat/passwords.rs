//! Password hashing (Argon2id) behind a gate. Each hash or verification holds ~19 MiB for
//! its duration, so at most `auth.max_concurrent_hashes` run at once; at most
//! `auth.max_hash_waiters` more requests wait for a slot, and any beyond that are answered
//! "busy" at once. A flood of logins or registrations then costs a bounded amount of memory
//! and no growing queue, whatever the usernames or addresses.
//!
//! The hashes run on that many threads of their own, not on tokio's blocking pool: the
//! allocator keeps freed memory in per-thread arenas, so 19 MiB hashed once on each of
//! dozens of pool threads stayed resident (26 hashes left 457 MB); on two threads it is
//! two buffers' worth.

use super::{ChatError, ChatResult};
use argon2::password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use tokio::sync::{oneshot, Semaphore};

type Job = Box<dyn FnOnce() + Send>;

/// How long a client told "busy" should wait before trying again.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Admits password work; see the module doc.
#[derive(Debug)]
pub struct PasswordGate {
    slots: Arc<Semaphore>,
    /// To the hashing threads; they end when the gate is dropped.
    jobs: Mutex<mpsc::Sender<Job>>,
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
        let (tx, rx) = mpsc::channel::<Job>();
        // A plain mutex: each thread holds it only to take the next job.
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..concurrent.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name("tidings-password".into())
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        PasswordGate {
            jobs: Mutex::new(tx),
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
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let out = f();
            // Released before the answer goes out, so whoever gets it sees the gate free.
            drop(slot);
            drop(admission);
            let _ = tx.send(out);
        });
        self.jobs
            .lock()
            .map_err(|_| ChatError::Internal("password hashing threads are gone".into()))?
            .send(job)
            .map_err(|_| ChatError::Internal("password hashing threads are gone".into()))?;
        rx.await
            .map_err(|_| ChatError::Internal("password hashing failed".into()))
    }
}

/// A hash to verify against when the user does not exist.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

/// The Argon2 memory of one thread, kept between hashes. Allocating 19 MiB afresh for each
/// hash left freed buffers resident in the allocator's arenas (6 heaps, 330 MB after 20
/// sequential logins); reused, a hashing thread holds one buffer for good.
fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    thread_local! {
        static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BLOCKS.with(|b| {
        let mut blocks = b.borrow_mut();
        if blocks.len() != count {
            blocks.clear();
            blocks.shrink_to_fit();
            blocks.resize(count, Block::default());
        }
        f(&mut blocks)
    })
}

/// Stored hashes asking for more memory than this (blocks of 1 KiB) are not computed.
const MAX_BLOCKS: usize = 64 * 1024;

/// Argon2 of `password` with `salt`, as a PHC string's parts.
fn compute<'a>(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: Salt<'a>,
    output_len: usize,
) -> password_hash::Result<PasswordHash<'a>> {
    let count = argon.params().block_count();
    if count > MAX_BLOCKS {
        return Err(password_hash::Error::ParamValueInvalid(
            password_hash::errors::InvalidValue::TooLong,
        ));
    }
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let output = Output::init_with(output_len, |out| {
        with_blocks(count, |blocks| {
            argon.hash_password_into_with_memory(password, salt_bytes, out, blocks)
        })
        .map_err(password_hash::Error::from)
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(argon.params())?,
        salt: Some(salt),
        hash: Some(output),
    })
}

fn hash_password(password: &str) -> Result<String, String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    compute(
        &Argon2::default(),
        password.as_bytes(),
        salt.as_salt(),
        Params::DEFAULT_OUTPUT_LEN,
    )
    .map(|h| h.to_string())
    .map_err(|e| e.to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    let check = || -> password_hash::Result<bool> {
        let stored = PasswordHash::new(hash)?;
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
            return Ok(false);
        };
        let algorithm = Algorithm::try_from(stored.algorithm)?;
        let version = match stored.version {
            Some(v) => Version::try_from(v)?,
            None => Version::default(),
        };
        let params = Params::try_from(&stored)?;
        let argon = Argon2::new(algorithm, version, params);
        let computed = compute(&argon, password.as_bytes(), salt, expected.len())?;
        // `Output` compares in constant time.
        Ok(computed.hash == Some(expected))
    };
    check().unwrap_or(false)
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
