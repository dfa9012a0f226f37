//! Drafts: what is typed in a conversation's composer and not sent yet, with the message it
//! replies to, one per conversation. Saved as the user types, so a draft survives switching
//! conversations, closing the window, a restart and being offline; sending clears it. An
//! empty draft (no text, no reply) is no draft: saving one removes the row.

use super::{Cache, CacheResult};
use rusqlite::{params, OptionalExtension, Row};
use tidings_proto::Timestamp;

/// A conversation's unsent text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Draft {
    pub conversation_id: String,
    pub text: String,
    /// The id of the message it replies to.
    pub reply_to: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub updated_at: Timestamp,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Draft> {
    Ok(Draft {
        conversation_id: r.get(0)?,
        text: r.get(1)?,
        reply_to: r.get(2)?,
        updated_at: Timestamp(r.get(3)?),
    })
}

impl Cache {
    /// Keeps `text` (and what it replies to) as the draft of `cid`, replacing the one before;
    /// blank text with no reply removes the draft. Returns whether a draft is kept.
    pub fn save_draft(
        &self,
        cid: &str,
        text: &str,
        reply_to: Option<&str>,
        now: Timestamp,
    ) -> CacheResult<bool> {
        let conn = self.conn();
        if text.trim().is_empty() && reply_to.is_none() {
            conn.prepare_cached("DELETE FROM drafts WHERE conversation_id = ?1")?
                .execute([cid])?;
            return Ok(false);
        }
        conn.prepare_cached(
            "INSERT INTO drafts (conversation_id, text, reply_to, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (conversation_id) DO UPDATE
             SET text = excluded.text, reply_to = excluded.reply_to, updated_at = excluded.updated_at",
        )?
        .execute(params![cid, text, reply_to, now.millis()])?;
        Ok(true)
    }

    /// The draft of `cid`, if there is one.
    pub fn draft(&self, cid: &str) -> CacheResult<Option<Draft>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT conversation_id, text, reply_to, updated_at FROM drafts WHERE conversation_id = ?1",
            )?
            .query_row([cid], from_row)
            .optional()?)
    }

    /// Every draft, newest first (the conversation list marks their conversations).
    pub fn drafts(&self) -> CacheResult<Vec<Draft>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT conversation_id, text, reply_to, updated_at FROM drafts
             ORDER BY updated_at DESC, conversation_id",
        )?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes the draft of `cid` (it was sent). Returns whether there was one.
    pub fn clear_draft(&self, cid: &str) -> CacheResult<bool> {
        Ok(self
            .conn()
            .prepare_cached("DELETE FROM drafts WHERE conversation_id = ?1")?
            .execute([cid])?
            > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::cache::testing::temp_cache;
    use crate::cache::Cache;
    use tidings_proto::Timestamp;

    #[test]
    fn a_draft_is_kept_per_conversation_and_replaced_as_the_user_types() {
        let t = temp_cache("drafts");
        let c = &t.cache;
        assert!(c.save_draft("a", "Hel", None, Timestamp(1)).unwrap());
        assert!(c
            .save_draft("a", "Hello Team", Some("m7"), Timestamp(2))
            .unwrap());
        assert!(c.save_draft("b", "for Bob", None, Timestamp(3)).unwrap());
        let a = c.draft("a").unwrap().unwrap();
        assert_eq!(
            (a.text.as_str(), a.reply_to.as_deref(), a.updated_at),
            ("Hello Team", Some("m7"), Timestamp(2))
        );
        assert_eq!(c.draft("b").unwrap().unwrap().text, "for Bob");
        let all: Vec<_> = c
            .drafts()
            .unwrap()
            .into_iter()
            .map(|d| d.conversation_id)
            .collect();
        assert_eq!(all, ["b", "a"]);
        assert!(c.draft("nowhere").unwrap().is_none());
    }

    #[test]
    fn an_empty_draft_is_none_and_sending_clears_it() {
        let t = temp_cache("drafts-empty");
        let c = &t.cache;
        c.save_draft("a", "text", None, Timestamp(1)).unwrap();
        assert!(!c.save_draft("a", "  \n", None, Timestamp(2)).unwrap());
        assert!(c.draft("a").unwrap().is_none());
        // Only a reply picked, no text yet: still a draft.
        assert!(c.save_draft("a", "", Some("m1"), Timestamp(3)).unwrap());
        assert_eq!(
            c.draft("a").unwrap().unwrap().reply_to.as_deref(),
            Some("m1")
        );
        assert!(c.clear_draft("a").unwrap());
        assert!(!c.clear_draft("a").unwrap());
        assert!(c.drafts().unwrap().is_empty());
    }

    #[test]
    fn drafts_survive_closing_and_opening_the_cache() {
        let t = temp_cache("drafts-reopen");
        t.cache
            .save_draft("a", "half a thought", None, Timestamp(5))
            .unwrap();
        let again = Cache::open(&t.dir.join("cache.db")).unwrap();
        assert_eq!(again.draft("a").unwrap().unwrap().text, "half a thought");
    }
}
