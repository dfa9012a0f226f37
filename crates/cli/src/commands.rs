//! The commands. Each opens what it needs (REST, the engine, the cache), does one thing,
//! prints the result, and returns the exit code.

use crate::context::{
    Cli, Cmd, CmdResult, Context, Failure, NOT_SIGNED_IN, QUEUED, REFUSED, UNREACHABLE,
};
use crate::session::{
    account_key, connect_and_settle, open_cache, settle, start, start_with, tidings_target, Outcome,
};
use crate::{chat, files, output};
use std::io::BufRead;
use tidings_client::cache::{Cache, MessageFeed, OutboxState};
use tidings_client::engine::{Engine, EngineState, Target};
use tidings_client::http::Api;
use tidings_client::profile::Profile;
use tidings_proto::api::CreateNotification;
use tidings_proto::{ContentType, ConversationKind, Envelope, Event};

pub async fn run(cli: Cli) -> CmdResult {
    let ctx = Context::new(&cli)?;
    if let Some(path) = &cli.profile {
        let profile = Profile::load(path)?;
        return match cli.command {
            Cmd::Tail => {
                tail(
                    &ctx,
                    Target::Profile(profile.clone()),
                    &format!("profile-{}", profile.name),
                )
                .await
            }
            Cmd::Sync => {
                sync(
                    &ctx,
                    Target::Profile(profile.clone()),
                    &format!("profile-{}", profile.name),
                )
                .await
            }
            Cmd::Notifications { limit, read_all } => {
                let cache = Cache::open(&ctx.cache_path(&format!("profile-{}", profile.name)))
                    .map_err(tidings_client::ClientError::from)?;
                if read_all {
                    cache
                        .mark_all_notifications_read()
                        .map_err(tidings_client::ClientError::from)?;
                }
                output::notifications(
                    &ctx,
                    &cache
                        .notifications("", limit)
                        .map_err(tidings_client::ClientError::from)?,
                );
                Ok(0)
            }
            Cmd::Test => test_profile(&ctx, &profile).await,
            _ => Err(Failure::new(
                2,
                "with --profile, use tail, sync, notifications or test",
            )),
        };
    }
    match cli.command {
        Cmd::Test => Err(Failure::new(
            2,
            "test tries a connection profile: tidings --profile FILE test",
        )),
        Cmd::Login {
            username,
            password_stdin,
        } => login(&ctx, &username, password_stdin).await,
        Cmd::Logout => logout(&ctx).await,
        Cmd::Conversations => {
            let (engine, _) = connect_and_settle(&ctx).await?;
            output::conversations(
                &ctx,
                &engine
                    .cache()
                    .conversations()
                    .map_err(tidings_client::ClientError::from)?,
            );
            engine.shutdown().await;
            Ok(0)
        }
        Cmd::History {
            conversation,
            limit,
            before,
        } => {
            let (engine, _) = connect_and_settle(&ctx).await?;
            let cache = engine.cache().clone();
            let err = |e| Failure::from(tidings_client::ClientError::from(e));
            if cache.conversation(&conversation).map_err(err)?.is_none() {
                engine.shutdown().await;
                return Err(Failure::new(
                    REFUSED,
                    format!("no conversation {conversation} (see `tidings conversations`)"),
                ));
            }
            let msgs = cache.history(&conversation, before, limit).map_err(err)?;
            let pending = if before.is_none() {
                cache.unconfirmed(&conversation).map_err(err)?
            } else {
                Vec::new()
            };
            output::history(&ctx, &cache, &msgs, &pending);
            engine.shutdown().await;
            Ok(0)
        }
        Cmd::Send {
            conversation,
            text,
            files,
        } => send(&ctx, &conversation, &text.join(" "), None, &files).await,
        Cmd::Download {
            attachment,
            out,
            thumbnail,
        } => files::download(&ctx, &attachment, out, thumbnail).await,
        Cmd::Reply {
            conversation,
            message,
            text,
        } => send(&ctx, &conversation, &text.join(" "), Some(&message), &[]).await,
        Cmd::Edit {
            conversation,
            message,
            text,
        } => chat::edit(&ctx, &conversation, &message, &text.join(" ")).await,
        Cmd::Delete {
            conversation,
            message,
        } => chat::delete(&ctx, &conversation, &message).await,
        Cmd::React {
            conversation,
            message,
            emoji,
            off,
        } => chat::react(&ctx, &conversation, &message, &emoji, !off).await,
        Cmd::Users { query, limit } => chat::users(&ctx, query, limit).await,
        Cmd::Profile { name } => chat::profile(&ctx, &name).await,
        Cmd::Start { user } => chat::create(&ctx, ConversationKind::Direct, None, vec![user]).await,
        Cmd::Group { title, users } => {
            chat::create(&ctx, ConversationKind::Group, Some(title), users).await
        }
        Cmd::Rename {
            conversation,
            title,
        } => chat::rename(&ctx, &conversation, &title.join(" ")).await,
        Cmd::Add {
            conversation,
            users,
        } => chat::add(&ctx, &conversation, users).await,
        Cmd::Remove { conversation, user } => chat::remove(&ctx, &conversation, &user).await,
        Cmd::Leave { conversation } => chat::leave(&ctx, &conversation).await,
        Cmd::Read {
            conversation,
            up_to,
        } => {
            let (engine, _) = connect_and_settle(&ctx).await?;
            let cache = engine.cache().clone();
            let last = cache
                .conversation(&conversation)
                .map_err(tidings_client::ClientError::from)?
                .ok_or_else(|| Failure::new(REFUSED, format!("no conversation {conversation}")))?
                .last_seq;
            engine.mark_read(&conversation, up_to.unwrap_or(last))?;
            let state = engine.settle(ctx.timeout).await;
            let c = cache
                .conversation(&conversation)
                .map_err(tidings_client::ClientError::from)?;
            engine.shutdown().await;
            let read = c.map_or(0, |c| c.read_seq);
            output::line(
                &ctx,
                &format!("read up to {read}"),
                serde_json::json!({"conversationId": conversation, "readSeq": read, "synced": state == EngineState::Live}),
            );
            Ok(0)
        }
        Cmd::Tail => {
            let account = ctx.account()?;
            tail(&ctx, tidings_target(&ctx, &account), &account_key(&account)).await
        }
        Cmd::Sync => {
            let account = ctx.account()?;
            sync(&ctx, tidings_target(&ctx, &account), &account_key(&account)).await
        }
        Cmd::Search { query, limit } => {
            let account = ctx.account()?;
            let cache = Cache::open(&ctx.cache_path(&account_key(&account)))
                .map_err(tidings_client::ClientError::from)?;
            let hits = cache
                .search(&query.join(" "), limit)
                .map_err(tidings_client::ClientError::from)?;
            output::search(&ctx, &cache, &hits);
            Ok(0)
        }
        Cmd::Notifications { limit, read_all } => {
            let (engine, _) = connect_and_settle(&ctx).await?;
            if read_all {
                engine.read_all_notifications_now().await?;
            }
            let user = engine.user().unwrap_or_default().to_owned();
            let list = engine
                .cache()
                .notifications(&user, limit)
                .map_err(tidings_client::ClientError::from)?;
            output::notifications(&ctx, &list);
            engine.shutdown().await;
            Ok(0)
        }
        Cmd::Notify {
            users,
            title,
            message,
            kind,
            data,
            url,
            service_token,
        } => {
            let token = service_token.ok_or_else(|| {
                Failure::new(2, "notify needs the server's service token: --service-token or TIDINGS_SERVICE_TOKEN")
            })?;
            let data = data
                .map(|d| {
                    serde_json::from_str(&d)
                        .map_err(|e| Failure::new(2, format!("--data is not JSON: {e}")))
                })
                .transpose()?;
            let api = Api::new(&ctx.server()?, ctx.tls.clone())?;
            let created = api
                .notify(
                    &token,
                    &CreateNotification {
                        users,
                        kind,
                        title,
                        message,
                        data,
                        url,
                    },
                )
                .await?;
            let ids: Vec<&str> = created
                .notifications
                .iter()
                .map(|n| n.id.as_str())
                .collect();
            output::line(
                &ctx,
                &format!("notified {} user(s)", ids.len()),
                serde_json::to_value(&created).unwrap_or_default(),
            );
            Ok(0)
        }
    }
}

async fn login(ctx: &Context, username: &str, password_stdin: bool) -> CmdResult {
    let server = ctx.server.clone().ok_or_else(|| {
        Failure::new(
            2,
            "login needs --server URL (for example http://127.0.0.1:8080)",
        )
    })?;
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(Failure::new(
            2,
            format!("--server must start with http:// or https://, not {server:?}"),
        ));
    }
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::new(1, format!("cannot read the password: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        rpassword::prompt_password(format!("Password for {username}: "))
            .map_err(|e| Failure::new(1, format!("cannot read the password: {e}")))?
    } else {
        return Err(Failure::new(
            2,
            "no terminal to ask for the password: pipe it with --password-stdin",
        ));
    };
    let api = Api::new(&server, ctx.tls.clone())?;
    let session = api.login(username, &password).await?;
    let account = ctx
        .credentials
        .save(&server, &session.user.id, &session.refresh_token)?;
    output::line(
        ctx,
        &format!(
            "Signed in to {server} as {}. Session kept in {}.",
            session.user.id, account.storage
        ),
        serde_json::to_value(&account).unwrap_or_default(),
    );
    Ok(0)
}

async fn logout(ctx: &Context) -> CmdResult {
    let account = ctx.account()?;
    let token = ctx.credentials.forget()?;
    let revoked = match token {
        Some(t) => Api::new(&account.server, ctx.tls.clone())?
            .logout(&t)
            .await
            .map_err(|e| e.to_string()),
        None => Err("no saved session".into()),
    };
    let note = match &revoked {
        Ok(()) => "the session was revoked on the server".to_owned(),
        Err(e) => format!("the server could not revoke it: {e}"),
    };
    output::line(
        ctx,
        &format!("Signed out of {} ({note}).", account.server),
        serde_json::json!({"server": account.server, "user": account.user, "revoked": revoked.is_ok()}),
    );
    Ok(0)
}

/// Sends `text` (a reply to the message `reply`, `#seq` or an id, when given), mentioning
/// the participants it names as `@id`, with `files` attached. A reply or a mention is
/// resolved against the cache after a sync (or as cached, offline).
async fn send(
    ctx: &Context,
    cid: &str,
    text: &str,
    reply: Option<&str>,
    attach: &[std::path::PathBuf],
) -> CmdResult {
    let account = ctx.account()?;
    let engine = start(ctx, tidings_target(ctx, &account), &account_key(&account))?;
    let needs_cache = reply.is_some() || text.contains('@');
    if needs_cache {
        if let Outcome::Offline(reason) = settle(ctx, &engine).await? {
            eprintln!("tidings: offline ({reason}): resolving against what was cached");
        }
    }
    let reply_to = match reply {
        Some(r) => match chat::resolve(&engine, cid, r) {
            Ok(m) => Some(m.id),
            Err(f) => {
                engine.shutdown().await;
                return Err(f);
            }
        },
        None => None,
    };
    let mentions = chat::mentions(&engine, cid, text);
    let queued = if attach.is_empty() {
        engine.send(cid, text, ContentType::Text, reply_to, mentions)
    } else {
        engine
            .send_files(cid, text, attach, reply_to, mentions)
            .await
    };
    let client_id = match queued {
        Ok(id) => id,
        Err(e) => {
            engine.shutdown().await;
            return Err(e.into());
        }
    };
    let outcome = if attach.is_empty() {
        settle(ctx, &engine).await?
    } else {
        files::wait_sent(ctx, &engine, &client_id).await?
    };
    let entry = engine
        .cache()
        .outbox_entry(&client_id)
        .map_err(tidings_client::ClientError::from)?;
    engine.shutdown().await;
    let entry = entry.ok_or_else(|| Failure::new(1, "the message vanished from the outbox"))?;
    let json = serde_json::to_value(&entry).unwrap_or_default();
    match (entry.state, outcome) {
        (OutboxState::Sent, _) => {
            output::line(ctx, &format!("sent (clientId {client_id})"), json);
            Ok(0)
        }
        (OutboxState::Failed, _) => Err(Failure::new(
            REFUSED,
            format!(
                "the server refused the message: {}",
                entry.error.unwrap_or_default()
            ),
        )),
        (_, Outcome::Offline(reason)) => {
            output::line(
                ctx,
                &format!("queued in the outbox (offline: {reason}); it will be sent the next time tidings connects"),
                json,
            );
            Ok(QUEUED)
        }
        (_, Outcome::Synced) => {
            output::line(
                ctx,
                "queued in the outbox; it will be sent the next time tidings connects",
                json,
            );
            Ok(QUEUED)
        }
    }
}

async fn sync(ctx: &Context, target: Target, key: &str) -> CmdResult {
    let engine = start(ctx, target, key)?;
    let outcome = settle(ctx, &engine).await?;
    let cache = engine.cache().clone();
    engine.shutdown().await;
    let err = |e| Failure::from(tidings_client::ClientError::from(e));
    let conversations = cache.conversations().map_err(err)?;
    let messages: i64 = conversations.iter().map(|c| c.synced_seq).sum();
    let notifications = cache.notifications("", u32::MAX).map_err(err)?.len();
    let waiting = cache.outbox_waiting().map_err(err)?;
    let summary = serde_json::json!({
        "synced": outcome == Outcome::Synced,
        "conversations": conversations.len(),
        "messages": messages,
        "notifications": notifications,
        "outboxWaiting": waiting,
    });
    match outcome {
        Outcome::Synced => {
            output::line(
                ctx,
                &format!("synced: {} conversations, {messages} messages, {notifications} notifications; outbox empty", conversations.len()),
                summary,
            );
            Ok(0)
        }
        Outcome::Offline(reason) => Err(Failure::new(
            UNREACHABLE,
            format!("cannot sync: {reason} ({waiting} message(s) wait in the outbox)"),
        )),
    }
}

/// Live events, and every message the cache gains while it runs, each once and in `seq` order
/// per conversation: messages come from the cache (the engine merges live, caught-up and
/// repaired ones there), not from the live events, which lack what came over REST after a
/// reconnect.
async fn tail(ctx: &Context, target: Target, key: &str) -> CmdResult {
    let cache = open_cache(ctx, key)?;
    // Before the engine writes anything: all it writes from now on is new.
    let mut feed = MessageFeed::after_now(&cache).map_err(tidings_client::ClientError::from)?;
    let engine = start_with(ctx, target, cache)?;
    let mut events = engine.events();
    let mut state = engine.state();
    let mut changed = engine.changed();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let code = loop {
        tokio::select! {
            _ = &mut stop => break 0,
            r = changed.changed() => {
                if r.is_err() { break 1; }
                changed.borrow_and_update();
                if let Err(e) = print_new_messages(ctx, &engine, &mut feed) {
                    eprintln!("tidings: cannot read the cache: {e}");
                    break 1;
                }
            }
            r = state.changed() => {
                if r.is_err() { break 1; }
                let s = state.borrow_and_update().clone();
                output::state(ctx, &s);
                if let EngineState::SignedOut { reason } = s {
                    eprintln!("tidings: signed out: {reason}; run `tidings login` again");
                    break NOT_SIGNED_IN;
                }
            }
            e = events.recv() => match e {
                // Printed from the cache, in order, once.
                Ok(env) if matches!(env.event, Event::ChatMessage(_)) => {}
                Ok(env) => output::event(ctx, &env),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("tidings: {n} events were skipped in the output (all are in the cache)");
                }
                Err(_) => break 1,
            }
        }
    };
    engine.shutdown().await;
    Ok(code)
}

/// Prints the messages that joined the cache's contiguous prefixes since the last look.
fn print_new_messages(
    ctx: &Context,
    engine: &Engine,
    feed: &mut MessageFeed,
) -> Result<(), tidings_client::cache::CacheError> {
    loop {
        let batch = feed.next(engine.cache(), 500)?;
        if batch.is_empty() {
            return Ok(());
        }
        for m in batch {
            let (at, sender) = (m.created_at, m.sender_id.clone());
            output::event(ctx, &Envelope::at(Event::ChatMessage(m), at, Some(&sender)));
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// `--profile FILE test`: each step of the profile's connection, tried once.
async fn test_profile(ctx: &Context, profile: &Profile) -> CmdResult {
    let tls = match &profile.extra_ca {
        Some(ca) => tidings_client::tls::client_config(Some(ca))?,
        None => ctx.tls.clone(),
    };
    let report = tidings_client::check::test_connection(profile, &tls, ctx.timeout).await;
    output::check(ctx, &report);
    Ok(if report.ok { 0 } else { 1 })
}
