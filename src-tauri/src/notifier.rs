//! OS notifications: which new messages and notifications pop up, and how.
//!
//! Driven by the cache's change feed, so that messages that arrive live and those fetched by
//! catch-up are treated alike. For each conversation it remembers the last `seq` it told the
//! user about (or the user saw); anything newer is news if the conversation's notification
//! level lets it through ([`notifies`]: never the user's own messages, system entries or
//! tombstones; under `mentions` only messages that mention the user; under `none` nothing).
//! News pops up only while the window is hidden or unfocused or shows
//! another conversation, outside do-not-disturb and quiet hours; the notification list in
//! the app gets everything regardless.
//!
//! One notification per conversation, replaced in place as more arrives ("5 new messages
//! from bob"), and pop-ups go out at most once per [`THROTTLE`]: a flood or a catch-up is one
//! notification per conversation, not a storm. Across conversations, a burst from many
//! places becomes one summary ([`crate::summary`]). Being added to a conversation brings
//! its history: none of it is news (only what follows the entry that added the user).

use crate::settings::{Privacy, Settings};
use crate::summary::{self, Burst, Plan, Tally};
use std::collections::HashMap;
use std::time::Instant;
use tidings_client::cache::{Cache, CacheResult, CachedConversation, NotifyLevel};
use tidings_proto::{ConversationKind, Message, Notification, SystemAction};

pub use crate::summary::THROTTLE;

/// What the window shows, for the "is it in view" question.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub visible: bool,
    pub focused: bool,
    pub conversation: Option<String>,
}

/// The circumstances a change is judged in.
#[derive(Debug, Clone)]
pub struct Moment<'a> {
    pub view: &'a View,
    pub settings: &'a Settings,
    /// Do-not-disturb or quiet hours now.
    pub quiet: bool,
    pub now: Instant,
}

/// One OS notification to show (or to replace the previous one with the same key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    /// The conversation id, or `notification:<id>`.
    pub key: String,
    pub summary: String,
    pub body: String,
    /// What clicking it opens.
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Conversation(String),
    Notification {
        id: String,
        conversation: Option<String>,
        url: Option<String>,
    },
    /// A summary: the app (its notification list when it counts only notifications).
    Summary {
        notifications: bool,
    },
}

#[derive(Debug, Default)]
struct Pending {
    /// Unseen messages since the user last saw this conversation: (sender display name).
    senders: Vec<String>,
    count: usize,
    last_text: String,
    /// Something arrived since the notification was last shown (else showing it again would
    /// only repeat it).
    unshown: bool,
    /// While `unshown`: how far the conversation was told before the first message not
    /// shown yet (what the next process starts from, [`Notifier::untold`]).
    untold_from: i64,
}

/// Where a notifier stopped judging, handed to the process that takes the account over
/// (`crate::untold`): news stored after that point, or read but held back by the throttle,
/// is judged there, so that a hand-over between the window's process and the tray's
/// loses none and tells none twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Untold {
    /// Per conversation: the seq judged (told, seen or passed over) up to.
    pub conversations: HashMap<String, i64>,
    /// The notification seq judged up to.
    pub notifications: Option<i64>,
}

impl Untold {
    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty() && self.notifications.is_none()
    }
}

/// The notifier's memory.
#[derive(Debug, Default)]
pub struct Notifier {
    /// Per conversation: the last seq told or seen.
    told: HashMap<String, i64>,
    notification_told: i64,
    /// Notifications from a server of another kind have no `seq`: the newest one told (its
    /// time), and the ids told at that very millisecond.
    foreign_told: (i64, Vec<String>),
    pending: HashMap<String, Pending>,
    /// Server notifications not popped up yet (waiting for the next flush).
    notes: Vec<Notification>,
    burst: Burst,
    initialized: bool,
    /// Conversations to judge again at the next look ([`Notifier::resume`]).
    again: Vec<String>,
    notes_again: bool,
}

fn sender_name(c: &CachedConversation, id: &str) -> String {
    c.participants
        .iter()
        .find(|p| p.id == id)
        .map(|p| p.display_name.clone())
        .unwrap_or_else(|| id.to_owned())
}

fn conversation_name(c: &CachedConversation, me: &str) -> String {
    match (&c.title, c.kind) {
        (Some(t), _) => t.clone(),
        (None, ConversationKind::Direct) => c
            .participants
            .iter()
            .find(|p| p.id != me)
            .map(|p| p.display_name.clone())
            .unwrap_or_else(|| c.id.clone()),
        _ => c.id.clone(),
    }
}

/// Whether a new message raises a notification for `me` under the conversation's level.
pub fn notifies(level: NotifyLevel, m: &Message, me: &str) -> bool {
    if m.sender_id == me || m.system.is_some() || m.deleted {
        return false;
    }
    match level {
        NotifyLevel::All => true,
        NotifyLevel::Mentions => m.mentions.iter().any(|u| u == me),
        NotifyLevel::None => false,
    }
}

/// Whether a timeline entry says that `me` was added (what precedes it is history, not
/// news, for `me`).
fn added_me(m: &Message, me: &str) -> bool {
    m.system
        .as_ref()
        .is_some_and(|s| s.action == SystemAction::Added && s.users.iter().any(|u| u == me))
}

/// Whether pop-ups are allowed at all now.
pub fn quiet(settings: &Settings, minutes_now: u32) -> bool {
    settings.do_not_disturb || settings.quiet_hours.contains(minutes_now)
}

impl Notifier {
    /// Starts from what the cache holds: nothing already there pops up.
    pub fn baseline(&mut self, cache: &Cache) -> CacheResult<()> {
        for c in cache.conversations()? {
            self.told.insert(c.id.clone(), c.last_seq.max(c.read_seq));
        }
        self.notification_told = cache.notification_cursor()?;
        let foreign: Vec<Notification> = cache
            .notifications("", 50)?
            .into_iter()
            .filter(|n| n.seq == 0)
            .collect();
        self.tell_foreign(&foreign);
        self.initialized = true;
        Ok(())
    }

    /// Notifications without a seq (a server of another kind's) told up to these.
    fn tell_foreign(&mut self, told: &[Notification]) {
        for n in told {
            let t = n.created_at.millis();
            if t > self.foreign_told.0 {
                self.foreign_told = (t, Vec::new());
            }
            if t == self.foreign_told.0 {
                self.foreign_told.1.push(n.id.clone());
            }
        }
    }

    /// How far this notifier judged each conversation, less what it held back: where the
    /// process that takes the account over starts judging.
    pub fn untold(&self) -> Untold {
        Untold {
            conversations: self
                .told
                .iter()
                .map(|(cid, told)| {
                    let from = match self.pending.get(cid) {
                        Some(p) if p.unshown && p.count > 0 => p.untold_from,
                        _ => *told,
                    };
                    (cid.clone(), from)
                })
                .collect(),
            notifications: Some(
                self.notes
                    .iter()
                    .filter(|n| n.seq != 0)
                    .map(|n| n.seq - 1)
                    .min()
                    .unwrap_or(self.notification_told),
            ),
        }
    }

    /// Starts where another process stopped judging ([`Notifier::untold`]), after
    /// [`Notifier::baseline`]: what came after that point, or was held back there, is
    /// judged at the next look (what the user has read since stays quiet).
    pub fn resume(&mut self, untold: &Untold) {
        for (cid, from) in &untold.conversations {
            if let Some(told) = self.told.get_mut(cid) {
                if *from < *told {
                    *told = *from;
                    self.again.push(cid.clone());
                }
            }
        }
        if let Some(from) = untold.notifications {
            if from < self.notification_told {
                self.notification_told = from;
                self.notes_again = true;
            }
        }
    }

    /// Whether news from another process waits to be judged.
    pub fn has_news_again(&self) -> bool {
        !self.again.is_empty() || self.notes_again
    }

    /// The user looks at this conversation: what is there counts as seen.
    pub fn seen(&mut self, cid: &str, last_seq: i64) {
        let t = self.told.entry(cid.to_owned()).or_insert(0);
        *t = (*t).max(last_seq);
        self.pending.remove(cid);
    }

    /// Looks at the conversations and notifications that changed; returns the toasts to
    /// show now and whether news is held back by the throttle (call again after
    /// [`THROTTLE`]).
    pub fn on_changes(
        &mut self,
        cache: &Cache,
        me: &str,
        changed: &[String],
        notifications_changed: bool,
        at: &Moment<'_>,
    ) -> CacheResult<(Vec<Toast>, bool)> {
        let (view, settings, quiet_now, now) = (at.view, at.settings, at.quiet, at.now);
        if !self.initialized {
            self.baseline(cache)?;
            return Ok((Vec::new(), false));
        }
        let mut changed = changed.to_vec();
        changed.append(&mut self.again);
        changed.sort();
        changed.dedup();
        let notifications_changed = notifications_changed || std::mem::take(&mut self.notes_again);
        for cid in &changed {
            let Some(c) = cache.conversation(cid)? else {
                continue;
            };
            let told = *self.told.get(cid).unwrap_or(&0);
            // One read: what is judged now and how far that tells are the same messages
            // (a second query could find one more, stored meanwhile, and count it told).
            let after = cache.messages_after(cid, told)?;
            if let Some(last) = after.last() {
                self.told.insert(cid.clone(), last.seq);
            }
            let floor = told.max(c.read_seq);
            let unseen: Vec<Message> = after.into_iter().filter(|m| m.seq > floor).collect();
            let joined = unseen.iter().rev().find(|m| added_me(m, me)).map(|m| m.seq);
            let fresh: Vec<Message> = unseen
                .into_iter()
                .filter(|m| joined.is_none_or(|j| m.seq > j))
                .filter(|m| notifies(c.notify_level, m, me))
                .collect();
            let in_view =
                view.visible && view.focused && view.conversation.as_deref() == Some(cid.as_str());
            if fresh.is_empty() || in_view {
                if in_view {
                    self.pending.remove(cid);
                }
                continue;
            }
            let p = self.pending.entry(cid.clone()).or_default();
            if !p.unshown {
                p.untold_from = told;
            }
            for m in &fresh {
                let n = sender_name(&c, &m.sender_id);
                if !p.senders.contains(&n) {
                    p.senders.push(n);
                }
                p.count += 1;
                p.last_text = crate::plain::message_text(m);
                p.unshown = true;
            }
        }
        if notifications_changed {
            let mut new: Vec<Notification> = cache
                .notifications(me, 50)?
                .into_iter()
                .filter(|n| !n.is_read && n.seq > self.notification_told && n.seq != 0)
                .collect();
            new.reverse();
            if let Some(last) = new.last() {
                self.notification_told = last.seq;
            }
            self.notes.extend(new);
            // A server of another kind's (no seq): newer than the newest told.
            let (at, ids) = &self.foreign_told;
            let mut foreign: Vec<Notification> = cache
                .notifications(me, 50)?
                .into_iter()
                .filter(|n| n.seq == 0 && !n.is_read)
                .filter(|n| {
                    let t = n.created_at.millis();
                    t > *at || (t == *at && !ids.contains(&n.id))
                })
                .collect();
            foreign.reverse();
            self.tell_foreign(&foreign);
            self.notes.extend(foreign);
        }
        if quiet_now {
            // Held back for good: the list has them, and a pile of pop-ups when the quiet
            // ends would be the storm quiet was meant to prevent.
            self.pending.clear();
            self.notes.clear();
            return Ok((Vec::new(), false));
        }
        let mut ready: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.count > 0 && p.unshown)
            .map(|(cid, _)| cid.clone())
            .collect();
        ready.sort();
        let sources = ready.len() + self.notes.len();
        if sources == 0 {
            return Ok((Vec::new(), false));
        }
        if self.burst.throttled(now) {
            return Ok((Vec::new(), true));
        }
        let mut toasts = Vec::new();
        let notes: Vec<Notification> = self.notes.drain(..).collect();
        let plan = self.burst.plan(now, sources);
        for n in &notes {
            self.burst.told_note(&n.title);
        }
        match plan {
            Plan::Each => {
                for cid in ready {
                    let Some(c) = cache.conversation(&cid)? else {
                        continue;
                    };
                    if let Some(p) = self.pending.get_mut(&cid) {
                        p.unshown = false;
                        toasts.push(message_toast(&c, me, p, settings.privacy));
                    }
                }
                toasts.extend(notes.iter().map(|n| note_toast(n, settings.privacy)));
            }
            Plan::Summary => {
                let mut tally = Tally {
                    notifications: self.burst.notes().to_vec(),
                    ..Tally::default()
                };
                let mut unseen: Vec<(&String, &mut Pending)> = self
                    .pending
                    .iter_mut()
                    .filter(|(_, p)| p.count > 0)
                    .collect();
                unseen.sort_by(|a, b| a.0.cmp(b.0));
                for (cid, p) in unseen {
                    p.unshown = false;
                    tally.messages += p.count;
                    if let Some(c) = cache.conversation(cid)? {
                        tally.conversations.push(conversation_name(&c, me));
                    }
                }
                let (title, body) = summary::summary_text(&tally, settings.privacy);
                toasts.push(Toast {
                    key: summary::SUMMARY_KEY.to_owned(),
                    summary: title,
                    body,
                    target: Target::Summary {
                        notifications: tally.messages == 0,
                    },
                });
            }
        }
        Ok((toasts, false))
    }
}

fn note_toast(n: &Notification, privacy: Privacy) -> Toast {
    let (summary, body) = match privacy {
        Privacy::Hidden => ("New notification".to_owned(), String::new()),
        _ => (n.title.clone(), n.message.clone()),
    };
    Toast {
        key: format!("notification:{}", n.id),
        summary,
        body,
        target: Target::Notification {
            id: n.id.clone(),
            conversation: n.conversation_id.clone(),
            url: n.url.clone(),
        },
    }
}

fn message_toast(c: &CachedConversation, me: &str, p: &Pending, privacy: Privacy) -> Toast {
    let conversation = conversation_name(c, me);
    let from = p.senders.join(", ");
    let (summary, body) = match (privacy, p.count) {
        (Privacy::Hidden, 1) => ("New message".to_owned(), String::new()),
        (Privacy::Hidden, n) => (format!("{n} new messages"), String::new()),
        (Privacy::SenderOnly, 1) => (format!("New message from {from}"), String::new()),
        (Privacy::SenderOnly, n) => (format!("{n} new messages from {from}"), String::new()),
        (Privacy::Full, 1) if c.kind == ConversationKind::Direct => (from, p.last_text.clone()),
        (Privacy::Full, 1) => (format!("{from} in {conversation}"), p.last_text.clone()),
        (Privacy::Full, n) => (
            format!("{n} new messages from {from}"),
            format!("{conversation}: {}", p.last_text),
        ),
    };
    Toast {
        key: c.id.clone(),
        summary,
        body,
        target: Target::Conversation(c.id.clone()),
    }
}

#[cfg(test)]
mod burst_tests;
#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tidings_proto::{ContentType, Conversation, Participant, Timestamp};

    pub(super) fn cache() -> (Cache, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "tidings-notifier-{}-{}",
            std::process::id(),
            rand_id()
        ));
        (Cache::open(&dir.join("c.db")).unwrap(), dir)
    }

    /// A cache with one conversation, "c1" with Bob, and a notifier that has looked at it.
    fn one_conversation() -> (Cache, std::path::PathBuf, Notifier) {
        let (c, dir) = cache();
        c.upsert_conversation(&conv("c1"), "me").unwrap();
        let mut n = Notifier::default();
        n.baseline(&c).unwrap();
        (c, dir, n)
    }

    fn rand_id() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn conv(id: &str) -> Conversation {
        let p = |id: &str, name: &str| Participant {
            id: id.into(),
            display_name: name.into(),
            online: true,
            read_seq: 0,
        };
        Conversation {
            id: id.into(),
            kind: ConversationKind::Direct,
            title: None,
            participants: vec![p("me", "Me"), p("bob", "Bob")],
            last_seq: 0,
            read_seq: 0,
            unread_count: 0,
            last_message: None,
            rev: 0,
            created_by: "bob".into(),
            created_at: Timestamp(1),
        }
    }

    pub(super) fn msg(cid: &str, seq: i64, from: &str, text: &str) -> Message {
        Message {
            id: format!("{cid}-{seq}"),
            conversation_id: cid.into(),
            seq,
            sender_id: from.into(),
            client_id: format!("{from}-{seq}"),
            content: text.into(),
            content_type: ContentType::Text,
            created_at: Timestamp(seq),
            ..Default::default()
        }
    }

    /// The notifier's answer to news in `convs`, as the window, the settings and the quiet
    /// hours stand at `now`.
    pub(super) fn run(
        n: &mut Notifier,
        c: &Cache,
        convs: &[&str],
        view: &View,
        settings: &Settings,
        quiet: bool,
        now: Instant,
    ) -> (Vec<Toast>, bool) {
        let convs: Vec<String> = convs.iter().map(|s| s.to_string()).collect();
        let moment = Moment {
            view,
            settings,
            quiet,
            now,
        };
        n.on_changes(c, "me", &convs, false, &moment).unwrap()
    }

    /// A hand-over between processes: the next one judges what the last one held back or
    /// never looked at, and tells nothing twice; what the user read meanwhile stays quiet.
    #[test]
    fn the_next_process_takes_over_where_the_last_stopped_judging() {
        let (c, dir, mut last) = one_conversation();
        let hidden = View::default();
        let s = Settings::default();
        let t0 = Instant::now();
        c.insert_messages(&[msg("c1", 1, "bob", "one")], "me")
            .unwrap();
        let (toasts, _) = run(&mut last, &c, &["c1"], &hidden, &s, false, t0);
        assert_eq!(toasts.len(), 1, "the first pops up at once");
        c.insert_messages(
            &[msg("c1", 2, "bob", "two"), msg("c1", 3, "bob", "three")],
            "me",
        )
        .unwrap();
        let later = t0 + Duration::from_millis(100);
        let (toasts, held) = run(&mut last, &c, &["c1"], &hidden, &s, false, later);
        assert!(toasts.is_empty() && held, "within the throttle: held back");
        // Stored after the last look, before the process let go.
        c.insert_messages(&[msg("c1", 4, "bob", "four")], "me")
            .unwrap();
        let untold = last.untold();
        assert_eq!(untold.conversations.get("c1"), Some(&1));

        let next_process = |resume: bool| {
            let mut next = Notifier::default();
            next.baseline(&c).unwrap();
            if resume {
                next.resume(&untold);
            }
            let again = next.has_news_again();
            (
                run(&mut next, &c, &[], &hidden, &s, false, Instant::now()).0,
                again,
            )
        };
        let (toasts, again) = next_process(true);
        assert!(again);
        assert_eq!(toasts.len(), 1);
        assert_eq!(
            toasts[0].summary, "3 new messages from Bob",
            "2, 3 and 4; not 1 again"
        );
        // Without it (as before) those three never popped up.
        let (toasts, again) = next_process(false);
        assert!(toasts.is_empty() && !again);
        // Read meanwhile (in the window, say): nothing to tell.
        c.mark_read("c1", 4).unwrap();
        let (toasts, _) = next_process(true);
        assert!(toasts.is_empty(), "{toasts:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_flood_is_one_notification_per_conversation_updated_in_place() {
        let (c, dir, mut n) = one_conversation();
        let hidden = View::default();
        let s = Settings::default();
        let t0 = Instant::now();
        c.insert_messages(&[msg("c1", 1, "bob", "hi")], "me")
            .unwrap();
        let (toasts, _) = run(&mut n, &c, &["c1"], &hidden, &s, false, t0);
        assert_eq!(
            toasts,
            vec![Toast {
                key: "c1".into(),
                summary: "Bob".into(),
                body: "hi".into(),
                target: Target::Conversation("c1".into())
            }]
        );
        // 49 more within the throttle: held back, then one summary.
        let more: Vec<Message> = (2..=50)
            .map(|i| msg("c1", i, "bob", &format!("m{i}")))
            .collect();
        c.insert_messages(&more, "me").unwrap();
        let (toasts, held) = run(
            &mut n,
            &c,
            &["c1"],
            &hidden,
            &s,
            false,
            t0 + Duration::from_millis(100),
        );
        assert!(toasts.is_empty() && held);
        let (toasts, held) = run(&mut n, &c, &[], &hidden, &s, false, t0 + THROTTLE);
        assert!(!held);
        assert_eq!(toasts.len(), 1);
        assert_eq!(toasts[0].key, "c1");
        assert_eq!(toasts[0].summary, "50 new messages from Bob");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Messages stored while the notifier reads (the engine writing a flood as it comes):
    /// each one is counted once and the last one is the last shown. A notifier that read
    /// the new messages and then, in a second query, how far it had told, lost a message
    /// stored between the two (the e2e flood check: "49 new messages", "flood 48", and
    /// "flood 49" never shown).
    #[test]
    fn messages_stored_while_the_notifier_reads_are_each_told_once() {
        const N: i64 = 400;
        let (c, dir) = cache();
        c.upsert_conversation(&conv("c1"), "me").unwrap();
        let c = std::sync::Arc::new(c);
        let mut n = Notifier::default();
        n.baseline(&c).unwrap();
        let (hidden, s) = (View::default(), Settings::default());
        let writer = {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 1..=N {
                    c.insert_messages(&[msg("c1", i, "bob", &format!("m{i}"))], "me")
                        .unwrap();
                }
            })
        };
        // Each round is past the throttle, so each shows what it found.
        let mut at = Instant::now();
        let mut last = None;
        let mut step = || {
            at += THROTTLE;
            let (t, _) = run(&mut n, &c, &["c1"], &hidden, &s, false, at);
            t.into_iter().last()
        };
        while !writer.is_finished() {
            last = step().or(last);
        }
        writer.join().unwrap();
        last = step().or(last);
        let last = last.expect("no toast at all");
        assert_eq!(
            last.summary,
            format!("{N} new messages from Bob"),
            "{last:?}"
        );
        assert!(last.body.ends_with(&format!("m{N}")), "{last:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_markdown_message_pops_up_as_it_reads_not_as_typed() {
        let (c, dir, mut n) = one_conversation();
        let (hidden, s, t0) = (View::default(), Settings::default(), Instant::now());
        let mut m = msg(
            "c1",
            1,
            "bob",
            "**strong** words and [a link](https://example.com)",
        );
        m.content_type = ContentType::Markdown;
        c.insert_messages(&[m], "me").unwrap();
        let (toasts, _) = run(&mut n, &c, &["c1"], &hidden, &s, false, t0);
        assert_eq!(toasts.len(), 1);
        assert_eq!(toasts[0].body, "strong words and a link");
        // A TEXT message keeps its asterisks (they are not markup there).
        c.insert_messages(&[msg("c1", 2, "bob", "**as typed**")], "me")
            .unwrap();
        let (toasts, _) = run(&mut n, &c, &["c1"], &hidden, &s, false, t0 + THROTTLE);
        assert_eq!(toasts.len(), 1);
        assert!(
            toasts[0].body.ends_with(": **as typed**"),
            "{:?}",
            toasts[0]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn own_muted_in_view_and_quiet_messages_do_not_pop_up() {
        let (c, dir, mut n) = one_conversation();
        let s = Settings::default();
        let now = Instant::now();
        c.insert_messages(&[msg("c1", 1, "me", "mine")], "me")
            .unwrap();
        assert!(run(&mut n, &c, &["c1"], &View::default(), &s, false, now)
            .0
            .is_empty());
        let in_view = View {
            visible: true,
            focused: true,
            conversation: Some("c1".into()),
        };
        c.insert_messages(&[msg("c1", 2, "bob", "seen")], "me")
            .unwrap();
        assert!(run(&mut n, &c, &["c1"], &in_view, &s, false, now)
            .0
            .is_empty());
        c.set_notify_level("c1", NotifyLevel::None).unwrap();
        c.insert_messages(&[msg("c1", 3, "bob", "muted")], "me")
            .unwrap();
        assert!(run(&mut n, &c, &["c1"], &View::default(), &s, false, now)
            .0
            .is_empty());
        c.set_notify_level("c1", NotifyLevel::All).unwrap();
        c.insert_messages(&[msg("c1", 4, "bob", "quiet")], "me")
            .unwrap();
        assert!(run(&mut n, &c, &["c1"], &View::default(), &s, true, now)
            .0
            .is_empty());
        // Nothing said during the quiet time pops up after it.
        let later = now + THROTTLE * 2;
        assert!(run(&mut n, &c, &[], &View::default(), &s, false, later)
            .0
            .is_empty());
        // Privacy hides the text.
        let private = Settings {
            privacy: Privacy::SenderOnly,
            ..s
        };
        c.insert_messages(&[msg("c1", 5, "bob", "secret")], "me")
            .unwrap();
        let (t, _) = run(
            &mut n,
            &c,
            &["c1"],
            &View::default(),
            &private,
            false,
            later,
        );
        assert_eq!(t[0].summary, "New message from Bob");
        assert_eq!(t[0].body, "");
        assert!(quiet(
            &Settings {
                do_not_disturb: true,
                ..Settings::default()
            },
            600
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_level_decides_and_own_system_and_deleted_entries_never_notify() {
        use tidings_proto::{SystemAction, SystemEntry};
        let plain = msg("c1", 1, "bob", "hi");
        let mention = Message {
            mentions: vec!["carol".into(), "me".into()],
            ..msg("c1", 2, "bob", "@Me look")
        };
        let other_mention = Message {
            mentions: vec!["carol".into()],
            ..msg("c1", 3, "bob", "@Carol look")
        };
        let own = Message {
            mentions: vec!["me".into()],
            ..msg("c1", 4, "me", "note to @Me")
        };
        let system = Message {
            system: Some(SystemEntry {
                action: SystemAction::Added,
                users: vec!["me".into()],
                title: None,
            }),
            mentions: vec!["me".into()],
            ..msg("c1", 5, "bob", "Bob added Me")
        };
        let tombstone = Message {
            deleted: true,
            content: String::new(),
            ..msg("c1", 6, "bob", "")
        };
        let want = [
            (NotifyLevel::All, [true, true, true, false, false, false]),
            (
                NotifyLevel::Mentions,
                [false, true, false, false, false, false],
            ),
            (
                NotifyLevel::None,
                [false, false, false, false, false, false],
            ),
        ];
        for (level, expected) in want {
            let got: Vec<bool> = [&plain, &mention, &other_mention, &own, &system, &tombstone]
                .iter()
                .map(|m| notifies(level, m, "me"))
                .collect();
            assert_eq!(got, expected, "{level:?}");
        }
    }

    #[test]
    fn under_mentions_only_a_mention_of_me_pops_up() {
        let (c, dir) = cache();
        c.upsert_conversation(&conv("c1"), "me").unwrap();
        c.set_notify_level("c1", NotifyLevel::Mentions).unwrap();
        let mut n = Notifier::default();
        n.baseline(&c).unwrap();
        let s = Settings::default();
        let t0 = Instant::now();
        c.insert_messages(&[msg("c1", 1, "bob", "plain")], "me")
            .unwrap();
        assert!(run(&mut n, &c, &["c1"], &View::default(), &s, false, t0)
            .0
            .is_empty());
        let mention = Message {
            mentions: vec!["me".into()],
            ..msg("c1", 2, "bob", "@Me have a look")
        };
        c.insert_messages(&[mention, msg("c1", 3, "bob", "plain again")], "me")
            .unwrap();
        let (t, held) = run(&mut n, &c, &["c1"], &View::default(), &s, false, t0);
        assert!(!held);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].summary.as_str(), t[0].body.as_str()),
            ("Bob", "@Me have a look")
        );
        // Another plain message later: still nothing, and the mention is not told again.
        c.insert_messages(&[msg("c1", 4, "bob", "plain 3")], "me")
            .unwrap();
        let later = t0 + THROTTLE * 2;
        assert!(run(&mut n, &c, &["c1"], &View::default(), &s, false, later)
            .0
            .is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_server_of_another_kinds_notifications_pop_up_once_and_none_from_before() {
        let (c, dir) = cache();
        let note = |id: &str, at: i64| Notification {
            id: id.into(),
            user_id: String::new(),
            seq: 0,
            kind: "/topic/a".into(),
            title: format!("T {id}"),
            message: format!("B {id}"),
            data: None,
            conversation_id: None,
            url: None,
            is_read: false,
            created_at: Timestamp(at),
        };
        c.insert_foreign_notification(&note("old", 5), "/topic/a")
            .unwrap();
        let mut n = Notifier::default();
        n.baseline(&c).unwrap();
        let (view, settings) = (View::default(), Settings::default());
        let start = Instant::now();
        let mut at = |quiet: bool, step: u32| {
            let moment = Moment {
                view: &view,
                settings: &settings,
                quiet,
                now: start + THROTTLE * step,
            };
            let (toasts, _) = n.on_changes(&c, "me", &[], true, &moment).unwrap();
            toasts
                .into_iter()
                .map(|t| (t.summary, t.body))
                .collect::<Vec<_>>()
        };
        assert!(at(false, 1).is_empty(), "what was there before is not news");
        c.insert_foreign_notification(&note("a", 7), "/topic/a")
            .unwrap();
        assert_eq!(at(false, 2), [("T a".to_owned(), "B a".to_owned())]);
        // The same millisecond, another id: news too; told once only.
        c.insert_foreign_notification(&note("b", 7), "/topic/a")
            .unwrap();
        assert_eq!(at(false, 3), [("T b".to_owned(), "B b".to_owned())]);
        assert!(at(false, 4).is_empty());
        // Do not disturb: held back for good (the list has it).
        c.insert_foreign_notification(&note("q", 8), "/topic/a")
            .unwrap();
        assert!(at(true, 5).is_empty());
        assert!(at(false, 6).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
