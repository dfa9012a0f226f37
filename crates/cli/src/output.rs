//! Printing: short lines for people, JSON with `--json`.

use crate::context::Context;
use crate::timeline::{self, snippet, time};
use tidings_client::cache::{Cache, CachedConversation, OutboxEntry, SearchHit};
use tidings_client::engine::EngineState;
use tidings_proto::api::UserPage;
use tidings_proto::{ConversationKind, Envelope, Event, Message, Notification, Timestamp};

pub use timeline::reactions;

fn json_line(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string(v).unwrap_or_default());
}

/// A one-line result: the text, or its JSON.
pub fn line(ctx: &Context, text: &str, json: serde_json::Value) {
    if ctx.json {
        json_line(&json);
    } else {
        println!("{text}");
    }
}

fn name(c: &CachedConversation, me: Option<&str>) -> String {
    match (&c.title, c.kind) {
        (Some(t), _) => t.clone(),
        (None, ConversationKind::Direct) => c
            .participants
            .iter()
            .find(|p| Some(p.id.as_str()) != me)
            .map(|p| p.display_name.clone())
            .unwrap_or_else(|| c.id.clone()),
        (None, _) => c.id.clone(),
    }
}

pub fn conversations(ctx: &Context, list: &[CachedConversation]) {
    if ctx.json {
        return json_line(&list);
    }
    if list.is_empty() {
        println!("no conversations");
    }
    let me = ctx.credentials.current().map(|a| a.user);
    for c in list {
        let unread = if c.unread_count > 0 {
            format!(" ({} unread)", c.unread_count)
        } else {
            String::new()
        };
        let last = c
            .last_message
            .as_ref()
            .map(|m| format!(" — {}: {}", m.sender_id, snippet(&timeline::body(m), 60)))
            .unwrap_or_default();
        let left = if c.left { " (left)" } else { "" };
        println!("{}  {}{left}{unread}{last}", c.id, name(c, me.as_deref()));
    }
}

pub fn history(ctx: &Context, cache: &Cache, msgs: &[Message], pending: &[OutboxEntry]) {
    if ctx.json {
        return json_line(&serde_json::json!({"messages": msgs, "outbox": pending}));
    }
    for m in msgs {
        for l in timeline::lines(Some(cache), m) {
            println!("{l}");
        }
    }
    for p in pending {
        let what = match p.state {
            tidings_client::cache::OutboxState::Failed => {
                format!("failed: {}", p.error.as_deref().unwrap_or(""))
            }
            _ => "pending".to_owned(),
        };
        println!("({what}) {}: {}", time(p.created_at), p.content);
        for f in &p.attachments {
            let done = if f.done { f.size } else { f.sent };
            println!(
                "    📎 {} · {} · {}% uploaded",
                f.name,
                timeline::size_for_people(f.size as u64),
                done * 100 / f.size.max(1)
            );
        }
    }
}

pub fn search(ctx: &Context, cache: &Cache, hits: &[SearchHit]) {
    if ctx.json {
        return json_line(&hits);
    }
    if hits.is_empty() {
        println!("no match");
    }
    let me = ctx.credentials.current().map(|a| a.user);
    for h in hits {
        let conv = cache
            .conversation(&h.message.conversation_id)
            .ok()
            .flatten()
            .map(|c| name(&c, me.as_deref()))
            .unwrap_or_else(|| h.message.conversation_id.clone());
        println!(
            "{} #{} {} {}: {}",
            conv,
            h.message.seq,
            time(h.message.created_at),
            h.message.sender_id,
            h.snippet
        );
    }
}

pub fn users(ctx: &Context, page: &UserPage) {
    if ctx.json {
        return json_line(page);
    }
    if page.users.is_empty() {
        println!("nobody found");
    }
    for u in &page.users {
        let online = if u.online { " (online)" } else { "" };
        println!("{}  {}{online}", u.id, u.display_name);
    }
    if page.has_more {
        println!("… more: narrow the query");
    }
}

pub fn notifications(ctx: &Context, list: &[Notification]) {
    if ctx.json {
        return json_line(&list);
    }
    if list.is_empty() {
        println!("no notifications");
    }
    for n in list {
        let mark = if n.is_read { " " } else { "•" };
        println!("{mark} {} {}: {}", time(n.created_at), n.title, n.message);
    }
}

/// An engine state change, on stderr (stdout carries the events).
pub fn state(ctx: &Context, s: &EngineState) {
    if ctx.json {
        eprintln!("{}", serde_json::to_string(s).unwrap_or_default());
        return;
    }
    let text = match s {
        EngineState::Connecting => "connecting…".to_owned(),
        EngineState::CatchingUp { done, total } => format!("catching up {done}/{total}"),
        EngineState::Live => "live".to_owned(),
        EngineState::Reconnecting {
            at,
            attempt,
            reason,
        } => {
            let secs = ((at.millis() - Timestamp::now().millis()).max(0) as f64 / 1000.0).ceil();
            format!("reconnecting in {secs} s (attempt {attempt}): {reason}")
        }
        EngineState::Offline => "offline".to_owned(),
        EngineState::SignedOut { reason } => format!("signed out: {reason}"),
        EngineState::Stopped => "stopped".to_owned(),
    };
    eprintln!("tidings: {text}");
}

/// A live event: its envelope as a JSON line, or a line for people.
pub fn event(ctx: &Context, env: &Envelope) {
    if ctx.json {
        return json_line(env);
    }
    let t = time(env.timestamp);
    match &env.event {
        Event::ChatMessage(m) => {
            for (i, l) in timeline::lines(None, m).into_iter().enumerate() {
                if i == 0 {
                    println!("{t} [{}] {l}", m.conversation_id);
                } else {
                    println!("{l}");
                }
            }
        }
        Event::Typing(x) => println!(
            "{t} [{}] {} {}",
            x.conversation_id,
            x.user_id,
            if x.typing {
                "is typing"
            } else {
                "stopped typing"
            }
        ),
        Event::ReadReceipt(r) => println!(
            "{t} [{}] {} read up to #{}",
            r.conversation_id, r.user_id, r.up_to
        ),
        Event::Presence(p) => println!(
            "{t} {} is {}",
            p.user_id,
            if p.online { "online" } else { "offline" }
        ),
        Event::Notification(n) => println!("{t} notification: {}: {}", n.title, n.message),
        Event::MessageEdited(m) => println!(
            "{t} [{}] {} edited #{}: {} (edited)",
            m.conversation_id, m.sender_id, m.seq, m.content
        ),
        Event::MessageDeleted(m) => println!(
            "{t} [{}] {} deleted #{}: message deleted",
            m.conversation_id, m.sender_id, m.seq
        ),
        Event::ReactionsUpdated(m) => println!(
            "{t} [{}] reactions on #{}: {}",
            m.conversation_id,
            m.seq,
            timeline::reactions(m)
        ),
        Event::ConversationUpdated(c) => {
            let who: Vec<&str> = c.participants.iter().map(|p| p.id.as_str()).collect();
            let title = c
                .title
                .as_deref()
                .map(|t| format!(" \"{t}\""))
                .unwrap_or_default();
            println!("{t} [{}]{title} with {}", c.id, who.join(", "))
        }
        Event::ConversationLeft(l) => println!(
            "{t} [{}] {}",
            l.conversation_id,
            if l.removed {
                format!("you were removed by {}", l.by)
            } else {
                "you left".to_owned()
            }
        ),
        Event::NotificationsRead(r) => match r.up_to {
            Some(up_to) => println!(
                "{t} notifications up to #{up_to} read elsewhere ({} unread)",
                r.unread_count
            ),
            None => println!(
                "{t} {} notification(s) read elsewhere ({} unread)",
                r.ids.len(),
                r.unread_count
            ),
        },
        Event::UserUpdated(u) => println!("{t} {} is now called {}", u.id, u.display_name),
        Event::Announcement(a) => println!("{t} announcement: {}: {}", a.title, a.message),
    }
}

/// A connection test: one line per step (`ok` or `FAILED`), or the report as JSON.
pub fn check(ctx: &Context, report: &tidings_client::check::CheckReport) {
    if ctx.json {
        json_line(report);
        return;
    }
    for s in &report.steps {
        let mark = if s.ok { "ok    " } else { "FAILED" };
        println!("{mark} {:<9} {}", s.name, s.detail);
    }
    println!(
        "{}",
        if report.ok {
            "The connection works."
        } else {
            "The connection does not work."
        }
    );
}
