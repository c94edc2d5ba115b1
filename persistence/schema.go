package persistence

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// migrations[i] takes the schema from version i to version i+1, where the
// version is PRAGMA user_version (0 for a new, empty database). They run in
// order, all pending ones in one transaction with the version bump, so a
// database is always at exactly one version. Append new migrations at the
// end; never edit one that has shipped.
var migrations = []string{
	// Version 1.
	//
	// messages keeps the six columns of the original Rust chat's table (see
	// doc.go), by its names and in its order, so SELECT * shows what it
	// showed; recipient and nonce follow. Room messages have recipient NULL;
	// private messages have room = '' and is_private = 1 and are never
	// served back (no PM history until accounts exist).
	//
	// messages_nonce makes resends idempotent. Because NULLs are distinct in a
	// UNIQUE index, recipient enters it as IFNULL(recipient, ''): the column
	// itself stays NULL for room messages, as the Rust chat's readers expect,
	// and FindNonce must compare the same expression to use the index.
	// Usernames are ASCII [A-Za-z0-9_-], so NOCASE is exactly parley's
	// case-insensitive name rule.
	//
	// WITHOUT ROWID: the rows live in the id primary key's b-tree instead of a
	// rowid b-tree plus a separate index on id, so each insert updates one
	// b-tree fewer (docs/performance.md); ids are time-ordered, so inserts
	// append at the right edge.
	`
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    username TEXT NOT NULL,
    content TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    is_private BOOLEAN NOT NULL,
    recipient TEXT,
    nonce TEXT
) WITHOUT ROWID;
CREATE INDEX messages_room_id ON messages (room, id);
CREATE UNIQUE INDEX messages_nonce ON messages (
    room,
    IFNULL(recipient, '') COLLATE NOCASE,
    username COLLATE NOCASE,
    nonce
) WHERE nonce IS NOT NULL;
CREATE TABLE rooms (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
`,
	// Version 2: accounts and their sessions (internal/accounts).
	//
	// An account's name is unique by its skeleton (actors.Skeleton), so that
	// no two accounts read alike; username keeps the name as registered.
	// password_hash is an argon2id PHC string, which names its own
	// parameters. Timestamps are in protocol's layout, which sorts as it
	// reads, so expires_at compares as text.
	//
	// A session is keyed by the SHA-256 of its token: the token itself is
	// never stored, so a copy of the database opens no session.
	// sessions_account serves "every session of this account" (logout-all,
	// a password change, the sweep of an account's expired sessions).
	`
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    skeleton TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    created_at TEXT NOT NULL
);
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_seen TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_account ON sessions (account_id);
`,
	// Version 3: conversations, the private messages kept between two
	// accounts (actors.StoredMessage.Kept).
	//
	// The message itself stays in messages, as every private message does;
	// this table only says which account keeps it, with whom: one row per
	// side (one for a message to oneself), written in the message's own
	// transaction. A guest's private messages have no row here, so they
	// are never served back, even to an account that later took a name a
	// guest once wrote under. owner and peer are skeletons
	// (actors.Skeleton): an account's name never changes, and no two
	// accounts share a skeleton. The primary key serves a page of one
	// conversation (owner, peer, id range) and the list of an account's
	// conversations (owner, then the greatest id of each peer).
	`
CREATE TABLE conversation_messages (
    owner TEXT NOT NULL,
    peer TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (owner, peer, id)
) WITHOUT ROWID;
`,
	// Version 4: what an account keeps besides its mail (actors.Store's
	// AccountRooms, SetAccountRoom, MarkRead): the rooms it is in, and how
	// far it has read each room and conversation. owner is the account's
	// skeleton, as in conversation_messages. A read marker's kind is
	// 'room' (target a room name) or 'with' (target the other account's
	// skeleton); its id is the last message read, and only ever grows.
	// Both tables are bounded per account: rooms by the rooms one
	// connection may be in (SetAccountRoom's max), markers by the server's
	// rooms and the account's conversations (a marker is only written for
	// a room joined or a conversation that exists; a leave keeps it).
	`
CREATE TABLE account_rooms (
    owner TEXT NOT NULL,
    room TEXT NOT NULL,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (owner, room)
) WITHOUT ROWID;
CREATE TABLE read_markers (
    owner TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('room', 'with')),
    target TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (owner, kind, target)
) WITHOUT ROWID;
`,
	// Version 5: edited and deleted room messages (actors.MessageChange).
	// Additive, so that the Rust chat's readers still see the six columns
	// they know. edited_at is the time of the last edit or the deletion, in
	// protocol's layout (it sorts as it reads); a deleted message keeps its
	// row, id and place, and its content is ''. messages_room_edited serves
	// a rejoin's catch-up (Changes) from the few changed rows only, not the
	// room's whole history.
	`
ALTER TABLE messages ADD COLUMN edited_at TEXT NULL;
ALTER TABLE messages ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT 0;
CREATE INDEX messages_room_edited ON messages (room, edited_at) WHERE edited_at IS NOT NULL;
`,
	// Version 6: reactions and mentions (reactions.go). reactions holds
	// one row per reactor per emoji per message (reactor: "a:<skeleton>"
	// or a guest connection's "g:..."; name as displayed); at is when it
	// was given, for the order of a message's counts. reaction_changes
	// holds when each message's reactions last changed, for a rejoin's
	// catch-up (by room and time, as messages_room_edited). mentions holds
	// one row per name a message mentions, keyed (who: the Skeleton, room,
	// id) so that counting an account's unread mentions after its marker
	// reads only that account's rows; mentions_id serves History.
	`
CREATE TABLE reactions (
    id TEXT NOT NULL,
    emoji TEXT NOT NULL,
    reactor TEXT NOT NULL,
    name TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (id, emoji, reactor)
) WITHOUT ROWID;
CREATE TABLE reaction_changes (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX reaction_changes_room_at ON reaction_changes (room, at);
CREATE TABLE mentions (
    who TEXT NOT NULL,
    room TEXT NOT NULL,
    id TEXT NOT NULL,
    pos INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (who, room, id)
) WITHOUT ROWID;
CREATE INDEX mentions_id ON mentions (id);
`,
	// Version 7: full-text search (search.go). messages is WITHOUT ROWID,
	// and an FTS5 index keys its rows by an integer, so search_docs gives
	// each indexed message one (docid, in id order for the rows filled
	// here); the external-content table messages_fts indexes content
	// through the view search_content and stores none of it. A message is
	// in search_docs, and in the index, exactly while it has content and
	// is not deleted: the triggers keep it so on every insert (the
	// writer's batches), edit, deletion and DELETE (DeleteRoom). Every
	// message is indexed, private ones too; a search reaches a private
	// message only through its conversation (conversation_messages), so a
	// guest's are never found. An 'delete' of an external-content row must
	// give the content it was indexed with: old.content is exactly that.
	// unicode61 folds case and diacritics; no stemming, as PostgreSQL's
	// 'simple' configuration. secure-delete makes a deletion (or an edit)
	// take the old words out of the index's pages at once, rather than
	// add a marker that a later merge applies: a deleted message's words
	// do not stay in the file. The last statements index what is stored.
	`
CREATE TABLE search_docs (
    docid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE
);
CREATE VIEW search_content AS
    SELECT d.docid AS docid, m.content AS content FROM search_docs d JOIN messages m ON m.id = d.id;
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content,
    content = 'search_content',
    content_rowid = 'docid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
WHEN new.content <> '' AND NOT new.deleted BEGIN
    INSERT INTO search_docs (id) VALUES (new.id);
    INSERT INTO messages_fts (rowid, content) VALUES (last_insert_rowid(), new.content);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF content, deleted ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content)
        SELECT 'delete', docid, old.content FROM search_docs WHERE id = old.id;
    DELETE FROM search_docs WHERE id = old.id;
    INSERT INTO search_docs (id) SELECT new.id WHERE new.content <> '' AND NOT new.deleted;
    INSERT INTO messages_fts (rowid, content)
        SELECT last_insert_rowid(), new.content WHERE new.content <> '' AND NOT new.deleted;
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content)
        SELECT 'delete', docid, old.content FROM search_docs WHERE id = old.id;
    DELETE FROM search_docs WHERE id = old.id;
END;
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO search_docs (id) SELECT id FROM messages WHERE content <> '' AND NOT deleted ORDER BY id;
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
`,
	// Version 8: edited and deleted private messages (privateedits.go).
	// messages.edited_at and deleted serve them as they serve room
	// messages; a conversation's row of a changed message also holds the
	// change's time, so that its catch-up (Changes with an Owner) reads
	// that conversation's changed rows from conversation_messages_edited,
	// not every private message changed since (messages_room_edited under
	// room ''). No private message was ever changed before this version:
	// nothing to fill in.
	`
ALTER TABLE conversation_messages ADD COLUMN edited_at TEXT NULL;
CREATE INDEX conversation_messages_edited ON conversation_messages (owner, peer, edited_at) WHERE edited_at IS NOT NULL;
`,
	// Version 9: the index moves out of the writer's transaction
	// (searchindex.go). Version 7's triggers indexed every insert inside
	// the writer's batch, which more than halved its throughput; the index
	// now lives in its own file (<db>.search), filled after the commits by
	// an indexer that tails search_feed. The triggers and version 7's
	// tables go (dropping the FTS5 table drops its shadow tables); the new
	// file is rebuilt from messages by the indexer, in the background,
	// when Open finds none. search_feed: one row per batch (its lowest and
	// highest id), per edit or deletion (the message's id twice) or per
	// room deleted (room set), written in the transaction that made the
	// change; AUTOINCREMENT because the indexer's watermark is a seq, and
	// a seq given again after the rows were trimmed would be skipped.
	// search_identity's token tells the index file whose it is, so that an
	// index left beside another database is rebuilt, not trusted.
	`
DROP TRIGGER messages_search_insert;
DROP TRIGGER messages_search_update;
DROP TRIGGER messages_search_delete;
DROP TABLE messages_fts;
DROP VIEW search_content;
DROP TABLE search_docs;
CREATE TABLE search_feed (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    low TEXT NOT NULL,
    high TEXT NOT NULL,
    room TEXT
);
CREATE TABLE search_identity (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    token TEXT NOT NULL
);
INSERT INTO search_identity (one, token) VALUES (1, lower(hex(randomblob(16))));
`,
}

// migrate brings the database on conn to version len(migrations). It always
// takes the write lock (the connection's transactions are BEGIN IMMEDIATE) and
// writes, even when nothing is pending, so that a database that cannot be
// written (read-only file, locked by another process beyond the busy timeout)
// fails Open rather than the first batch.
func migrate(ctx context.Context, conn *sqlx.Conn) error {
	return InTx(ctx, conn, func(tx *sqlx.Tx) error {
		var version int
		if err := tx.GetContext(ctx, &version, "PRAGMA user_version"); err != nil {
			return fmt.Errorf("read user_version: %w", err)
		}
		if version > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this build knows (%d)", version, len(migrations))
		}
		for v := version; v < len(migrations); v++ {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate to version %d: %w", v+1, err)
			}
		}
		// Written even when unchanged: BEGIN IMMEDIATE alone succeeds on a
		// read-only file, and this write is what proves the database writable.
		// PRAGMA takes no bound parameters; the value is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
			return fmt.Errorf("set user_version: %w", err)
		}
		return nil
	})
}

// Beginner is what InTx begins a transaction on: a *sqlx.DB or a *sqlx.Conn.
type Beginner interface {
	BeginTxx(ctx context.Context, opts *sql.TxOptions) (*sqlx.Tx, error)
}

// InTx runs f in a transaction on db and commits it; if f or the commit
// fails, it rolls back and reports that error. Both engines and
// migrate-store use it.
func InTx(ctx context.Context, db Beginner, f func(tx *sqlx.Tx) error) (err error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that made us roll back is the one to report
		}
	}()
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
