//! The chat commands beyond sending: the directory and one's profile, starting and changing
//! conversations, and editing, deleting, replying to and reacting to messages. Each syncs
//! first (so `#seq` references and `@mentions` resolve against the current cache), then
//! makes one call through the engine, which applies the answer to the cache.

use crate::context::{Context, Failure, REFUSED, UNREACHABLE};
use crate::output;
use crate::session::{connect_and_settle, Outcome};
use tidings_client::engine::Engine;
use tidings_client::ClientError;
use tidings_proto::api::CreateConversation;
use tidings_proto::{ContentType, ConversationKind, Message};

fn cache_err(e: tidings_client::cache::CacheError) -> Failure {
    Failure::from(ClientError::from(e))
}

/// Opens the engine synced; an action needs the server, so offline is a failure here.
async fn online(ctx: &Context) -> Result<Engine, Failure> {
    let (engine, outcome) = connect_and_settle(ctx).await?;
    if let Outcome::Offline(reason) = outcome {
        engine.shutdown().await;
        return Err(Failure::new(
            UNREACHABLE,
            format!("cannot do this offline ({reason}); only `send` queues while offline"),
        ));
    }
    Ok(engine)
}

/// Runs one action with a synced engine, and stops the engine whatever happened.
async fn with_engine<T>(
    ctx: &Context,
    f: impl AsyncFnOnce(&Engine) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let engine = online(ctx).await?;
    let result = f(&engine).await;
    engine.shutdown().await;
    result
}

/// The conversation as cached (the sync just ran): refused when it is not one of the user's.
fn known(engine: &Engine, cid: &str) -> Result<tidings_client::cache::CachedConversation, Failure> {
    engine
        .cache()
        .conversation(cid)
        .map_err(cache_err)?
        .filter(|c| !c.participants.is_empty())
        .ok_or_else(|| {
            Failure::new(
                REFUSED,
                format!("no conversation {cid} (see `tidings conversations`)"),
            )
        })
}

/// A message named by `#seq` (as `history` shows it) or by its id.
pub fn resolve(engine: &Engine, cid: &str, reference: &str) -> Result<Message, Failure> {
    let cache = engine.cache();
    let found = match reference.strip_prefix('#') {
        Some(n) => {
            let seq: i64 = n.parse().map_err(|_| {
                Failure::new(
                    2,
                    format!("{reference:?} is not a message: use #SEQ (as `tidings history` shows) or a message id"),
                )
            })?;
            cache.message_at(cid, seq).map_err(cache_err)?
        }
        None => cache
            .message(reference)
            .map_err(cache_err)?
            .filter(|m| m.conversation_id == cid),
    };
    found.ok_or_else(|| {
        Failure::new(
            REFUSED,
            format!("no message {reference} in conversation {cid} (see `tidings history {cid}`)"),
        )
    })
}

/// The participants named `@id` in a text (each once, in order of appearance).
pub fn mentions(engine: &Engine, cid: &str, text: &str) -> Vec<String> {
    let Ok(Some(c)) = engine.cache().conversation(cid) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let Some(name) = word.strip_prefix('@') else {
            continue;
        };
        let name = name.trim_end_matches(|ch: char| !(ch.is_alphanumeric() || "-_.".contains(ch)));
        let name = name.trim_end_matches('.');
        if c.participants.iter().any(|p| p.id == name) && !out.iter().any(|m| m == name) {
            out.push(name.to_owned());
        }
    }
    out
}

fn done(ctx: &Context, text: &str, json: &impl serde::Serialize) -> u8 {
    output::line(ctx, text, serde_json::to_value(json).unwrap_or_default());
    0
}

pub async fn users(ctx: &Context, query: Option<String>, limit: u32) -> Result<u8, Failure> {
    with_engine(ctx, async |e| {
        let page = e
            .search_users(query.as_deref().unwrap_or(""), limit, None)
            .await?;
        output::users(ctx, &page);
        Ok(0)
    })
    .await
}

pub async fn profile(ctx: &Context, name: &str) -> Result<u8, Failure> {
    with_engine(ctx, async |e| {
        let user = e.set_display_name(name).await?;
        Ok(done(
            ctx,
            &format!("you are now called {}", user.display_name),
            &user,
        ))
    })
    .await
}

pub async fn create(
    ctx: &Context,
    kind: ConversationKind,
    title: Option<String>,
    users: Vec<String>,
) -> Result<u8, Failure> {
    with_engine(ctx, async |e| {
        let c = e
            .create_conversation(CreateConversation {
                kind,
                title,
                participants: users,
            })
            .await?;
        let names: Vec<&str> = c.participants.iter().map(|p| p.id.as_str()).collect();
        Ok(done(
            ctx,
            &format!("conversation {} with {}", c.id, names.join(", ")),
            &c,
        ))
    })
    .await
}

pub async fn rename(ctx: &Context, cid: &str, title: &str) -> Result<u8, Failure> {
    with_engine(ctx, async |e| {
        known(e, cid)?;
        let c = e.rename_conversation(cid, title).await?;
        Ok(done(ctx, &format!("renamed {cid} to {title}"), &c))
    })
    .await
}

pub async fn add(ctx: &Context, cid: &str, users: Vec<String>) -> Result<u8, Failure> {
    with_engine(ctx, async |e| {
        known(e, cid)?;
        let c = e.add_participants(cid, users.clone()).await?;
        Ok(done(
            ctx,
            &format!("added {} to {cid}", users.join(", ")),
            &c,
        ))
    })
    .await
}

pub async fn remove(ctx: &Context, cid: &str, user: &str) -> Result<u8, Failure> {
    with_engine(ctx, async |e| {
        known(e, cid)?;
        e.remove_participant(cid, user).await?;
        let json = serde_json::json!({"conversationId": cid, "removed": user});
        Ok(done(ctx, &format!("removed {user} from {cid}"), &json))
    })
    .await
}

pub async fn leave(ctx: &Context, cid: &str) -> Result<u8, Failure> {
    with_engine(ctx, async |e| {
        let c = known(e, cid)?;
        if c.left {
            return Err(Failure::new(
                REFUSED,
                format!("you are no longer in conversation {cid}"),
            ));
        }
        e.leave_conversation(cid).await?;
        let json = serde_json::json!({"conversationId": cid, "left": true});
        Ok(done(
            ctx,
            &format!("left {cid} (its messages stay readable here)"),
            &json,
        ))
    })
    .await
}

pub async fn edit(ctx: &Context, cid: &str, reference: &str, text: &str) -> Result<u8, Failure> {
    with_engine(ctx, async |e| {
        known(e, cid)?;
        let m = resolve(e, cid, reference)?;
        let mentioned = mentions(e, cid, text);
        let edited = e
            .edit_message(cid, &m.id, text, ContentType::Text, mentioned)
            .await?;
        Ok(done(ctx, &format!("edited #{}", edited.seq), &edited))
    })
    .await
}

pub async fn delete(ctx: &Context, cid: &str, reference: &str) -> Result<u8, Failure> {
    with_engine(ctx, async |e| {
        known(e, cid)?;
        let m = resolve(e, cid, reference)?;
        let gone = e.delete_message(cid, &m.id).await?;
        Ok(done(ctx, &format!("deleted #{}", gone.seq), &gone))
    })
    .await
}

pub async fn react(
    ctx: &Context,
    cid: &str,
    reference: &str,
    emoji: &str,
    on: bool,
) -> Result<u8, Failure> {
    with_engine(ctx, async |e| {
        known(e, cid)?;
        let m = resolve(e, cid, reference)?;
        let now = e.react(cid, &m.id, emoji, on).await?;
        let what = if on { "reacted" } else { "took back" };
        Ok(done(
            ctx,
            &format!(
                "{what} {emoji} on #{}: {}",
                now.seq,
                output::reactions(&now)
            ),
            &now,
        ))
    })
    .await
}
