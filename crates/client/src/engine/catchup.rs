//! Catch-up over REST: the conversation list, every missing range of every conversation
//! (by `seq`, in pages), missed notifications (by their per-user `seq`), and read markers
//! written here while offline. Everything merges idempotently into the cache, so it can
//! run beside live delivery and be repeated after any failure.

use super::auth::Tokens;
use crate::cache::Cache;
use crate::error::ClientResult;
use crate::http::Api;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Messages or notifications fetched per request.
const PAGE: u32 = 500;

/// Progress of a catch-up: done of total (messages and notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct CatchUp {
    pub api: Api,
    pub tokens: Arc<Tokens>,
    pub cache: Arc<Cache>,
    pub me: String,
}

impl CatchUp {
    /// Everything: conversations, their gaps, notifications, unsent read markers.
    pub(crate) async fn full(&self, progress: &mpsc::Sender<Progress>) -> ClientResult<()> {
        self.refresh_conversations().await?;
        let token = self.tokens.get().await?;
        let cursor = self.cache.notification_cursor()?;
        let first = self.api.notifications_after(&token, cursor, PAGE).await?;
        let gaps = self.cache.gaps()?;
        let total = gaps
            .iter()
            .map(|(_, synced, last)| (last - synced).max(0) as u64)
            .sum::<u64>()
            + (first.last_seq - cursor).max(0) as u64;
        let mut done = 0u64;
        let _ = progress.send(Progress { done, total }).await;
        for (cid, _, _) in gaps {
            done += self.fill(&cid, Some((progress, done, total))).await?;
        }
        self.cache.insert_notifications(&first.notifications)?;
        done += first.notifications.len() as u64;
        let _ = progress.send(Progress { done, total }).await;
        if first.has_more {
            self.fill_notifications(Some((progress, done, total)))
                .await?;
        }
        self.push_reads().await
    }

    /// The conversation list, merged into the cache.
    pub(crate) async fn refresh_conversations(&self) -> ClientResult<()> {
        let token = self.tokens.get().await?;
        for c in self.api.conversations(&token).await? {
            self.cache.upsert_conversation(&c, &self.me)?;
        }
        Ok(())
    }

    /// Fetches what a conversation misses after its contiguous prefix. Returns how many
    /// messages came.
    pub(crate) async fn fill(
        &self,
        cid: &str,
        progress: Option<(&mpsc::Sender<Progress>, u64, u64)>,
    ) -> ClientResult<u64> {
        let mut fetched = 0u64;
        loop {
            let Some(conv) = self.cache.conversation(cid)? else {
                return Ok(fetched);
            };
            if conv.synced_seq >= conv.last_seq && fetched > 0 {
                return Ok(fetched);
            }
            let token = self.tokens.get().await?;
            let page = self
                .api
                .history_after(&token, cid, conv.synced_seq, PAGE)
                .await?;
            self.cache.note_last_seq(cid, page.last_seq)?;
            self.cache.insert_messages(&page.messages, &self.me)?;
            fetched += page.messages.len() as u64;
            if let Some((tx, base, total)) = progress {
                let _ = tx
                    .send(Progress {
                        done: (base + fetched).min(total.max(base + fetched)),
                        total: total.max(base + fetched),
                    })
                    .await;
            }
            let advanced = self
                .cache
                .conversation(cid)?
                .is_some_and(|c| c.synced_seq > conv.synced_seq);
            if !page.has_more || !advanced {
                return Ok(fetched);
            }
        }
    }

    /// Fetches notifications after the cache's contiguous cursor.
    pub(crate) async fn fill_notifications(
        &self,
        progress: Option<(&mpsc::Sender<Progress>, u64, u64)>,
    ) -> ClientResult<u64> {
        let mut fetched = 0u64;
        loop {
            let cursor = self.cache.notification_cursor()?;
            let token = self.tokens.get().await?;
            let page = self.api.notifications_after(&token, cursor, PAGE).await?;
            self.cache.insert_notifications(&page.notifications)?;
            fetched += page.notifications.len() as u64;
            if let Some((tx, base, total)) = progress {
                let _ = tx
                    .send(Progress {
                        done: base + fetched,
                        total: total.max(base + fetched),
                    })
                    .await;
            }
            if !page.has_more || self.cache.notification_cursor()? <= cursor {
                return Ok(fetched);
            }
        }
    }

    /// Read markers moved here while offline, told to the server.
    pub(crate) async fn push_reads(&self) -> ClientResult<()> {
        for (cid, seq) in self.cache.unsynced_reads()? {
            let token = self.tokens.get().await?;
            let state = self.api.read(&token, &cid, seq).await?;
            self.cache
                .apply_read_receipt(&cid, &self.me, state.read_seq, &self.me)?;
        }
        Ok(())
    }
}
