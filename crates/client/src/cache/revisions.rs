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
//!
//! Membership: live events (`CONVERSATION_UPDATED`, `CONVERSATION_LEFT`) come in order and
//! always apply; a REST answer (the conversation list, a 403) may have been overtaken by
//! one of them while on its way. Each conversation counts the flips of its membership (its
//! generation); an answer asked for at generation G changes membership only if it is
//! still G when the answer arrives.

use super::{Cache, CacheResult};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};
use tidings_proto::Conversation;

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

    /// The user is no longer in the conversation (left, or removed, as `how` says): it
    /// stays cached and readable, marked left, and nothing is fetched for it or sent to it
    /// until the user is added again (the conversation then comes back in a listing or an
    /// update). A known departure also fills in one marked left without a reason (the
    /// listing came first). `true` if anything changed.
    pub fn mark_left(&self, cid: &str, how: Departure<'_>) -> CacheResult<bool> {
        let (removed_by, themselves) = match how {
            Departure::Left => (None, true),
            Departure::RemovedBy(by) => (Some(by), false),
        };
        Ok(self.conn().execute(
            "UPDATE conversations SET membership = membership + (left = 0), left = 1,
               removed_by = ?2, left_themselves = ?3
             WHERE id = ?1
               AND (left = 0 OR (removed_by IS NULL AND left_themselves = 0))",
            params![cid, removed_by, themselves],
        )? > 0)
    }

    /// A conversation's membership generation: how many times the user's membership of it
    /// flipped here (0 when unknown). Read before asking the server something whose answer
    /// may mark it left or joined, it tells whether live news overtook that answer.
    pub fn membership(&self, cid: &str) -> CacheResult<i64> {
        Ok(self
            .conn()
            .prepare_cached("SELECT membership FROM conversations WHERE id = ?1")?
            .query_row([cid], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    /// [`Cache::mark_left`] for an answer (a refusal, a listing without it) asked for when
    /// the membership generation was `asked`: nothing if the membership changed since (the
    /// user was added back, say, while the answer was on its way). How the user left is
    /// not known then (it stays so). `true` if marked.
    pub fn mark_left_as_of(&self, cid: &str, asked: i64) -> CacheResult<bool> {
        Ok(self.conn().execute(
            "UPDATE conversations SET left = 1, membership = membership + 1
             WHERE id = ?1 AND left = 0 AND membership = ?2",
            params![cid, asked],
        )? > 0)
    }

    /// The membership generation of every cached conversation, read before asking for the
    /// conversation list (see [`Cache::apply_listing`]).
    pub fn memberships(&self) -> CacheResult<Memberships> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT id, membership FROM conversations")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Memberships(rows.collect::<rusqlite::Result<_>>()?))
    }

    /// Merges the complete conversation list, asked for when the memberships were `asked`:
    /// every listed conversation is merged, and every conversation cached then that the
    /// list lacks is marked left, both only where the membership did not change since
    /// (live news is newer than the list). Returns the conversations marked left.
    pub fn apply_listing(
        &self,
        asked: &Memberships,
        list: &[Conversation],
        me: &str,
    ) -> CacheResult<Vec<String>> {
        for c in list {
            // A conversation first cached after the list was asked for started at 0.
            let gen = asked.0.get(&c.id).copied().unwrap_or(0);
            self.upsert_conversation_as_of(c, me, gen)?;
        }
        let listed: HashSet<&str> = list.iter().map(|c| c.id.as_str()).collect();
        let mut left = Vec::new();
        for (cid, gen) in &asked.0 {
            if !listed.contains(cid.as_str()) && self.mark_left_as_of(cid, *gen)? {
                left.push(cid.clone());
            }
        }
        left.sort();
        Ok(left)
    }
}

/// How the user came to leave a conversation, when the engine sees it happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure<'a> {
    /// They left by themselves.
    Left,
    /// Removed by this user.
    RemovedBy(&'a str),
}

/// The membership generation of each cached conversation at one moment
/// ([`Cache::memberships`]).
#[derive(Debug, Clone, Default)]
pub struct Memberships(HashMap<String, i64>);

#[cfg(test)]
mod tests {
    use crate::cache::testing::{msg, temp_cache};
    use crate::cache::Departure;

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
        assert!(c.mark_left("c", Departure::Left).unwrap());
        assert!(!c.mark_left("c", Departure::Left).unwrap());
        assert!(c.conversation("c").unwrap().unwrap().left);
        assert!(c.rev_gaps().unwrap().is_empty());
        assert_eq!(c.messages_after("c", 0).unwrap().len(), 1);
    }

    fn group(id: &str, rev: i64) -> tidings_proto::Conversation {
        tidings_proto::Conversation {
            id: id.into(),
            kind: tidings_proto::ConversationKind::Group,
            title: Some(format!("{id} at {rev}")),
            participants: Vec::new(),
            last_seq: 0,
            read_seq: 0,
            unread_count: 0,
            last_message: None,
            rev,
            created_by: "amy".into(),
            created_at: tidings_proto::Timestamp(0),
        }
    }

    fn left(c: &crate::cache::Cache, id: &str) -> bool {
        c.conversation(id).unwrap().unwrap().left
    }

    #[test]
    fn a_listing_marks_left_what_it_lacks_unless_the_user_was_added_back_meanwhile() {
        let t = temp_cache("listing");
        let c = &t.cache;
        c.upsert_conversation(&group("g", 1), "me").unwrap();
        c.upsert_conversation(&group("h", 1), "me").unwrap();
        // The list is asked for; the server answers while the user is out of both.
        let asked = c.memberships().unwrap();
        // Before the answer arrives, live: removed from g and added back.
        assert!(c.mark_left("g", Departure::RemovedBy("amy")).unwrap());
        c.upsert_conversation(&group("g", 3), "me").unwrap();
        assert!(!left(c, "g"));
        let marked = c.apply_listing(&asked, &[], "me").unwrap();
        assert_eq!(marked, vec!["h".to_owned()]);
        assert!(!left(c, "g"), "the re-add is newer than the listing");
        assert!(left(c, "h"));
        // A listing asked for now still marks g left when it lacks it.
        let asked = c.memberships().unwrap();
        assert_eq!(
            c.apply_listing(&asked, &[], "me").unwrap(),
            vec!["g".to_owned()]
        );
        assert!(left(c, "g"));
    }

    #[test]
    fn a_listing_older_than_a_removal_does_not_undo_it_and_a_newer_one_re_adds() {
        let t = temp_cache("listing-old");
        let c = &t.cache;
        c.upsert_conversation(&group("g", 1), "me").unwrap();
        let asked = c.memberships().unwrap();
        // The server lists g (rev 1); then, before the answer arrives, the user is removed.
        assert!(c.mark_left("g", Departure::RemovedBy("amy")).unwrap());
        c.apply_listing(&asked, &[group("g", 1)], "me").unwrap();
        assert!(left(c, "g"));
        // A conversation first cached after the list was asked for, and left since.
        c.upsert_conversation(&group("n", 1), "me").unwrap();
        assert!(c.mark_left("n", Departure::Left).unwrap());
        c.apply_listing(&asked, &[group("n", 1)], "me").unwrap();
        assert!(left(c, "n"));
        // Added back while away: the next listing has them, and they are un-marked.
        let asked = c.memberships().unwrap();
        c.apply_listing(&asked, &[group("g", 3), group("n", 3)], "me")
            .unwrap();
        assert!(!left(c, "g"));
        assert!(!left(c, "n"));
    }

    #[test]
    fn a_refusal_marks_left_only_if_the_membership_did_not_change_since_the_request() {
        let t = temp_cache("refusal");
        let c = &t.cache;
        c.upsert_conversation(&group("g", 1), "me").unwrap();
        let asked = c.membership("g").unwrap();
        c.mark_left("g", Departure::RemovedBy("amy")).unwrap();
        c.upsert_conversation(&group("g", 3), "me").unwrap();
        assert!(!c.mark_left_as_of("g", asked).unwrap());
        assert!(!left(c, "g"));
        let asked = c.membership("g").unwrap();
        assert!(c.mark_left_as_of("g", asked).unwrap());
        assert!(left(c, "g"));
    }

    #[test]
    fn how_the_user_left_is_kept_until_they_are_in_again_and_unknown_from_a_listing() {
        let t = temp_cache("departure");
        let c = &t.cache;
        let how = |id| {
            let v = c.conversation(id).unwrap().unwrap();
            (v.left, v.removed_by, v.left_themselves)
        };
        for id in ["r", "s", "u"] {
            c.upsert_conversation(&group(id, 1), "me").unwrap();
            assert_eq!(how(id), (false, None, false));
        }
        assert!(c.mark_left("r", Departure::RemovedBy("amy")).unwrap());
        assert_eq!(how("r"), (true, Some("amy".to_owned()), false));
        assert!(c.mark_left("s", Departure::Left).unwrap());
        assert_eq!(how("s"), (true, None, true));
        // Out of u while away: the listing lacks it (and r and s), and says no more.
        let asked = c.memberships().unwrap();
        let marked = c.apply_listing(&asked, &[], "me").unwrap();
        assert_eq!(marked, vec!["u".to_owned()]);
        assert_eq!(how("u"), (true, None, false));
        assert_eq!(how("s"), (true, None, true));
        // What came first stays: a later unknown departure does not erase the known one,
        // and the known one is not replaced.
        assert_eq!(how("r"), (true, Some("amy".to_owned()), false));
        assert!(!c.mark_left("r", Departure::Left).unwrap());
        assert_eq!(how("r"), (true, Some("amy".to_owned()), false));
        // A live event after the listing fills in the reason (one membership flip only).
        let gen = c.membership("u").unwrap();
        assert!(c.mark_left("u", Departure::RemovedBy("bob")).unwrap());
        assert_eq!(how("u"), (true, Some("bob".to_owned()), false));
        assert_eq!(c.membership("u").unwrap(), gen);
        // Added back: in, no reason; removed again by someone else: the new one.
        c.upsert_conversation(&group("r", 4), "me").unwrap();
        assert_eq!(how("r"), (false, None, false));
        assert!(c.mark_left("r", Departure::RemovedBy("bob")).unwrap());
        assert_eq!(how("r"), (true, Some("bob".to_owned()), false));
        // The reason survives reopening the file.
        let reopened = crate::cache::Cache::open(&t.dir.join("cache.db")).unwrap();
        let v = reopened.conversation("s").unwrap().unwrap();
        assert!(v.left && v.left_themselves && v.removed_by.is_none());
    }
}
