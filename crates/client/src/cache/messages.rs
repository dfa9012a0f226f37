//! Messages in the cache: idempotent merge, contiguous-prefix tracking, pages by `seq`, and
//! full-text search.

use super::{conversations, Cache, CacheResult};
use rusqlite::{params, Connection, OptionalExtension, Row};
use tidings_proto::{ContentType, Message, Timestamp};

pub(super) const COLUMNS: &str =
    "id, conversation_id, seq, sender_id, client_id, content, content_type, created_at";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        seq: r.get(2)?,
        sender_id: r.get(3)?,
        client_id: r.get(4)?,
        content: r.get(5)?,
        content_type: ContentType::parse(&r.get::<_, String>(6)?).unwrap_or_default(),
        created_at: Timestamp(r.get(7)?),
        ..Default::default()
    })
}

/// A search result: the message and a snippet with the match marked by `[` and `]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SearchHit {
    pub message: Message,
    pub snippet: String,
}

pub(super) fn latest(conn: &Connection, cid: &str) -> CacheResult<Option<Message>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT 1"
        ))?
        .query_row([cid], from_row)
        .optional()?)
}

/// What a batch did to one conversation.
#[derive(Default)]
struct Touched {
    max_seq: i64,
    max_at: i64,
    own_seq: i64,
    added: bool,
}

/// Merges messages (any mix of conversations, any order); returns how many were new. Keeps
/// `last_seq`, `synced_seq`, our read marker (writing means having read, as on the server)
/// and the outbox in step, and notes one `message` change per conversation that got new
/// messages. The per-conversation bookkeeping runs once per batch, not once per message:
/// catch-up hands over pages of 500.
pub(super) fn insert_batch(
    conn: &Connection,
    messages: &[Message],
    me: &str,
) -> CacheResult<usize> {
    let outbox_waiting: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox WHERE state != 'sent')")?
        .query_row([], |r| r.get(0))?;
    let mut touched: std::collections::BTreeMap<&str, Touched> = Default::default();
    let mut added = 0;
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, content, content_type, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
    )?;
    for m in messages {
        let cid = m.conversation_id.as_str();
        if !touched.contains_key(cid) {
            let known = conn
                .prepare_cached("SELECT 1 FROM conversations WHERE id = ?1")?
                .exists([cid])?;
            if !known {
                // A message of a conversation the cache has not heard of yet: a placeholder
                // row until the conversation itself is fetched.
                conn.execute(
                    "INSERT INTO conversations (id, kind, created_by, created_at) VALUES (?1, 'group', ?2, ?3)",
                    params![cid, m.sender_id, m.created_at.millis()],
                )?;
            }
        }
        let t = touched.entry(cid).or_default();
        let new = insert.execute(params![
            m.id,
            m.conversation_id,
            m.seq,
            m.sender_id,
            m.client_id,
            m.content,
            m.content_type.as_str(),
            m.created_at.millis()
        ])? > 0;
        if new {
            added += 1;
            t.added = true;
        }
        t.max_seq = t.max_seq.max(m.seq);
        t.max_at = t.max_at.max(m.created_at.millis());
        if m.sender_id == me {
            t.own_seq = t.own_seq.max(m.seq);
            if outbox_waiting {
                conn.prepare_cached(
                    "UPDATE outbox SET state = 'sent', seq = ?2, error = NULL WHERE client_id = ?1 AND state != 'sent'",
                )?
                .execute(params![m.client_id, m.seq])?;
            }
        }
    }
    for (cid, t) in touched {
        conversations::raise_last_seq(conn, cid, t.max_seq, t.max_at)?;
        advance_synced(conn, cid)?;
        if t.own_seq > 0 {
            conversations::own_read(conn, cid, t.own_seq, true)?;
        }
        if t.added {
            conn.prepare_cached("INSERT INTO changes (kind, key) VALUES ('message', ?1)")?
                .execute([cid])?;
        }
    }
    Ok(added)
}

/// Moves `synced_seq` over every contiguous cached `seq` after it.
fn advance_synced(conn: &Connection, cid: &str) -> CacheResult<()> {
    let synced: i64 = conn.query_row(
        "SELECT synced_seq FROM conversations WHERE id = ?1",
        [cid],
        |r| r.get(0),
    )?;
    let has_next = conn
        .prepare_cached("SELECT 1 FROM messages WHERE conversation_id = ?1 AND seq = ?2")?
        .exists(params![cid, synced + 1])?;
    if !has_next {
        return Ok(());
    }
    let mut next = synced;
    let mut probe = conn.prepare_cached(
        "SELECT seq FROM messages WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq LIMIT 256",
    )?;
    loop {
        let seqs: Vec<i64> = probe
            .query_map(params![cid, next], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let before = next;
        for s in &seqs {
            if *s == next + 1 {
                next = *s;
            } else {
                break;
            }
        }
        if next == before || seqs.len() < 256 || next != *seqs.last().unwrap_or(&next) {
            break;
        }
    }
    if next != synced {
        conn.prepare_cached("UPDATE conversations SET synced_seq = ?2 WHERE id = ?1")?
            .execute(params![cid, next])?;
    }
    Ok(())
}

/// Turns free text into an FTS5 query: every word must appear (as a prefix), and no
/// character of the input can be read as query syntax.
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .map(|w| w.replace('"', "\"\""))
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl Cache {
    /// Merges messages in one transaction; returns how many were new.
    pub fn insert_messages(&self, messages: &[Message], me: &str) -> CacheResult<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let added = insert_batch(&tx, messages, me)?;
        tx.commit()?;
        Ok(added)
    }

    /// Records that the server has messages up to `seq` (a live message or the conversation
    /// list told us), so that a gap shows.
    pub fn note_last_seq(&self, cid: &str, seq: i64) -> CacheResult<()> {
        conversations::raise_last_seq(&self.conn(), cid, seq, 0)
    }

    /// A page of cached history in ascending `seq`: the newest `limit`, or the `limit`
    /// before `before`.
    pub fn history(&self, cid: &str, before: Option<i64>, limit: u32) -> CacheResult<Vec<Message>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE conversation_id = ?1 AND seq < ?2
             ORDER BY seq DESC LIMIT ?3"
        ))?;
        let mut page: Vec<Message> = stmt
            .query_map(params![cid, before.unwrap_or(i64::MAX), limit], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        page.reverse();
        Ok(page)
    }

    /// Every cached message of a conversation after `after`, ascending (for tests and export).
    pub fn messages_after(&self, cid: &str, after: i64) -> CacheResult<Vec<Message>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq"
        ))?;
        let rows = stmt.query_map(params![cid, after], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Full-text search over cached messages: the best matches (bm25) among the
    /// [`SEARCH_WINDOW`] most recently stored ones. Ranking every match of a common word in
    /// a million messages takes seconds; the newest matches are found in milliseconds, and
    /// they are what a person searching a chat usually wants.
    pub fn search(&self, text: &str, limit: u32) -> CacheResult<Vec<SearchHit>> {
        let Some(query) = fts_query(text) else {
            return Ok(Vec::new());
        };
        let conn = self.conn();
        // The rowid of the SEARCH_WINDOW-th newest match (none: fewer matches than that).
        let floor: i64 = conn
            .prepare_cached(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1
                 ORDER BY rowid DESC LIMIT 1 OFFSET ?2",
            )?
            .query_row(params![query, SEARCH_WINDOW - 1], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {cols}, snippet(messages_fts, 0, '[', ']', '…', 12)
             FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid
             WHERE messages_fts MATCH ?1 AND messages_fts.rowid >= ?3 ORDER BY rank LIMIT ?2",
            cols = COLUMNS
                .split(", ")
                .map(|c| format!("m.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
        let rows = stmt.query_map(params![query, limit, floor], |r| {
            Ok(SearchHit {
                message: from_row(r)?,
                snippet: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// How many of the newest matches a search ranks.
pub const SEARCH_WINDOW: i64 = 1000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::testing::temp_cache;

    fn msg(cid: &str, seq: i64, sender: &str, text: &str) -> Message {
        Message {
            id: format!("m{cid}{seq}"),
            conversation_id: cid.into(),
            seq,
            sender_id: sender.into(),
            client_id: format!("{sender}-{cid}-{seq}"),
            content: text.into(),
            content_type: ContentType::Text,
            created_at: Timestamp(seq),
            ..Default::default()
        }
    }

    #[test]
    fn merging_is_idempotent_and_tracks_the_contiguous_prefix() {
        let t = temp_cache("merge");
        let c = &t.cache;
        assert_eq!(
            c.insert_messages(&[msg("c", 1, "bob", "a"), msg("c", 3, "bob", "c")], "me")
                .unwrap(),
            2
        );
        let conv = c.conversation("c").unwrap().unwrap();
        assert_eq!(
            (conv.synced_seq, conv.last_seq, conv.unread_count),
            (1, 3, 3)
        );
        assert_eq!(c.gaps().unwrap(), vec![("c".to_owned(), 1, 3)]);
        assert_eq!(
            c.insert_messages(&[msg("c", 2, "bob", "b"), msg("c", 1, "bob", "a")], "me")
                .unwrap(),
            1
        );
        let conv = c.conversation("c").unwrap().unwrap();
        assert_eq!(conv.synced_seq, 3);
        assert!(c.gaps().unwrap().is_empty());
        let seqs: Vec<i64> = c
            .history("c", None, 10)
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        // Our own message moves our marker, as on the server.
        c.insert_messages(&[msg("c", 4, "me", "d")], "me").unwrap();
        assert_eq!(c.conversation("c").unwrap().unwrap().unread_count, 0);
    }

    #[test]
    fn the_prefix_advances_over_long_runs() {
        let t = temp_cache("prefix");
        let all: Vec<Message> = (2..=1000).map(|s| msg("c", s, "bob", "x")).collect();
        t.cache.insert_messages(&all, "me").unwrap();
        assert_eq!(t.cache.conversation("c").unwrap().unwrap().synced_seq, 0);
        t.cache
            .insert_messages(&[msg("c", 1, "bob", "x")], "me")
            .unwrap();
        assert_eq!(t.cache.conversation("c").unwrap().unwrap().synced_seq, 1000);
    }

    #[test]
    fn search_finds_words_and_prefixes_and_ignores_query_syntax() {
        let t = temp_cache("search");
        t.cache
            .insert_messages(
                &[
                    msg("c", 1, "bob", "The quarterly report is ready"),
                    msg("c", 2, "bob", "Lunch at noon?"),
                    msg("d", 1, "amy", "Report: café opening \"soon\""),
                ],
                "me",
            )
            .unwrap();
        let hits = t.cache.search("report", 10).unwrap();
        assert_eq!(hits.len(), 2);
        assert!(hits.iter().any(|h| h.snippet.contains("[report]")));
        assert_eq!(t.cache.search("quart rep", 10).unwrap().len(), 1);
        assert_eq!(
            t.cache.search("cafe", 10).unwrap().len(),
            1,
            "diacritics folded"
        );
        for hostile in ["\"", "AND OR NOT", "a*b(", "NEAR(", "col:x", "   "] {
            assert!(t.cache.search(hostile, 10).is_ok(), "{hostile}");
        }
    }

    #[test]
    fn search_ranks_the_newest_matches_of_a_common_word() {
        let t = temp_cache("search-window");
        let n = SEARCH_WINDOW + 200;
        let all: Vec<Message> = (1..=n)
            .map(|i| msg("c", i, "bob", &format!("status report number {i}")))
            .collect();
        t.cache.insert_messages(&all, "me").unwrap();
        let hits = t.cache.search("report", 50).unwrap();
        assert_eq!(hits.len(), 50);
        assert!(
            hits.iter().all(|h| h.message.seq > n - SEARCH_WINDOW),
            "only the newest {SEARCH_WINDOW} matches are ranked"
        );
        // A rare word far back is still found: the window counts matches, not messages.
        t.cache
            .insert_messages(&[msg("d", 1, "amy", "the zephyr plan")], "me")
            .unwrap();
        t.cache
            .insert_messages(&[msg("c", n + 1, "bob", "report again")], "me")
            .unwrap();
        assert_eq!(t.cache.search("zephyr", 10).unwrap().len(), 1);
    }

    #[test]
    fn a_batch_notes_one_message_change_per_conversation() {
        let t = temp_cache("changes");
        let before = t.cache.latest_change().unwrap();
        let batch: Vec<Message> = (1..=500)
            .map(|i| msg(if i % 2 == 0 { "c" } else { "d" }, i, "bob", "hello"))
            .collect();
        t.cache.insert_messages(&batch, "me").unwrap();
        let changes = t.cache.changes_since(before, 10_000).unwrap();
        let mut message_keys: Vec<&str> = changes
            .iter()
            .filter(|c| c.kind == "message")
            .map(|c| c.key.as_str())
            .collect();
        message_keys.sort();
        assert_eq!(message_keys, ["c", "d"]);
        // Nothing new: no change noted.
        let last = t.cache.latest_change().unwrap();
        t.cache.insert_messages(&batch[..10], "me").unwrap();
        assert!(t
            .cache
            .changes_since(last, 100)
            .unwrap()
            .iter()
            .all(|c| c.kind != "message"));
    }
}
