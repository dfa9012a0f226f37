//! The inbound frame budget of one connection: a token bucket charged for every WebSocket
//! message (pings and pongs included) and every STOMP frame the peer sends.
//!
//! Frames the server answers or keeps for free (a ping gets a pong, an `ACK` costs a lookup,
//! a staged `ACK` costs memory) would otherwise let one connection make the server spend
//! without bound. The `SEND` budget (`rate`) is per user; this one is per connection, and
//! together with the per-user connection limit it bounds what one user can make the server
//! do. Time is passed in so that tests decide it.

use tokio::time::Instant;

/// `per_second` frames, refilled continuously, with a burst of as many again.
#[derive(Debug)]
pub struct FrameBudget {
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl FrameBudget {
    pub fn new(per_second: u32, now: Instant) -> FrameBudget {
        let per_second = f64::from(per_second.max(1));
        FrameBudget {
            per_second,
            tokens: per_second * 2.0,
            at: now,
        }
    }

    pub fn per_second(&self) -> u32 {
        self.per_second as u32
    }

    /// Charges one frame; `false` when the connection is over its budget.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at);
        self.at = now;
        let refill = elapsed.as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second * 2.0);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_of_twice_the_rate_then_the_rate() {
        let t0 = Instant::now();
        let mut b = FrameBudget::new(100, t0);
        assert!((0..200).all(|_| b.take(t0)), "the burst");
        assert!(!b.take(t0), "over budget");
        // 100 per second: 10 more after 100 ms, not 11.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!((0..20).filter(|_| b.take(t1)).count(), 10);
        // A long pause refills the burst, no more.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..1000).filter(|_| b.take(t2)).count(), 200);
    }
}
