//! The files of outbox entries (attachments written offline or not yet uploaded). Each is a
//! copy in the cache's files folder (`outbox/<clientId>/<position>`), so moving or deleting
//! the original changes nothing; with it its tus upload: the server's upload id once the
//! creation was answered, the offset the server acknowledged (the progress shown), and
//! whether the server finished and stored it. An entry is sent once all its files are
//! done. The copies go when the entry is sent (the rows stay, naming the attachments) or
//! cancelled (the rows go too).

use super::{Cache, CacheResult};
use rusqlite::{params, Connection, Row};
use std::path::{Path, PathBuf};
use tidings_proto::{ContentType, Timestamp};

/// One file of an outbox entry, and how far its upload got.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OutboxFile {
    /// 0, 1, … in the order the user gave the files.
    pub position: i64,
    pub name: String,
    /// The declared media type (from the name's extension), if any.
    pub content_type: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: i64,
    /// Bytes the server has acknowledged.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub sent: i64,
    /// The server's upload (and attachment) id, once it answered the creation.
    pub upload_id: Option<String>,
    /// The server finished and stored the file.
    pub done: bool,
    /// The copy, relative to the cache's files folder.
    #[serde(skip)]
    pub path: String,
}

/// A file to queue with a message: already copied into the files folder.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub name: String,
    pub content_type: Option<String>,
    pub size: i64,
    /// Relative to the cache's files folder.
    pub path: String,
}

const COLUMNS: &str = "position, name, content_type, size, offset, upload_id, done, path";

fn from_row(r: &Row<'_>) -> rusqlite::Result<OutboxFile> {
    Ok(OutboxFile {
        position: r.get(0)?,
        name: r.get(1)?,
        content_type: r.get(2)?,
        size: r.get(3)?,
        sent: r.get(4)?,
        upload_id: r.get(5)?,
        done: r.get::<_, i64>(6)? != 0,
        path: r.get(7)?,
    })
}

pub(super) fn files_of(conn: &Connection, client_id: &str) -> CacheResult<Vec<OutboxFile>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox_files WHERE client_id = ?1 ORDER BY position"
    ))?;
    let rows = stmt.query_map([client_id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The folder of an outbox entry's copies, relative to the files folder.
pub fn outbox_folder(client_id: &str) -> PathBuf {
    Path::new("outbox").join(crate::fsname::safe_file_name(client_id))
}

impl Cache {
    /// Queues a message with files (copied already under [`outbox_folder`] of `client_id`),
    /// in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue_with_files(
        &self,
        client_id: &str,
        cid: &str,
        content: &str,
        content_type: ContentType,
        reply_to: Option<&str>,
        mentions: &[String],
        files: &[NewFile],
    ) -> CacheResult<()> {
        let mentions =
            (!mentions.is_empty()).then(|| serde_json::to_string(mentions).unwrap_or_default());
        let mut conn = self.conn();
        // What the user wrote is on disk when this returns (see `super::Durable`).
        let durable = super::Durable::begin(&conn)?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO outbox (client_id, conversation_id, content, content_type, created_at, state, reply_to, mentions)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
            params![
                client_id,
                cid,
                content,
                content_type.as_str(),
                Timestamp::now().millis(),
                reply_to,
                mentions
            ],
        )?;
        for (i, f) in files.iter().enumerate() {
            tx.execute(
                "INSERT INTO outbox_files (client_id, position, name, path, content_type, size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![client_id, i as i64, f.name, f.path, f.content_type, f.size],
            )?;
        }
        tx.commit()?;
        durable.end(&conn)?;
        Ok(())
    }

    /// The files of an outbox entry, in order.
    pub fn outbox_files(&self, client_id: &str) -> CacheResult<Vec<OutboxFile>> {
        files_of(&self.conn(), client_id)
    }

    /// The server answered the creation of a file's upload: its id and what it holds.
    pub fn set_upload(
        &self,
        client_id: &str,
        position: i64,
        upload_id: &str,
        offset: i64,
    ) -> CacheResult<()> {
        self.conn().execute(
            "UPDATE outbox_files SET upload_id = ?3, offset = ?4
             WHERE client_id = ?1 AND position = ?2",
            params![client_id, position, upload_id, offset],
        )?;
        Ok(())
    }

    /// The server acknowledged bytes up to `offset` of a file (and, `done`, stored it).
    pub fn set_upload_offset(
        &self,
        client_id: &str,
        position: i64,
        offset: i64,
        done: bool,
    ) -> CacheResult<()> {
        self.conn().execute(
            "UPDATE outbox_files SET offset = ?3, done = ?4 WHERE client_id = ?1 AND position = ?2",
            params![client_id, position, offset, done],
        )?;
        Ok(())
    }

    /// The server lost a file's upload (it expired): start it again from nothing.
    pub fn forget_upload(&self, client_id: &str, position: i64) -> CacheResult<()> {
        self.conn().execute(
            "UPDATE outbox_files SET upload_id = NULL, offset = 0, done = 0
             WHERE client_id = ?1 AND position = ?2",
            params![client_id, position],
        )?;
        Ok(())
    }

    /// Removes an entry that is not sent and not being sent (pending or failed), with its
    /// files' rows; answers the files (their uploads to delete on the server, their
    /// copies to remove), or `None` when there is no such entry to cancel.
    pub fn cancel_entry(&self, client_id: &str) -> CacheResult<Option<Vec<OutboxFile>>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let files = files_of(&tx, client_id)?;
        let removed = tx.execute(
            "DELETE FROM outbox WHERE client_id = ?1 AND state IN ('pending', 'failed')",
            [client_id],
        )?;
        tx.commit()?;
        Ok((removed > 0).then_some(files))
    }

    /// Entries whose copies can go: sent ones whose files still have copies. The rows stay
    /// (they name the attachments' ids) with their copies marked gone (`path` empty); the
    /// caller removes the folders.
    pub fn take_sent_files(&self) -> CacheResult<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let ids: Vec<String> = tx
            .prepare_cached(
                "SELECT DISTINCT f.client_id FROM outbox_files f JOIN outbox o USING (client_id)
                 WHERE o.state = 'sent' AND f.path != ''",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in &ids {
            tx.execute(
                "UPDATE outbox_files SET path = '' WHERE client_id = ?1",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Every outbox entry whose files still have copies (to keep their folders).
    pub fn entries_with_files(&self) -> CacheResult<Vec<String>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT DISTINCT client_id FROM outbox_files WHERE path != ''")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::testing::temp_cache;
    use crate::cache::OutboxState;

    fn file(name: &str, size: i64) -> NewFile {
        NewFile {
            name: name.into(),
            content_type: Some("text/plain".into()),
            size,
            path: format!("outbox/x/{name}"),
        }
    }

    #[test]
    fn an_entry_with_files_keeps_their_progress_until_sent() {
        let t = temp_cache("files");
        let c = &t.cache;
        c.enqueue_with_files(
            "id1",
            "c1",
            "",
            ContentType::Text,
            None,
            &[],
            &[file("a.txt", 10), file("b.txt", 20)],
        )
        .unwrap();
        let e = c.outbox_entry("id1").unwrap().unwrap();
        assert_eq!(e.attachments.len(), 2);
        assert_eq!((e.sent_bytes(), e.total_bytes()), (0, 30));
        c.set_upload("id1", 0, "a_1", 0).unwrap();
        c.set_upload_offset("id1", 0, 10, true).unwrap();
        c.set_upload("id1", 1, "a_2", 4).unwrap();
        let e = c.outbox_entry("id1").unwrap().unwrap();
        assert_eq!(e.sent_bytes(), 14);
        assert!(e.attachments[0].done && !e.attachments[1].done);
        c.forget_upload("id1", 1).unwrap();
        assert_eq!(c.outbox_entry("id1").unwrap().unwrap().sent_bytes(), 10);
        assert!(c.take_sent_files().unwrap().is_empty());
        c.mark_sent("id1", Some(3)).unwrap();
        assert_eq!(c.take_sent_files().unwrap(), vec!["id1".to_owned()]);
        assert!(c.take_sent_files().unwrap().is_empty(), "once");
        let e = c.outbox_entry("id1").unwrap().unwrap();
        assert_eq!((e.state, e.attachments.len()), (OutboxState::Sent, 2));
        assert_eq!(e.attachments[0].upload_id.as_deref(), Some("a_1"));
        assert!(c.entries_with_files().unwrap().is_empty());
    }

    #[test]
    fn cancel_removes_a_pending_entry_and_its_files_but_not_one_being_sent() {
        let t = temp_cache("cancel");
        let c = &t.cache;
        for id in ["p", "s"] {
            c.enqueue_with_files(id, "c1", "", ContentType::Text, None, &[], &[file("a", 1)])
                .unwrap();
        }
        c.mark_sending("s").unwrap();
        let files = c.cancel_entry("p").unwrap().unwrap();
        assert_eq!(files.len(), 1);
        assert!(c.outbox_entry("p").unwrap().is_none());
        assert!(c.outbox_files("p").unwrap().is_empty());
        assert!(
            c.cancel_entry("s").unwrap().is_none(),
            "in flight: not cancelled"
        );
        assert!(c.cancel_entry("nope").unwrap().is_none());
        assert_eq!(c.entries_with_files().unwrap(), vec!["s".to_owned()]);
    }
}
