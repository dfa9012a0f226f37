//! Membership changes of a group after its creation (add, remove, leave) and renames, each
//! with the system entry that records it in the timeline, in one transaction.

use super::{conversations, messages, users};
use crate::store::{
    Membership, MembershipChange, MembershipChanged, NewMessage, StoreError, StoreResult,
};
use rusqlite::{params, Connection};
use tidings_proto::{ContentType, ConversationKind};

pub(super) fn change(c: &Connection, ch: MembershipChange) -> StoreResult<MembershipChanged> {
    let cid = &ch.conversation_id;
    let conv = conversations::load(c, cid)?
        .ok_or_else(|| StoreError::NotFound(format!("no conversation {cid}")))?;
    if conv.participant(&ch.by).is_none() {
        return Err(StoreError::Forbidden(format!(
            "you are not a participant of conversation {cid}"
        )));
    }
    if conv.kind == ConversationKind::Direct {
        return Err(StoreError::Invalid(
            "a direct conversation has exactly its two participants and no title; start a group instead"
                .into(),
        ));
    }
    let before: Vec<String> = conv.participants.iter().map(|p| p.user.clone()).collect();
    let now = ch.at.millis();
    match &ch.change {
        Membership::Add {
            users: add,
            max_size,
        } => {
            let missing = users::missing(c, add)?;
            if !missing.is_empty() {
                return Err(users::unknown_users(&missing));
            }
            let joining = add.iter().filter(|u| conv.participant(u).is_none()).count();
            if conv.participants.len() + joining > *max_size {
                return Err(StoreError::Conflict(format!(
                    "conversation {cid} has {} participants; adding {joining} would pass the limit of {max_size}",
                    conv.participants.len()
                )));
            }
            if joining == 0 {
                return Err(StoreError::Conflict(
                    "everyone named is a participant already".into(),
                ));
            }
            let mut insert = c.prepare_cached(
                "INSERT INTO participants (conversation_id, user_name, read_seq, joined_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            )?;
            for u in add {
                // Newcomers see the history but start with nothing unread (the system entry
                // announcing them is theirs to read, like everyone's).
                insert.execute(params![cid, u, conv.last_seq, now])?;
            }
        }
        Membership::Remove { user } => {
            let gone = c.execute(
                "DELETE FROM participants WHERE conversation_id = ?1 AND user_name = ?2",
                params![cid, user],
            )?;
            if gone == 0 {
                return Err(StoreError::NotFound(format!(
                    "{user} is not a participant of conversation {cid}"
                )));
            }
        }
        Membership::Rename { title } => {
            c.execute(
                "UPDATE conversations SET title = ?2 WHERE id = ?1",
                params![cid, title],
            )?;
        }
    }
    let new = NewMessage {
        id: ch.entry_id.clone(),
        conversation_id: cid.clone(),
        sender: ch.by.clone(),
        client_id: ch.entry_id.clone(),
        content: ch.content.clone(),
        content_type: ContentType::Text,
        created_at: ch.at,
    };
    let entry = messages::insert(c, &new, None, &[], Some(&ch.system))?;
    let conversation = conversations::load(c, cid)?
        .ok_or_else(|| StoreError::Internal("conversation vanished".into()))?;
    Ok(MembershipChanged {
        conversation,
        entry,
        participants_before: before,
    })
}
