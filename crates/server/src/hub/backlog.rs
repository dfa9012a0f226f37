//! A destination's subscribers and the messages waiting for them (its backlog), with the
//! bookkeeping of what all backlogs hold together: every change to a backlog goes through
//! [`Dest::push`] and [`Dest::pop`], which keep [`BacklogUse`] exact, so the hub's limits
//! on bytes and on queues holding messages never drift.

use super::message::{Published, SessionId};
use std::collections::VecDeque;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) message: Arc<Published>,
    pub(super) deliveries: u32,
    /// The session that NACKed it, tried last.
    pub(super) avoid: Option<SessionId>,
}

#[derive(Debug, Default)]
pub(super) struct Dest {
    pub(super) subs: Vec<(SessionId, Arc<str>)>,
    pub(super) next: usize,
    /// Change only through [`Dest::push`] and [`Dest::pop`], which keep [`BacklogUse`].
    pub(super) backlog: VecDeque<Pending>,
}

/// What all backlogs together hold, against the hub's limits `max_backlog_bytes` and
/// `max_backlog_queues`.
#[derive(Debug, Default)]
pub(super) struct BacklogUse {
    pub(super) bytes: usize,
    /// `/queue/**` destinations with a non-empty backlog.
    pub(super) queues: usize,
}

impl Dest {
    pub(super) fn push(&mut self, p: Pending, front: bool, queue: bool, usage: &mut BacklogUse) {
        if queue && self.backlog.is_empty() {
            usage.queues += 1;
        }
        usage.bytes += p.message.size();
        if front {
            self.backlog.push_front(p);
        } else {
            self.backlog.push_back(p);
        }
    }

    pub(super) fn pop(
        &mut self,
        front: bool,
        queue: bool,
        usage: &mut BacklogUse,
    ) -> Option<Pending> {
        let p = if front {
            self.backlog.pop_front()
        } else {
            self.backlog.pop_back()
        }?;
        usage.bytes = usage.bytes.saturating_sub(p.message.size());
        if queue && self.backlog.is_empty() {
            usage.queues = usage.queues.saturating_sub(1);
        }
        Some(p)
    }
}
