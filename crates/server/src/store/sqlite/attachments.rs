//! Attachments in SQLite: uploads, finished attachments, blobs, binding them to messages
//! and reading them with their messages. See `store::attachments` for the contract.

use super::{conversations, optional, SqliteStore};
use crate::store::{
    AttachmentRecord, AttachmentStore, BlobRef, Created, Finished, NewUpload, StoreError,
    StoreResult,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use tidings_proto::{Attachment, Message, Timestamp};

const COLUMNS: &str = "a.id, a.uploader, a.client_id, a.conversation_id, a.name, a.declared_type, \
     a.length, a.upload_offset, a.created_at, a.expires_at, a.blob_key, a.size, a.content_type, \
     a.width, a.height, a.thumbnail_key, t.size, a.message_id";

/// `FROM` with the thumbnail's blob row joined (as `t`) for its size.
const FROM: &str = "attachments a LEFT JOIN blobs t ON t.key = a.thumbnail_key";

fn from_row(r: &Row<'_>) -> rusqlite::Result<AttachmentRecord> {
    let blob: Option<String> = r.get(10)?;
    let thumbnail = r
        .get::<_, Option<String>>(15)?
        .zip(r.get::<_, Option<i64>>(16)?)
        .map(|(key, size)| BlobRef {
            key,
            size: size as u64,
        });
    let size = r.get::<_, Option<i64>>(11)?.unwrap_or(0) as u64;
    let finished = match blob {
        None => None,
        Some(key) => Some(Finished {
            blob: BlobRef { key, size },
            size,
            content_type: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
            width: r.get(13)?,
            height: r.get(14)?,
            thumbnail,
        }),
    };
    Ok(AttachmentRecord {
        id: r.get(0)?,
        uploader: r.get(1)?,
        client_id: r.get(2)?,
        conversation_id: r.get(3)?,
        name: r.get(4)?,
        declared_type: r.get(5)?,
        length: r.get::<_, i64>(6)? as u64,
        offset: r.get::<_, i64>(7)? as u64,
        created_at: Timestamp(r.get(8)?),
        expires_at: r.get::<_, Option<i64>>(9)?.map(Timestamp),
        finished,
        message_id: r.get(17)?,
    })
}

fn by_id(c: &Connection, id: &str) -> StoreResult<Option<AttachmentRecord>> {
    optional(
        c.prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE a.id = ?1"))?
            .query_row([id], from_row),
    )
}

/// Bytes `user` holds: finished attachments' sizes, unfinished uploads' lengths.
fn used(c: &Connection, user: &str) -> StoreResult<u64> {
    let n: i64 = c
        .prepare_cached(
            "SELECT COALESCE(SUM(CASE WHEN blob_key IS NULL THEN length ELSE size END), 0)
             FROM attachments WHERE uploader = ?1",
        )?
        .query_row([user], |r| r.get(0))?;
    Ok(n as u64)
}

fn create(c: &Connection, new: NewUpload) -> StoreResult<Created> {
    if let Some(client_id) = &new.client_id {
        let existing = optional(
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE a.uploader = ?1 AND a.client_id = ?2"
            ))?
            .query_row([&new.uploader, client_id], from_row),
        )?;
        if let Some(a) = existing {
            if a.conversation_id != new.conversation_id || a.length != new.length {
                return Err(StoreError::Conflict(format!(
                    "clientId {client_id} was already used for an upload of another conversation or length"
                )));
            }
            return Ok(Created::Existing(a));
        }
    }
    if !conversations::exists(c, &new.conversation_id)? {
        return Err(StoreError::NotFound(format!(
            "no conversation {}",
            new.conversation_id
        )));
    }
    if !conversations::is_participant(c, &new.conversation_id, &new.uploader)? {
        return Err(StoreError::Forbidden(format!(
            "you are not a participant of conversation {}",
            new.conversation_id
        )));
    }
    let open: i64 = c
        .prepare_cached(
            "SELECT COUNT(*) FROM attachments WHERE uploader = ?1 AND blob_key IS NULL",
        )?
        .query_row([&new.uploader], |r| r.get(0))?;
    if open as usize >= new.max_open {
        return Ok(Created::TooManyOpen);
    }
    let used = used(c, &new.uploader)?;
    if used.saturating_add(new.length) > new.quota {
        return Ok(Created::OverQuota { used });
    }
    c.prepare_cached(
        "INSERT INTO attachments (id, uploader, client_id, conversation_id, name, declared_type,
                                  length, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        new.id,
        new.uploader,
        new.client_id,
        new.conversation_id,
        new.name,
        new.declared_type,
        new.length as i64,
        new.created_at.millis(),
        new.expires_at.millis(),
    ])?;
    by_id(c, &new.id)?
        .map(Created::New)
        .ok_or_else(|| StoreError::Internal("the new upload vanished".into()))
}

fn add_blob(c: &Connection, blob: &BlobRef) -> StoreResult<()> {
    c.prepare_cached("INSERT OR IGNORE INTO blobs (key, size, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![
            blob.key,
            blob.size as i64,
            Timestamp::now().millis()
        ])?;
    Ok(())
}

fn finish(c: &Connection, id: &str, f: Finished) -> StoreResult<AttachmentRecord> {
    let a = by_id(c, id)?.ok_or_else(|| StoreError::NotFound(format!("no upload {id}")))?;
    if a.finished.is_some() {
        return Ok(a);
    }
    add_blob(c, &f.blob)?;
    if let Some(t) = &f.thumbnail {
        add_blob(c, t)?;
    }
    c.prepare_cached(
        "UPDATE attachments SET upload_offset = length, blob_key = ?2, size = ?3, content_type = ?4,
                width = ?5, height = ?6, thumbnail_key = ?7
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        f.blob.key,
        f.size as i64,
        f.content_type,
        f.width,
        f.height,
        f.thumbnail.as_ref().map(|t| &t.key),
    ])?;
    by_id(c, id)?.ok_or_else(|| StoreError::Internal("the upload vanished".into()))
}

fn delete_unused(
    c: &Connection,
    id: &str,
    uploader: &str,
) -> StoreResult<Option<AttachmentRecord>> {
    let Some(a) = by_id(c, id)? else {
        return Ok(None);
    };
    if a.uploader != uploader || a.message_id.is_some() {
        return Ok(None);
    }
    c.prepare_cached("DELETE FROM attachments WHERE id = ?1")?
        .execute([id])?;
    Ok(Some(a))
}

fn readable(c: &Connection, id: &str, user: &str) -> StoreResult<Option<AttachmentRecord>> {
    let Some(a) = by_id(c, id)? else {
        return Ok(None);
    };
    if a.finished.is_none() {
        return Ok(None);
    }
    let ok = match &a.message_id {
        None => a.uploader == user,
        Some(_) => conversations::is_participant(c, &a.conversation_id, user)?,
    };
    Ok(ok.then_some(a))
}

fn expire(c: &Connection, now: Timestamp) -> StoreResult<Vec<AttachmentRecord>> {
    let gone: Vec<AttachmentRecord> = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE a.expires_at IS NOT NULL AND a.expires_at <= ?1
               AND a.message_id IS NULL"
        ))?
        .query_map([now.millis()], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare_cached("DELETE FROM attachments WHERE id = ?1")?;
    for a in &gone {
        stmt.execute([&a.id])?;
    }
    Ok(gone)
}

/// Checks and binds a new message's attachments (in its transaction): each a finished
/// upload of `sender` into `cid` that no message uses. Answers their views in order.
pub(super) fn bind(
    c: &Connection,
    cid: &str,
    sender: &str,
    message_id: &str,
    ids: &[String],
) -> StoreResult<Vec<Attachment>> {
    let mut views = Vec::with_capacity(ids.len());
    for (position, id) in ids.iter().enumerate() {
        let usable = by_id(c, id)?
            .filter(|a| a.uploader == sender && a.conversation_id == cid && a.finished.is_some());
        let Some(a) = usable else {
            // One sentence for unknown, another's, another conversation's and unfinished.
            return Err(StoreError::Invalid(format!(
                "attachment {id} is not a finished upload of yours into conversation {cid}"
            )));
        };
        if a.message_id.is_some() {
            return Err(StoreError::Invalid(format!(
                "attachment {id} is already used by a message; upload the file again"
            )));
        }
        c.prepare_cached(
            "UPDATE attachments SET message_id = ?2, position = ?3, expires_at = NULL WHERE id = ?1",
        )?
        .execute(params![id, message_id, position as i64])?;
        views.extend(a.view());
    }
    Ok(views)
}

/// Fills in each message's attachments, in their order.
pub(super) fn fill(c: &Connection, items: &mut [Message]) -> StoreResult<()> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE a.message_id = ?1 ORDER BY a.position"
    ))?;
    for m in items.iter_mut() {
        if m.deleted || m.system.is_some() {
            continue;
        }
        m.attachments = stmt
            .query_map([&m.id], from_row)?
            .filter_map(|r| r.map(|a| a.view()).transpose())
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(())
}

/// Deletes a message's attachments (its deletion's transaction).
pub(super) fn drop_for_message(c: &Connection, message_id: &str) -> StoreResult<()> {
    c.prepare_cached("DELETE FROM attachments WHERE message_id = ?1")?
        .execute([message_id])?;
    Ok(())
}

const UNREFERENCED: &str = "SELECT key FROM blobs b WHERE NOT EXISTS
       (SELECT 1 FROM attachments a WHERE a.blob_key = b.key OR a.thumbnail_key = b.key)";

#[async_trait]
impl AttachmentStore for SqliteStore {
    async fn create_upload(&self, new: NewUpload) -> StoreResult<Created> {
        self.write(move |c| create(c, new)).await
    }

    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
        let id = id.to_owned();
        self.read(move |c| by_id(c, &id)).await
    }

    async fn set_upload_offset(&self, id: &str, offset: u64) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE attachments SET upload_offset = MAX(upload_offset, MIN(?2, length))
                 WHERE id = ?1 AND blob_key IS NULL",
            )?
            .execute(params![id, offset as i64])?;
            Ok(())
        })
        .await
    }

    async fn finish_upload(&self, id: &str, finished: Finished) -> StoreResult<AttachmentRecord> {
        let id = id.to_owned();
        self.write(move |c| finish(c, &id, finished)).await
    }

    async fn delete_upload(
        &self,
        id: &str,
        uploader: &str,
    ) -> StoreResult<Option<AttachmentRecord>> {
        let (id, uploader) = (id.to_owned(), uploader.to_owned());
        self.write(move |c| delete_unused(c, &id, &uploader)).await
    }

    async fn readable_attachment(
        &self,
        id: &str,
        user: &str,
    ) -> StoreResult<Option<AttachmentRecord>> {
        let (id, user) = (id.to_owned(), user.to_owned());
        self.read(move |c| readable(c, &id, &user)).await
    }

    async fn expire_uploads(&self, now: Timestamp) -> StoreResult<Vec<AttachmentRecord>> {
        self.write(move |c| expire(c, now)).await
    }

    async fn unfinished_uploads(&self) -> StoreResult<Vec<String>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT id FROM attachments WHERE blob_key IS NULL")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?,
            )
        })
        .await
    }

    async fn unreferenced_blobs(&self) -> StoreResult<Vec<String>> {
        self.read(|c| {
            Ok(c.prepare_cached(UNREFERENCED)?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn forget_blobs(&self, keys: Vec<String>) -> StoreResult<()> {
        self.write(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "DELETE FROM blobs WHERE key = ?1 AND key IN ({UNREFERENCED})"
            ))?;
            for k in &keys {
                stmt.execute([k])?;
            }
            Ok(())
        })
        .await
    }
}
