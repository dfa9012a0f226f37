//! Full-text search over cached messages. The index (FTS5, contentless, in a file of its
//! own kept by a thread of its own: cache/index.rs) may be a page or two behind the cache,
//! and a few edits; what it has not caught up with is read from the messages themselves,
//! so a search always sees the cache as it is: messages after the index's last rowid
//! (newest first, up to [`SCAN_BUDGET`]) and messages changed since (`search_pending`) are
//! checked here, and the index's answers for those changed messages are set aside. What an
//! edit or a deletion removes is erased from the index, not hidden.
//!
//! Every word of a query matches as a prefix ("hel wor" finds "hello world"), anywhere in
//! the message, and results come newest first. A query's words are split as the index
//! splits text (letters and digits; "e-mail" is "e" and "mail"), folded (case, accents).
//! Why not bm25: its weights need, for every word, the number of messages holding it,
//! which FTS5 counts by walking that word's whole list of matches on every query: hundreds
//! of milliseconds for a common word in a million messages. Newest first reads only as many
//! matches as it returns, and is what a person searching a chat usually wants.
//!
//! Three paths through the index, by the lengths of the words:
//! - every word of 2 or 3 letters: the index holds a list for each such prefix of every
//!   word ([`INDEXED_PREFIX`], `prefix='2 3'` in its schema), read lazily newest first;
//! - a word of 4 letters or more, or a one-letter word beside longer ones: a prefix of that
//!   length has no list, and FTS5 would merge the lists of every word it begins
//!   (everything "meet" begins, all of it) before returning a first row. So the query runs
//!   on the indexed prefixes of its words (at most 3 letters each), and each candidate is
//!   checked here against the whole words, stopping at the page's end
//!   ([`CANDIDATE_BUDGET`]);
//! - words of one letter alone: the newest messages are scanned, up to [`SCAN_BUDGET`].
//!
//! Snippets are made here ([`snippet_of`]): a contentless index has no text to make them.

use super::{Cache, CacheResult};
use rusqlite::{params, Connection};
use std::collections::HashSet;
use tidings_proto::Message;
use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

/// A search result: the message and a snippet with the match marked by `[` and `]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SearchHit {
    pub message: Message,
    pub snippet: String,
}

/// The longest word prefix the full-text index holds a list for (see the schema).
const INDEXED_PREFIX: usize = 3;

/// Candidates the checked path reads before it hands the rest to FTS5's own prefix
/// matching (a short indexed prefix, "the", of a rare long word, "thermostat").
const CANDIDATE_BUDGET: usize = 20_000;

/// Messages a search of one-letter words alone reads, newest first, before it stops: FTS5
/// has no list for a prefix of one letter (a list per letter would add to every message's
/// ingest for queries that match nearly everything), and matching one by merging the lists
/// of every word it begins costs seconds at a million messages. Such a search looks at the
/// newest messages only: as typed, the next letter narrows it to an indexed prefix anyway.
const SCAN_BUDGET: usize = 20_000;

/// Turns free text into an FTS5 query: every word must appear (as a prefix), and no
/// character of the input can be read as query syntax.
fn fts_query<'a>(words: impl Iterator<Item = &'a str>) -> Option<String> {
    let terms: Vec<String> = words
        .map(|w| w.replace('"', "\"\""))
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// A word as the index keeps it (the tokenizer is `unicode61 remove_diacritics 2`):
/// lower case, accents removed.
fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of a text as the index splits them: runs of letters and digits.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(fold)
}

/// Whether every wanted word begins some word of `content`.
fn matches_all(content: &str, wanted: &[String]) -> bool {
    let words: Vec<String> = tokens(content).collect();
    wanted
        .iter()
        .all(|w| words.iter().any(|t| t.starts_with(w.as_str())))
}

fn columns() -> String {
    super::messages::COLUMNS
        .split(", ")
        .map(|c| format!("m.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A hit and its message's rowid (results are merged newest first by rowid).
type Found = (i64, SearchHit);

/// The rowid selected after the message's columns.
fn found(r: &rusqlite::Row<'_>, wanted: &[String]) -> rusqlite::Result<Option<Found>> {
    if !matches_all(r.get_ref(5)?.as_str().unwrap_or(""), wanted) {
        return Ok(None);
    }
    let message = super::messages::from_row(r)?;
    let snippet = snippet_of(&message.content, wanted);
    Ok(Some((
        r.get(super::messages::COLUMN_COUNT)?,
        SearchHit { message, snippet },
    )))
}

/// How far the index has got, as one snapshot with the messages (see `Cache::search`).
struct Indexed {
    upto: i64,
    /// Messages changed since the index last looked: its entries for them may be stale.
    stale: HashSet<i64>,
}

fn indexed(conn: &Connection) -> CacheResult<Indexed> {
    let (upto, edits_upto): (i64, i64) = conn
        .prepare_cached("SELECT upto, edits_upto FROM idx.search_state")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let stale = conn
        .prepare_cached("SELECT msg FROM search_pending WHERE id > ?1 AND msg <= ?2")?
        .query_map(params![edits_upto, upto], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Indexed { upto, stale })
}

/// What the index does not hold yet, checked here: the messages after its last rowid,
/// newest first (up to `SCAN_BUDGET`), and the messages changed since it last looked.
fn unindexed(
    conn: &Connection,
    at: &Indexed,
    wanted: &[String],
    limit: usize,
) -> CacheResult<Vec<Found>> {
    let mut hits = Vec::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {cols}, m.rowid FROM messages m WHERE m.rowid > ?1 ORDER BY m.rowid DESC LIMIT ?2",
        cols = columns()
    ))?;
    let mut rows = stmt.query(params![at.upto, SCAN_BUDGET as i64])?;
    while let Some(r) = rows.next()? {
        if let Some(f) = found(r, wanted)? {
            hits.push(f);
            if hits.len() == limit {
                break;
            }
        }
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {cols}, m.rowid FROM messages m WHERE m.rowid = ?1",
        cols = columns()
    ))?;
    for rowid in &at.stale {
        let mut rows = stmt.query([rowid])?;
        if let Some(r) = rows.next()? {
            hits.extend(found(r, wanted)?);
        }
    }
    Ok(hits)
}

/// The newest matches of an FTS5 query older than `below` (a rowid), newest first, leaving
/// out the stale entries of changed messages; checked here against the words, as every
/// path is (the same rules, whichever path found a message).
fn newest(
    conn: &Connection,
    query: &str,
    below: i64,
    at: &Indexed,
    wanted: &[String],
    limit: usize,
) -> CacheResult<Vec<Found>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {cols}, m.rowid
         FROM idx.messages_fts JOIN messages m ON m.rowid = messages_fts.rowid
         WHERE messages_fts MATCH ?1 AND messages_fts.rowid < ?2
         ORDER BY messages_fts.rowid DESC",
        cols = columns()
    ))?;
    let mut rows = stmt.query(params![query, below])?;
    let mut hits = Vec::new();
    while hits.len() < limit {
        let Some(r) = rows.next()? else { break };
        if at.stale.contains(&r.get(super::messages::COLUMN_COUNT)?) {
            continue;
        }
        hits.extend(found(r, wanted)?);
    }
    Ok(hits)
}

/// The checked path: candidates from the indexed prefixes of the words (`broad`), newest
/// first, kept when every whole word (`wanted`) begins one of their words.
fn checked(
    conn: &Connection,
    broad: &str,
    precise: &str,
    at: &Indexed,
    wanted: &[String],
    limit: usize,
) -> CacheResult<Vec<Found>> {
    let mut hits = Vec::new();
    let mut last = i64::MAX;
    let mut read = 0;
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {cols}, m.rowid
             FROM idx.messages_fts JOIN messages m ON m.rowid = messages_fts.rowid
             WHERE messages_fts MATCH ?1 ORDER BY messages_fts.rowid DESC",
            cols = columns()
        ))?;
        let mut rows = stmt.query([broad])?;
        while let Some(r) = rows.next()? {
            last = r.get(super::messages::COLUMN_COUNT)?;
            read += 1;
            if !at.stale.contains(&last) {
                if let Some(f) = found(r, wanted)? {
                    hits.push(f);
                    if hits.len() == limit {
                        break;
                    }
                }
            }
            if read == CANDIDATE_BUDGET {
                break;
            }
        }
        if hits.len() < limit && read < CANDIDATE_BUDGET {
            last = i64::MIN; // every candidate was read
        }
    }
    let one_letter = wanted.iter().any(|w| w.chars().count() == 1);
    if hits.len() < limit && last != i64::MIN && !one_letter {
        // Out of budget: FTS5 matches the rest itself (not for a word of one letter, whose
        // lists FTS5 would merge whole: the search stops at the budget, see SCAN_BUDGET).
        hits.extend(newest(conn, precise, last, at, wanted, limit - hits.len())?);
    }
    Ok(hits)
}

/// A snippet made here (the scan and checked paths, which do not ask FTS5 for one): up to
/// `SNIPPET_WORDS` words from just before the first marked one, the words that begin with a
/// wanted word in `[` `]`, `…` where text is left out. The same shape as FTS5's.
fn snippet_of(content: &str, wanted: &[String]) -> String {
    const SNIPPET_WORDS: usize = 12;
    // (start, end, marked) of every word, by byte offsets.
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in content
        .char_indices()
        .chain(std::iter::once((content.len(), ' ')))
    {
        match (c.is_alphanumeric() && i < content.len(), start) {
            (true, None) => start = Some(i),
            (false, Some(b)) => {
                let folded = fold(&content[b..i]);
                let marked = wanted.iter().any(|w| folded.starts_with(w.as_str()));
                words.push((b, i, marked));
                start = None;
            }
            _ => {}
        }
    }
    let first = words.iter().position(|w| w.2).unwrap_or(0);
    let from = first.saturating_sub(2);
    let to = (from + SNIPPET_WORDS).min(words.len());
    if words.is_empty() {
        return content.to_owned();
    }
    let mut out = String::new();
    let mut at = if from == 0 {
        0
    } else {
        out.push('…');
        words[from].0
    };
    for &(b, e, marked) in &words[from..to] {
        out.push_str(&content[at..b]);
        if marked {
            out.push('[');
            out.push_str(&content[b..e]);
            out.push(']');
        } else {
            out.push_str(&content[b..e]);
        }
        at = e;
    }
    if to < words.len() {
        out.push('…');
    } else {
        out.push_str(&content[at..]);
    }
    out
}

/// The scan path, for words of one letter alone: the newest messages, up to `SCAN_BUDGET`,
/// checked here.
fn scan(conn: &Connection, wanted: &[String], limit: usize) -> CacheResult<Vec<Found>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {cols}, m.rowid FROM messages m ORDER BY m.rowid DESC LIMIT ?1",
        cols = columns()
    ))?;
    let mut rows = stmt.query([SCAN_BUDGET as i64])?;
    let mut hits = Vec::new();
    while let Some(r) = rows.next()? {
        if let Some(f) = found(r, wanted)? {
            hits.push(f);
            if hits.len() == limit {
                break;
            }
        }
    }
    Ok(hits)
}

impl Cache {
    /// Full-text search over cached messages: up to `limit` messages holding every word of
    /// `text` (each as the beginning of a word), newest first.
    pub fn search(&self, text: &str, limit: u32) -> CacheResult<Vec<SearchHit>> {
        // The words as the index splits them: "e-mail" is two, each matched as a prefix
        // (the index keeps no positions, so there are no phrases).
        let wanted: Vec<String> = tokens(text).collect();
        if wanted.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let limit = limit as usize;
        let conn = self.conn();
        let lengths: Vec<usize> = wanted.iter().map(|w| w.chars().count()).collect();
        if lengths.iter().all(|&n| n == 1) {
            return Ok(scan(&conn, &wanted, limit)?
                .into_iter()
                .map(|f| f.1)
                .collect());
        }
        // One snapshot of both files: how far the index has got, and what it holds then.
        let tx = conn.unchecked_transaction()?;
        let at = indexed(&tx)?;
        let mut hits = unindexed(&tx, &at, &wanted, limit)?;
        let newer = hits.iter().filter(|f| f.0 > at.upto).count();
        if newer < limit {
            let precise = fts_query(wanted.iter().map(String::as_str)).unwrap_or_default();
            // Every word has a list of its own (of 2 or 3 letters, or a whole word matched
            // by FTS5's prefix merge only when the checked path ran out of its budget).
            if !lengths.iter().any(|&n| n == 1 || n > INDEXED_PREFIX) {
                hits.extend(newest(&tx, &precise, i64::MAX, &at, &wanted, limit)?);
            } else {
                let prefixes: Vec<String> = wanted
                    .iter()
                    .zip(&lengths)
                    .filter(|(_, &n)| n >= 2)
                    .map(|(w, _)| w.chars().take(INDEXED_PREFIX).collect())
                    .collect();
                let broad = fts_query(prefixes.iter().map(String::as_str)).unwrap_or_default();
                hits.extend(checked(&tx, &broad, &precise, &at, &wanted, limit)?);
            }
        }
        tx.commit()?;
        hits.sort_by_key(|f| std::cmp::Reverse(f.0));
        hits.truncate(limit);
        Ok(hits.into_iter().map(|f| f.1).collect())
    }

    /// Search by FTS5's own prefix matching alone, once the index has caught up (what the
    /// checked path must agree with).
    #[cfg(test)]
    fn search_by_fts(&self, text: &str, limit: u32) -> CacheResult<Vec<SearchHit>> {
        assert!(self.wait_indexed(std::time::Duration::from_secs(60))?);
        let words: Vec<String> = tokens(text).collect();
        let query = fts_query(words.iter().map(String::as_str)).unwrap_or_default();
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {cols} FROM idx.messages_fts JOIN messages m ON m.rowid = messages_fts.rowid
             WHERE messages_fts MATCH ?1 ORDER BY messages_fts.rowid DESC LIMIT ?2",
            cols = columns()
        ))?;
        let rows = stmt.query_map(params![query, limit], |r| {
            let message = super::messages::from_row(r)?;
            let snippet = snippet_of(&message.content, &words);
            Ok(SearchHit { message, snippet })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::testing::{msg, temp_cache};

    /// The seqs of what a search finds, in its order.
    fn seqs_of(cache: &Cache, q: &str, limit: u32) -> Vec<i64> {
        cache
            .search(q, limit)
            .unwrap()
            .iter()
            .map(|h| h.message.seq)
            .collect()
    }

    #[test]
    fn search_sees_what_the_index_has_not_caught_up_with() {
        let t = temp_cache("search-behind");
        let c = &t.cache;
        let old: Vec<_> = (1..=30)
            .map(|s| msg("c", s, "bob", &format!("walrus meeting {s}")))
            .collect();
        c.insert_messages(&old, "me").unwrap();
        assert!(c.wait_indexed(std::time::Duration::from_secs(60)).unwrap());
        c.hold_index(true);
        // Behind the index: new messages, an edit and a deletion of indexed ones.
        let new: Vec<_> = (31..=40)
            .map(|s| msg("c", s, "bob", &format!("walrus party {s}")))
            .collect();
        c.insert_messages(&new, "me").unwrap();
        let mut edited = msg("c", 5, "bob", "narwhal meeting");
        edited.rev = 1;
        let mut gone = msg("c", 6, "bob", "");
        gone.rev = 1;
        gone.tombstone();
        c.insert_messages(&[edited, gone], "me").unwrap();
        assert!(!c
            .wait_indexed(std::time::Duration::from_millis(50))
            .unwrap());
        let check = |c: &Cache| {
            assert_eq!(
                seqs_of(c, "walrus", 100),
                [(1..=40)
                    .rev()
                    .filter(|s| *s != 5 && *s != 6)
                    .collect::<Vec<_>>()]
                .concat()
            );
            assert_eq!(
                seqs_of(c, "wal par", 100),
                (31..=40).rev().collect::<Vec<_>>()
            );
            assert_eq!(seqs_of(c, "walrus meeting", 5), [30, 29, 28, 27, 26]);
            assert_eq!(seqs_of(c, "narwhal", 10), [5]);
            assert_eq!(seqs_of(c, "nar mee", 10), [5]);
            assert_eq!(seqs_of(c, "walrus", 3), [40, 39, 38]);
        };
        check(c);
        assert_eq!(
            c.search("narwhal", 1).unwrap()[0].snippet,
            "[narwhal] meeting"
        );
        c.hold_index(false);
        assert!(c.wait_indexed(std::time::Duration::from_secs(60)).unwrap());
        check(c);
        assert_eq!(c.index_matches("walrus"), 38);
        assert_eq!(c.index_matches("narwhal"), 1);
    }

    #[test]
    fn a_missing_or_broken_index_file_is_built_again_from_the_messages() {
        let t = temp_cache("search-rebuild");
        let path = t.dir.join("cache.db");
        let index = t.dir.join("cache.search.db");
        let all: Vec<_> = (1..=100)
            .map(|s| msg("c", s, "bob", &format!("orca sighting {s}")))
            .collect();
        t.cache.insert_messages(&all, "me").unwrap();
        assert_eq!(t.cache.index_matches("orca"), 100);
        let cache = &t.cache;
        drop(std::mem::replace(
            &mut *cache.conn(),
            rusqlite::Connection::open_in_memory().unwrap(),
        ));
        for broken in ["missing", "garbage", "another database"] {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", index.display()));
            }
            match broken {
                "garbage" => std::fs::write(
                    &index,
                    b"not a database, written over the index".repeat(200),
                )
                .unwrap(),
                "another database" => rusqlite::Connection::open(&index)
                    .unwrap()
                    .execute_batch("CREATE TABLE other (x); PRAGMA user_version = 1;")
                    .unwrap(),
                _ => {}
            }
            let again = Cache::open(&path).unwrap();
            assert_eq!(seqs_of(&again, "orca sig", 3), [100, 99, 98], "{broken:?}");
            assert_eq!(again.index_matches("orca"), 100, "{broken:?}");
            assert_eq!(again.messages_after("c", 0).unwrap().len(), 100);
        }
    }

    #[test]
    fn the_index_follows_edits_deletions_and_new_messages_in_any_order() {
        let t = temp_cache("search-follow");
        let c = &t.cache;
        let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
        // Each round stores new messages and revises earlier ones (some twice in a row,
        // some before the index saw them), with the index held or let run in between.
        let mut rev = std::collections::HashMap::new();
        let mut text = std::collections::HashMap::new();
        for round in 0..12i64 {
            c.hold_index(round % 3 == 1);
            let fresh: Vec<_> = (round * 20 + 1..=round * 20 + 20)
                .map(|s| msg("c", s, "bob", words[(s % 6) as usize]))
                .collect();
            for m in &fresh {
                text.insert(m.seq, m.content.clone());
            }
            c.insert_messages(&fresh, "me").unwrap();
            for k in 0..15 {
                let seq = (round * 37 + k * 11) % (round * 20 + 20) + 1;
                let r = rev.entry(seq).or_insert(0);
                *r += 1;
                let mut m = msg("c", seq, "bob", words[((seq + *r + round) % 6) as usize]);
                m.rev = *r;
                if (seq + round) % 7 == 0 {
                    m.tombstone();
                }
                text.insert(seq, m.content.clone());
                c.insert_messages(&[m], "me").unwrap();
            }
        }
        c.hold_index(false);
        for w in words {
            let truth = text.values().filter(|t| t.as_str() == w).count() as i64;
            assert_eq!(c.index_matches(w), truth, "{w}");
            assert_eq!(seqs_of(c, w, 1000).len() as i64, truth, "{w}");
        }
        c.conn()
            .execute(
                "INSERT INTO idx.messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
                [],
            )
            .unwrap();
        let left: i64 = c
            .conn()
            .query_row("SELECT count(*) FROM search_pending", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0, "applied changes are removed");
    }

    #[test]
    fn two_caches_of_one_file_keep_one_index() {
        let t = temp_cache("search-two");
        let other = Cache::open(&t.dir.join("cache.db")).unwrap();
        for round in 0..20 {
            let (c, who) = if round % 2 == 0 {
                (&t.cache, "bob")
            } else {
                (&other, "amy")
            };
            let page: Vec<_> = (1..=50)
                .map(|s| msg(&format!("c{round}"), s, who, &format!("heron flight {who}")))
                .collect();
            c.insert_messages(&page, "me").unwrap();
        }
        for c in [&t.cache, &other] {
            assert!(c.wait_indexed(std::time::Duration::from_secs(60)).unwrap());
            assert_eq!(c.index_matches("heron"), 1000);
            assert_eq!(c.index_matches("amy"), 500);
            assert_eq!(c.search("her fli", 1000).unwrap().len(), 1000);
        }
    }

    #[test]
    fn the_indexing_thread_checkpoints_the_caches_log() {
        let t = temp_cache("search-checkpoint");
        let c = &t.cache;
        // Only the indexing thread may copy the log into the file now.
        c.conn()
            .pragma_update(None, "wal_autocheckpoint", 0)
            .unwrap();
        let file = t.dir.join("cache.db");
        let size = || std::fs::metadata(&file).unwrap().len();
        let before = size();
        let text = "osprey ".repeat(40);
        for page in 0..8 {
            let rows: Vec<_> = (1..=250)
                .map(|s| msg("c", page * 250 + s, "bob", &text))
                .collect();
            c.insert_messages(&rows, "me").unwrap();
        }
        // The pass that indexed the last page checkpointed before it counted as done.
        assert!(c.wait_indexed(std::time::Duration::from_secs(60)).unwrap());
        let after = size();
        assert!(
            after >= before + 500_000,
            "2,000 messages of 280 bytes are in the cache file itself ({before} -> {after} bytes)"
        );
        assert_eq!(c.search("osp", 5).unwrap().len(), 5);
    }

    #[test]
    fn search_finds_words_and_prefixes_and_ignores_query_syntax() {
        let t = temp_cache("search");
        t.cache
            .insert_messages(
                &[
                    msg("c", 1, "bob", "The quarterly report is ready"),
                    msg("c", 2, "bob", "Lunch at noon?"),
                    msg("d", 1, "amy", "Report: café opening \"soon\""),
                ],
                "me",
            )
            .unwrap();
        let hits = t.cache.search("report", 10).unwrap();
        assert_eq!(hits.len(), 2);
        assert!(hits.iter().any(|h| h.snippet.contains("[report]")));
        assert!(hits.iter().any(|h| h.snippet.contains("[Report]")));
        assert_eq!(t.cache.search("quart rep", 10).unwrap().len(), 1);
        assert_eq!(t.cache.search("qu re", 10).unwrap().len(), 1);
        assert_eq!(
            t.cache.search("cafe", 10).unwrap().len(),
            1,
            "diacritics folded"
        );
        assert_eq!(t.cache.search("CAFÉ op", 10).unwrap().len(), 1);
        for hostile in ["\"", "AND OR NOT", "a*b(", "NEAR(", "col:x", "   "] {
            assert!(t.cache.search(hostile, 10).is_ok(), "{hostile}");
        }
    }

    #[test]
    fn results_come_newest_first_and_stop_at_the_limit() {
        let t = temp_cache("search-newest");
        let all: Vec<Message> = (1..=300)
            .map(|i| msg("c", i, "bob", &format!("status report number {i}")))
            .collect();
        t.cache.insert_messages(&all, "me").unwrap();
        for q in ["report", "rep", "status rep", "r"] {
            let seqs: Vec<i64> = t
                .cache
                .search(q, 50)
                .unwrap()
                .iter()
                .map(|h| h.message.seq)
                .collect();
            assert_eq!(seqs, (251..=300).rev().collect::<Vec<_>>(), "{q}");
        }
        // A rare word far back is still found.
        t.cache
            .insert_messages(&[msg("d", 1, "amy", "the zephyr plan")], "me")
            .unwrap();
        t.cache
            .insert_messages(&[msg("c", 301, "bob", "report again")], "me")
            .unwrap();
        assert_eq!(t.cache.search("zephyr", 10).unwrap().len(), 1);
    }

    #[test]
    fn the_checked_path_finds_what_fts5_prefix_matching_finds() {
        let t = temp_cache("search-agree");
        let words = [
            "meeting",
            "meet",
            "meets",
            "meetup",
            "Méeting",
            "deploy",
            "deployment",
            "dep",
            "the",
            "there",
            "thermostat",
            "x",
            "xylophone",
            "naïve",
            "NAIVE",
            "2026",
            "a1b2",
        ];
        let all: Vec<Message> = (0..400usize)
            .map(|i| {
                let text: Vec<&str> = (0..5)
                    .map(|k| words[(i * 7 + k * 5 + i / 3) % words.len()])
                    .collect();
                msg(
                    "c",
                    i as i64 + 1,
                    "bob",
                    &text.join(if i % 2 == 0 { " " } else { ", " }),
                )
            })
            .collect();
        t.cache.insert_messages(&all, "me").unwrap();
        let queries = [
            "meeting",
            "meet",
            "meetu",
            "Meeting dep",
            "deployme the",
            "thermo",
            "x the",
            "naive",
            "NAÏV",
            "2026 meet",
            "a1b",
            "t m",
            "xylophone there",
            "nomatchatall",
        ];
        for q in queries {
            for limit in [5, 50, 500] {
                let ids = |hits: Vec<SearchHit>| {
                    hits.into_iter().map(|h| h.message.seq).collect::<Vec<_>>()
                };
                assert_eq!(
                    ids(t.cache.search(q, limit).unwrap()),
                    ids(t.cache.search_by_fts(q, limit).unwrap()),
                    "{q} (limit {limit})"
                );
            }
        }
        // The snippet marks only the words that begin with a word searched for.
        let hits = t.cache.search("thermo", 500).unwrap();
        assert!(!hits.is_empty());
        for h in hits {
            assert!(h.snippet.contains("[thermostat]"), "{}", h.snippet);
            assert!(!h.snippet.contains("[the]") && !h.snippet.contains("[there]"));
        }
    }

    #[test]
    fn two_word_prefixes_as_typed_find_the_newest_first() {
        let t = temp_cache("search-typed");
        let all: Vec<Message> = (1..=600)
            .map(|i| {
                let text = match i % 4 {
                    0 => "hello world",
                    1 => "help wanted in the world cup",
                    2 => "Héllo Wörld, again",
                    _ => "goodbye moon",
                };
                msg("c", i, "bob", text)
            })
            .collect();
        t.cache.insert_messages(&all, "me").unwrap();
        let seqs = |q: &str, limit| seqs_of(&t.cache, q, limit);
        // Every prefix length as the words are typed, case and accents folded.
        let hello_world: Vec<i64> = (1..=600)
            .rev()
            .filter(|i| i % 4 == 0 || i % 4 == 2)
            .collect();
        for q in ["hell worl", "HELLO WORLD", "héll wör", "wo hell"] {
            assert_eq!(seqs(q, 1000), hello_world, "{q}");
            assert_eq!(seqs(q, 20), hello_world[..20], "{q} (limit)");
        }
        // "help wanted in the world cup" has words beginning "he", "hel", "wo" and "wor".
        let any_hel_wor: Vec<i64> = (1..=600).rev().filter(|i| i % 4 != 3).collect();
        for q in ["he wo", "hel wor", "HE WÖ"] {
            assert_eq!(seqs(q, 1000), any_hel_wor, "{q}");
            assert_eq!(seqs(q, 20), any_hel_wor[..20], "{q} (limit)");
        }
        let hel: Vec<i64> = (1..=600).rev().filter(|i| i % 4 != 3).collect();
        assert_eq!(seqs("hel", 1000), hel);
        assert_eq!(
            seqs("help wor", 1000),
            (1..=600).rev().filter(|i| i % 4 == 1).collect::<Vec<_>>()
        );
        assert!(seqs("hello moon", 10).is_empty());
        let h = &t.cache.search("hel wö", 1).unwrap()[0];
        assert_eq!(h.message.seq, 600);
        assert!(h.snippet.contains("[hello] [world]"), "{}", h.snippet);
        let h = &t.cache.search("hell wor", 2).unwrap()[1];
        assert_eq!(h.message.seq, 598);
        assert!(h.snippet.contains("[Héllo] [Wörld]"), "{}", h.snippet);
    }

    #[test]
    fn one_letter_searches_read_the_newest_messages_only() {
        let t = temp_cache("search-letter");
        let mut all = vec![msg("c", 1, "bob", "zebra crossing")];
        all.extend((2..=SCAN_BUDGET as i64 + 100).map(|i| {
            msg(
                "c",
                i,
                "bob",
                if i % 1000 == 0 {
                    "Über xylophone"
                } else {
                    "filler text"
                },
            )
        }));
        t.cache.insert_messages(&all, "me").unwrap();
        let seqs = |q: &str, limit| seqs_of(&t.cache, q, limit);
        let last = SCAN_BUDGET as i64 + 100;
        // Newest first, to the limit.
        assert_eq!(seqs("f", 3), vec![last, last - 1, last - 2]);
        assert_eq!(seqs("f T", 2), vec![last, last - 1]);
        // Accents and case folded; the snippet marks the words.
        let u = t.cache.search("u", 50).unwrap();
        assert_eq!(u.len(), 20);
        assert!(u.iter().all(|h| h.message.seq % 1000 == 0));
        assert_eq!(u[0].snippet, "[Über] xylophone");
        assert_eq!(
            t.cache.search("x U", 5).unwrap()[0].snippet,
            "[Über] [xylophone]"
        );
        // Beyond the newest SCAN_BUDGET messages a one-letter search does not look; a
        // second letter finds it, and so does a one-letter word beside a longer one.
        assert!(seqs("z", 10).is_empty());
        assert_eq!(seqs("ze", 10), vec![1]);
        assert_eq!(seqs("z cro", 10), vec![1]);
        assert_eq!(seqs("zebra c", 10), vec![1]);
    }

    #[test]
    fn scan_snippets_shorten_long_text_around_the_first_match() {
        let wanted = vec!["mid".to_owned()];
        let words: Vec<String> = (0..30).map(|i| format!("w{i}")).collect();
        let mut text = words.clone();
        text[15] = "Middle".into();
        let s = snippet_of(&text.join(" "), &wanted);
        assert_eq!(s, "…w13 w14 [Middle] w16 w17 w18 w19 w20 w21 w22 w23 w24…");
        assert_eq!(snippet_of("a Mid, end.", &wanted), "a [Mid], end.");
        assert_eq!(snippet_of("", &wanted), "");
    }
}
