//! Full-text search over cached messages (FTS5, kept in step with the messages by
//! triggers; what an edit or a deletion removes is erased from the index, not hidden).

use super::{Cache, CacheResult};
use rusqlite::{params, OptionalExtension};
use tidings_proto::Message;

/// A search result: the message and a snippet with the match marked by `[` and `]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SearchHit {
    pub message: Message,
    pub snippet: String,
}

/// Turns free text into an FTS5 query: every word must appear (as a prefix), and no
/// character of the input can be read as query syntax.
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .map(|w| w.replace('"', "\"\""))
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl Cache {
    /// Full-text search over cached messages: the best matches (bm25) among the
    /// [`SEARCH_WINDOW`] most recently stored ones. Ranking every match of a common word in
    /// a million messages takes seconds; the newest matches are found in milliseconds, and
    /// they are what a person searching a chat usually wants.
    pub fn search(&self, text: &str, limit: u32) -> CacheResult<Vec<SearchHit>> {
        let Some(query) = fts_query(text) else {
            return Ok(Vec::new());
        };
        let conn = self.conn();
        // The rowid of the SEARCH_WINDOW-th newest match (none: fewer matches than that).
        let floor: i64 = conn
            .prepare_cached(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1
                 ORDER BY rowid DESC LIMIT 1 OFFSET ?2",
            )?
            .query_row(params![query, SEARCH_WINDOW - 1], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {cols}, snippet(messages_fts, 0, '[', ']', '…', 12)
             FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid
             WHERE messages_fts MATCH ?1 AND messages_fts.rowid >= ?3 ORDER BY rank LIMIT ?2",
            cols = super::messages::COLUMNS
                .split(", ")
                .map(|c| format!("m.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
        let rows = stmt.query_map(params![query, limit, floor], |r| {
            Ok(SearchHit {
                message: super::messages::from_row(r)?,
                snippet: r.get(super::messages::COLUMN_COUNT)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// How many of the newest matches a search ranks.
pub const SEARCH_WINDOW: i64 = 1000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::testing::{msg, temp_cache};

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
        assert_eq!(t.cache.search("quart rep", 10).unwrap().len(), 1);
        assert_eq!(
            t.cache.search("cafe", 10).unwrap().len(),
            1,
            "diacritics folded"
        );
        for hostile in ["\"", "AND OR NOT", "a*b(", "NEAR(", "col:x", "   "] {
            assert!(t.cache.search(hostile, 10).is_ok(), "{hostile}");
        }
    }

    #[test]
    fn search_ranks_the_newest_matches_of_a_common_word() {
        let t = temp_cache("search-window");
        let n = SEARCH_WINDOW + 200;
        let all: Vec<Message> = (1..=n)
            .map(|i| msg("c", i, "bob", &format!("status report number {i}")))
            .collect();
        t.cache.insert_messages(&all, "me").unwrap();
        let hits = t.cache.search("report", 50).unwrap();
        assert_eq!(hits.len(), 50);
        assert!(
            hits.iter().all(|h| h.message.seq > n - SEARCH_WINDOW),
            "only the newest {SEARCH_WINDOW} matches are ranked"
        );
        // A rare word far back is still found: the window counts matches, not messages.
        t.cache
            .insert_messages(&[msg("d", 1, "amy", "the zephyr plan")], "me")
            .unwrap();
        t.cache
            .insert_messages(&[msg("c", n + 1, "bob", "report again")], "me")
            .unwrap();
        assert_eq!(t.cache.search("zephyr", 10).unwrap().len(), 1);
    }
}
