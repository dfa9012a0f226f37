//! Limits against scripts that create groups or add people en masse (each added user is
//! notified): per-user hourly budgets of conversations created and of participants added,
//! and caps on the users one request names and on the size of a group. Every refusal is
//! counted in the `errors` metric under its kind.

use super::{ChatError, ChatResult};
use crate::cluster::{Bus, Limiter};
use crate::config::LimitsConfig;
use crate::metrics::Metrics;
use crate::rate::RateLimiter;
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3600);

/// The membership limits of one server. Shared by every request (the budgets are per user,
/// over all the user's sessions).
#[derive(Debug)]
pub struct Quota {
    conversations: Limiter,
    participants: Limiter,
    max_per_request: usize,
    max_group_size: usize,
    metrics: Arc<Metrics>,
}

impl Quota {
    pub fn new(limits: &LimitsConfig, metrics: Arc<Metrics>, bus: &Bus) -> Quota {
        Quota {
            conversations: bus.limiter(
                "conversations",
                RateLimiter::per_period(limits.conversations_per_hour, HOUR),
            ),
            participants: bus.limiter(
                "participants",
                RateLimiter::per_period(limits.participants_added_per_hour, HOUR),
            ),
            max_per_request: limits.max_participants_per_request,
            max_group_size: limits.max_group_size,
            metrics,
        }
    }

    pub fn max_group_size(&self) -> usize {
        self.max_group_size
    }

    /// Refuses a request that names more users than one request may (400).
    pub fn check_request(&self, named: usize) -> ChatResult<()> {
        if named <= self.max_per_request {
            return Ok(());
        }
        self.metrics.error("too_many_participants");
        Err(ChatError::Invalid(format!(
            "the request names {named} users; at most {} may be named in one request",
            self.max_per_request
        )))
    }

    /// Refuses a new group of `size` participants, its creator included, above the cap (400).
    pub fn check_new_group(&self, size: usize) -> ChatResult<()> {
        if size <= self.max_group_size {
            return Ok(());
        }
        self.metrics.error("group_full");
        Err(ChatError::Invalid(format!(
            "a group may have at most {} participants; this one would have {size}",
            self.max_group_size
        )))
    }

    /// Counts a group that was refused for its size by the store (409).
    pub fn group_full(&self) {
        self.metrics.error("group_full");
    }

    /// Takes one conversation and `adding` participants from `user`'s budgets (429).
    pub async fn charge_conversation(
        &self,
        user: &str,
        adding: usize,
        now: Instant,
    ) -> ChatResult<()> {
        if !self.conversations.allow(user, now).await {
            self.metrics.error("conversations_rate_limited");
            return Err(ChatError::RateLimited(format!(
                "too many new conversations: at most {} per hour per user; try again later",
                self.conversations.budget()
            )));
        }
        self.charge_participants(user, adding, now).await
    }

    /// Takes `adding` participants from `user`'s budget (429).
    pub async fn charge_participants(
        &self,
        user: &str,
        adding: usize,
        now: Instant,
    ) -> ChatResult<()> {
        let n = u32::try_from(adding).unwrap_or(u32::MAX);
        if n == 0 || self.participants.allow_n(user, n, now).await {
            return Ok(());
        }
        self.metrics.error("participants_rate_limited");
        Err(ChatError::RateLimited(format!(
            "too many participants added: at most {} per hour per user; try again later",
            self.participants.budget()
        )))
    }
}
