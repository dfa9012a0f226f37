//! The user directory (finding people to talk to) and changing one's own profile.
//!
//! The directory's cursor is opaque to clients: the last id served, base64url-encoded.

use super::{validate, Chat, ChatError, ChatResult};
use base64::Engine;
use tidings_proto::api::{UpdateProfile, User, UserPage, UserQuery};
use tidings_proto::{dest, Envelope, Event};

const DEFAULT_USERS: u32 = 20;
const MAX_USERS: u32 = 100;
const MAX_QUERY: usize = 64;

fn encode_cursor(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

fn decode_cursor(s: &str) -> ChatResult<String> {
    let bad = || {
        ChatError::Invalid(
            "cursor is not one this server gave out: pass nextCursor from the previous page".into(),
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| bad())?;
    let id = String::from_utf8(bytes).map_err(|_| bad())?;
    validate::username(&id).map_err(|_| bad())?;
    Ok(id)
}

impl Chat {
    /// A page of the directory (any signed-in user).
    pub async fn users(&self, q: UserQuery) -> ChatResult<UserPage> {
        let limit = match q.limit {
            None => DEFAULT_USERS,
            Some(l) if (1..=MAX_USERS).contains(&l) => l,
            Some(l) => {
                return Err(ChatError::Invalid(format!(
                    "limit {l} is out of range 1-{MAX_USERS}"
                )))
            }
        };
        let query = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if let Some(text) = query {
            if text.chars().count() > MAX_QUERY {
                return Err(ChatError::Invalid(format!(
                    "q is longer than {MAX_QUERY} characters"
                )));
            }
            if text.chars().any(char::is_control) {
                return Err(ChatError::Invalid("q contains control characters".into()));
            }
        }
        let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
        let (records, more) = self.store.directory(query, after.as_deref(), limit).await?;
        let next_cursor = if more {
            records.last().map(|u| encode_cursor(&u.name))
        } else {
            None
        };
        Ok(UserPage {
            users: records.iter().map(|u| self.user_view(u)).collect(),
            has_more: more,
            next_cursor,
        })
    }

    /// Changes the user's display name; `USER_UPDATED` on `/topic/presence`.
    pub async fn update_profile(&self, user: &str, req: UpdateProfile) -> ChatResult<User> {
        let name = validate::display_name(&req.display_name)?;
        let record = self.store.set_display_name(user, &name).await?;
        let view = self.user_view(&record);
        let env = Envelope::new(Event::UserUpdated(view.clone()), Some(user));
        self.publish([dest::PRESENCE.to_owned()], &env, false);
        Ok(view)
    }
}
