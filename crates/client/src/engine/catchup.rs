//! Catch-up over REST: the conversation list (conversations it no longer has are marked
//! left), the change log of every conversation whose revision is above the one held
//! (edits, deletions, reactions, membership, new messages: in pages, by revision), every
//! range still missing (by `seq`: servers that keep no revisions), missed notifications (by
//! their per-user `seq`), and read markers written here while offline. Everything merges
//! idempotently into the cache (newer revisions win), so it can run beside live delivery
//! and be repeated after any failure.

use super::auth::Tokens;
use crate::cache::Cache;
use crate::error::{ClientError, ClientResult};
use crate::http::Api;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The server no longer lets the user read a conversation: removed (or it is gone).
fn shut_out(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Refused {
            status: 403 | 404,
            ..
        }
    )
}

/// Messages or notifications fetched per request.
const PAGE: u32 = 500;

/// Progress of a catch-up: done of total (messages and notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Where a step reports its progress: the channel, what was done before it, and the total
/// expected (`None`: nobody is watching).
type Reporter<'a> = Option<(&'a mpsc::Sender<Progress>, u64, u64)>;

/// A step fetched `fetched` so far: done is what came before it plus that (the total grows
/// if the estimate was short).
async fn report(progress: Reporter<'_>, fetched: u64) {
    if let Some((tx, base, total)) = progress {
        let done = base + fetched;
        let _ = tx
            .send(Progress {
                done,
                total: total.max(done),
            })
            .await;
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CatchUp {
    pub api: Api,
    pub tokens: Arc<Tokens>,
    pub cache: Arc<Cache>,
    pub me: String,
}

impl CatchUp {
    /// Everything: conversations, their changes and gaps, notifications (and what was read
    /// of them here and elsewhere), unsent read markers.
    pub(crate) async fn full(&self, progress: &mpsc::Sender<Progress>) -> ClientResult<()> {
        self.refresh_conversations().await?;
        let token = self.tokens.get().await?;
        let cursor = self.cache.notification_cursor()?;
        let first = self.api.notifications_after(&token, cursor, PAGE).await?;
        let rev_gaps = self.cache.rev_gaps()?;
        let by_rev: HashSet<&str> = rev_gaps.iter().map(|(c, _, _)| c.as_str()).collect();
        let gaps = self.cache.gaps()?;
        let total = rev_gaps
            .iter()
            .map(|(_, held, known)| (known - held).max(0) as u64)
            .sum::<u64>()
            + gaps
                .iter()
                .filter(|(c, _, _)| !by_rev.contains(c.as_str()))
                .map(|(_, synced, last)| (last - synced).max(0) as u64)
                .sum::<u64>()
            + (first.last_seq - cursor).max(0) as u64;
        let mut done = 0u64;
        let _ = progress.send(Progress { done, total }).await;
        for (cid, _, _) in &rev_gaps {
            done += self.changes(cid, Some((progress, done, total))).await?;
        }
        // What the change logs did not bring (servers without revisions: everything).
        for (cid, _, _) in self.cache.gaps()? {
            done += self.fill(&cid, Some((progress, done, total))).await?;
        }
        self.cache.insert_notifications(&first.notifications)?;
        done += first.notifications.len() as u64;
        let _ = progress.send(Progress { done, total }).await;
        if first.has_more {
            self.fill_notifications(Some((progress, done, total)))
                .await?;
        }
        self.push_notification_reads().await?;
        self.reconcile_notification_reads().await?;
        self.push_reads().await
    }

    /// The conversation list, merged into the cache; the cached conversations it does not
    /// have (and that were cached before it was asked for) are marked left, unless live
    /// news of their membership arrived while it was on its way.
    pub(crate) async fn refresh_conversations(&self) -> ClientResult<()> {
        let asked = self.cache.memberships()?;
        let token = self.tokens.get().await?;
        let list = self.api.conversations(&token).await?;
        for cid in self.cache.apply_listing(&asked, &list, &self.me)? {
            tracing::info!(%cid, "no longer in a conversation: kept, marked left");
        }
        Ok(())
    }

    /// Applies a conversation's change log after the held revision, page by page, until
    /// the server has nothing more. Returns how many entries came.
    pub(crate) async fn changes(&self, cid: &str, progress: Reporter<'_>) -> ClientResult<u64> {
        let mut fetched = 0u64;
        while self.cache.behind(cid)? {
            let held = self.cache.held_rev(cid)?;
            let asked = self.cache.membership(cid)?;
            let token = self.tokens.get().await?;
            let page = match self.api.changes(&token, cid, held, PAGE).await {
                Ok(p) => p,
                Err(e) if shut_out(&e) => {
                    self.cache.mark_left_as_of(cid, asked)?;
                    return Ok(fetched);
                }
                Err(e) => return Err(e),
            };
            self.cache
                .upsert_conversation_as_of(&page.conversation, &self.me, asked)?;
            self.cache.insert_messages(&page.messages, &self.me)?;
            self.cache.hold_rev(cid, page.rev)?;
            fetched += page.messages.len() as u64;
            report(progress, fetched).await;
            if !page.has_more || page.rev <= held {
                break;
            }
        }
        Ok(fetched)
    }

    /// Fetches what a conversation misses after its contiguous prefix. Returns how many
    /// messages came.
    pub(crate) async fn fill(&self, cid: &str, progress: Reporter<'_>) -> ClientResult<u64> {
        let mut fetched = 0u64;
        loop {
            let Some(conv) = self.cache.conversation(cid)? else {
                return Ok(fetched);
            };
            if conv.synced_seq >= conv.last_seq && fetched > 0 {
                return Ok(fetched);
            }
            if conv.left {
                return Ok(fetched);
            }
            let asked = self.cache.membership(cid)?;
            let token = self.tokens.get().await?;
            let page = match self
                .api
                .history_after(&token, cid, conv.synced_seq, PAGE)
                .await
            {
                Ok(p) => p,
                Err(e) if shut_out(&e) => {
                    self.cache.mark_left_as_of(cid, asked)?;
                    return Ok(fetched);
                }
                Err(e) => return Err(e),
            };
            self.cache.note_last_seq(cid, page.last_seq)?;
            self.cache.insert_messages(&page.messages, &self.me)?;
            fetched += page.messages.len() as u64;
            report(progress, fetched).await;
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
    pub(crate) async fn fill_notifications(&self, progress: Reporter<'_>) -> ClientResult<u64> {
        let mut fetched = 0u64;
        loop {
            let cursor = self.cache.notification_cursor()?;
            let token = self.tokens.get().await?;
            let page = self.api.notifications_after(&token, cursor, PAGE).await?;
            self.cache.insert_notifications(&page.notifications)?;
            fetched += page.notifications.len() as u64;
            report(progress, fetched).await;
            if !page.has_more || self.cache.notification_cursor()? <= cursor {
                return Ok(fetched);
            }
        }
    }

    /// Read markers moved here while offline, told to the server.
    pub(crate) async fn push_reads(&self) -> ClientResult<()> {
        for (cid, seq) in self.cache.unsynced_reads()? {
            let token = self.tokens.get().await?;
            let read_seq = match self.api.read(&token, &cid, seq).await {
                Ok(state) => state.read_seq,
                // Refused for good (no longer in it): asking again would be refused again.
                Err(e) if shut_out(&e) => seq,
                Err(e) => return Err(e),
            };
            self.cache
                .apply_read_receipt(&cid, &self.me, read_seq, &self.me)?;
        }
        Ok(())
    }
}
