//! Attachments in PostgreSQL: uploads, finished attachments, blobs, binding them to
//! messages and reading them with their messages. See `store::attachments` for the
//! contract. An uploader's uploads are created under an advisory lock of theirs (the
//! open-upload count and the quota are checked against committed rows); finishing uploads
//! and forgetting blobs exclude each other with one more.

use super::{advisory_lock, advisory_lock_shared, conversations, sql, write_tx, PostgresStore};
use crate::store::{
    AttachmentRecord, AttachmentStore, BlobRef, Created, Finished, NewUpload, StoreError,
    StoreResult,
};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use tidings_proto::{Attachment, Message, Timestamp};

const COLUMNS: &str = "a.id, a.uploader, a.client_id, a.conversation_id, a.name, a.declared_type, \
     a.length, a.upload_offset, a.created_at, a.expires_at, a.blob_key, a.size, a.content_type, \
     a.width, a.height, a.thumbnail_key, t.size, a.message_id";

/// `FROM` with the thumbnail's blob row joined (as `t`) for its size.
const FROM: &str = "attachments a LEFT JOIN blobs t ON t.key = a.thumbnail_key";

/// The lock blob rows are created (finishing) and forgotten (the sweeper) under.
const BLOBS_LOCK: &str = "tidings:blobs";

fn from_row(r: &PgRow) -> StoreResult<AttachmentRecord> {
    let blob: Option<String> = r.try_get(10)?;
    let thumbnail = r
        .try_get::<Option<String>, _>(15)?
        .zip(r.try_get::<Option<i64>, _>(16)?)
        .map(|(key, size)| BlobRef {
            key,
            size: size as u64,
        });
    let size = r.try_get::<Option<i64>, _>(11)?.unwrap_or(0) as u64;
    let dim = |i: usize| -> StoreResult<Option<u32>> {
        Ok(r.try_get::<Option<i64>, _>(i)?.map(|v| v as u32))
    };
    let finished = match blob {
        None => None,
        Some(key) => Some(Finished {
            blob: BlobRef { key, size },
            size,
            content_type: r.try_get::<Option<String>, _>(12)?.unwrap_or_default(),
            width: dim(13)?,
            height: dim(14)?,
            thumbnail,
        }),
    };
    Ok(AttachmentRecord {
        id: r.try_get(0)?,
        uploader: r.try_get(1)?,
        client_id: r.try_get(2)?,
        conversation_id: r.try_get(3)?,
        name: r.try_get(4)?,
        declared_type: r.try_get(5)?,
        length: r.try_get::<i64, _>(6)? as u64,
        offset: r.try_get::<i64, _>(7)? as u64,
        created_at: Timestamp(r.try_get(8)?),
        expires_at: r.try_get::<Option<i64>, _>(9)?.map(Timestamp),
        finished,
        message_id: r.try_get(17)?,
    })
}

async fn by_id(c: &mut PgConnection, id: &str) -> StoreResult<Option<AttachmentRecord>> {
    sqlx::query(sql!("SELECT {COLUMNS} FROM {FROM} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Bytes `user` holds: finished attachments' sizes, unfinished uploads' lengths.
async fn used(c: &mut PgConnection, user: &str) -> StoreResult<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(CASE WHEN blob_key IS NULL THEN length ELSE size END), 0)::bigint
         FROM attachments WHERE uploader = $1",
    )
    .bind(user)
    .fetch_one(c)
    .await?;
    Ok(n as u64)
}

async fn create(c: &mut PgConnection, new: NewUpload) -> StoreResult<Created> {
    advisory_lock(c, &format!("tidings:uploads:{}", new.uploader)).await?;
    if let Some(client_id) = &new.client_id {
        let existing = sqlx::query(sql!(
            "SELECT {COLUMNS} FROM {FROM} WHERE a.uploader = $1 AND a.client_id = $2"
        ))
        .bind(&new.uploader)
        .bind(client_id)
        .fetch_optional(&mut *c)
        .await?;
        if let Some(row) = existing {
            let a = from_row(&row)?;
            if a.conversation_id != new.conversation_id || a.length != new.length {
                return Err(StoreError::Conflict(format!(
                    "clientId {client_id} was already used for an upload of another conversation or length"
                )));
            }
            return Ok(Created::Existing(a));
        }
    }
    if !conversations::exists(c, &new.conversation_id).await? {
        return Err(StoreError::NotFound(format!(
            "no conversation {}",
            new.conversation_id
        )));
    }
    if !conversations::is_participant(c, &new.conversation_id, &new.uploader).await? {
        return Err(StoreError::Forbidden(format!(
            "you are not a participant of conversation {}",
            new.conversation_id
        )));
    }
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM attachments WHERE uploader = $1 AND blob_key IS NULL",
    )
    .bind(&new.uploader)
    .fetch_one(&mut *c)
    .await?;
    if open as usize >= new.max_open {
        return Ok(Created::TooManyOpen);
    }
    let used = used(c, &new.uploader).await?;
    if used.saturating_add(new.length) > new.quota {
        return Ok(Created::OverQuota { used });
    }
    sqlx::query(
        "INSERT INTO attachments (id, uploader, client_id, conversation_id, name, declared_type,
                                  length, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&new.id)
    .bind(&new.uploader)
    .bind(&new.client_id)
    .bind(&new.conversation_id)
    .bind(&new.name)
    .bind(&new.declared_type)
    .bind(new.length as i64)
    .bind(new.created_at.millis())
    .bind(new.expires_at.millis())
    .execute(&mut *c)
    .await?;
    by_id(c, &new.id)
        .await?
        .map(Created::New)
        .ok_or_else(|| StoreError::Internal("the new upload vanished".into()))
}

async fn add_blob(c: &mut PgConnection, blob: &BlobRef) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO blobs (key, size, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&blob.key)
    .bind(blob.size as i64)
    .bind(Timestamp::now().millis())
    .execute(c)
    .await?;
    Ok(())
}

async fn finish(c: &mut PgConnection, id: &str, f: Finished) -> StoreResult<AttachmentRecord> {
    advisory_lock_shared(c, BLOBS_LOCK).await?;
    let locked: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM attachments WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
    if locked.is_none() {
        return Err(StoreError::NotFound(format!("no upload {id}")));
    }
    let a = by_id(c, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no upload {id}")))?;
    if a.finished.is_some() {
        return Ok(a);
    }
    add_blob(c, &f.blob).await?;
    if let Some(t) = &f.thumbnail {
        add_blob(c, t).await?;
    }
    sqlx::query(
        "UPDATE attachments SET upload_offset = length, blob_key = $2, size = $3, content_type = $4,
                width = $5, height = $6, thumbnail_key = $7
         WHERE id = $1",
    )
    .bind(id)
    .bind(&f.blob.key)
    .bind(f.size as i64)
    .bind(&f.content_type)
    .bind(f.width.map(i64::from))
    .bind(f.height.map(i64::from))
    .bind(f.thumbnail.as_ref().map(|t| &t.key))
    .execute(&mut *c)
    .await?;
    by_id(c, id)
        .await?
        .ok_or_else(|| StoreError::Internal("the upload vanished".into()))
}

async fn delete_unused(
    c: &mut PgConnection,
    id: &str,
    uploader: &str,
) -> StoreResult<Option<AttachmentRecord>> {
    let Some(a) = by_id(c, id).await? else {
        return Ok(None);
    };
    if a.uploader != uploader || a.message_id.is_some() {
        return Ok(None);
    }
    // Only while still unused: a message binding it meanwhile wins.
    let gone = sqlx::query("DELETE FROM attachments WHERE id = $1 AND message_id IS NULL")
        .bind(id)
        .execute(c)
        .await?
        .rows_affected();
    Ok((gone > 0).then_some(a))
}

async fn readable(
    c: &mut PgConnection,
    id: &str,
    user: &str,
) -> StoreResult<Option<AttachmentRecord>> {
    let Some(a) = by_id(c, id).await? else {
        return Ok(None);
    };
    if a.finished.is_none() {
        return Ok(None);
    }
    let ok = match &a.message_id {
        None => a.uploader == user,
        Some(_) => conversations::is_participant(c, &a.conversation_id, user).await?,
    };
    Ok(ok.then_some(a))
}

async fn expire(c: &mut PgConnection, now: Timestamp) -> StoreResult<Vec<AttachmentRecord>> {
    // Locked, so a message binding one of them meanwhile either waits or wins (then the
    // row no longer matches and stays).
    let rows = sqlx::query(sql!(
        "SELECT {COLUMNS} FROM {FROM} WHERE a.expires_at IS NOT NULL AND a.expires_at <= $1
           AND a.message_id IS NULL FOR UPDATE OF a"
    ))
    .bind(now.millis())
    .fetch_all(&mut *c)
    .await?;
    let gone: Vec<AttachmentRecord> = rows.iter().map(from_row).collect::<StoreResult<_>>()?;
    let ids: Vec<&str> = gone.iter().map(|a| a.id.as_str()).collect();
    sqlx::query("DELETE FROM attachments WHERE id = ANY($1)")
        .bind(&ids)
        .execute(c)
        .await?;
    Ok(gone)
}

/// Checks and binds a new message's attachments (in its transaction): each a finished
/// upload of `sender` into `cid` that no message uses. Answers their views in order.
pub(super) async fn bind(
    c: &mut PgConnection,
    cid: &str,
    sender: &str,
    message_id: &str,
    ids: &[String],
) -> StoreResult<Vec<Attachment>> {
    let mut views = Vec::with_capacity(ids.len());
    for (position, id) in ids.iter().enumerate() {
        // The row's lock: a deletion of the upload (or its expiry) waits, or wins first.
        let _: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM attachments WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *c)
                .await?;
        let usable = by_id(c, id)
            .await?
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
        sqlx::query(
            "UPDATE attachments SET message_id = $2, position = $3, expires_at = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(message_id)
        .bind(position as i64)
        .execute(&mut *c)
        .await?;
        views.extend(a.view());
    }
    Ok(views)
}

/// Fills in each message's attachments, in their order.
pub(super) async fn fill(c: &mut PgConnection, items: &mut [Message]) -> StoreResult<()> {
    let ids: Vec<String> = items
        .iter()
        .filter(|m| !m.deleted && m.system.is_none())
        .map(|m| m.id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query(sql!(
        "SELECT {COLUMNS} FROM {FROM} WHERE a.message_id = ANY($1) ORDER BY a.position"
    ))
    .bind(&ids)
    .fetch_all(c)
    .await?;
    for r in &rows {
        let a = from_row(r)?;
        let Some(view) = a.view() else {
            continue;
        };
        if let Some(m) = items
            .iter_mut()
            .find(|m| Some(&m.id) == a.message_id.as_ref())
        {
            m.attachments.push(view);
        }
    }
    Ok(())
}

/// Deletes a message's attachments (its deletion's transaction).
pub(super) async fn drop_for_message(c: &mut PgConnection, message_id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM attachments WHERE message_id = $1")
        .bind(message_id)
        .execute(c)
        .await?;
    Ok(())
}

const UNREFERENCED: &str = "SELECT key FROM blobs b WHERE NOT EXISTS
       (SELECT 1 FROM attachments a WHERE a.blob_key = b.key OR a.thumbnail_key = b.key)";

#[async_trait]
impl AttachmentStore for PostgresStore {
    async fn create_upload(&self, new: NewUpload) -> StoreResult<Created> {
        write_tx!(self, |c| create(c, new))
    }

    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
        self.observe(async {
            let mut c = self.pool.acquire().await?;
            by_id(&mut c, id).await
        })
        .await
    }

    async fn set_upload_offset(&self, id: &str, offset: u64) -> StoreResult<()> {
        self.observe(async {
            sqlx::query(
                "UPDATE attachments SET upload_offset = GREATEST(upload_offset, LEAST($2, length))
                 WHERE id = $1 AND blob_key IS NULL",
            )
            .bind(id)
            .bind(offset as i64)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn finish_upload(&self, id: &str, finished: Finished) -> StoreResult<AttachmentRecord> {
        write_tx!(self, |c| finish(c, id, finished))
    }

    async fn delete_upload(
        &self,
        id: &str,
        uploader: &str,
    ) -> StoreResult<Option<AttachmentRecord>> {
        write_tx!(self, |c| delete_unused(c, id, uploader))
    }

    async fn readable_attachment(
        &self,
        id: &str,
        user: &str,
    ) -> StoreResult<Option<AttachmentRecord>> {
        super::read_tx!(self, |c| readable(c, id, user))
    }

    async fn expire_uploads(&self, now: Timestamp) -> StoreResult<Vec<AttachmentRecord>> {
        write_tx!(self, |c| expire(c, now))
    }

    async fn unfinished_uploads(&self) -> StoreResult<Vec<String>> {
        self.observe(async {
            Ok(
                sqlx::query_scalar("SELECT id FROM attachments WHERE blob_key IS NULL")
                    .fetch_all(&self.pool)
                    .await?,
            )
        })
        .await
    }

    async fn unreferenced_blobs(&self) -> StoreResult<Vec<String>> {
        self.observe(async {
            Ok(sqlx::query_scalar(UNREFERENCED)
                .fetch_all(&self.pool)
                .await?)
        })
        .await
    }

    async fn forget_blobs(&self, keys: Vec<String>) -> StoreResult<()> {
        write_tx!(self, |c| async move {
            advisory_lock(c, BLOBS_LOCK).await?;
            sqlx::query(sql!(
                "DELETE FROM blobs WHERE key = ANY($1) AND key IN ({UNREFERENCED})"
            ))
            .bind(&keys)
            .execute(&mut *c)
            .await?;
            Ok(())
        })
    }
}
