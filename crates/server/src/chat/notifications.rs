//! The user's notifications: raising them (services, membership changes), listing and
//! paging them, and marking them read, one or all, with the news of it on the user's
//! notification queue so that every session converges.

use super::{validate, Chat, ChatError, ChatResult};
use crate::store::{NewNotification, Range};
use tidings_proto::api::{CreateNotification, NotificationPage, NotificationQuery, ReadAllRequest};
use tidings_proto::{dest, Envelope, Event, Notification, NotificationsRead};

impl Chat {
    pub async fn notify(&self, req: CreateNotification) -> ChatResult<Vec<Notification>> {
        let new = validate::notification(req)?;
        self.deliver_notifications(new).await
    }

    pub(super) async fn deliver_notifications(
        &self,
        new: NewNotification,
    ) -> ChatResult<Vec<Notification>> {
        let created = self.store.create_notifications(new).await?;
        for n in &created {
            let env = Envelope::at(Event::Notification(n.clone()), n.created_at, None);
            self.publish(
                [dest::for_user(&n.user_id, dest::USER_NOTIFICATIONS)],
                &env,
                false,
            );
            self.feed.publish(n);
            self.broker.bus().notification(n);
        }
        Ok(created)
    }

    pub async fn notifications(
        &self,
        user: &str,
        q: NotificationQuery,
    ) -> ChatResult<NotificationPage> {
        let limit = validate::page_limit(q.limit)?;
        let range = match (q.before, q.after) {
            (Some(_), Some(_)) => {
                return Err(ChatError::Invalid(
                    "give either before or after, not both".into(),
                ))
            }
            (Some(b), None) if b < 1 => {
                return Err(ChatError::Invalid("before must be 1 or more".into()))
            }
            (None, Some(a)) if a < 0 => {
                return Err(ChatError::Invalid("after must be 0 or more".into()))
            }
            (Some(b), None) => Range::Before(b, limit),
            (None, Some(a)) => Range::After(a, limit),
            (None, None) => Range::Newest(limit),
        };
        let unread_only = q.unread.unwrap_or(false);
        let (page, unread) = self.store.notifications(user, range, unread_only).await?;
        Ok(NotificationPage {
            notifications: page.items,
            has_more: page.has_more,
            last_seq: page.last_seq,
            unread_count: unread,
        })
    }

    /// Marks one notification read and, if it was unread, tells the user's sessions
    /// (`NOTIFICATIONS_READ` with its id) so that every device converges.
    pub async fn mark_notification_read(&self, user: &str, id: &str) -> ChatResult<Notification> {
        let (n, marked) = self.store.mark_notification_read(user, id).await?;
        if marked.changed > 0 {
            self.publish_read(
                user,
                NotificationsRead {
                    up_to: None,
                    ids: vec![n.id.clone()],
                    unread_count: marked.unread,
                },
            );
        }
        Ok(n)
    }

    /// Marks read every notification up to `up_to` (all when `None`) and, if that changed
    /// anything, tells the user's sessions (`NOTIFICATIONS_READ` with `upTo`).
    pub async fn mark_all_notifications_read(
        &self,
        user: &str,
        req: ReadAllRequest,
    ) -> ChatResult<NotificationsRead> {
        if req.up_to.is_some_and(|u| u < 0) {
            return Err(ChatError::Invalid("upTo must be 0 or more".into()));
        }
        let (up_to, marked) = self.store.mark_notifications_read(user, req.up_to).await?;
        let read = NotificationsRead {
            up_to: Some(up_to),
            ids: Vec::new(),
            unread_count: marked.unread,
        };
        if marked.changed > 0 {
            self.publish_read(user, read.clone());
        }
        Ok(read)
    }

    fn publish_read(&self, user: &str, read: NotificationsRead) {
        let env = Envelope::new(Event::NotificationsRead(read), Some(user));
        self.publish(
            [dest::for_user(user, dest::USER_NOTIFICATIONS)],
            &env,
            false,
        );
    }
}
