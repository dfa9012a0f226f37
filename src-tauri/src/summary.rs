//! Discipline across conversations: when news from many places pops up at once (a burst of
//! messages in many conversations, being added to 40 groups), one summary notification
//! ("12 new messages in 9 conversations") replaces a pop-up per conversation.
//!
//! The policy, applied by the notifier each time it could show something:
//! - pop-ups go out at most once per [`THROTTLE`] in all (a *flush*); what comes meanwhile
//!   waits for the next flush;
//! - a flush with news from fewer than [`SUMMARY_FROM`] places (conversations or server
//!   notifications) shows each, as before; from [`SUMMARY_FROM`] on it is one summary,
//!   replaced in place as the burst goes on;
//! - news within [`BURST_WINDOW`] of the last flush that was a burst by itself (news from
//!   [`SUMMARY_FROM`] places or more) updates the summary rather than popping up on its own,
//!   so a burst that trickles in stays one notification. Only such a flush opens the window
//!   again: a conversation that goes on chatting after a burst pops up on its own once the
//!   window is over, however steadily it talks.
//!
//! Time is passed in, so the policy is tested without waiting.

use crate::settings::Privacy;
use std::time::{Duration, Instant};

/// The shortest time between two flushes of pop-ups.
pub const THROTTLE: Duration = Duration::from_millis(1500);
/// News from this many places in one flush is one summary.
pub const SUMMARY_FROM: usize = 3;
/// After a flush that was a burst by itself, news this soon goes into the summary too.
pub const BURST_WINDOW: Duration = Duration::from_secs(10);
/// The key of the summary notification (one, replaced in place).
pub const SUMMARY_KEY: &str = "summary";

/// What one flush shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// One pop-up per conversation or notification.
    Each,
    /// One summary of everything unseen.
    Summary,
}

/// The memory of the policy: when the last flush and the last burst went out, and the
/// server notifications told during the current burst (for the summary's count).
#[derive(Debug, Default)]
pub struct Burst {
    last_flush: Option<Instant>,
    /// The last flush with news from [`SUMMARY_FROM`] places or more. A summary made only
    /// because one was up does not move it, or a steady chat after a burst would be
    /// summarised for as long as it goes on.
    burst_at: Option<Instant>,
    notes: Vec<String>,
}

impl Burst {
    /// Whether a flush now would come too soon after the last one.
    pub fn throttled(&self, now: Instant) -> bool {
        self.last_flush
            .is_some_and(|t| now.saturating_duration_since(t) < THROTTLE)
    }

    /// Decides this flush, with news from `sources` places ready, and notes it as made.
    pub fn plan(&mut self, now: Instant, sources: usize) -> Plan {
        let burst_goes_on = self
            .last_flush
            .is_some_and(|t| now.saturating_duration_since(t) < BURST_WINDOW);
        if !burst_goes_on {
            self.notes.clear();
        }
        self.last_flush = Some(now);
        if sources >= SUMMARY_FROM {
            self.burst_at = Some(now);
            return Plan::Summary;
        }
        let in_burst = self
            .burst_at
            .is_some_and(|t| now.saturating_duration_since(t) < BURST_WINDOW);
        if in_burst {
            Plan::Summary
        } else {
            Plan::Each
        }
    }

    /// A server notification was told in this burst (on its own or in the summary).
    pub fn told_note(&mut self, title: &str) {
        self.notes.push(title.to_owned());
    }

    /// The notifications told during this burst, oldest first.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

/// What a summary counts: unseen messages and the conversations they are in (by name), and
/// the notifications of the burst (by title).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub messages: usize,
    pub conversations: Vec<String>,
    pub notifications: Vec<String>,
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "A, B, C and 6 more".
fn names(list: &[String]) -> String {
    const SHOWN: usize = 3;
    let head = list
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > SHOWN {
        format!("{head} and {} more", list.len() - SHOWN)
    } else {
        head
    }
}

/// The summary's title and body. The title says only counts; the body names the
/// conversations (or, with no messages, the notifications), unless privacy hides
/// everything.
pub fn summary_text(t: &Tally, privacy: Privacy) -> (String, String) {
    let notes = t.notifications.len();
    let title = match (t.messages, notes) {
        (0, n) => count(n, "new notification", "new notifications"),
        (m, 0) => format!(
            "{} in {}",
            count(m, "new message", "new messages"),
            count(t.conversations.len(), "conversation", "conversations")
        ),
        (m, n) => format!(
            "{} in {}, {}",
            count(m, "new message", "new messages"),
            count(t.conversations.len(), "conversation", "conversations"),
            count(n, "notification", "notifications")
        ),
    };
    let body = match privacy {
        Privacy::Hidden => String::new(),
        _ if t.messages > 0 => names(&t.conversations),
        _ => names(&t.notifications),
    };
    (title, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_places_pop_up_each_many_are_one_summary_and_the_burst_stays_one() {
        let mut b = Burst::default();
        let t0 = Instant::now();
        assert!(!b.throttled(t0));
        assert_eq!(b.plan(t0, 2), Plan::Each);
        assert!(b.throttled(t0 + Duration::from_millis(100)));
        assert!(!b.throttled(t0 + THROTTLE));
        // Many at once: one summary; then even one more within the window joins it.
        assert_eq!(b.plan(t0 + THROTTLE, 9), Plan::Summary);
        assert_eq!(b.plan(t0 + THROTTLE * 2, 1), Plan::Summary);
        // Long after: each again.
        let later = t0 + THROTTLE * 2 + BURST_WINDOW;
        assert_eq!(b.plan(later, 1), Plan::Each);
    }

    #[test]
    fn a_steady_chat_after_a_burst_pops_up_on_its_own_once_the_window_is_over() {
        let mut b = Burst::default();
        let t0 = Instant::now();
        assert_eq!(b.plan(t0, 6), Plan::Summary);
        // One conversation talks on, a flush every THROTTLE: summarised only within the
        // window of the burst, then each pop-up on its own though the flushes never pause.
        let mut at = t0;
        let mut plans = Vec::new();
        while at < t0 + BURST_WINDOW * 2 {
            at += THROTTLE;
            plans.push((at.duration_since(t0), b.plan(at, 1)));
        }
        for (after, plan) in plans {
            let want = if after < BURST_WINDOW {
                Plan::Summary
            } else {
                Plan::Each
            };
            assert_eq!(plan, want, "{after:?} after the burst");
        }
        // A new burst opens a new window.
        at += THROTTLE;
        assert_eq!(b.plan(at, 3), Plan::Summary);
        assert_eq!(b.plan(at + THROTTLE, 1), Plan::Summary);
    }

    #[test]
    fn a_burst_counts_its_notifications_and_a_new_burst_starts_afresh() {
        let mut b = Burst::default();
        let t0 = Instant::now();
        assert_eq!(b.plan(t0, 1), Plan::Each);
        b.told_note("Added to g0");
        assert_eq!(b.plan(t0 + THROTTLE, 39), Plan::Summary);
        for i in 1..40 {
            b.told_note(&format!("Added to g{i}"));
        }
        assert_eq!(
            b.notes().len(),
            40,
            "the first one, told on its own, counts too"
        );
        let later = t0 + THROTTLE + BURST_WINDOW;
        b.plan(later, 1);
        assert!(b.notes().is_empty());
    }

    #[test]
    fn the_summary_says_counts_and_names_as_privacy_allows() {
        let convs: Vec<String> = (1..=9).map(|i| format!("c{i}")).collect();
        let t = Tally {
            messages: 12,
            conversations: convs.clone(),
            notifications: vec![],
        };
        assert_eq!(
            summary_text(&t, Privacy::Full),
            (
                "12 new messages in 9 conversations".to_owned(),
                "c1, c2, c3 and 6 more".to_owned()
            )
        );
        assert_eq!(summary_text(&t, Privacy::Hidden).1, "");
        let notes = Tally {
            messages: 0,
            conversations: vec![],
            notifications: vec!["Added to A".into(), "Added to B".into()],
        };
        assert_eq!(
            summary_text(&notes, Privacy::SenderOnly),
            (
                "2 new notifications".to_owned(),
                "Added to A, Added to B".to_owned()
            )
        );
        let one = Tally {
            messages: 1,
            conversations: vec!["Bob".into()],
            notifications: vec!["x".into()],
        };
        assert_eq!(
            summary_text(&one, Privacy::Full).0,
            "1 new message in 1 conversation, 1 notification"
        );
    }
}
