//! The notification centre's engine side: marking one or all read (here at once, on the
//! server when it can be reached), telling the server what was read offline, converging
//! with what other devices read meanwhile, and paging back to notifications older than the
//! cache holds.
//!
//! Convergence: a read is kept in the cache as "not yet told" until the server has it
//! ([`Cache::unsynced_notification_reads`]); live `NOTIFICATIONS_READ` news from other
//! sessions applies at once; at every (re)connect, after the reads made here are pushed,
//! the server's unread count is compared with the cache's and, when they differ, its list
//! of unread notifications marks the others read here.

use super::catchup::CatchUp;
use super::{Command, Engine};
use crate::error::ClientResult;
use std::collections::HashSet;
use tidings_proto::Notification;

/// Unread notifications asked for per page when reconciling.
const UNREAD_PAGE: u32 = 500;

impl CatchUp {
    /// Tells the server the reads made here that it has not heard of: one read-all when
    /// they cover everything up to a `seq`, else one by one. A notification the server no
    /// longer knows (404) is settled here.
    pub(crate) async fn push_notification_reads(&self) -> ClientResult<()> {
        let pending = self.cache.unsynced_notification_reads()?;
        if let Some(up_to) = pending.up_to {
            let token = self.tokens.get().await?;
            let read = self.api.mark_all_notifications_read(&token, up_to).await?;
            self.cache.apply_notifications_read(&read)?;
        }
        for id in pending.ids {
            let token = self.tokens.get().await?;
            match self.api.mark_notification_read(&token, &id).await {
                Ok(()) => {}
                Err(crate::ClientError::Refused { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
            let settled = tidings_proto::NotificationsRead {
                ids: vec![id],
                ..Default::default()
            };
            self.cache.apply_notifications_read(&settled)?;
        }
        Ok(())
    }

    /// Marks read here what was read on other devices while this one was away: when the
    /// server's unread count differs from the cache's, its unread list decides.
    pub(crate) async fn reconcile_notification_reads(&self) -> ClientResult<()> {
        let token = self.tokens.get().await?;
        let head = self.api.notifications(&token, "limit=1").await?;
        let up_to = head.last_seq;
        if self.cache.unread_notifications_up_to(up_to)? == head.unread_count
            && self.cache.notification_cursor()? >= up_to
        {
            return Ok(());
        }
        let mut unread = HashSet::new();
        let mut after = 0;
        loop {
            let token = self.tokens.get().await?;
            let query = format!("unread=true&after={after}&limit={UNREAD_PAGE}");
            let page = self.api.notifications(&token, &query).await?;
            for n in &page.notifications {
                unread.insert(n.id.clone());
                after = after.max(n.seq);
            }
            if !page.has_more || page.notifications.is_empty() || after >= up_to {
                break;
            }
        }
        self.cache.keep_unread_only(&unread, up_to)?;
        Ok(())
    }

    /// Fetches up to `limit` notifications older than the oldest cached one, into the
    /// cache; answers how many came.
    pub(crate) async fn older_notifications(&self, limit: u32) -> ClientResult<usize> {
        let oldest = self.cache.oldest_notification_seq()?;
        if oldest <= 1 {
            return Ok(0);
        }
        let token = self.tokens.get().await?;
        let query = format!("before={oldest}&limit={}", limit.clamp(1, 500));
        let page = self.api.notifications(&token, &query).await?;
        self.cache.insert_notifications(&page.notifications)?;
        Ok(page.notifications.len())
    }
}

impl Engine {
    /// Marks every cached notification read here at once and, when live, on the server in
    /// one request (up to the newest one cached: one that arrives meanwhile stays unread).
    /// Answers the unread count after.
    pub fn mark_all_notifications_read(&self) -> ClientResult<i64> {
        if self.cache.mark_all_notifications_read()? > 0 {
            super::announce_change(&self.cache, &self.changed_tx);
            self.command(Command::PushNotificationReads);
        }
        Ok(self.cache.unread_notifications()?)
    }

    /// Marks every notification read and waits until the server has it (a command-line
    /// client that exits next); answers the unread count after.
    pub async fn read_all_notifications_now(&self) -> ClientResult<i64> {
        self.cache.mark_all_notifications_read()?;
        super::announce_change(&self.cache, &self.changed_tx);
        if let Some(sync) = self.sync.as_ref() {
            sync.push_notification_reads().await?;
        }
        Ok(self.cache.unread_notifications()?)
    }

    /// A page of the notification list, newest first: the `limit` just older than the one
    /// with id `before` (the newest without). When the cache has fewer and the server has
    /// older ones, they are fetched first (when it can be reached; offline, the cache's).
    pub async fn notifications_page(
        &self,
        before: Option<&str>,
        limit: u32,
    ) -> ClientResult<Vec<Notification>> {
        let me = self.me.clone().unwrap_or_default();
        let page = self.cache.notifications_before(&me, before, limit)?;
        if page.len() as u32 >= limit || self.cache.oldest_notification_seq()? <= 1 {
            return Ok(page);
        }
        let Some(sync) = self.sync.as_ref() else {
            return Ok(page);
        };
        match sync.older_notifications(limit).await {
            Ok(0) => Ok(page),
            Ok(_) => {
                super::announce_change(&self.cache, &self.changed_tx);
                Ok(self.cache.notifications_before(&me, before, limit)?)
            }
            Err(e) => {
                tracing::info!(error = %e, "could not fetch older notifications; showing the cache's");
                Ok(page)
            }
        }
    }
}
