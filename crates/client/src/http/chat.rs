//! The REST calls of chatting beyond sending: the user directory and one's profile,
//! renaming a group and changing who is in it, editing, deleting and reacting to messages,
//! and a conversation's change log (what changed after a revision).

use super::{encode, Api};
use crate::error::ClientResult;
use reqwest::Method;
use tidings_proto::api::{
    AddParticipants, ChangePage, EditMessage, ReactRequest, UpdateConversation, UpdateProfile,
    User, UserPage,
};
use tidings_proto::{Conversation, Message};

fn message_path(cid: &str, mid: &str) -> String {
    format!(
        "/api/conversations/{}/messages/{}",
        encode(cid),
        encode(mid)
    )
}

impl Api {
    /// People whose id or display name starts with `q` (every user without it), by id.
    pub async fn users(
        &self,
        token: &str,
        q: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> ClientResult<UserPage> {
        let mut path = format!("/api/users?limit={limit}");
        if let Some(q) = q.filter(|q| !q.is_empty()) {
            path.push_str("&q=");
            path.push_str(&encode(q));
        }
        if let Some(c) = cursor {
            path.push_str("&cursor=");
            path.push_str(&encode(c));
        }
        self.call::<(), _>(Method::GET, &path, Some(token), None)
            .await
    }

    pub async fn user(&self, token: &str, id: &str) -> ClientResult<User> {
        let path = format!("/api/users/{}", encode(id));
        self.call::<(), _>(Method::GET, &path, Some(token), None)
            .await
    }

    pub async fn update_profile(&self, token: &str, display_name: &str) -> ClientResult<User> {
        let body = UpdateProfile {
            display_name: display_name.to_owned(),
        };
        self.call(Method::PATCH, "/api/users/me", Some(token), Some(&body))
            .await
    }

    pub async fn rename_conversation(
        &self,
        token: &str,
        cid: &str,
        title: &str,
    ) -> ClientResult<Conversation> {
        let path = format!("/api/conversations/{}", encode(cid));
        let body = UpdateConversation {
            title: title.to_owned(),
        };
        self.call(Method::PATCH, &path, Some(token), Some(&body))
            .await
    }

    pub async fn add_participants(
        &self,
        token: &str,
        cid: &str,
        users: &[String],
    ) -> ClientResult<Conversation> {
        let path = format!("/api/conversations/{}/participants", encode(cid));
        let body = AddParticipants {
            users: users.to_vec(),
        };
        self.call(Method::POST, &path, Some(token), Some(&body))
            .await
    }

    /// Removes `user` from a group (its owner), or leaves it (`user` is oneself).
    pub async fn remove_participant(&self, token: &str, cid: &str, user: &str) -> ClientResult<()> {
        let path = format!(
            "/api/conversations/{}/participants/{}",
            encode(cid),
            encode(user)
        );
        let _: serde_json::Value = self
            .call::<(), _>(Method::DELETE, &path, Some(token), None)
            .await?;
        Ok(())
    }

    pub async fn edit_message(
        &self,
        token: &str,
        cid: &str,
        mid: &str,
        body: &EditMessage,
    ) -> ClientResult<Message> {
        self.call(
            Method::PATCH,
            &message_path(cid, mid),
            Some(token),
            Some(body),
        )
        .await
    }

    /// Deletes one's own message; answers its tombstone.
    pub async fn delete_message(&self, token: &str, cid: &str, mid: &str) -> ClientResult<Message> {
        self.call::<(), _>(Method::DELETE, &message_path(cid, mid), Some(token), None)
            .await
    }

    pub async fn react(
        &self,
        token: &str,
        cid: &str,
        mid: &str,
        body: &ReactRequest,
    ) -> ClientResult<Message> {
        let path = format!("{}/reactions", message_path(cid, mid));
        self.call(Method::POST, &path, Some(token), Some(body))
            .await
    }

    /// What changed in a conversation after revision `after`, in ascending `rev`.
    pub async fn changes(
        &self,
        token: &str,
        cid: &str,
        after: i64,
        limit: u32,
    ) -> ClientResult<ChangePage> {
        let path = format!(
            "/api/conversations/{}/changes?after={after}&limit={limit}",
            encode(cid)
        );
        self.call::<(), _>(Method::GET, &path, Some(token), None)
            .await
    }
}
