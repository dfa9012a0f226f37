//! Messages in the cache: an idempotent merge in which a newer revision of a message
//! replaces its row (and so its full-text entry: an edit's old text and a deleted
//! message's content leave the index too), contiguous-prefix tracking by `seq`, and pages.

use super::{conversations, revisions, Cache, CacheResult};
use rusqlite::{params, Connection, OptionalExtension, Row};
use tidings_proto::{Attachment, ContentType, Message, ReplyRef, Timestamp};

pub(super) const COLUMNS: &str = "id, conversation_id, seq, sender_id, client_id, content, \
     content_type, created_at, rev, edited_at, deleted, reply_to_id, reply_to_seq, mentions, \
     reactions, system, attachments";
/// How many columns [`COLUMNS`] names (a query may select more after them).
pub(super) const COLUMN_COUNT: usize = 17;

/// A JSON column: `None` (SQL NULL) for an empty list or nothing.
fn json_column<T: serde::Serialize>(v: &T, empty: bool) -> Option<String> {
    (!empty).then(|| serde_json::to_string(v).unwrap_or_default())
}

fn from_json<T: serde::de::DeserializeOwned + Default>(text: Option<String>) -> T {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let reply_id: Option<String> = r.get(11)?;
    let reply_seq: Option<i64> = r.get(12)?;
    let system: Option<String> = r.get(15)?;
    Ok(Message {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        seq: r.get(2)?,
        sender_id: r.get(3)?,
        client_id: r.get(4)?,
        content: r.get(5)?,
        content_type: ContentType::parse(&r.get::<_, String>(6)?).unwrap_or_default(),
        created_at: Timestamp(r.get(7)?),
        rev: r.get(8)?,
        edited_at: r.get::<_, Option<i64>>(9)?.map(Timestamp),
        deleted: r.get::<_, i64>(10)? != 0,
        reply_to: reply_id.map(|message_id| ReplyRef {
            message_id,
            seq: reply_seq.unwrap_or(0),
        }),
        mentions: from_json(r.get(13)?),
        reactions: from_json(r.get(14)?),
        system: system.and_then(|s| serde_json::from_str(&s).ok()),
        attachments: from_json(r.get(16)?),
    })
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
    max_rev: i64,
    /// Rows were added or replaced.
    changed: bool,
}

/// The values of one message's row after `id, conversation_id, seq, sender_id, client_id,
/// created_at`: what a newer revision replaces.
struct Body {
    content_type: &'static str,
    edited_at: Option<i64>,
    reply_to_id: Option<String>,
    reply_to_seq: Option<i64>,
    mentions: Option<String>,
    reactions: Option<String>,
    system: Option<String>,
    attachments: Option<String>,
}

impl Body {
    fn of(m: &Message) -> Body {
        Body {
            content_type: m.content_type.as_str(),
            edited_at: m.edited_at.map(|t| t.millis()),
            reply_to_id: m.reply_to.as_ref().map(|r| r.message_id.clone()),
            reply_to_seq: m.reply_to.as_ref().map(|r| r.seq),
            mentions: json_column(&m.mentions, m.mentions.is_empty()),
            reactions: json_column(&m.reactions, m.reactions.is_empty()),
            system: m.system.as_ref().and_then(|s| json_column(s, false)),
            attachments: json_column(&m.attachments, m.attachments.is_empty()),
        }
    }
}

/// Merges messages (any mix of conversations, any order); returns how many were new. A
/// message already cached is replaced by a copy with a higher `rev` (an edit, a deletion,
/// new reactions) and otherwise left alone, so replays and stale copies change nothing.
/// Keeps `last_seq`, `synced_seq`, the held revision, our read marker (writing means having
/// read, as on the server) and the outbox in step, and notes one `message` change per
/// conversation whose messages changed. The per-conversation bookkeeping runs once per
/// batch, not once per message: catch-up hands over pages of 500.
pub(super) fn insert_batch(
    conn: &Connection,
    messages: &[Message],
    me: &str,
) -> CacheResult<usize> {
    let outbox_waiting: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox WHERE state != 'sent')")?
        .query_row([], |r| r.get(0))?;
    prune_pending(conn)?;
    let mut touched: std::collections::BTreeMap<&str, Touched> = Default::default();
    let mut added = 0;
    // New rows get rowids above every row cached or deleted before them: the full-text
    // index (cache/index.rs) takes the rows after the last it indexed for new ones, so a
    // rowid must never be given twice (`message_rowids`, schema version 11).
    let mut next: i64 = conn
        .prepare_cached(
            "SELECT max(coalesce((SELECT max(rowid) FROM messages), 0),
                        coalesce((SELECT floor FROM message_rowids), 0)) + 1",
        )?
        .query_row([], |r| r.get(0))?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, content, content_type,
                               created_at, rev, edited_at, deleted, reply_to_id, reply_to_seq,
                               mentions, reactions, system, attachments, rowid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT DO NOTHING",
    )?;
    // The same parameters as `insert` but the rowid (the columns that never change go
    // unused).
    let mut replace = conn.prepare_cached(
        "UPDATE messages SET content = ?6, content_type = ?7, rev = ?9, edited_at = ?10,
                deleted = ?11, reply_to_id = ?12, reply_to_seq = ?13, mentions = ?14,
                reactions = ?15, system = ?16, attachments = ?17
         WHERE conversation_id = ?2 AND seq = ?3 AND rev < ?9",
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
        let b = Body::of(m);
        let row = params![
            m.id,
            m.conversation_id,
            m.seq,
            m.sender_id,
            m.client_id,
            m.content,
            b.content_type,
            m.created_at.millis(),
            m.rev,
            b.edited_at,
            m.deleted,
            b.reply_to_id,
            b.reply_to_seq,
            b.mentions,
            b.reactions,
            b.system,
            b.attachments,
        ];
        let new = insert.execute(rusqlite::params_from_iter(
            row.iter().copied().chain([&next as &dyn rusqlite::ToSql]),
        ))? > 0;
        if new {
            added += 1;
            next += 1;
            t.changed = true;
        } else if m.rev > 0 && replace.execute(row)? > 0 {
            t.changed = true;
        }
        t.max_seq = t.max_seq.max(m.seq);
        t.max_at = t.max_at.max(m.created_at.millis());
        t.max_rev = t.max_rev.max(m.rev);
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
        if t.max_rev > 0 {
            revisions::raise_server_rev(conn, cid, t.max_rev)?;
            revisions::advance_held(conn, cid)?;
        }
        if t.own_seq > 0 {
            conversations::own_read(conn, cid, t.own_seq, true)?;
        }
        if t.changed {
            conn.prepare_cached("INSERT INTO changes (kind, key) VALUES ('message', ?1)")?
                .execute([cid])?;
        }
    }
    Ok(added)
}

/// Removes the changes the full-text index has applied from `search_pending`: their old
/// text is erased from the file (`secure_delete`). The cache's connection does it (the
/// index's thread never writes the cache file, cache/index.rs).
pub(super) fn prune_pending(conn: &Connection) -> CacheResult<()> {
    conn.prepare_cached(
        "DELETE FROM search_pending WHERE id <= (SELECT edits_upto FROM idx.search_state)",
    )?
    .execute([])?;
    Ok(())
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

impl Cache {
    /// Merges messages in one transaction (a higher `rev` replaces a cached copy); returns
    /// how many were new.
    pub fn insert_messages(&self, messages: &[Message], me: &str) -> CacheResult<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let added = insert_batch(&tx, messages, me)?;
        tx.commit()?;
        self.index.kick();
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

    /// Merges one message as the server has it now: new, or a newer revision of a cached
    /// one (an edit, a tombstone, new reactions), which replaces it; an older or equal
    /// revision changes nothing. Returns whether it was new.
    pub fn apply_message(&self, m: &Message) -> CacheResult<bool> {
        let me = self.account_user()?.unwrap_or_default();
        Ok(self.insert_messages(std::slice::from_ref(m), &me)? > 0)
    }

    /// A cached message by id.
    pub fn message(&self, id: &str) -> CacheResult<Option<Message>> {
        Ok(self
            .conn()
            .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?
            .query_row([id], from_row)
            .optional()?)
    }

    /// An attachment of a cached message, by its id.
    pub fn attachment(&self, id: &str) -> CacheResult<Option<Attachment>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT attachments FROM messages WHERE instr(attachments, ?1) > 0 LIMIT 10",
        )?;
        let lists = stmt.query_map([id], |r| r.get::<_, Option<String>>(0))?;
        for list in lists {
            let list: Vec<Attachment> = from_json(list?);
            if let Some(a) = list.into_iter().find(|a| a.id == id) {
                return Ok(Some(a));
            }
        }
        Ok(None)
    }

    /// The cached message at `seq` of a conversation (a reference such as `#12`).
    pub fn message_at(&self, cid: &str, seq: i64) -> CacheResult<Option<Message>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages WHERE conversation_id = ?1 AND seq = ?2"
            ))?
            .query_row(params![cid, seq], from_row)
            .optional()?)
    }

    /// Cached messages around `seq`, ascending: up to `limit`, about half before it and
    /// the rest from it on (to show a quoted message in its place).
    pub fn history_around(&self, cid: &str, seq: i64, limit: u32) -> CacheResult<Vec<Message>> {
        let before = limit / 2;
        let mut page = self.history(cid, Some(seq), before)?;
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE conversation_id = ?1 AND seq >= ?2
             ORDER BY seq LIMIT ?3"
        ))?;
        let after = stmt.query_map(params![cid, seq, limit - page.len() as u32], from_row)?;
        for m in after {
            page.push(m?);
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::testing::{msg, temp_cache};

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

    fn at(mut m: Message, rev: i64) -> Message {
        m.rev = rev;
        m
    }

    fn revised(mut m: Message, rev: i64, text: &str) -> Message {
        m.rev = rev;
        m.content = text.into();
        m
    }

    #[test]
    fn a_newer_revision_replaces_the_row_and_its_search_entry_an_older_one_nothing() {
        let t = temp_cache("revise");
        let c = &t.cache;
        let first = at(msg("c", 1, "bob", "the quarterly plan"), 1);
        c.insert_messages(std::slice::from_ref(&first), "me")
            .unwrap();
        assert_eq!(c.search("quarterly", 10).unwrap().len(), 1);
        let mut edited = revised(first.clone(), 2, "lunch at noon");
        edited.edited_at = Some(Timestamp(99));
        edited.mentions = vec!["me".into()];
        edited.reply_to = Some(ReplyRef {
            message_id: "m0".into(),
            seq: 0,
        });
        edited.reactions = vec![tidings_proto::Reaction {
            emoji: "👍".into(),
            users: vec!["amy".into(), "me".into()],
        }];
        let before = c.latest_change().unwrap();
        assert!(!c.apply_message(&edited).unwrap(), "not new: replaced");
        assert!(
            c.changes_since(before, 10)
                .unwrap()
                .iter()
                .any(|ch| ch.kind == "message" && ch.key == "c"),
            "a replaced message is a change"
        );
        assert_eq!(c.message(&first.id).unwrap().unwrap(), edited);
        assert!(
            c.search("quarterly", 10).unwrap().is_empty(),
            "old text gone"
        );
        assert_eq!(c.search("lunch", 10).unwrap().len(), 1);
        // A stale copy (a replay, a late live event) changes nothing.
        c.apply_message(&first).unwrap();
        assert_eq!(c.message(&first.id).unwrap().unwrap(), edited);
        // The tombstone: no content anywhere.
        let mut gone = edited.clone();
        gone.rev = 3;
        gone.tombstone();
        c.apply_message(&gone).unwrap();
        let cached = c.message(&first.id).unwrap().unwrap();
        assert!(cached.deleted && cached.content.is_empty() && cached.reactions.is_empty());
        assert_eq!(cached, gone);
        assert!(c.search("lunch", 10).unwrap().is_empty());
        assert_eq!(c.held_rev("c").unwrap(), 3);
    }

    #[test]
    fn a_message_and_its_newer_revision_in_one_batch_leave_one_index_entry() {
        let t = temp_cache("revise-batch");
        let c = &t.cache;
        let first = at(msg("c", 1, "bob", "the quarterly plan"), 1);
        let edited = revised(first.clone(), 2, "lunch at noon");
        let others: Vec<Message> = (2..=5).map(|s| msg("c", s, "bob", "lunch later")).collect();
        let mut batch = vec![first, edited.clone()];
        batch.extend(others);
        assert_eq!(c.insert_messages(&batch, "me").unwrap(), 5);
        assert!(c.search("quarterly", 10).unwrap().is_empty());
        assert_eq!(c.search("lunch", 10).unwrap().len(), 5);
        assert_eq!(c.search("noon", 10).unwrap()[0].message, edited);
        // The index holds the message once, with its newest text.
        assert_eq!(c.index_matches("quarterly"), 0);
        assert_eq!(c.index_matches("lunch"), 5);
        assert_eq!(c.index_matches("noon"), 1);
        c.conn()
            .execute(
                "INSERT INTO idx.messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
                [],
            )
            .unwrap();
        assert_eq!(c.search("noon", 10).unwrap()[0].message, edited);
    }

    #[test]
    fn system_entries_and_replies_round_trip() {
        let t = temp_cache("system");
        let mut sys = at(msg("c", 1, "amy", "Amy added Bob"), 1);
        sys.system = Some(tidings_proto::SystemEntry {
            action: tidings_proto::SystemAction::Added,
            users: vec!["bob".into()],
            title: None,
        });
        let mut reply = at(msg("c", 2, "bob", "hi all"), 2);
        reply.reply_to = Some(ReplyRef {
            message_id: sys.id.clone(),
            seq: 1,
        });
        t.cache
            .insert_messages(&[sys.clone(), reply.clone()], "me")
            .unwrap();
        assert_eq!(t.cache.messages_after("c", 0).unwrap(), vec![sys, reply]);
    }

    #[test]
    fn history_around_a_seq_has_it_in_the_middle() {
        let t = temp_cache("around");
        let all: Vec<Message> = (1..=100).map(|s| msg("c", s, "bob", "x")).collect();
        t.cache.insert_messages(&all, "me").unwrap();
        let seqs: Vec<i64> = t
            .cache
            .history_around("c", 40, 10)
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, (35..45).collect::<Vec<_>>());
        let seqs: Vec<i64> = t
            .cache
            .history_around("c", 99, 10)
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, (94..=100).collect::<Vec<_>>());
        assert_eq!(t.cache.message_at("c", 7).unwrap().map(|m| m.seq), Some(7));
    }

    #[test]
    fn erased_text_leaves_no_trace_in_the_database_file() {
        let t = temp_cache("erase");
        let c = &t.cache;
        let m = at(msg("c", 1, "bob", "zanzibarsecret oldwording"), 1);
        c.insert_messages(std::slice::from_ref(&m), "me").unwrap();
        // Many other messages, so that pages are reused rather than dropped whole.
        let others: Vec<Message> = (2..300)
            .map(|s| at(msg("c", s, "bob", &format!("filler text {s}")), s))
            .collect();
        c.insert_messages(&others, "me").unwrap();
        let index_file = || {
            assert!(c.wait_indexed(std::time::Duration::from_secs(60)).unwrap());
            c.conn()
                .execute_batch("PRAGMA idx.wal_checkpoint(TRUNCATE);")
                .unwrap();
            std::fs::read(t.dir.join("cache.search.db")).unwrap()
        };
        assert!(
            index_file().windows(14).any(|w| w == b"zanzibarsecret"),
            "the check can see the index's words"
        );
        let edited = revised(m.clone(), 300, "quokkasecret newwording");
        c.apply_message(&edited).unwrap();
        // The edit reaches the index before the deletion does.
        index_file();
        let mut gone = edited.clone();
        gone.rev = 301;
        gone.tombstone();
        c.apply_message(&gone).unwrap();
        // The index file (written by its own thread) and the changes it was fed by are
        // looked at once it has caught up.
        assert!(c.wait_indexed(std::time::Duration::from_secs(60)).unwrap());
        c.conn()
            .execute_batch(
                "PRAGMA main.wal_checkpoint(TRUNCATE); PRAGMA idx.wal_checkpoint(TRUNCATE);",
            )
            .unwrap();
        let mut bytes = Vec::new();
        for file in [
            "cache.db",
            "cache.db-wal",
            "cache.search.db",
            "cache.search.db-wal",
        ] {
            if let Ok(b) = std::fs::read(t.dir.join(file)) {
                bytes.extend(b);
            }
        }
        assert!(
            std::fs::metadata(t.dir.join("cache.search.db")).is_ok(),
            "the index has a file of its own"
        );
        for word in ["zanzibarsecret", "oldwording", "quokkasecret", "newwording"] {
            assert!(
                !bytes.windows(word.len()).any(|w| w == word.as_bytes()),
                "{word} is still in the cache file"
            );
        }
        assert!(
            bytes.windows(11).any(|w| w == b"filler text"),
            "the check can see text"
        );
    }
}
