//! A reader's cursor over the messages the cache gains: each message once, in `seq` order
//! per conversation, however it arrived (live, in a catch-up after a reconnect, in the repair
//! of a gap). The engine's live events cannot give that: a message fetched over REST was
//! never an event, and the broadcast drops what a slow reader lags behind.
//!
//! The cursor follows each conversation's contiguous prefix (`synced_seq`), not the rows: a
//! message after a gap waits until the gap is filled, so nothing is skipped or shown out of
//! order. Which conversations to look at comes from the change feed (every new message and
//! every move of a prefix notes a change); were the feed pruned past the cursor, every
//! conversation is looked at.

use super::{Cache, CacheResult};
use rusqlite::params;
use std::collections::{BTreeSet, HashMap};
use tidings_proto::Message;

/// Messages handed out per conversation per query (a first catch-up can bring thousands).
const PAGE: u32 = 500;

/// Where a reader of the cache's new messages is.
#[derive(Debug, Clone)]
pub struct MessageFeed {
    /// Per conversation: the last `seq` handed out (conversations not listed: none yet).
    shown: HashMap<String, i64>,
    /// The change feed read up to here.
    change: i64,
    /// Conversations that may have more to hand out.
    pending: BTreeSet<String>,
}

impl MessageFeed {
    /// A feed of what the cache gains from now on: what it holds now counts as shown.
    pub fn after_now(cache: &Cache) -> CacheResult<MessageFeed> {
        // The change id first: a change made between the two reads is looked at again
        // (harmless: nothing is handed out twice, the prefixes say what was).
        let change = cache.latest_change()?;
        let shown = cache
            .synced_seqs()?
            .into_iter()
            .filter(|(_, s)| *s > 0)
            .collect();
        Ok(MessageFeed {
            shown,
            change,
            pending: BTreeSet::new(),
        })
    }

    /// The messages that joined a conversation's contiguous prefix since the last call: in
    /// `seq` order within each conversation, each once. At most `limit`; call again until it
    /// returns none.
    pub fn next(&mut self, cache: &Cache, limit: usize) -> CacheResult<Vec<Message>> {
        self.read_changes(cache)?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(cid) = self.pending.first().cloned() else {
                break;
            };
            let from = self.shown.get(&cid).copied().unwrap_or(0);
            let want = PAGE.min((limit - out.len()) as u32);
            let page = cache.prefix_after(&cid, from, want)?;
            match page.last() {
                Some(m) => {
                    self.shown.insert(cid, m.seq);
                    out.extend(page);
                }
                None => {
                    self.pending.remove(&cid);
                }
            }
        }
        Ok(out)
    }

    /// Notes the conversations whose messages or prefixes changed since the last read.
    fn read_changes(&mut self, cache: &Cache) -> CacheResult<()> {
        loop {
            let changes = cache.changes_since(self.change, 1000)?;
            let Some(last) = changes.last().map(|c| c.id) else {
                return Ok(());
            };
            if changes.first().is_some_and(|c| c.id > self.change + 1) {
                // Pruned (or a hole): whatever changed is unknown, look at everything.
                self.pending
                    .extend(cache.synced_seqs()?.into_iter().map(|(cid, _)| cid));
            }
            self.pending.extend(
                changes
                    .into_iter()
                    .filter(|c| c.kind == "message" || c.kind == "conversation")
                    .map(|c| c.key),
            );
            self.change = last;
        }
    }
}

impl Cache {
    /// Every conversation's contiguous prefix: (id, `synced_seq`).
    pub fn synced_seqs(&self) -> CacheResult<Vec<(String, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT id, synced_seq FROM conversations")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Up to `limit` messages of a conversation after `after` and within its contiguous
    /// prefix, ascending.
    pub fn prefix_after(&self, cid: &str, after: i64, limit: u32) -> CacheResult<Vec<Message>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {cols} FROM messages
             WHERE conversation_id = ?1 AND seq > ?2
               AND seq <= (SELECT synced_seq FROM conversations WHERE id = ?1)
             ORDER BY seq LIMIT ?3",
            cols = super::messages::COLUMNS
        ))?;
        let rows = stmt.query_map(params![cid, after, limit], super::messages::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::testing::temp_cache;
    use tidings_proto::{ContentType, Timestamp};

    fn msg(cid: &str, seq: i64) -> Message {
        Message {
            id: format!("m{cid}{seq}"),
            conversation_id: cid.into(),
            seq,
            sender_id: "bob".into(),
            client_id: format!("bob-{cid}-{seq}"),
            content: format!("{cid} {seq}"),
            content_type: ContentType::Text,
            created_at: Timestamp(seq),
            ..Default::default()
        }
    }

    fn seqs(v: &[Message]) -> Vec<(String, i64)> {
        v.iter()
            .map(|m| (m.conversation_id.clone(), m.seq))
            .collect()
    }

    #[test]
    fn hands_out_each_new_message_once_in_seq_order_after_gaps_close() {
        let t = temp_cache("feed");
        let c = &t.cache;
        c.insert_messages(&[msg("a", 1), msg("a", 2)], "me")
            .unwrap();
        let mut feed = MessageFeed::after_now(c).unwrap();
        assert!(
            feed.next(c, 100).unwrap().is_empty(),
            "what was there is not new"
        );
        // Live 3, then 5 and 6 (4 missing), and a new conversation.
        c.insert_messages(&[msg("a", 3)], "me").unwrap();
        c.insert_messages(&[msg("a", 5), msg("a", 6), msg("b", 1)], "me")
            .unwrap();
        assert_eq!(
            seqs(&feed.next(c, 100).unwrap()),
            [("a".into(), 3), ("b".into(), 1)],
            "5 and 6 wait for 4"
        );
        // The catch-up brings 4 to 6 again, and 7: each is handed out once, in order.
        c.insert_messages(&[msg("a", 4), msg("a", 5), msg("a", 6), msg("a", 7)], "me")
            .unwrap();
        assert_eq!(
            seqs(&feed.next(c, 100).unwrap()),
            [
                ("a".into(), 4),
                ("a".into(), 5),
                ("a".into(), 6),
                ("a".into(), 7)
            ]
        );
        assert!(feed.next(c, 100).unwrap().is_empty());
    }

    #[test]
    fn a_long_backlog_comes_in_pages_and_a_pruned_change_feed_loses_nothing() {
        let t = temp_cache("feed-pages");
        let c = &t.cache;
        let mut feed = MessageFeed::after_now(c).unwrap();
        let all: Vec<Message> = (1..=1200).map(|s| msg("a", s)).collect();
        c.insert_messages(&all, "me").unwrap();
        c.insert_messages(&[msg("b", 1)], "me").unwrap();
        c.prune_changes(1).unwrap();
        let mut got = Vec::new();
        loop {
            let page = feed.next(c, 300).unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 300);
            got.extend(page);
        }
        let of = |cid: &str| -> Vec<i64> {
            got.iter()
                .filter(|m| m.conversation_id == cid)
                .map(|m| m.seq)
                .collect()
        };
        assert_eq!(of("a"), (1..=1200).collect::<Vec<_>>());
        assert_eq!(of("b"), [1]);
    }
}
