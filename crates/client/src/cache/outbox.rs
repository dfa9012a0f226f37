//! The outbox: messages written here that the server has not confirmed. Each has a fresh
//! `clientId`, kept across retries and restarts, so the server stores it once however often
//! it is sent. States: `pending` (to send when live, at `next_attempt_at`), `sending` (sent,
//! no receipt yet; back to `pending` if the connection ends), `sent` (the receipt or the
//! message itself came back), `failed` (refused for good, with the reason). An entry with
//! files ([`super::outbox_files`]) stays `pending` while they upload and is sent once they
//! are all done; its files' progress is part of the entry.

use super::outbox_files::{files_of, OutboxFile};
use super::{Cache, CacheResult};
use rusqlite::{params, Connection, OptionalExtension, Row};
use tidings_proto::{ContentType, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum OutboxState {
    Pending,
    Sending,
    Sent,
    Failed,
}

impl OutboxState {
    fn parse(s: &str) -> OutboxState {
        match s {
            "sending" => OutboxState::Sending,
            "sent" => OutboxState::Sent,
            "failed" => OutboxState::Failed,
            _ => OutboxState::Pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OutboxEntry {
    pub client_id: String,
    pub conversation_id: String,
    pub content: String,
    pub content_type: ContentType,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: Timestamp,
    pub state: OutboxState,
    pub attempts: i64,
    pub error: Option<String>,
    /// The stored message's `seq`, once known.
    pub seq: Option<i64>,
    /// The id of the message this one replies to.
    pub reply_to: Option<String>,
    /// Participants it mentions, by id.
    pub mentions: Vec<String>,
    /// Files sent with it, with their upload's progress (empty for a text message).
    pub attachments: Vec<OutboxFile>,
}

impl OutboxEntry {
    /// Bytes of its files the server has acknowledged.
    pub fn sent_bytes(&self) -> i64 {
        self.attachments
            .iter()
            .map(|f| if f.done { f.size } else { f.sent })
            .sum()
    }

    /// Bytes of its files in all.
    pub fn total_bytes(&self) -> i64 {
        self.attachments.iter().map(|f| f.size).sum()
    }

    /// Every file is uploaded and stored: the message itself can go.
    pub fn uploaded(&self) -> bool {
        self.attachments
            .iter()
            .all(|f| f.done && f.upload_id.is_some())
    }
}

/// Fills in the files of entries that have some.
fn with_files(conn: &Connection, mut entries: Vec<OutboxEntry>) -> CacheResult<Vec<OutboxEntry>> {
    let has_files: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox_files)")?
        .query_row([], |r| r.get(0))?;
    if has_files {
        for e in &mut entries {
            e.attachments = files_of(conn, &e.client_id)?;
        }
    }
    Ok(entries)
}

const COLUMNS: &str = "client_id, conversation_id, content, content_type, created_at, state, \
     attempts, error, seq, reply_to, mentions";

fn from_row(r: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        client_id: r.get(0)?,
        conversation_id: r.get(1)?,
        content: r.get(2)?,
        content_type: ContentType::parse(&r.get::<_, String>(3)?).unwrap_or_default(),
        created_at: Timestamp(r.get(4)?),
        state: OutboxState::parse(&r.get::<_, String>(5)?),
        attempts: r.get(6)?,
        error: r.get(7)?,
        seq: r.get(8)?,
        reply_to: r.get(9)?,
        mentions: r
            .get::<_, Option<String>>(10)?
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default(),
        attachments: Vec::new(),
    })
}

impl Cache {
    /// Queues a message (maybe a reply, maybe mentioning participants); returns its
    /// `clientId`.
    pub fn enqueue(
        &self,
        cid: &str,
        content: &str,
        content_type: ContentType,
        reply_to: Option<&str>,
        mentions: &[String],
    ) -> CacheResult<String> {
        let client_id = uuid::Uuid::new_v4().to_string();
        self.enqueue_with_files(
            &client_id,
            cid,
            content,
            content_type,
            reply_to,
            mentions,
            &[],
        )?;
        Ok(client_id)
    }

    pub fn outbox_entry(&self, client_id: &str) -> CacheResult<Option<OutboxEntry>> {
        let conn = self.conn();
        let entry = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE client_id = ?1"
            ))?
            .query_row([client_id], from_row)
            .optional()?;
        Ok(with_files(&conn, entry.into_iter().collect())?.pop())
    }

    /// Entries not yet confirmed (pending, sending, failed) for a conversation, oldest first.
    pub fn unconfirmed(&self, cid: &str) -> CacheResult<Vec<OutboxEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE conversation_id = ?1 AND state != 'sent' ORDER BY rowid"
        ))?;
        let rows = stmt.query_map([cid], from_row)?;
        let entries = rows.collect::<rusqlite::Result<_>>()?;
        with_files(&conn, entries)
    }

    /// Pending entries whose time has come, oldest first.
    pub fn due(&self, now: Timestamp) -> CacheResult<Vec<OutboxEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1
             ORDER BY rowid"
        ))?;
        let rows = stmt.query_map([now.millis()], from_row)?;
        let entries = rows.collect::<rusqlite::Result<_>>()?;
        with_files(&conn, entries)
    }

    /// When the next pending entry becomes due, if any is waiting.
    pub fn next_due(&self) -> CacheResult<Option<Timestamp>> {
        self.next_due_except(&[], Timestamp::now())
    }

    /// When the next pending entry becomes due, if any is waiting, leaving out the entries
    /// in `busy` (whose files are uploading) that are due already: their job says when it
    /// is done. One of them due later (its job just failed and set when to try again)
    /// counts.
    pub fn next_due_except(
        &self,
        busy: &[String],
        now: Timestamp,
    ) -> CacheResult<Option<Timestamp>> {
        let conn = self.conn();
        if busy.is_empty() {
            let at: Option<i64> = conn.query_row(
                "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?;
            return Ok(at.map(Timestamp));
        }
        let mut stmt = conn.prepare_cached(
            "SELECT client_id, next_attempt_at FROM outbox WHERE state = 'pending'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut next: Option<i64> = None;
        for row in rows {
            let (id, at) = row?;
            if at > now.millis() || !busy.contains(&id) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        Ok(next.map(Timestamp))
    }

    /// Marks a pending entry as sent and waiting for its receipt; `false` when it is no
    /// longer pending (cancelled meanwhile): then it must not be sent.
    pub fn mark_sending(&self, client_id: &str) -> CacheResult<bool> {
        Ok(self.conn().execute(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1
             WHERE client_id = ?1 AND state = 'pending'",
            [client_id],
        )? > 0)
    }

    /// The server confirmed it (a receipt, or the message came back).
    pub fn mark_sent(&self, client_id: &str, seq: Option<i64>) -> CacheResult<()> {
        self.conn().execute(
            "UPDATE outbox SET state = 'sent', seq = coalesce(?2, seq), error = NULL
             WHERE client_id = ?1 AND state != 'sent'",
            params![client_id, seq],
        )?;
        Ok(())
    }

    /// Try again at `at` (a temporary refusal, such as a rate limit).
    pub fn retry_at(&self, client_id: &str, at: Timestamp, error: &str) -> CacheResult<()> {
        self.conn().execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, error = ?3
             WHERE client_id = ?1 AND state IN ('pending', 'sending')",
            params![client_id, at.millis(), error],
        )?;
        Ok(())
    }

    /// An upload of the entry's files failed for now: try again at `at`, one attempt more.
    pub fn retry_upload_at(&self, client_id: &str, at: Timestamp, error: &str) -> CacheResult<()> {
        self.conn().execute(
            "UPDATE outbox SET next_attempt_at = ?2, error = ?3, attempts = attempts + 1
             WHERE client_id = ?1 AND state = 'pending'",
            params![client_id, at.millis(), error],
        )?;
        Ok(())
    }

    /// Refused for good (invalid, forbidden): kept, with the reason, for the user to see.
    pub fn mark_failed(&self, client_id: &str, error: &str) -> CacheResult<()> {
        self.conn().execute(
            "UPDATE outbox SET state = 'failed', error = ?2 WHERE client_id = ?1 AND state != 'sent'",
            params![client_id, error],
        )?;
        Ok(())
    }

    /// The connection ended: whatever was in flight is pending again (same `clientId`).
    pub fn requeue_sending(&self) -> CacheResult<usize> {
        Ok(self.conn().execute(
            "UPDATE outbox SET state = 'pending' WHERE state = 'sending'",
            [],
        )?)
    }

    /// Puts a failed entry back in the queue (the user asked to retry).
    pub fn retry_failed(&self, client_id: &str) -> CacheResult<bool> {
        Ok(self.conn().execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = 0, error = NULL
             WHERE client_id = ?1 AND state = 'failed'",
            [client_id],
        )? > 0)
    }

    /// How many entries are pending or in flight.
    pub fn outbox_waiting(&self) -> CacheResult<i64> {
        Ok(self.conn().query_row(
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')",
            [],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::testing::temp_cache;

    #[test]
    fn an_entry_is_committed_with_a_full_sync_and_the_cache_goes_back_to_normal() {
        let t = temp_cache("outbox-durable");
        let c = &t.cache;
        assert_eq!(c.synchronous(), 1, "the cache's pages: NORMAL");
        // Observe the setting while the entry is written, from inside SQLite.
        c.conn()
            .execute_batch(
                "CREATE TEMP TABLE seen (sync INTEGER);
                 CREATE TEMP TRIGGER seen_outbox AFTER INSERT ON main.outbox BEGIN
                     INSERT INTO seen SELECT synchronous FROM pragma_synchronous;
                 END;",
            )
            .unwrap();
        let id = c
            .enqueue("c", "hello", ContentType::Text, None, &[])
            .unwrap();
        let seen: i64 = c
            .conn()
            .query_row("SELECT sync FROM seen", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 2, "FULL while the entry is written");
        assert_eq!(c.synchronous(), 1, "back to NORMAL after it");
        c.insert_messages(&[crate::cache::testing::msg("c", 1, "bob", "hi")], "me")
            .unwrap();
        assert_eq!(c.synchronous(), 1);
        // And it is in the file: another connection sees it.
        let other = rusqlite::Connection::open(t.dir.join("cache.db")).unwrap();
        let content: String = other
            .query_row(
                "SELECT content FROM outbox WHERE client_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(content, "hello");
    }

    #[test]
    fn an_entry_goes_pending_sending_pending_sent() {
        let t = temp_cache("outbox");
        let c = &t.cache;
        let id = c
            .enqueue(
                "c1",
                "hello",
                ContentType::Text,
                Some("m0"),
                &["bob".into()],
            )
            .unwrap();
        let e = c.outbox_entry(&id).unwrap().unwrap();
        assert_eq!(
            (e.reply_to.as_deref(), e.mentions.as_slice()),
            (Some("m0"), ["bob".to_owned()].as_slice()),
            "a reply and its mentions survive in the outbox"
        );
        assert_eq!(c.due(Timestamp::now()).unwrap().len(), 1);
        c.mark_sending(&id).unwrap();
        assert!(c.due(Timestamp::now()).unwrap().is_empty());
        assert_eq!(c.requeue_sending().unwrap(), 1);
        let e = c.outbox_entry(&id).unwrap().unwrap();
        assert_eq!((e.state, e.attempts), (OutboxState::Pending, 1));
        c.retry_at(&id, Timestamp(i64::MAX - 1), "rate limited")
            .unwrap();
        assert!(c.due(Timestamp::now()).unwrap().is_empty());
        assert_eq!(c.next_due().unwrap(), Some(Timestamp(i64::MAX - 1)));
        c.mark_sent(&id, Some(7)).unwrap();
        let e = c.outbox_entry(&id).unwrap().unwrap();
        assert_eq!((e.state, e.seq), (OutboxState::Sent, Some(7)));
        assert_eq!(c.outbox_waiting().unwrap(), 0);
    }

    #[test]
    fn an_entry_uploading_now_does_not_wake_the_engine_until_its_job_sets_a_retry() {
        let t = temp_cache("busy");
        let c = &t.cache;
        let a = c.enqueue("c1", "a", ContentType::Text, None, &[]).unwrap();
        let now = Timestamp::now();
        let busy = [a.clone()];
        assert_eq!(
            c.next_due_except(&busy, now).unwrap(),
            None,
            "a is uploading"
        );
        assert_eq!(c.next_due_except(&[], now).unwrap(), Some(Timestamp(0)));
        let b = c.enqueue("c1", "b", ContentType::Text, None, &[]).unwrap();
        assert_eq!(
            c.next_due_except(&busy, now).unwrap(),
            Some(Timestamp(0)),
            "b is due"
        );
        c.mark_sending(&b).unwrap();
        let later = Timestamp(now.millis() + 5_000);
        c.retry_upload_at(&a, later, "unreachable").unwrap();
        assert_eq!(c.next_due_except(&busy, now).unwrap(), Some(later));
        assert_eq!(c.outbox_entry(&a).unwrap().unwrap().attempts, 1);
    }

    #[test]
    fn the_echo_of_our_own_message_confirms_its_entry() {
        let t = temp_cache("echo");
        let c = &t.cache;
        let id = c
            .enqueue("c1", "hello", ContentType::Text, None, &[])
            .unwrap();
        let m = tidings_proto::Message {
            id: "m1".into(),
            conversation_id: "c1".into(),
            seq: 4,
            sender_id: "me".into(),
            client_id: id.clone(),
            content: "hello".into(),
            content_type: ContentType::Text,
            created_at: Timestamp(1),
            ..Default::default()
        };
        c.insert_messages(&[m], "me").unwrap();
        assert_eq!(
            c.outbox_entry(&id).unwrap().unwrap().state,
            OutboxState::Sent
        );
        assert!(c.unconfirmed("c1").unwrap().is_empty());
    }
}
