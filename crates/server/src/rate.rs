//! Per-user rate limit on `SEND`s: a token bucket per user, shared by all the user's
//! connections, so opening more connections does not buy more sends.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// `per_minute` sends per user, refilled continuously. Time is passed in so that tests
/// decide it.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: f64,
    /// The time in which a spent budget refills (a minute unless built `per_window`).
    window: Duration,
    // A plain mutex: the critical section is a hash lookup and some arithmetic.
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    map: HashMap<String, Bucket>,
    /// Prune when the map grows past this; after a prune it is twice what is left (at least
    /// PRUNE_AT), so many active users do not make every call scan them all.
    prune_above: usize,
}

/// Above this many buckets, full ones are pruned (they carry no information).
const PRUNE_AT: usize = 10_000;

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter::per_window(per_minute, Duration::from_secs(60))
    }

    /// `budget` per `window` (e.g. registrations per hour), refilled continuously.
    pub fn per_window(budget: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            per_minute: f64::from(budget),
            window,
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                prune_above: PRUNE_AT,
            }),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute as u32
    }

    /// Takes one token for `user`; `false` when the user is over the limit.
    pub fn allow(&self, user: &str, now: Instant) -> bool {
        let rate = self.per_minute / self.window.as_secs_f64();
        let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let buckets = &mut *guard;
        if buckets.map.len() > buckets.prune_above {
            let full = self.window;
            buckets
                .map
                .retain(|_, b| now.saturating_duration_since(b.at) < full);
            buckets.prune_above = (buckets.map.len() * 2).max(PRUNE_AT);
        }
        let b = buckets.map.entry(user.to_owned()).or_insert(Bucket {
            tokens: self.per_minute,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(self.per_minute);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_budget_then_refills_over_time() {
        let r = RateLimiter::new(100);
        let t0 = Instant::now();
        assert!((0..100).all(|_| r.allow("alice", t0)));
        assert!(!r.allow("alice", t0));
        assert!(r.allow("bob", t0), "users have their own budgets");
        // 100 per minute: one token every 0.6 s.
        assert!(!r.allow("alice", t0 + Duration::from_millis(500)));
        // At 0.7 s, 1.17 tokens have accrued: one send, not two.
        assert!(r.allow("alice", t0 + Duration::from_millis(700)));
        assert!(!r.allow("alice", t0 + Duration::from_millis(700)));
        assert!((0..100).all(|_| r.allow("alice", t0 + Duration::from_secs(120))));
    }

    #[test]
    fn a_budget_per_hour_refills_over_the_hour() {
        let r = RateLimiter::per_window(2, Duration::from_secs(3600));
        let t0 = Instant::now();
        assert!(r.allow("a", t0) && r.allow("a", t0));
        assert!(!r.allow("a", t0 + Duration::from_secs(60)));
        assert!(r.allow("a", t0 + Duration::from_secs(1800)));
    }

    #[test]
    fn many_active_users_keep_their_budgets_and_full_buckets_are_pruned() {
        let r = RateLimiter::new(2);
        let t0 = Instant::now();
        let users = PRUNE_AT * 2;
        for u in 0..users {
            assert!(r.allow(&format!("u{u}"), t0));
        }
        // Every bucket is recent: none may be forgotten (that would refill it).
        for u in 0..users {
            assert!(r.allow(&format!("u{u}"), t0));
            assert!(!r.allow(&format!("u{u}"), t0), "u{u} spent its budget");
        }
        let threshold = r.buckets.lock().map(|b| b.prune_above).unwrap_or(0);
        assert!(threshold >= users, "prunes are spaced out: {threshold}");
        // A minute later they are full again and get pruned on the next growth.
        let later = t0 + Duration::from_secs(61);
        for u in 0..=threshold {
            r.allow(&format!("v{u}"), later);
        }
        let left = r.buckets.lock().map(|b| b.map.len()).unwrap_or(usize::MAX);
        assert!(left <= threshold + 1, "old buckets pruned: {left} left");
    }
}
