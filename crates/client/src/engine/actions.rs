//! What the user does besides sending messages: the directory, the profile, starting and
//! changing conversations, editing, deleting and reacting to messages. Each is one REST call
//! with the engine's access token (the same token cell the connection uses); the answer is
//! applied to the cache at once, so the caller sees its effect without waiting for the live
//! echo (which then changes nothing: same revision).
//!
//! Only sends queue while offline (the outbox). An action needs the server's answer (an
//! edit can be refused, a conversation gets its id there), so offline it fails at once with
//! [`ClientError::Unreachable`] saying so.

use super::catchup::CatchUp;
use super::{Command, Engine, EngineState};
use crate::cache::Departure;
use crate::error::{ClientError, ClientResult};
use crate::http::Api;
use std::future::Future;
use tidings_proto::api::{CreateConversation, EditMessage, ReactRequest, User, UserPage};
use tidings_proto::{ContentType, Conversation, Message};

/// The refusal of a send or an action in a conversation the user left.
pub(crate) fn left_conversation() -> ClientError {
    ClientError::Refused {
        status: 403,
        code: "forbidden".into(),
        message: "you are no longer in this conversation".into(),
    }
}

impl Engine {
    /// The REST side, ready for an action: a Tidings server, and not known to be offline.
    fn rest(&self) -> ClientResult<&CatchUp> {
        let sync = self.sync.as_ref().ok_or_else(|| {
            ClientError::Config(
                "this needs a Tidings server (a connection profile only receives)".into(),
            )
        })?;
        if *self.state.borrow() == EngineState::Offline {
            return Err(ClientError::Unreachable(
                sync.api.base().to_owned(),
                "offline (no network); only messages wait in the outbox, so try this again \
                 when connected"
                    .into(),
            ));
        }
        Ok(sync)
    }

    /// Runs a call with a valid access token; a token the server refuses (revoked
    /// meanwhile) is renewed once.
    async fn with_token<T, F, Fut>(&self, call: F) -> ClientResult<T>
    where
        F: Fn(Api, String) -> Fut,
        Fut: Future<Output = ClientResult<T>>,
    {
        let sync = self.rest()?;
        let token = sync.tokens.get().await?;
        match call(sync.api.clone(), token).await {
            Err(ClientError::Unauthorized(_)) => {
                sync.tokens.invalidate().await;
                let token = sync.tokens.get().await?;
                call(sync.api.clone(), token).await
            }
            other => other,
        }
    }

    /// Tells watchers that the cache changed, and the engine to fetch what a conversation
    /// now misses (its history after being added, the system entry of a change).
    fn applied(&self, cid: Option<&str>) {
        super::announce_change(&self.cache, &self.changed_tx);
        if let Some(cid) = cid {
            self.command(Command::Stale(cid.to_owned()));
        }
    }

    fn merge_conversation(&self, c: &Conversation) -> ClientResult<()> {
        let me = self.me.as_deref().unwrap_or_default();
        self.cache.upsert_conversation(c, me)?;
        self.applied(Some(&c.id));
        Ok(())
    }

    fn merge_message(&self, m: &Message) -> ClientResult<()> {
        self.cache.apply_message(m)?;
        self.applied(Some(&m.conversation_id));
        Ok(())
    }

    /// People whose id or a word of whose display name starts with `q` (everyone when
    /// empty), by id; `cursor` is the previous page's `nextCursor`.
    pub async fn search_users(
        &self,
        q: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> ClientResult<UserPage> {
        self.with_token(|api, t| {
            let cursor = cursor.clone();
            async move { api.users(&t, Some(q), limit, cursor.as_deref()).await }
        })
        .await
    }

    /// The signed-in user's own profile (`GET /api/users/me`).
    pub async fn me(&self) -> ClientResult<User> {
        self.with_token(|api, t| async move { api.me(&t).await })
            .await
    }

    /// Changes the signed-in user's display name (unique, 1-64 characters).
    pub async fn set_display_name(&self, name: &str) -> ClientResult<User> {
        let user = self
            .with_token(|api, t| async move { api.update_profile(&t, name).await })
            .await?;
        self.cache.set_display_name(&user.id, &user.display_name)?;
        self.applied(None);
        Ok(user)
    }

    /// Starts a conversation. A direct one that exists already comes back as it is.
    pub async fn create_conversation(&self, req: CreateConversation) -> ClientResult<Conversation> {
        let c = self
            .with_token(|api, t| {
                let req = req.clone();
                async move { api.create_conversation(&t, &req).await }
            })
            .await?;
        self.merge_conversation(&c)?;
        Ok(c)
    }

    /// Renames a group (its owner only).
    pub async fn rename_conversation(&self, cid: &str, title: &str) -> ClientResult<Conversation> {
        let c = self
            .with_token(|api, t| async move { api.rename_conversation(&t, cid, title).await })
            .await?;
        self.merge_conversation(&c)?;
        Ok(c)
    }

    /// Adds people to a group (its owner only).
    pub async fn add_participants(
        &self,
        cid: &str,
        users: Vec<String>,
    ) -> ClientResult<Conversation> {
        let c = self
            .with_token(|api, t| {
                let users = users.clone();
                async move { api.add_participants(&t, cid, &users).await }
            })
            .await?;
        self.merge_conversation(&c)?;
        Ok(c)
    }

    /// Removes someone from a group (its owner only); yourself: see
    /// [`Engine::leave_conversation`].
    pub async fn remove_participant(&self, cid: &str, user: &str) -> ClientResult<()> {
        if Some(user) == self.me.as_deref() {
            return self.leave_conversation(cid).await;
        }
        self.with_token(|api, t| async move { api.remove_participant(&t, cid, user).await })
            .await?;
        self.cache.remove_participant(cid, user)?;
        self.applied(Some(cid));
        Ok(())
    }

    /// Leaves a group: it stays in the cache, readable, marked left.
    pub async fn leave_conversation(&self, cid: &str) -> ClientResult<()> {
        let me = self.me.clone().unwrap_or_default();
        self.with_token(|api, t| {
            let me = me.clone();
            async move { api.remove_participant(&t, cid, &me).await }
        })
        .await?;
        self.cache.mark_left(cid, Departure::Left)?;
        self.applied(None);
        self.command(Command::Left(cid.to_owned()));
        Ok(())
    }

    /// Replaces the content of one's own message (and who it mentions).
    pub async fn edit_message(
        &self,
        cid: &str,
        mid: &str,
        content: &str,
        content_type: ContentType,
        mentions: Vec<String>,
    ) -> ClientResult<Message> {
        super::live::check_content(content)?;
        let body = EditMessage {
            content: content.to_owned(),
            content_type,
            mentions,
        };
        let m = self
            .with_token(|api, t| {
                let body = &body;
                async move { api.edit_message(&t, cid, mid, body).await }
            })
            .await?;
        self.merge_message(&m)?;
        Ok(m)
    }

    /// Deletes one's own message everywhere; answers its tombstone.
    pub async fn delete_message(&self, cid: &str, mid: &str) -> ClientResult<Message> {
        let m = self
            .with_token(|api, t| async move { api.delete_message(&t, cid, mid).await })
            .await?;
        self.merge_message(&m)?;
        Ok(m)
    }

    /// Puts the user's `emoji` reaction on a message (`on`), or takes it off.
    pub async fn react(
        &self,
        cid: &str,
        mid: &str,
        emoji: &str,
        on: bool,
    ) -> ClientResult<Message> {
        let body = ReactRequest {
            emoji: emoji.to_owned(),
            on,
        };
        let m = self
            .with_token(|api, t| {
                let body = &body;
                async move { api.react(&t, cid, mid, body).await }
            })
            .await?;
        self.merge_message(&m)?;
        Ok(m)
    }
}
