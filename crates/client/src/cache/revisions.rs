//! Revisions and membership in the cache: per conversation, the revision held (every change
//! of its timeline up to it is applied here), the highest revision known to exist on the
//! server, and whether the user has left it.
//!
//! A cached message whose `rev` is the one after the held revision means that change is
//! applied (the row is as that change, or a later one, left it), so the held revision moves
//! over contiguous revisions by itself; when it cannot (a change was overtaken by a later
//! one, or never arrived), the known revision stays above it: a gap, repaired by asking the
//! server for the changes after the held one ([`Cache::hold_rev`] records the answer).
//! Servers that keep no revisions send 0 everywhere: nothing here moves, and no gap shows.

use super::{Cache, CacheResult};
use rusqlite::{params, Connection, OptionalExtension};

/// Raises the highest revision known to exist.
pub(super) fn raise_server_rev(conn: &Connection, cid: &str, rev: i64) -> CacheResult<()> {
    conn.prepare_cached(
        "UPDATE conversations SET server_rev = ?2 WHERE id = ?1 AND server_rev < ?2",
    )?
    .execute(params![cid, rev])?;
    Ok(())
}

/// Moves the held revision over every contiguous revision the cached messages show.
pub(super) fn advance_held(conn: &Connection, cid: &str) -> CacheResult<()> {
    let Some(held): Option<i64> = conn
        .prepare_cached("SELECT rev FROM conversations WHERE id = ?1")?
        .query_row([cid], |r| r.get(0))
        .optional()?
    else {
        return Ok(());
    };
    let mut next = held;
    let mut probe = conn.prepare_cached(
        "SELECT DISTINCT rev FROM messages WHERE conversation_id = ?1 AND rev > ?2
         ORDER BY rev LIMIT 256",
    )?;
    loop {
        let revs: Vec<i64> = probe
            .query_map(params![cid, next], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let before = next;
        for r in &revs {
            if *r == next + 1 {
                next = *r;
            } else {
                break;
            }
        }
        if next == before || revs.len() < 256 || next != *revs.last().unwrap_or(&next) {
            break;
        }
    }
    if next != held {
        conn.prepare_cached("UPDATE conversations SET rev = ?2 WHERE id = ?1 AND rev < ?2")?
            .execute(params![cid, next])?;
    }
    Ok(())
}

impl Cache {
    /// The revision held for a conversation (0 when unknown).
    pub fn held_rev(&self, cid: &str) -> CacheResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT rev FROM conversations WHERE id = ?1", [cid], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0))
    }

    /// Every change up to `rev` is applied (a page of `changes` was merged): holds it, and
    /// knows that the server has at least that much.
    pub fn hold_rev(&self, cid: &str, rev: i64) -> CacheResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE conversations SET rev = ?2 WHERE id = ?1 AND rev < ?2",
            params![cid, rev],
        )?;
        raise_server_rev(&tx, cid, rev)?;
        advance_held(&tx, cid)?;
        tx.commit()?;
        Ok(())
    }

    /// Records that the server has changes up to `rev` in a conversation (a live event or
    /// the conversation list said so), so that a gap shows.
    pub fn note_rev(&self, cid: &str, rev: i64) -> CacheResult<()> {
        raise_server_rev(&self.conn(), cid, rev)
    }

    /// Conversations (not left) with changes known to exist but not applied:
    /// (id, held, known).
    pub fn rev_gaps(&self) -> CacheResult<Vec<(String, i64, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, rev, server_rev FROM conversations WHERE rev < server_rev AND left = 0
             ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether a conversation (not left) misses changes known to exist.
    pub fn behind(&self, cid: &str) -> CacheResult<bool> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT rev < server_rev AND left = 0 FROM conversations WHERE id = ?1",
            )?
            .query_row([cid], |r| r.get(0))
            .optional()?
            .unwrap_or(false))
    }

    /// The user is no longer in the conversation (left, or removed): it stays cached and
    /// readable, marked left, and nothing is fetched for it or sent to it until the user
    /// is added again (the conversation then comes back in a listing or an update). `true`
    /// if it was not marked yet.
    pub fn mark_left(&self, cid: &str) -> CacheResult<bool> {
        Ok(self.conn().execute(
            "UPDATE conversations SET left = 1 WHERE id = ?1 AND left = 0",
            [cid],
        )? > 0)
    }

    /// The ids of every cached conversation the user is still in.
    pub fn joined_ids(&self) -> CacheResult<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT id FROM conversations WHERE left = 0")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::cache::testing::{msg, temp_cache};

    fn at(mut m: tidings_proto::Message, rev: i64) -> tidings_proto::Message {
        m.rev = rev;
        m
    }

    #[test]
    fn the_held_revision_moves_over_contiguous_revisions_and_a_gap_shows() {
        let t = temp_cache("revs");
        let c = &t.cache;
        c.insert_messages(&[at(msg("c", 1, "bob", "a"), 1)], "me")
            .unwrap();
        assert_eq!(c.held_rev("c").unwrap(), 1);
        // Rev 3 before rev 2: applied, but held stays; the gap shows.
        c.insert_messages(&[at(msg("c", 3, "bob", "c"), 3)], "me")
            .unwrap();
        assert_eq!(c.held_rev("c").unwrap(), 1);
        assert_eq!(c.rev_gaps().unwrap(), vec![("c".to_owned(), 1, 3)]);
        c.insert_messages(&[at(msg("c", 2, "bob", "b"), 2)], "me")
            .unwrap();
        assert_eq!(c.held_rev("c").unwrap(), 3);
        assert!(c.rev_gaps().unwrap().is_empty());
        // Rev 4 was overtaken (an edit at 5 of the same message): only a change page
        // closes the gap.
        c.insert_messages(&[at(msg("c", 1, "bob", "a2"), 5)], "me")
            .unwrap();
        assert_eq!(c.held_rev("c").unwrap(), 3);
        c.hold_rev("c", 5).unwrap();
        assert_eq!(c.held_rev("c").unwrap(), 5);
        assert!(c.rev_gaps().unwrap().is_empty());
    }

    #[test]
    fn revision_less_servers_move_nothing() {
        let t = temp_cache("norevs");
        let c = &t.cache;
        c.insert_messages(&[msg("c", 1, "bob", "a"), msg("c", 2, "bob", "b")], "me")
            .unwrap();
        assert_eq!(c.held_rev("c").unwrap(), 0);
        assert!(c.rev_gaps().unwrap().is_empty());
    }

    #[test]
    fn a_left_conversation_keeps_its_messages_and_shows_no_gap() {
        let t = temp_cache("left");
        let c = &t.cache;
        c.insert_messages(&[at(msg("c", 2, "bob", "kept"), 2)], "me")
            .unwrap();
        assert!(c.mark_left("c").unwrap());
        assert!(!c.mark_left("c").unwrap());
        assert!(c.conversation("c").unwrap().unwrap().left);
        assert!(c.rev_gaps().unwrap().is_empty());
        assert_eq!(c.messages_after("c", 0).unwrap().len(), 1);
        assert!(c.joined_ids().unwrap().is_empty());
    }
}
