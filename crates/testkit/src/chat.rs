//! The chat calls tests make again and again, as one user over REST: a direct conversation,
//! editing, deleting and reacting to a message, renaming a group, adding and removing
//! people, reading the change log. Each answers (status, body) as the server gave it, so a
//! test checks refusals with the same calls; [`expect_ok`] insists on success.

use crate::{Api, TestUser};
use serde_json::{json, Value};

/// The body of an answer that must be a success (any 2xx).
pub fn expect_ok((status, body): (u16, Value)) -> Value {
    assert!((200..300).contains(&status), "refused: {status} {body}");
    body
}

/// The `id` of an answer (a message, a conversation).
pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// The ids of a conversation's participants (as the server describes it), sorted.
pub fn participant_ids(conversation: &Value) -> Vec<String> {
    let mut ids: Vec<String> = conversation["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

impl Api {
    /// A call as `who`; the answer as it is, refusals included.
    pub async fn call_as(
        &self,
        method: &str,
        path: &str,
        who: &TestUser,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call(method, path, Some(&who.token), body).await
    }

    /// The direct conversation of `who` and `other` (created, or the one they have); its id.
    pub async fn direct(&self, who: &TestUser, other: &str) -> String {
        let (status, body) = self
            .post(
                "/api/conversations",
                &who.token,
                json!({"kind": "direct", "participants": [other]}),
            )
            .await;
        assert!(status == 201 || status == 200, "{status} {body}");
        id_of(&body)
    }

    /// `PATCH` a message with `body` (an EditMessage).
    pub async fn edit(&self, who: &TestUser, cid: &str, mid: &str, body: Value) -> (u16, Value) {
        let path = format!("/api/conversations/{cid}/messages/{mid}");
        self.call_as("PATCH", &path, who, Some(body)).await
    }

    /// `DELETE` a message.
    pub async fn delete_message(&self, who: &TestUser, cid: &str, mid: &str) -> (u16, Value) {
        let path = format!("/api/conversations/{cid}/messages/{mid}");
        self.call_as("DELETE", &path, who, None).await
    }

    /// Puts `emoji` on a message (`on`) or takes it off.
    pub async fn react(
        &self,
        who: &TestUser,
        cid: &str,
        mid: &str,
        emoji: &str,
        on: bool,
    ) -> (u16, Value) {
        let path = format!("/api/conversations/{cid}/messages/{mid}/reactions");
        let body = json!({"emoji": emoji, "on": on});
        self.call_as("POST", &path, who, Some(body)).await
    }

    /// Renames a group.
    pub async fn rename(&self, who: &TestUser, cid: &str, title: &str) -> (u16, Value) {
        let path = format!("/api/conversations/{cid}");
        let body = json!({ "title": title });
        self.call_as("PATCH", &path, who, Some(body)).await
    }

    /// Adds `users` to a group.
    pub async fn add_people(&self, who: &TestUser, cid: &str, users: &[&str]) -> (u16, Value) {
        let path = format!("/api/conversations/{cid}/participants");
        let body = json!({ "users": users });
        self.call_as("POST", &path, who, Some(body)).await
    }

    /// Removes `user` from a group (`user` = `who`: leaves it).
    pub async fn remove_person(&self, who: &TestUser, cid: &str, user: &str) -> (u16, Value) {
        let path = format!("/api/conversations/{cid}/participants/{user}");
        self.call_as("DELETE", &path, who, None).await
    }

    /// The change log after `query` (e.g. `after=0&limit=1`; empty: from the start).
    pub async fn changes(&self, who: &TestUser, cid: &str, query: &str) -> (u16, Value) {
        let path = match query {
            "" => format!("/api/conversations/{cid}/changes"),
            q => format!("/api/conversations/{cid}/changes?{q}"),
        };
        self.call_as("GET", &path, who, None).await
    }
}
