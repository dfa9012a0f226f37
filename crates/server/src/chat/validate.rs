//! Checks on what clients send, with the sentence each refusal gives.
//!
//! Text a person reads must show what it is: message content needs at least one visible
//! character and may not hold bidirectional embeddings or overrides (U+202A–U+202E), which
//! reorder what follows them. Isolates (U+2066–U+2069) stay allowed in messages
//! *(choice)*: they are how right-to-left text is meant to be embedded, and their effect
//! ends with the text. Display names are stricter: no control, format (Cf, which holds
//! the zero-width and bidirectional characters) or line-separator characters, nor blank
//! look-alikes; they are trimmed, and unique under [`crate::store::display_key`].

use super::{ChatError, ChatResult, DEFAULT_PAGE, MAX_PAGE};
use crate::store::NewNotification;
use tidings_proto::api::{CreateConversation, CreateNotification, SendMessage};
use tidings_proto::{ConversationKind, Timestamp, MAX_CLIENT_ID, MAX_CONTENT_CHARS};
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

pub const MAX_TITLE: usize = 200;
pub const MAX_CONVERSATION_TITLE: usize = 100;
/// Participants added in one request, and users notified in one request.
pub const MAX_PARTICIPANTS: usize = 1000;
pub const MAX_DATA_BYTES: usize = 16 * 1024;
pub const MAX_URL: usize = 2048;
pub const MAX_DISPLAY_NAME: usize = 64;
/// Users one message may mention.
pub const MAX_MENTIONS: usize = 100;

fn invalid(m: impl Into<String>) -> ChatError {
    ChatError::Invalid(m.into())
}

/// A user name: 1-32 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn username(name: &str) -> ChatResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid username {name:?}: use 1-32 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
        )))
    }
}

/// Non-blank text of at most `max` characters, without control characters other than
/// newlines and tabs.
pub fn text(field: &str, value: &str, max: usize) -> ChatResult<()> {
    if value.trim().is_empty() {
        return Err(invalid(format!("{field} must not be empty")));
    }
    let n = value.chars().count();
    if n > max {
        return Err(invalid(format!(
            "{field} is {n} characters long; the limit is {max}"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(invalid(format!("{field} contains control characters")));
    }
    Ok(())
}

/// Characters that draw nothing although they are letters or symbols (Hangul fillers,
/// the blank Braille pattern, the Mongolian vowel separator).
const BLANK_LOOKALIKES: &[char] = &[
    '\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}', '\u{180E}',
];

/// Whether `c` draws something: a letter, number, punctuation or symbol.
fn visible(c: char) -> bool {
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Number
            | GeneralCategoryGroup::Punctuation
            | GeneralCategoryGroup::Symbol
    ) && !BLANK_LOOKALIKES.contains(&c)
}

/// Bidirectional embeddings and overrides.
fn bidi_override(c: char) -> bool {
    ('\u{202A}'..='\u{202E}').contains(&c)
}

/// Text people read (message content): some visible character, no bidi overrides.
fn readable(field: &str, value: &str) -> ChatResult<()> {
    if value.chars().any(bidi_override) {
        return Err(invalid(format!(
            "{field} contains bidirectional override characters (U+202A-U+202E)"
        )));
    }
    if !value.chars().any(visible) {
        return Err(invalid(format!(
            "{field} must contain at least one visible character"
        )));
    }
    Ok(())
}

/// A display name, trimmed: 1-64 characters, something visible, nothing invisible or
/// reordering (see the module doc). Uniqueness is the store's.
pub fn display_name(value: &str) -> ChatResult<String> {
    let name = value.trim();
    text("displayName", name, MAX_DISPLAY_NAME)?;
    if let Some(c) = name.chars().find(|&c| {
        c.is_control()
            || matches!(
                c.general_category(),
                GeneralCategory::Format
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
            )
            || (c.is_whitespace() && c != ' ')
            || BLANK_LOOKALIKES.contains(&c)
    }) {
        return Err(invalid(format!(
            "displayName contains an invisible, control or line-break character (U+{:04X})",
            c as u32
        )));
    }
    readable("displayName", name)?;
    Ok(name.to_owned())
}

/// Message content (a send or an edit): 1-4000 characters, readable.
pub fn content(value: &str) -> ChatResult<()> {
    text("content", value, MAX_CONTENT_CHARS)?;
    readable("content", value)
}

/// Mentions: at most [`MAX_MENTIONS`] user names, deduplicated (whether each is a
/// participant is the store's check, in the same transaction as the write).
pub fn mentions(users: &[String]) -> ChatResult<Vec<String>> {
    if users.len() > MAX_MENTIONS {
        return Err(invalid(format!(
            "mentions names {} users; the limit is {MAX_MENTIONS}",
            users.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(users.len());
    for u in users {
        username(u)?;
        if !out.contains(u) {
            out.push(u.clone());
        }
    }
    Ok(out)
}

/// One emoji, skin-tone variants included (the `emojis` crate's list).
pub fn emoji(value: &str) -> ChatResult<()> {
    if emojis::get(value).is_some() {
        Ok(())
    } else {
        Err(invalid(format!(
            "emoji {value:?} is not one emoji; send exactly one, e.g. \"👍\""
        )))
    }
}

pub fn message(m: &SendMessage) -> ChatResult<()> {
    if m.client_id.is_empty() || m.client_id.len() > MAX_CLIENT_ID {
        return Err(invalid(format!(
            "clientId must be 1-{MAX_CLIENT_ID} characters"
        )));
    }
    if m.client_id.chars().any(char::is_control) {
        return Err(invalid("clientId contains control characters"));
    }
    // With attachments the text may be left out; given, it follows the usual rules.
    if m.attachments.is_empty() || !m.content.is_empty() {
        content(&m.content)?;
    }
    if let Some(r) = &m.reply_to {
        if r.is_empty() || r.len() > 64 || r.chars().any(char::is_control) {
            return Err(invalid("replyTo must be a message id"));
        }
    }
    Ok(())
}

/// A message's attachment ids: at most `max`, each named once (whether each is the
/// sender's finished upload into the conversation is the store's check).
pub fn attachments(ids: &[String], max: usize) -> ChatResult<Vec<String>> {
    if ids.len() > max {
        return Err(invalid(format!(
            "attachments names {} files; a message may carry at most {max}",
            ids.len()
        )));
    }
    for (i, id) in ids.iter().enumerate() {
        if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
            return Err(invalid("attachments must be attachment ids (a_…)"));
        }
        if ids[..i].contains(id) {
            return Err(invalid(format!("attachment {id} is named twice")));
        }
    }
    Ok(ids.to_vec())
}

/// Distinct, valid user names, 1 to `max` of them.
pub fn user_list(users: &[String], field: &str, max: usize) -> ChatResult<Vec<String>> {
    if users.is_empty() || users.len() > max {
        return Err(invalid(format!("{field} must name 1-{max} users")));
    }
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        username(u)?;
        if !out.contains(u) {
            out.push(u.clone());
        }
    }
    Ok(out)
}

/// The title and the other participants of a new conversation.
pub fn new_conversation(
    creator: &str,
    req: &CreateConversation,
) -> ChatResult<(Option<String>, Vec<String>)> {
    let others: Vec<String> = user_list(&req.participants, "participants", MAX_PARTICIPANTS)?
        .into_iter()
        .filter(|u| u != creator)
        .collect();
    match req.kind {
        ConversationKind::Direct => {
            if req.title.is_some() {
                return Err(invalid("a direct conversation has no title"));
            }
            if others.len() != 1 {
                return Err(invalid(
                    "a direct conversation needs exactly one other participant",
                ));
            }
            Ok((None, others))
        }
        ConversationKind::Group => {
            let title = req
                .title
                .as_deref()
                .ok_or_else(|| invalid("a group needs a title"))?;
            text("title", title, MAX_CONVERSATION_TITLE)?;
            Ok((Some(title.trim().to_owned()), others))
        }
    }
}

pub fn page_limit(limit: Option<u32>) -> ChatResult<u32> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(l) if (1..=MAX_PAGE).contains(&l) => Ok(l),
        Some(l) => Err(invalid(format!("limit {l} is out of range 1-{MAX_PAGE}"))),
    }
}

pub fn notification(req: CreateNotification) -> ChatResult<NewNotification> {
    let users = user_list(&req.users, "users", MAX_PARTICIPANTS)?;
    let kind = req.kind.unwrap_or_else(|| "general".to_owned());
    if kind.is_empty()
        || kind.len() > 64
        || !kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b))
    {
        return Err(invalid(
            "kind must be 1-64 letters, digits, '.', '_', '-' or ':'",
        ));
    }
    text("title", &req.title, MAX_TITLE)?;
    text("message", &req.message, MAX_CONTENT_CHARS)?;
    if let Some(d) = &req.data {
        if !d.is_object() {
            return Err(invalid("data must be a JSON object"));
        }
        let n = d.to_string().len();
        if n > MAX_DATA_BYTES {
            return Err(invalid(format!(
                "data is {n} bytes encoded; the limit is {MAX_DATA_BYTES}"
            )));
        }
    }
    if let Some(u) = &req.url {
        if u.len() > MAX_URL || !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(invalid(format!(
                "url must be an http(s) address of at most {MAX_URL} characters"
            )));
        }
    }
    Ok(NewNotification {
        users,
        kind,
        title: req.title,
        message: req.message,
        data: req.data,
        conversation_id: None,
        url: req.url,
        created_at: Timestamp::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_are_one_emoji_skin_tones_included() {
        for good in ["👍", "👍🏽", "❤️", "🇫🇷", "👩‍💻"] {
            assert!(emoji(good).is_ok(), "{good}");
        }
        for bad in ["", "x", "👍👍", ":+1:", "👍 ", "<script>"] {
            assert!(emoji(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mentions_are_names_deduplicated_and_bounded() {
        let m = |v: &[&str]| mentions(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(m(&["bob", "carol", "bob"]).unwrap(), ["bob", "carol"]);
        assert!(m(&["Bob"]).is_err());
        let many: Vec<String> = (0..=MAX_MENTIONS).map(|i| format!("u{i}")).collect();
        assert!(mentions(&many).is_err());
    }

    #[test]
    fn usernames() {
        for good in ["alice", "bob.smith", "a", "x_1-2", "0day"] {
            assert!(username(good).is_ok(), "{good}");
        }
        for bad in ["", "Alice", "-x", "a/b", "a b", &"x".repeat(33), "é"] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_content_limits_count_characters() {
        let ok = SendMessage {
            client_id: "k".into(),
            content: "é".repeat(MAX_CONTENT_CHARS),
            content_type: Default::default(),
            ..Default::default()
        };
        assert!(message(&ok).is_ok());
        let long = SendMessage {
            content: "x".repeat(MAX_CONTENT_CHARS + 1),
            ..ok.clone()
        };
        assert!(message(&long)
            .unwrap_err()
            .to_string()
            .contains("limit is 4000"));
        let blank = SendMessage {
            content: " \n ".into(),
            ..ok.clone()
        };
        assert!(message(&blank).is_err());
        let no_key = SendMessage {
            client_id: String::new(),
            ..ok
        };
        assert!(message(&no_key).is_err());
    }

    #[test]
    fn invisible_and_reordering_text_is_refused() {
        let m = |content: &str| SendMessage {
            client_id: "k".into(),
            content: content.into(),
            content_type: Default::default(),
            ..Default::default()
        };
        for bad in [
            "\u{202E}\u{200B}",
            "\u{200B}\u{200D}",
            "\u{3164}",
            "abc\u{202E}fed",
        ] {
            assert!(message(&m(bad)).is_err(), "{bad:?}");
        }
        for good in ["hi", "\u{2067}שלום\u{2069} ok", "👍", "a\u{200D}b"] {
            assert!(message(&m(good)).is_ok(), "{good:?}");
        }
        for bad in [
            "\u{200B}",
            "ali\u{200B}ce",
            "\u{202E}ecila",
            "alice\nadmin",
            "a\tb",
            "x\u{2028}y",
            "alice\u{3164}",
            "  ",
        ] {
            assert!(display_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(display_name("  Alice Smith ").unwrap(), "Alice Smith");
        assert!(display_name("Zoë 王").is_ok());
    }
}
