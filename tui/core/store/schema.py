"""The database's shape: tables, indexes, full-text index triggers, and the migrations.

``PRAGMA user_version`` is the schema version; :func:`migrate` runs the missing steps of
:data:`MIGRATIONS` in order, one transaction each, and refuses a database from a newer
Thinkpane. Queries live in :mod:`.conversations`; nothing here reads or writes messages.

* **Full-text index.** FTS5 external-content tables over conversation titles and message
  text, kept in sync by triggers (no FTS5 in this SQLite: no index, and search falls back
  to ``LIKE``). A message is indexed once it stops streaming, so flushes never re-index a
  growing answer.
* **Conversations are trees** (version 4). Each message has a ``parent_id`` (NULL for the
  first message, or a first message edited into a sibling), and each conversation an
  ``active_leaf_id``: the last message of the path the user is looking at. The active path
  is one recursive query up the primary key from that leaf; siblings and children are found
  through ``messages_by_parent``. A child is always inserted after its parent, so ids grow
  down every path and the newest message below any message is a leaf.
* **Migrations are history.** Index ``i`` upgrades version ``i`` to ``i + 1``; append a
  step, never edit one (a database already upgraded would never see the edit).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 4


def _fts5_available(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("CREATE VIRTUAL TABLE temp._fts5_probe USING fts5(x)")
        conn.execute("DROP TABLE temp._fts5_probe")
        return True
    except sqlite3.OperationalError:
        return False


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: ``executescript`` would COMMIT the migration's transaction."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    assert not statement.strip(), f"incomplete SQL statement: {statement!r}"


def _migrate_0_to_1(conn: sqlite3.Connection, *, fts: bool) -> None:
    _run_script(conn,
        """
        CREATE TABLE conversations (
            id          INTEGER PRIMARY KEY,
            title       TEXT NOT NULL,
            created_at  REAL NOT NULL,
            updated_at  REAL NOT NULL,
            backend     TEXT NOT NULL DEFAULT '',
            model       TEXT NOT NULL DEFAULT '',
            system      TEXT
        );
        CREATE INDEX conversations_by_updated ON conversations(updated_at, id);

        CREATE TABLE messages (
            id               INTEGER PRIMARY KEY,
            conversation_id  INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role             TEXT NOT NULL,
            content          TEXT NOT NULL DEFAULT '',
            reasoning        TEXT NOT NULL DEFAULT '',
            status           TEXT NOT NULL DEFAULT 'complete',
            backend          TEXT NOT NULL DEFAULT '',
            model            TEXT NOT NULL DEFAULT '',
            input_tokens     INTEGER,
            output_tokens    INTEGER,
            stop_reason      TEXT,
            error            TEXT,
            extra            TEXT NOT NULL DEFAULT '{}',
            created_at       REAL NOT NULL,
            finished_at      REAL,
            ttft_ms          INTEGER,
            elapsed_ms       INTEGER
        );
        CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
        -- Found on every open to mark crashed streams; tiny because few rows stream.
        CREATE INDEX messages_streaming ON messages(id) WHERE status = 'streaming';
        """
    )
    if not fts:
        return
    # External-content FTS5 tables: the text lives once, in the real tables. A message is
    # in the index exactly when its status is not 'streaming' (see module docstring), and
    # the triggers below keep that invariant, including for 'delete' which needs the
    # indexed values.
    _run_script(conn,
        """
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );
        CREATE VIRTUAL TABLE conversations_fts USING fts5(
            title, content='conversations', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );

        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
        WHEN new.status != 'streaming' BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
        WHEN old.status != 'streaming' BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        END;
        -- One trigger, so 'delete old' runs before 'insert new' (SQLite fires separate
        -- triggers newest first, which would delete the new text's shared words).
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, status ON messages
        WHEN old.status != 'streaming' OR new.status != 'streaming' BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
            SELECT 'delete', old.id, old.content WHERE old.status != 'streaming';
            INSERT INTO messages_fts(rowid, content)
            SELECT new.id, new.content WHERE new.status != 'streaming';
        END;

        CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
            INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
        END;
        CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
            INSERT INTO conversations_fts(conversations_fts, rowid, title)
            VALUES ('delete', old.id, old.title);
        END;
        CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN
            INSERT INTO conversations_fts(conversations_fts, rowid, title)
            VALUES ('delete', old.id, old.title);
            INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
        END;
        """
    )


def _migrate_1_to_2(conn: sqlite3.Connection, *, fts: bool) -> None:
    # Which process streams a row, so opening a second Thinkpane does not mark the
    # first one's live answer "interrupted" (only rows of dead processes are).
    conn.execute("ALTER TABLE messages ADD COLUMN writer_pid INTEGER")


def _migrate_2_to_3(conn: sqlite3.Connection, *, fts: bool) -> None:
    """Repair databases made before the update trigger was one trigger (development builds).

    Their two update triggers ran in the wrong order and could drop words from the index;
    swap in the single trigger and rebuild the index from the tables.
    """
    old = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
        "AND name IN ('messages_fts_unindex', 'messages_fts_reindex')"
    ).fetchone()[0]
    if not old:
        return
    _run_script(
        conn,
        """
        DROP TRIGGER messages_fts_unindex;
        DROP TRIGGER messages_fts_reindex;
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, status ON messages
        WHEN old.status != 'streaming' OR new.status != 'streaming' BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
            SELECT 'delete', old.id, old.content WHERE old.status != 'streaming';
            INSERT INTO messages_fts(rowid, content)
            SELECT new.id, new.content WHERE new.status != 'streaming';
        END;
        INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
        -- 'rebuild' indexed every row; streaming rows are indexed only when they finish.
        INSERT INTO messages_fts(messages_fts, rowid, content)
        SELECT 'delete', id, content FROM messages WHERE status = 'streaming';
        """,
    )


def _migrate_3_to_4(conn: sqlite3.Connection, *, fts: bool) -> None:
    """Conversations become trees: each message gets its parent, each conversation its active leaf.

    Until now a conversation was one line, so each message's parent is the message before
    it and the active path ends at the newest one: nothing is lost or reordered. Deleting a
    message deletes the messages below it (``ON DELETE CASCADE``).
    """
    _run_script(
        conn,
        """
        ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE;
        ALTER TABLE conversations ADD COLUMN active_leaf_id INTEGER;
        UPDATE messages SET parent_id = (
            SELECT max(p.id) FROM messages p
            WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id
        );
        UPDATE conversations SET active_leaf_id = (
            SELECT max(m.id) FROM messages m WHERE m.conversation_id = conversations.id
        );
        -- Siblings (same parent; NULL for first messages) and children, oldest first.
        CREATE INDEX messages_by_parent ON messages(conversation_id, parent_id, id);
        """,
    )


# Index i upgrades a database from user_version i to i + 1. Append, never edit
# (except to fix a bug no released database can have hit).
MIGRATIONS: list[Callable[..., None]] = [_migrate_0_to_1, _migrate_1_to_2, _migrate_2_to_3, _migrate_3_to_4]
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(conn: sqlite3.Connection, *, fts: bool = True) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`, one transaction per step. Returns it."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise _NewerSchema(version)
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                MIGRATIONS[version](conn, fts=fts)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version


class _NewerSchema(Exception):
    """The database has a schema version this Thinkpane does not know (the store says so)."""

    def __init__(self, version: int) -> None:
        self.version = version
