//! What each desktop notification on screen opens when clicked: the ids the notification
//! service gave, each mapped to its toast's account, key and target. One map for all the
//! notifications, read by the one listener ([`super::bus`]), instead of a waiting thread per
//! notification.
//!
//! An entry goes when its notification is clicked or closed. A service that never says
//! "closed" (GNOME keeps notifications in its list) would let the map grow with every
//! notification ever shown, so it keeps the newest [`KEPT`] and forgets the oldest: a click
//! on a notification that old does nothing.

use crate::notifier::Target;
use std::collections::BTreeMap;

/// The most notifications whose click is remembered.
pub const KEPT: usize = 1024;

/// What a shown notification opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub account: String,
    /// The toast's key (to forget the id it is shown under once it is gone).
    pub key: String,
    pub target: Target,
}

/// Notification id → what a click on it opens. Ids grow as the service gives them out, so
/// the smallest is the oldest.
#[derive(Debug, Default)]
pub struct Clicks {
    by_id: BTreeMap<u32, Entry>,
}

impl Clicks {
    /// The service shows `id` (new, or replaced in place): a click on it opens `entry`.
    pub fn shown(&mut self, id: u32, entry: Entry) {
        self.by_id.insert(id, entry);
        while self.by_id.len() > KEPT {
            self.by_id.pop_first();
        }
    }

    /// The notification `id` was clicked or closed: what it opened, if it is one of ours.
    /// Either way it is done with (a service closes a clicked notification).
    pub fn take(&mut self, id: u32) -> Option<Entry> {
        self.by_id.remove(&id)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, target: Target) -> Entry {
        Entry {
            account: "bob@host".into(),
            key: key.into(),
            target,
        }
    }

    #[test]
    fn a_click_opens_what_the_notification_shows_now_and_only_once() {
        let mut c = Clicks::default();
        c.shown(7, entry("c1", Target::Conversation("c1".into())));
        let note = Target::Notification {
            id: "n1".into(),
            conversation: None,
            url: None,
        };
        c.shown(8, entry("notification:n1", note.clone()));
        // Replaced in place (same id): the click opens the newer toast's target.
        c.shown(
            7,
            entry(
                "summary",
                Target::Summary {
                    notifications: true,
                },
            ),
        );
        assert_eq!(
            c.take(7).map(|e| e.target),
            Some(Target::Summary {
                notifications: true
            })
        );
        assert_eq!(
            c.take(7),
            None,
            "a second click, or its close, opens nothing"
        );
        assert_eq!(c.take(8).map(|e| e.target), Some(note));
        assert_eq!(c.take(99), None, "another app's notification");
    }

    #[test]
    fn only_the_newest_are_remembered() {
        let mut c = Clicks::default();
        for id in 1..=(KEPT as u32 + 10) {
            c.shown(
                id,
                entry(&format!("k{id}"), Target::Conversation("c".into())),
            );
        }
        assert_eq!(c.len(), KEPT);
        assert_eq!(c.take(10), None, "one of the oldest, forgotten");
        assert!(c.take(11).is_some());
        assert!(c.take(KEPT as u32 + 10).is_some());
    }
}
