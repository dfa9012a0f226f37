//! Rate limits that hold across nodes: on the Redis bus, each check is one atomic Lua
//! script (a token bucket per limiter and key, its time from Redis, its key expiring once
//! the bucket would be full again), so a user spreading requests over nodes gets the same
//! budget as on one. Without a bus, or while Redis cannot be reached, the node's own
//! [`RateLimiter`] counts instead: the node never refuses everyone because Redis is away
//! (logged once, counted in `bus_limiter_fallbacks`).

use super::redis::RedisBus;
use crate::rate::RateLimiter;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// KEYS[1]: the bucket. ARGV: tokens per millisecond, burst, tokens wanted.
/// Returns {1, 0} when taken, {0, ms to wait} when not, {0, -1} when more than the burst.
const SCRIPT: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local ok = 0
local wait = 0
if tokens >= n then
  tokens = tokens - n
  ok = 1
elseif n > burst then
  wait = -1
else
  wait = math.ceil((n - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return {ok, wait}
";

static BUCKET: LazyLock<::redis::Script> = LazyLock::new(|| ::redis::Script::new(SCRIPT));

/// A rate limiter named `name` (it names its keys in Redis: `{cluster.name}:rate:{name}:{key}`).
#[derive(Debug)]
pub struct Limiter {
    name: &'static str,
    local: RateLimiter,
    shared: Option<Arc<RedisBus>>,
}

impl Limiter {
    pub(super) fn new(
        name: &'static str,
        local: RateLimiter,
        shared: Option<Arc<RedisBus>>,
    ) -> Limiter {
        Limiter {
            name,
            local,
            shared,
        }
    }

    /// Counted on this node only.
    pub fn local(name: &'static str, local: RateLimiter) -> Limiter {
        Limiter::new(name, local, None)
    }

    pub fn per_minute(&self) -> u32 {
        self.local.per_minute()
    }

    pub fn budget(&self) -> u32 {
        self.local.budget()
    }

    pub async fn allow(&self, key: &str, now: Instant) -> bool {
        self.take_n(key, 1, now).await.is_ok()
    }

    pub async fn allow_n(&self, key: &str, n: u32, now: Instant) -> bool {
        self.take_n(key, n, now).await.is_ok()
    }

    /// One token, or how long until one is there.
    pub async fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        self.take_n(key, 1, now).await
    }

    /// `n` tokens at once, or none and how long until there are `n` (`Duration::MAX` for
    /// more than the burst). `now` is for the local count; Redis uses its own clock.
    pub async fn take_n(&self, key: &str, n: u32, now: Instant) -> Result<(), Duration> {
        let Some(bus) = &self.shared else {
            return self.local.take_n(key, n, now);
        };
        let conn = bus.conn().filter(|_| bus.up());
        let Some(mut conn) = conn else {
            return self.fallback(bus, key, n, now, "the bus is down");
        };
        let (rate, burst) = self.local.rate_and_burst();
        let answer: Result<(i64, i64), _> = BUCKET
            .key(format!("{}rate:{}:{key}", bus.prefix, self.name))
            .arg(rate / 1000.0)
            .arg(burst)
            .arg(n)
            .invoke_async(&mut conn)
            .await;
        match answer {
            Ok((1, _)) => {
                bus.fallback_logged.store(false, Ordering::Relaxed);
                Ok(())
            }
            Ok((_, wait)) if wait < 0 => Err(Duration::MAX),
            Ok((_, wait)) => Err(Duration::from_millis(wait.unsigned_abs())),
            Err(e) => self.fallback(bus, key, n, now, &e.to_string()),
        }
    }

    fn fallback(
        &self,
        bus: &RedisBus,
        key: &str,
        n: u32,
        now: Instant,
        why: &str,
    ) -> Result<(), Duration> {
        bus.metrics().bus_limiter_fallbacks.inc();
        if !bus.fallback_logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = why, "rate limits cannot be counted in Redis: this node counts them on its own until it is back");
        }
        self.local.take_n(key, n, now)
    }
}
