//! The `cursor` of `GET /api/conversations` as clients see it: opaque to them, here
//! `<messages>.<conversations>.<activity>.<id>` (see [`ConversationCursor`]). Decoding is
//! strict, so a made-up cursor is a 400 rather than a surprising page.

use super::{ChatError, ChatResult};
use crate::store::ConversationCursor;

/// The cursor of a [`ConversationCursor`].
pub fn encode(c: &ConversationCursor) -> String {
    format!(
        "{}.{}.{}.{}",
        c.messages_upto, c.conversations_upto, c.activity, c.id
    )
}

/// A cursor back; `Invalid` for anything [`encode`] does not make.
pub fn decode(s: &str) -> ChatResult<ConversationCursor> {
    let bad = || {
        ChatError::Invalid(
            "cursor is not one this server gave out: pass nextCursor from the previous page".into(),
        )
    };
    let mut parts = s.splitn(4, '.');
    let mut number = || -> ChatResult<i64> {
        parts
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(bad)
    };
    let (messages_upto, conversations_upto, activity) = (number()?, number()?, number()?);
    let id = parts.next().ok_or_else(bad)?;
    let id_ok = id.len() <= 64
        && id.starts_with("c_")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !id_ok {
        return Err(bad());
    }
    Ok(ConversationCursor {
        messages_upto,
        conversations_upto,
        activity,
        id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_comes_back_as_it_went_and_others_are_refused() {
        let c = ConversationCursor {
            messages_upto: 12,
            conversations_upto: 3,
            activity: 1_764_000_000_000,
            id: "c_0123abcd".into(),
        };
        assert_eq!(decode(&encode(&c)).unwrap(), c);
        for bad in [
            "",
            "1.2.3",
            "1.2.3.",
            "a.2.3.c_x",
            "-1.2.3.c_x",
            "1.2.3.m_x",
            "1.2.3.c_x.y",
            "1.2.3.c_x'--",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
