//! Where the user was, so that the app comes back as it was left (after hiding to the tray,
//! which releases the window, and after a restart): the open conversation, and for each
//! conversation the place it was scrolled to. A conversation with no saved place was left
//! at its newest message.

use super::{Cache, CacheResult};
use rusqlite::{params, OptionalExtension};

/// A place in a conversation's timeline: the message at the top of the view and how far
/// (in CSS pixels) its top is below the view's top (negative: scrolled past it). Kept by
/// message, not by pixels, so it holds whatever pages of history are loaded and however
/// wide the window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ScrollAnchor {
    pub seq: i64,
    pub offset: i64,
}

const OPEN: &str = "open";

fn scroll_key(cid: &str) -> String {
    format!("scroll:{cid}")
}

impl Cache {
    fn view_value(&self, key: &str) -> CacheResult<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT value FROM view_state WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    fn set_view_value(&self, key: &str, value: Option<&str>) -> CacheResult<()> {
        let conn = self.conn();
        match value {
            Some(v) => conn
                .prepare_cached(
                    "INSERT INTO view_state (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![key, v])?,
            None => conn
                .prepare_cached("DELETE FROM view_state WHERE key = ?1")?
                .execute([key])?,
        };
        Ok(())
    }

    /// The conversation that was open (none: the list alone, or another panel).
    pub fn open_conversation(&self) -> CacheResult<Option<String>> {
        self.view_value(OPEN)
    }

    pub fn set_open_conversation(&self, cid: Option<&str>) -> CacheResult<()> {
        self.set_view_value(OPEN, cid)
    }

    /// Where `cid` was scrolled to; `None`: at its newest message.
    pub fn scroll_anchor(&self, cid: &str) -> CacheResult<Option<ScrollAnchor>> {
        // A value that does not parse (written by something else) is no place: the newest.
        Ok(self
            .view_value(&scroll_key(cid))?
            .and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Keeps where `cid` is scrolled to (`None`: at its newest message).
    pub fn set_scroll_anchor(&self, cid: &str, anchor: Option<ScrollAnchor>) -> CacheResult<()> {
        let value = anchor.map(|a| serde_json::json!(a).to_string());
        self.set_view_value(&scroll_key(cid), value.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::ScrollAnchor;
    use crate::cache::testing::temp_cache;
    use crate::cache::Cache;

    #[test]
    fn the_open_conversation_and_each_scroll_position_are_kept() {
        let t = temp_cache("view");
        let c = &t.cache;
        assert_eq!(c.open_conversation().unwrap(), None);
        c.set_open_conversation(Some("team")).unwrap();
        c.set_open_conversation(Some("bob")).unwrap();
        let a = ScrollAnchor {
            seq: 41,
            offset: -12,
        };
        c.set_scroll_anchor("team", Some(a)).unwrap();
        c.set_scroll_anchor("bob", None).unwrap();
        assert_eq!(c.scroll_anchor("bob").unwrap(), None);
        let again = Cache::open(&t.dir.join("cache.db")).unwrap();
        assert_eq!(again.open_conversation().unwrap().as_deref(), Some("bob"));
        assert_eq!(again.scroll_anchor("team").unwrap(), Some(a));
        // Back at the newest: the place is forgotten.
        again.set_scroll_anchor("team", None).unwrap();
        assert_eq!(again.scroll_anchor("team").unwrap(), None);
        again.set_open_conversation(None).unwrap();
        assert_eq!(again.open_conversation().unwrap(), None);
    }
}
