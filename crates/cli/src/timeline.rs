//! How timeline entries read for people: a message's line (with `#seq`, id, "(edited)",
//! "message deleted"), the quote of what it replies to, its reactions, its attachments
//! (name, size, type, id), and system entries in words.

use tidings_client::cache::Cache;
use tidings_proto::{Attachment, Message, Timestamp};

pub fn time(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    s.get(..16).map(|d| d.replace('T', " ")).unwrap_or(s)
}

/// A size as the app says it (`tidings_client::engine::describe_size`): "293 KB", "2.2 MB",
/// "12 bytes".
pub fn size_for_people(bytes: u64) -> String {
    tidings_client::engine::describe_size(bytes)
}

/// An attachment's line: `📎 beach.jpg · 471 KB · image/jpeg 1600×1200 · a_3f9c…` (the id
/// is what `tidings download` takes).
pub fn attachment(a: &Attachment) -> String {
    let dims = match (a.width, a.height) {
        (Some(w), Some(h)) => format!(" {w}×{h}"),
        _ => String::new(),
    };
    format!(
        "📎 {} · {} · {}{dims} · {}",
        a.name,
        size_for_people(a.size),
        a.content_type,
        a.id
    )
}

/// The first line of a text, at most `max` characters.
pub fn snippet(s: &str, max: usize) -> String {
    let l = s.lines().next().unwrap_or("");
    if l.chars().count() > max || s.lines().nth(1).is_some() {
        format!("{}…", l.chars().take(max).collect::<String>())
    } else {
        l.to_owned()
    }
}

/// What a message says: its content, "(edited)", or that it was deleted.
pub fn body(m: &Message) -> String {
    if m.deleted {
        "message deleted".to_owned()
    } else if m.edited_at.is_some() {
        format!("{} (edited)", m.content)
    } else if m.content.is_empty() && !m.attachments.is_empty() {
        match m.attachments.len() {
            1 => "(a file)".to_owned(),
            n => format!("({n} files)"),
        }
    } else {
        m.content.clone()
    }
}

/// `👍 2 (alice, bob) · 🎉 1 (carol)`, or `no reactions`.
pub fn reactions(m: &Message) -> String {
    if m.reactions.is_empty() {
        return "no reactions".to_owned();
    }
    m.reactions
        .iter()
        .map(|r| format!("{} {} ({})", r.emoji, r.users.len(), r.users.join(", ")))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The quoted line of a reply: the original as cached (or that it is not).
pub fn quote(cache: Option<&Cache>, m: &Message) -> Option<String> {
    let r = m.reply_to.as_ref()?;
    let original = cache.and_then(|c| c.message(&r.message_id).ok().flatten());
    Some(match original {
        Some(o) if o.deleted => format!("↪ #{}: message deleted", o.seq),
        Some(o) => format!("↪ #{} {}: {}", o.seq, o.sender_id, snippet(&o.content, 60)),
        None => format!("↪ #{} (not cached)", r.seq),
    })
}

/// The lines of one entry in a history: the entry, then its quote and reactions indented.
pub fn lines(cache: Option<&Cache>, m: &Message) -> Vec<String> {
    let head = if m.system.is_some() {
        format!("#{} {} — {}", m.seq, time(m.created_at), m.content)
    } else {
        format!(
            "#{} {} {} {}: {}",
            m.seq,
            m.id,
            time(m.created_at),
            m.sender_id,
            body(m)
        )
    };
    let mut out = vec![head];
    if let Some(q) = quote(cache, m) {
        out.push(format!("    {q}"));
    }
    for a in &m.attachments {
        out.push(format!("    {}", attachment(a)));
    }
    if !m.reactions.is_empty() {
        out.push(format!("    {}", reactions(m)));
    }
    out
}
