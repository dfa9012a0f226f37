//! What a message reads as in plain text, for places that cannot show formatting (the OS
//! notification's body): a MARKDOWN message without its syntax, a tombstone as "message
//! deleted", a system entry as its sentence.
//!
//! The Markdown subset is the UI's (ui/src/lib/markdown.ts): bold, italic, strikethrough,
//! inline code, fenced code blocks, block quotes, links and autolinks, backslash escapes.
//! `**strong** words` reads "strong words", `[site](https://…)` reads "site", a fenced block
//! its code. What is not markup there (a lone `*`, `2 * 3`, snake_case, raw HTML) stays as
//! typed. Small on purpose: no Markdown crate is in the tree, and a notification needs no
//! more than this.

use tidings_proto::{ContentType, Message};

/// The text a message shows as, without formatting.
pub fn message_text(m: &Message) -> String {
    if m.deleted {
        return "message deleted".to_owned();
    }
    match m.content_type {
        ContentType::Markdown if m.system.is_none() => markdown_to_text(&m.content),
        _ => m.content.clone(),
    }
}

/// A Markdown text as it reads rendered: one line per non-empty line (code blocks as their
/// lines), the syntax gone.
pub fn markdown_to_text(text: &str) -> String {
    let mut lines = Vec::new();
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) && trimmed.trim_end().chars().all(|c| c == '`' || c == '~')
            {
                fence = None;
            } else if !line.trim().is_empty() {
                lines.push(line.to_owned());
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
            continue;
        }
        let mut rest = trimmed;
        while let Some(r) = rest.strip_prefix('>') {
            rest = r.trim_start();
        }
        let chars: Vec<char> = rest.trim_end().chars().collect();
        let plain = inline(&chars);
        if !plain.trim().is_empty() {
            lines.push(plain.trim().to_owned());
        }
    }
    lines.join("\n")
}

/// The inline syntax of one line, removed.
fn inline(s: &[char]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == '\\' && s.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) {
            out.push(s[i + 1]);
            i += 2;
            continue;
        }
        if c == '`' {
            let n = run(s, i, '`');
            if let Some(end) = find_run(s, i + n, '`', n) {
                let code: String = s[i + n..end].iter().collect();
                out.push_str(
                    code.strip_prefix(' ')
                        .and_then(|c| c.strip_suffix(' '))
                        .unwrap_or(&code),
                );
                i = end + n;
            } else {
                out.extend(&s[i..i + n]);
                i += n;
            }
            continue;
        }
        if c == '[' {
            if let Some((label, next)) = link(s, i) {
                out.push_str(&inline(label));
                i = next;
                continue;
            }
        }
        if c == '<' {
            if let Some(end) = s[i..].iter().position(|&c| c == '>').map(|p| i + p) {
                let inner: String = s[i + 1..end].iter().collect();
                let lower = inner.to_ascii_lowercase();
                let url = ["http://", "https://", "mailto:"]
                    .iter()
                    .any(|p| lower.starts_with(p));
                if url && !inner.contains(char::is_whitespace) {
                    out.push_str(&inner);
                    i = end + 1;
                    continue;
                }
            }
        }
        if matches!(c, '*' | '_' | '~') {
            let n = run(s, i, c).min(3);
            if let Some(end) = emphasis(s, i, c, n) {
                out.push_str(&inline(&s[i + n..end]));
                i = end + n;
                continue;
            }
            out.extend(&s[i..i + run(s, i, c)]);
            i += run(s, i, c);
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// How many `c` start at `i`.
fn run(s: &[char], i: usize, c: char) -> usize {
    s[i..].iter().take_while(|&&x| x == c).count()
}

/// Where a run of exactly `n` `c` starts at or after `from`.
fn find_run(s: &[char], from: usize, c: char, n: usize) -> Option<usize> {
    let mut j = from;
    while j < s.len() {
        if s[j] == c {
            let r = run(s, j, c);
            if r == n {
                return Some(j);
            }
            j += r;
        } else {
            j += 1;
        }
    }
    None
}

/// `[label](target)` at `i`: the label and where the text goes on.
fn link(s: &[char], i: usize) -> Option<(&[char], usize)> {
    let close = i + s[i..].iter().position(|&c| c == ']')?;
    if s.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = close + 1 + s[close + 1..].iter().position(|&c| c == ')')?;
    Some((&s[i + 1..close], end + 1))
}

/// The closing delimiter of an emphasis (`n` of `c`) opening at `i`, if it opens one: the
/// opener is followed by a non-space (and, for `_`, not inside a word), the closer preceded
/// by a non-space (and, for `_`, not followed by a letter); `***` is both at once. `~`
/// only doubled.
fn emphasis(s: &[char], i: usize, c: char, n: usize) -> Option<usize> {
    if c == '~' && n != 2 {
        return None;
    }
    let after = *s.get(i + n)?;
    if after.is_whitespace() || after == c {
        return None;
    }
    if c == '_' && i > 0 && s[i - 1].is_alphanumeric() {
        return None;
    }
    let mut j = i + n + 1;
    while j + n <= s.len() {
        let closes = s[j..j + n].iter().all(|&x| x == c)
            && !s[j - 1].is_whitespace()
            && s.get(j + n) != Some(&c)
            && !(c == '_' && s.get(j + n).is_some_and(|x| x.is_alphanumeric()));
        if closes {
            return Some(j);
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_proto::{SystemAction, SystemEntry, Timestamp};

    #[test]
    fn the_subset_reads_without_its_syntax() {
        for (typed, reads) in [
            ("**strong** words", "strong words"),
            ("__strong__ and *it* and _it2_", "strong and it and it2"),
            ("~~gone~~ `x < y` ``a ` b``", "gone x < y a ` b"),
            ("***both***", "both"),
            ("**bold with *nested* it**", "bold with nested it"),
            (
                "see [the site](https://example.com/a) now",
                "see the site now",
            ),
            ("<https://example.org/x>", "https://example.org/x"),
            ("> quoted **words**", "quoted words"),
            ("```\nfn main() {}\n```", "fn main() {}"),
            ("first\n\n\nsecond", "first\nsecond"),
        ] {
            assert_eq!(markdown_to_text(typed), reads, "{typed}");
        }
    }

    #[test]
    fn what_is_not_markup_stays_as_typed() {
        for text in [
            "plain_snake_case_name",
            "2 * 3 * 4",
            "a lone * and _ and ~",
            "price: 5*",
            "<b>not bold</b>",
            "I <3 you",
            "[not a link] (x)",
            "**unclosed",
            "",
        ] {
            assert_eq!(markdown_to_text(text), text, "{text}");
        }
        assert_eq!(
            markdown_to_text(r"\*not italic\* \`x\`"),
            "*not italic* `x`"
        );
        // Inside code, nothing is markup.
        assert_eq!(markdown_to_text("`**x**`"), "**x**");
        assert_eq!(markdown_to_text("```\n**x** _y_\n```"), "**x** _y_");
    }

    fn message(content: &str, content_type: ContentType) -> Message {
        Message {
            id: "m".into(),
            conversation_id: "c".into(),
            seq: 1,
            sender_id: "bob".into(),
            client_id: "c1".into(),
            content: content.into(),
            content_type,
            created_at: Timestamp(0),
            ..Default::default()
        }
    }

    #[test]
    fn a_message_reads_by_its_type_a_tombstone_and_a_system_entry_sensibly() {
        assert_eq!(
            message_text(&message("**hi** there", ContentType::Markdown)),
            "hi there"
        );
        // TEXT is shown as typed: its asterisks are the sender's.
        assert_eq!(
            message_text(&message("**hi** there", ContentType::Text)),
            "**hi** there"
        );
        let mut gone = message("", ContentType::Markdown);
        gone.deleted = true;
        assert_eq!(message_text(&gone), "message deleted");
        let mut system = message("Alice renamed the group to *Launch*", ContentType::Markdown);
        system.system = Some(SystemEntry {
            action: SystemAction::Renamed,
            users: vec![],
            title: Some("*Launch*".into()),
        });
        assert_eq!(message_text(&system), "Alice renamed the group to *Launch*");
    }
}
