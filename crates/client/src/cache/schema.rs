//! The cache schema as forward-only migrations numbered by `PRAGMA user_version`.
//! Never edit a migration that has shipped: add the next one.

use super::CacheError;
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the account, conversations, messages with full-text search, notifications, the
    // outbox, sync cursors and the change feed.
    "
    CREATE TABLE account (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    );
    CREATE TABLE conversations (
        id              TEXT PRIMARY KEY NOT NULL,
        kind            TEXT NOT NULL,
        title           TEXT,
        created_by      TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        last_seq        INTEGER NOT NULL DEFAULT 0,  -- the highest seq known to exist
        synced_seq      INTEGER NOT NULL DEFAULT 0,  -- every seq up to here is cached
        read_seq        INTEGER NOT NULL DEFAULT 0,  -- our marker, possibly ahead of the server
        server_read_seq INTEGER NOT NULL DEFAULT 0,  -- our marker as the server has it
        last_activity   INTEGER NOT NULL DEFAULT 0,
        muted           INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE participants (
        conversation_id TEXT NOT NULL,
        user_id         TEXT NOT NULL,
        display_name    TEXT NOT NULL,
        read_seq        INTEGER NOT NULL DEFAULT 0,
        online          INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (conversation_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE messages (
        rowid           INTEGER PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        seq             INTEGER NOT NULL,
        id              TEXT NOT NULL,
        sender_id       TEXT NOT NULL,
        client_id       TEXT NOT NULL,
        content         TEXT NOT NULL,
        content_type    TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        UNIQUE (conversation_id, seq),
        UNIQUE (sender_id, client_id)
    );
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content = 'messages', content_rowid = 'rowid',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
    END;
    CREATE TABLE notifications (
        id              TEXT PRIMARY KEY NOT NULL,
        seq             INTEGER UNIQUE,             -- the server's per-user seq; NULL for other sources
        source          TEXT NOT NULL,              -- 'tidings', or the destination it came from
        kind            TEXT NOT NULL,
        title           TEXT NOT NULL,
        message         TEXT NOT NULL,
        data            TEXT,
        conversation_id TEXT,
        url             TEXT,
        is_read         INTEGER NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL
    );
    CREATE INDEX notifications_by_time ON notifications (created_at);
    CREATE TABLE outbox (
        client_id       TEXT PRIMARY KEY NOT NULL,
        conversation_id TEXT NOT NULL,
        content         TEXT NOT NULL,
        content_type    TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        error           TEXT,
        seq             INTEGER
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE INDEX outbox_by_conversation ON outbox (conversation_id, state);
    CREATE TABLE sync (
        key   TEXT PRIMARY KEY NOT NULL,
        value INTEGER NOT NULL
    );
    CREATE TABLE changes (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        key  TEXT NOT NULL
    );
    CREATE TRIGGER changes_message AFTER INSERT ON messages BEGIN
        INSERT INTO changes (kind, key) VALUES ('message', new.conversation_id);
    END;
    CREATE TRIGGER changes_conversation_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO changes (kind, key) VALUES ('conversation', new.id);
    END;
    CREATE TRIGGER changes_conversation_update AFTER UPDATE ON conversations BEGIN
        INSERT INTO changes (kind, key) VALUES ('conversation', new.id);
    END;
    CREATE TRIGGER changes_participant AFTER UPDATE ON participants BEGIN
        INSERT INTO changes (kind, key) VALUES ('conversation', new.conversation_id);
    END;
    CREATE TRIGGER changes_notification_insert AFTER INSERT ON notifications BEGIN
        INSERT INTO changes (kind, key) VALUES ('notification', new.id);
    END;
    CREATE TRIGGER changes_notification_update AFTER UPDATE ON notifications BEGIN
        INSERT INTO changes (kind, key) VALUES ('notification', new.id);
    END;
    CREATE TRIGGER changes_outbox_insert AFTER INSERT ON outbox BEGIN
        INSERT INTO changes (kind, key) VALUES ('outbox', new.conversation_id);
    END;
    CREATE TRIGGER changes_outbox_update AFTER UPDATE ON outbox BEGIN
        INSERT INTO changes (kind, key) VALUES ('outbox', new.conversation_id);
    END;
    ",
    // 2: the change feed notes new messages once per conversation per batch (the cache
    // writes that row itself), not once per message: a catch-up page of 500 was 500 rows.
    "
    DROP TRIGGER changes_message;
    ",
    // 3: issue 14. Per conversation: the revision held (every change up to it is applied),
    // the highest revision known to exist, the revision of the conversation view merged
    // last, whether we left it, and the notification level (replacing `muted`). Per
    // message: its revision, edits, tombstones, replies, mentions, reactions, system
    // entries. Per outbox entry: what it replies to and who it mentions. The full-text
    // index erases what it forgets (`secure-delete`), so a deleted or edited text leaves no
    // trace in it.
    "
    ALTER TABLE conversations ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN server_rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN view_rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN left INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN notify_level TEXT NOT NULL DEFAULT 'all'
        CHECK (notify_level IN ('all', 'mentions', 'none'));
    UPDATE conversations SET notify_level = 'none' WHERE muted != 0;
    ALTER TABLE conversations DROP COLUMN muted;
    ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN edited_at INTEGER;
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN reply_to_id TEXT;
    ALTER TABLE messages ADD COLUMN reply_to_seq INTEGER;
    ALTER TABLE messages ADD COLUMN mentions TEXT;   -- JSON array of user ids; NULL: none
    ALTER TABLE messages ADD COLUMN reactions TEXT;  -- JSON array of {emoji, users}; NULL: none
    ALTER TABLE messages ADD COLUMN system TEXT;     -- JSON SystemEntry; NULL: a message
    CREATE INDEX messages_by_id ON messages (id);
    CREATE INDEX messages_by_rev ON messages (conversation_id, rev);
    ALTER TABLE outbox ADD COLUMN reply_to TEXT;
    ALTER TABLE outbox ADD COLUMN mentions TEXT;
    INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
    ",
    // 4: how many times the user's membership of a conversation flipped here (joined <->
    // left), so that a REST answer asked for before a live change of membership does not
    // undo it (see cache/revisions.rs).
    "
    ALTER TABLE conversations ADD COLUMN membership INTEGER NOT NULL DEFAULT 0;
    ",
    // 5: how the user came to be out of a conversation, when known (from the live
    // CONVERSATION_LEFT or their own leave): removed by whom, or left themselves. Both are
    // cleared when they are in it again; a listing or a 403 leaves them unknown.
    "
    ALTER TABLE conversations ADD COLUMN removed_by TEXT;
    ALTER TABLE conversations ADD COLUMN left_themselves INTEGER NOT NULL DEFAULT 0;
    ",
    // 6: issue 15. A draft per conversation (what is typed in its composer, and what it
    // replies to), and where the user was: the open conversation and each conversation's
    // scroll position. Local to this device; nothing here goes to the server.
    "
    CREATE TABLE drafts (
        conversation_id TEXT PRIMARY KEY NOT NULL,
        text            TEXT NOT NULL,
        reply_to        TEXT,                        -- the id of the message it replies to
        updated_at      INTEGER NOT NULL
    );
    CREATE TABLE view_state (
        key   TEXT PRIMARY KEY NOT NULL,             -- 'open', or 'scroll:' || conversation id
        value TEXT NOT NULL
    );
    ",
    // 7: issue 16. A message's attachments (the server's `Attachment` list, JSON). The files
    // of an outbox entry: each a copy in the cache's files folder, its tus upload (the
    // server's id once known, and the offset the server acknowledged) and whether it is
    // finished. Downloaded attachments and thumbnails, with when each was last used (the
    // download cache evicts the least recently used). Settings of this account kept by the
    // engine (the download cache's limit, the server's largest attachment).
    "
    ALTER TABLE messages ADD COLUMN attachments TEXT;  -- JSON array of Attachment; NULL: none
    CREATE TABLE outbox_files (
        client_id    TEXT NOT NULL REFERENCES outbox (client_id) ON DELETE CASCADE,
        position     INTEGER NOT NULL,               -- 0, 1, … in the order given
        name         TEXT NOT NULL,                  -- the file name people see
        path         TEXT NOT NULL,                  -- the copy, relative to the files folder
        content_type TEXT,                           -- declared (from the extension)
        size         INTEGER NOT NULL,
        upload_id    TEXT,                           -- the server's upload (attachment) id
        offset       INTEGER NOT NULL DEFAULT 0,     -- bytes the server acknowledged
        done         INTEGER NOT NULL DEFAULT 0,     -- the server finished and stored it
        PRIMARY KEY (client_id, position)
    ) WITHOUT ROWID;
    CREATE TRIGGER changes_outbox_files AFTER UPDATE ON outbox_files BEGIN
        INSERT INTO changes (kind, key)
        SELECT 'outbox', conversation_id FROM outbox WHERE client_id = new.client_id;
    END;
    CREATE TABLE downloads (
        attachment_id TEXT NOT NULL,
        variant       TEXT NOT NULL CHECK (variant IN ('file', 'thumbnail')),
        path          TEXT NOT NULL,                 -- relative to the files folder
        size          INTEGER NOT NULL,
        content_type  TEXT NOT NULL,
        name          TEXT,                          -- from Content-Disposition
        etag          TEXT,
        last_used     INTEGER NOT NULL,              -- a use counter: higher is more recent
        PRIMARY KEY (attachment_id, variant)
    ) WITHOUT ROWID;
    CREATE INDEX downloads_lru ON downloads (last_used);
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    );
    ",
    // 8: issue 19. The full-text index also keeps lists for the prefixes of 2 and 3 letters
    // of every word, so that a search as it is typed ("hel wor") reads them newest first
    // instead of merging the lists of every word a prefix begins (see cache/search.rs). It
    // stays an external-content index over `messages` (no second copy of the text) and
    // keeps erasing what it forgets. The index is built again from the messages: nothing
    // is lost, since the text lives in `messages`.
    "
    DROP TABLE messages_fts;
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content = 'messages', content_rowid = 'rowid',
        tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
    );
    INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
    ",
    // 9: issue 19. New messages enter the full-text index once per batch, from the cache's
    // own code (cache/messages.rs, `index_new`), not by a trigger per row: FTS5 flushes
    // what it holds in memory to a new index segment at every statement's savepoint, so
    // the trigger made one tiny segment per message. Edits and deletions (rare) keep their
    // triggers. The index keeps no word positions (`detail = none`): a search matches
    // every word as a prefix anywhere in a message (no phrases), and snippets are made by
    // FTS5 from the text itself, so positions were only ingest time and disk. Nor does it
    // keep each message's length in words (`columnsize = 0`): only ranking by bm25 read
    // them, and results come newest first. It merges its segments 16 at a time instead of
    // 4 (`automerge`, `crisismerge`): each batch's words are rewritten fewer times as the
    // index grows, and a search reads a few more segments (well under a millisecond).
    // Built again from the messages, as in 8.
    "
    DROP TRIGGER messages_fts_insert;
    DROP TABLE messages_fts;
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content = 'messages', content_rowid = 'rowid', detail = none,
        columnsize = 0, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
    );
    INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
    INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 16);
    INSERT INTO messages_fts (messages_fts, rank) VALUES ('crisismerge', 64);
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
    ",
    // 10: issue 19, ingest. The messages table is built again without its unique index on
    // (sender_id, client_id): no query reads by it, and every insert paid for it (14 % of
    // ingest at a million messages, docs/benchmarks.md). A message is one row per
    // (conversation_id, seq), which stays unique and is what `ON CONFLICT DO NOTHING`
    // catches; the server makes a client_id's retries one message. Rowids are kept, so the
    // full-text index over the text stays valid; the old table's pages are erased
    // (`secure_delete`).
    "
    CREATE TABLE messages_new (
        rowid           INTEGER PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        seq             INTEGER NOT NULL,
        id              TEXT NOT NULL,
        sender_id       TEXT NOT NULL,
        client_id       TEXT NOT NULL,
        content         TEXT NOT NULL,
        content_type    TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        rev             INTEGER NOT NULL DEFAULT 0,
        edited_at       INTEGER,
        deleted         INTEGER NOT NULL DEFAULT 0,
        reply_to_id     TEXT,
        reply_to_seq    INTEGER,
        mentions        TEXT,   -- JSON array of user ids; NULL: none
        reactions       TEXT,   -- JSON array of {emoji, users}; NULL: none
        system          TEXT,   -- JSON SystemEntry; NULL: a message
        attachments     TEXT,   -- JSON array of Attachment; NULL: none
        UNIQUE (conversation_id, seq)
    );
    INSERT INTO messages_new
        SELECT rowid, conversation_id, seq, id, sender_id, client_id, content, content_type,
               created_at, rev, edited_at, deleted, reply_to_id, reply_to_seq, mentions,
               reactions, system, attachments
        FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_new RENAME TO messages;
    CREATE INDEX messages_by_id ON messages (id);
    CREATE INDEX messages_by_rev ON messages (conversation_id, rev);
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
    END;
    ",
    // 11: issue 19, ingest. The full-text index moves to a file of its own beside the
    // cache (`<name>.search.db`, cache/index.rs), written by a thread of its own, so that
    // storing messages and indexing their words run on two cores instead of one (replayed:
    // 7.3 s and 7.7 s per million side by side against 14.4 s in one file,
    // docs/benchmarks.md). That index is contentless and is fed by rowid: new rows by
    // the rowid it has reached, edits and deletions by `search_pending`, which keeps the
    // text the index holds for the row (FTS5 needs it to take those words out) until the
    // indexer has applied them. A deleted row's rowid is never given to a new message
    // (`message_rowids.floor`, see `insert_batch`): the indexer would take it for indexed.
    // The old index's pages are erased (`secure_delete`); the new one is built from the
    // messages in the background.
    "
    DROP TRIGGER messages_fts_delete;
    DROP TRIGGER messages_fts_update;
    DROP TABLE messages_fts;
    CREATE TABLE search_pending (
        id  INTEGER PRIMARY KEY AUTOINCREMENT,
        msg INTEGER NOT NULL,  -- the message's rowid
        old TEXT NOT NULL      -- its text before the change
    );
    CREATE TABLE message_rowids (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        floor INTEGER NOT NULL  -- the highest rowid a deleted message had
    );
    CREATE TRIGGER search_pending_update AFTER UPDATE OF content ON messages
    WHEN old.content IS NOT new.content BEGIN
        INSERT INTO search_pending (msg, old) VALUES (old.rowid, old.content);
    END;
    CREATE TRIGGER search_pending_delete AFTER DELETE ON messages BEGIN
        INSERT INTO search_pending (msg, old) VALUES (old.rowid, old.content);
        INSERT OR REPLACE INTO message_rowids (id, floor)
        VALUES (1, max(old.rowid, coalesce((SELECT floor FROM message_rowids), 0)));
    END;
    ",
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), CacheError> {
    let current = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(CacheError::Newer(current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache file at schema version `version` (in a fresh folder named after `tag`),
    /// written by a connection of its time: the folder, the file and that connection.
    fn cache_of_version(
        tag: &str,
        version: usize,
    ) -> (std::path::PathBuf, std::path::PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("tidings-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.db");
        let _ = std::fs::remove_file(&path);
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        (dir, path, conn)
    }

    #[test]
    fn a_muted_conversation_of_an_older_cache_becomes_level_none() {
        let (dir, path, conn) = cache_of_version("schema", 2);
        {
            conn.execute_batch(
                "INSERT INTO conversations (id, kind, created_by, created_at, muted)
                 VALUES ('quiet', 'group', 'amy', 0, 1), ('loud', 'group', 'amy', 0, 0);",
            )
            .unwrap();
            drop(conn);
        }
        let cache = crate::cache::Cache::open(&path).unwrap();
        let level = |id| cache.conversation(id).unwrap().unwrap().notify_level;
        assert_eq!(level("quiet"), crate::cache::NotifyLevel::None);
        assert_eq!(level("loud"), crate::cache::NotifyLevel::All);
        assert!(cache.conversation("quiet").unwrap().unwrap().muted);
        cache
            .set_notify_level("loud", crate::cache::NotifyLevel::Mentions)
            .unwrap();
        assert_eq!(level("loud"), crate::cache::NotifyLevel::Mentions);
        drop(cache);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cache_of_version_7_keeps_its_messages_and_finds_them_by_prefix() {
        let (dir, path, conn) = cache_of_version("schema7", 7);
        {
            for seq in 1..=200 {
                let text = match seq {
                    7 => "hello world from the old cache".to_owned(),
                    8 => "Café crème tomorrow".to_owned(),
                    _ => format!("filler message {seq}"),
                };
                conn.execute(
                    "INSERT INTO messages (conversation_id, seq, id, sender_id, client_id,
                                           content, content_type, created_at)
                     VALUES ('c', ?1, 'm' || ?1, 'bob', 'k' || ?1, ?2, 'text', ?1)",
                    rusqlite::params![seq, text],
                )
                .unwrap();
            }
            drop(conn);
        }
        let cache = crate::cache::Cache::open(&path).unwrap();
        assert_eq!(
            cache.messages_after("c", 0).unwrap().len(),
            200,
            "nothing lost"
        );
        let hits = cache.search("hel wor", 10).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].message.seq, 7);
        assert!(
            hits[0].snippet.contains("[hello] [world]"),
            "{}",
            hits[0].snippet
        );
        assert_eq!(cache.search("cafe crem", 10).unwrap().len(), 1);
        assert_eq!(cache.search("filler", 500).unwrap().len(), 198);
        // The triggers feed the new index: an edit replaces the old text in it.
        let mut edited = cache.message("m7").unwrap().unwrap();
        edited.rev = 1;
        edited.content = "goodbye".into();
        cache.insert_messages(&[edited], "me").unwrap();
        assert!(cache.search("hel", 10).unwrap().is_empty());
        assert_eq!(cache.search("goo", 10).unwrap().len(), 1);
        drop(cache);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cache_of_version_8_keeps_its_messages_and_outbox_and_indexes_new_ones_once() {
        let (dir, path, mut conn) = cache_of_version("schema8", 8);
        {
            let tx = conn.transaction().unwrap();
            for seq in 1..=50 {
                tx.execute(
                    "INSERT INTO messages (conversation_id, seq, id, sender_id, client_id,
                                           content, content_type, created_at)
                     VALUES ('c', ?1, 'm' || ?1, 'bob', 'k' || ?1, 'old words ' || ?1, 'text', ?1)",
                    [seq],
                )
                .unwrap();
            }
            tx.execute_batch(
                "INSERT INTO outbox (client_id, conversation_id, content, content_type, created_at, state)
                 VALUES ('waiting', 'c', 'not sent yet', 'text', 5, 'pending');",
            )
            .unwrap();
            tx.commit().unwrap();
            drop(conn);
        }
        let cache = crate::cache::Cache::open(&path).unwrap();
        assert_eq!(cache.messages_after("c", 0).unwrap().len(), 50);
        let waiting = cache.outbox_entry("waiting").unwrap().unwrap();
        assert_eq!(
            (waiting.content.as_str(), waiting.state),
            ("not sent yet", crate::cache::OutboxState::Pending)
        );
        assert_eq!(cache.search("old wor", 100).unwrap().len(), 50);
        let triggers: Vec<String> = cache
            .conn()
            .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND (name LIKE '%search%' OR name LIKE '%fts%') ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(triggers, ["search_pending_delete", "search_pending_update"]);
        // New messages are indexed by the cache itself, each once.
        let new: Vec<_> = (51..=60)
            .map(|s| crate::cache::testing::msg("c", s, "bob", &format!("new words {s}")))
            .collect();
        cache.insert_messages(&new, "me").unwrap();
        assert_eq!(cache.search("new wor", 100).unwrap().len(), 10);
        assert_eq!(cache.search("wor", 100).unwrap().len(), 60);
        // 9 to 11: the table built again keeps its rowids, edits of a migrated message reach
        // the index (in its own file) through `search_pending`, and the only unique key
        // left is (conversation_id, seq).
        let mut edited = crate::cache::testing::msg("c", 7, "bob", "rewritten text");
        edited.id = "m7".into();
        edited.client_id = "k7".into();
        edited.rev = 1;
        cache.insert_messages(&[edited], "me").unwrap();
        assert_eq!(cache.search("old wor", 100).unwrap().len(), 49);
        assert_eq!(cache.search("rewrit", 100).unwrap().len(), 1);
        assert_eq!(cache.index_matches("old"), 49);
        assert_eq!(cache.index_matches("rewritten"), 1);
        let again = crate::cache::testing::msg("c", 8, "bob", "a second copy of seq 8");
        assert_eq!(cache.insert_messages(&[again], "me").unwrap(), 0);
        assert_eq!(cache.messages_after("c", 0).unwrap().len(), 60);
        let unique: Vec<String> = cache
            .conn()
            .prepare(
                "SELECT group_concat(ii.name) FROM pragma_index_list('messages') il,
                        pragma_index_info(il.name) ii
                 WHERE il.\"unique\" GROUP BY il.name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(unique, ["conversation_id,seq"]);
        let conn = cache.conn();
        let automerge: i64 = conn
            .query_row(
                "SELECT v FROM idx.messages_fts_config WHERE k = 'automerge'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(automerge, 16);
        let tables = |schema: &str| -> Vec<String> {
            conn.prepare(&format!(
                "SELECT name FROM {schema}.sqlite_master WHERE name LIKE 'messages_fts%' ORDER BY name"
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        assert!(
            tables("main").is_empty(),
            "the old index is gone from the cache file"
        );
        assert_eq!(
            tables("idx"),
            [
                "messages_fts",
                "messages_fts_config",
                "messages_fts_data",
                "messages_fts_idx"
            ],
            "a contentless index without per-message lengths"
        );
        conn.execute(
            "INSERT INTO idx.messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
            [],
        )
        .unwrap();
        drop(conn);
        drop(cache);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
