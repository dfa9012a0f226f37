//! Per-user rate limits: a token bucket per user, shared by all the user's connections, so
//! opening more connections does not buy more. Used for `SEND`s (per minute), for
//! creating conversations and adding participants (per hour), and for authenticated REST
//! requests (per minute, with a larger burst).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// `budget` actions per user per `period`, refilled continuously; a user may spend the whole
/// budget at once (or a larger `burst`, see [`RateLimiter::with_burst`]). Time is passed in
/// so that tests decide it.
#[derive(Debug)]
pub struct RateLimiter {
    budget: f64,
    period: Duration,
    /// What a full bucket holds: the most that may be spent at once.
    burst: f64,
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
    /// `per_minute` actions per user per minute.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter::per_period(per_minute, Duration::from_secs(60))
    }

    /// `budget` actions per user per `period` (not zero).
    pub fn per_period(budget: u32, period: Duration) -> RateLimiter {
        RateLimiter::with_burst(budget, period, budget)
    }

    /// `budget` actions per user per `period`, of which up to `burst` may be spent at once.
    pub fn with_burst(budget: u32, period: Duration, burst: u32) -> RateLimiter {
        RateLimiter {
            budget: f64::from(budget),
            period: period.max(Duration::from_millis(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                prune_above: PRUNE_AT,
            }),
        }
    }

    /// The budget per minute (rounded), for limiters made with [`RateLimiter::new`].
    pub fn per_minute(&self) -> u32 {
        (self.budget * 60.0 / self.period.as_secs_f64()).round() as u32
    }

    /// The budget per period.
    pub fn budget(&self) -> u32 {
        self.budget as u32
    }

    /// Takes one token for `user`; `false` when the user is over the limit.
    pub fn allow(&self, user: &str, now: Instant) -> bool {
        self.allow_n(user, 1, now)
    }

    /// Takes `n` tokens for `user` at once, or none: `false` when fewer are left (always for
    /// more than the burst).
    pub fn allow_n(&self, user: &str, n: u32, now: Instant) -> bool {
        self.take_n(user, n, now).is_ok()
    }

    /// Takes one token for `user`, or says how long until one is there (for `Retry-After`).
    pub fn take(&self, user: &str, now: Instant) -> Result<(), Duration> {
        self.take_n(user, 1, now)
    }

    /// Tokens per second, and what a full bucket holds (for the shared limiter's script).
    pub fn rate_and_burst(&self) -> (f64, f64) {
        (self.budget / self.period.as_secs_f64(), self.burst)
    }

    /// Takes `n` tokens for `user` at once, or none and says how long until there are `n`
    /// (`Duration::MAX` for more than the burst).
    pub fn take_n(&self, user: &str, n: u32, now: Instant) -> Result<(), Duration> {
        let rate = self.budget / self.period.as_secs_f64();
        let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let buckets = &mut *guard;
        if buckets.map.len() > buckets.prune_above {
            // Empty buckets are full again after burst / rate.
            let full = self.period.mul_f64(self.burst / self.budget.max(1.0));
            buckets
                .map
                .retain(|_, b| now.saturating_duration_since(b.at) < full);
            buckets.prune_above = (buckets.map.len() * 2).max(PRUNE_AT);
        }
        let b = buckets.map.entry(user.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(self.burst);
        b.at = now;
        let n = f64::from(n);
        if b.tokens >= n {
            b.tokens -= n;
            Ok(())
        } else if n > self.burst {
            Err(Duration::MAX)
        } else {
            Err(Duration::from_secs_f64((n - b.tokens) / rate))
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
    fn an_hourly_budget_is_spent_in_amounts_and_refills_over_the_hour() {
        let r = RateLimiter::per_period(100, Duration::from_secs(3600));
        let t0 = Instant::now();
        assert!(r.allow_n("alice", 60, t0));
        assert!(!r.allow_n("alice", 41, t0), "only 40 left: none is taken");
        assert!(r.allow_n("alice", 40, t0));
        assert!(!r.allow("alice", t0));
        assert!(
            !r.allow_n("bob", 101, t0),
            "more than the budget never passes"
        );
        // 100 per hour: one every 36 s.
        assert!(!r.allow("alice", t0 + Duration::from_secs(30)));
        assert!(r.allow("alice", t0 + Duration::from_secs(40)));
        assert!(r.allow_n("alice", 100, t0 + Duration::from_secs(7200)));
        assert_eq!(r.budget(), 100);
        assert_eq!(RateLimiter::new(100).per_minute(), 100);
    }

    #[test]
    fn a_burst_larger_than_the_budget_then_the_rate_and_how_long_to_wait() {
        // 60 per minute (one a second), 300 at once.
        let r = RateLimiter::with_burst(60, Duration::from_secs(60), 300);
        let t0 = Instant::now();
        assert!((0..300).all(|_| r.take("alice", t0).is_ok()), "the burst");
        assert_eq!(r.take("alice", t0), Err(Duration::from_secs(1)));
        let t1 = t0 + Duration::from_millis(400);
        let wait = r.take("alice", t1).unwrap_err();
        assert!(
            wait > Duration::from_millis(590) && wait < Duration::from_millis(610),
            "{wait:?}"
        );
        assert!(r.take("alice", t0 + Duration::from_secs(1)).is_ok());
        assert!(r.take("bob", t0).is_ok(), "others have their own buckets");
        // After a long pause the burst is back, no more.
        let t2 = t0 + Duration::from_secs(3600);
        assert_eq!(
            (0..400).filter(|_| r.take("alice", t2).is_ok()).count(),
            300
        );
        assert!(
            !r.allow_n("carol", 301, t2),
            "more than the burst never passes"
        );
    }

    #[test]
    fn a_budget_per_hour_refills_over_the_hour() {
        let r = RateLimiter::per_period(2, Duration::from_secs(3600));
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
