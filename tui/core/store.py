"""Conversation history in one SQLite file (stdlib ``sqlite3`` only; cheap to import).

Design notes (why it looks the way it does):

* **Crash safety.** ``start_answer`` inserts the assistant row at once with status
  ``"streaming"``; an :class:`AnswerWriter` buffers deltas in memory and appends them with a
  single ``UPDATE ... SET content = content || ?`` on ``flush()`` (the UI calls it on a
  ~0.25 s timer) or when more than :data:`FLUSH_THRESHOLD_CHARS` are buffered. If the
  process dies mid-stream, the next open turns its rows still ``"streaming"`` into
  ``"interrupted"`` and keeps the text flushed so far (rows of a writer that is still
  running, e.g. a second Thinkpane window, are left alone: each row records its pid).
* **Errors.** Every ``sqlite3`` failure becomes one typed :class:`StoreError` (a
  ``ThinkpaneError``: title + hint naming the file). A failed flush keeps the buffer, so the
  UI can go on showing the text and flush again later.
* **Search.** FTS5 (external-content tables, kept in sync by triggers) over conversation
  titles and message text; ``LIKE`` when this SQLite has no FTS5. A message is indexed
  once it stops streaming, so flushes never re-index a growing answer.
* **Privacy.** The file, its ``-wal`` and ``-shm`` are mode 0600 in a 0700 directory. The
  store never receives settings or secrets.
* **Threads.** One connection (``check_same_thread=False``) behind a lock: the app may
  flush from a timer while a worker thread streams.
* **Text is stored exactly**, including NUL characters (Python's sqlite3 binds text with
  its length, and reads it back whole). FTS5 indexes words after a NUL too; the LIKE
  fallback does not see past one (SQL string functions stop there). Lone UTF-16
  surrogates, which cannot be encoded as UTF-8, are replaced by U+FFFD; a surrogate pair
  split across two deltas (or two flushes) is kept together.
* **Search is newest first**, not ranked: every word must appear in the title or in one
  message's text (the last word also as a prefix, for search as you type). Reasoning is
  not searched.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from thinkpane.backends.errors import ThinkpaneError
from thinkpane.backends.events import Message

SCHEMA_VERSION = 3
# Buffered characters after which an append flushes by itself (about 4 KB of text).
FLUSH_THRESHOLD_CHARS = 4096
# How long a write waits for another Thinkpane process holding the database lock.
DEFAULT_BUSY_TIMEOUT_S = 3.0

ROLES = frozenset({"system", "user", "assistant"})
FINAL_STATUSES = frozenset({"complete", "cancelled", "error"})
STATUSES = FINAL_STATUSES | {"streaming", "interrupted"}

MEMORY = ":memory:"

# Answers being written by this process, as (database file, message id): a store opened
# in the same process must not take them for leftovers of a crash.
_LIVE_ANSWERS: set[tuple[str, int]] = set()
_LIVE_ANSWERS_LOCK = threading.Lock()


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return False  # os.kill(pid, 0) is not a harmless probe on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


class StoreError(ThinkpaneError):
    """The conversation history could not be read or written. ``title`` + ``hint`` say why."""

    kind = "store"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    created_at: float
    updated_at: float
    message_count: int
    backend: str
    model: str
    system: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    role: str
    content: str
    reasoning: str
    status: str  # complete|streaming|cancelled|error|interrupted
    backend: str
    model: str
    input_tokens: int | None
    output_tokens: int | None
    stop_reason: str | None
    error: str | None
    extra: dict = field(default_factory=dict)
    created_at: float = 0.0
    finished_at: float | None = None
    ttft_ms: int | None = None
    elapsed_ms: int | None = None

    def to_backend_message(self) -> Message:
        return Message(
            role=self.role,  # type: ignore[arg-type]  # validated on insert
            content=self.content,
            reasoning=self.reasoning,
            extra=dict(self.extra),
        )


# --------------------------------------------------------------------------- schema


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


# Index i upgrades a database from user_version i to i + 1. Append, never edit
# (except to fix a bug no released database can have hit).
MIGRATIONS: list[Callable[..., None]] = [_migrate_0_to_1, _migrate_1_to_2, _migrate_2_to_3]
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(conn: sqlite3.Connection, *, fts: bool = True) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`, one transaction per step. Returns it."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
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
    def __init__(self, version: int) -> None:
        self.version = version


# --------------------------------------------------------------------------- errors


def _classify(exc: BaseException) -> str:
    """readonly | locked | full | ioerr | corrupt | cantopen | other, from the error code.

    Only SQLite's own words or the errno are looked at, never the path (a folder called
    "full" must not read as a full disk).
    """
    if isinstance(exc, OSError):
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "readonly"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "full"
        return "cantopen"
    name = getattr(exc, "sqlite_errorname", "") or ""
    for prefix, kind in (
        ("SQLITE_READONLY", "readonly"), ("SQLITE_PERM", "readonly"), ("SQLITE_AUTH", "readonly"),
        ("SQLITE_BUSY", "locked"), ("SQLITE_LOCKED", "locked"), ("SQLITE_FULL", "full"),
        ("SQLITE_IOERR", "ioerr"), ("SQLITE_NOTADB", "corrupt"), ("SQLITE_CORRUPT", "corrupt"),
        ("SQLITE_CANTOPEN", "cantopen"),
    ):
        if name.startswith(prefix):
            return kind
    lowered = str(exc).lower()
    for needle, kind in (
        ("readonly", "readonly"), ("locked", "locked"), ("disk is full", "full"),
        ("disk i/o error", "ioerr"), ("not a database", "corrupt"), ("malformed", "corrupt"),
        ("unable to open", "cantopen"),
    ):
        if needle in lowered:
            return kind
    return "other"


def _describe(exc: BaseException, path: str, action: str) -> StoreError:
    """One StoreError with a hint that fits what went wrong."""
    detail = str(exc)
    where = "in memory" if path == MEMORY else f"({path})"
    kind = _classify(exc)
    if kind == "readonly":
        return StoreError(
            f"{action}: the database is read-only {where}",
            "Check the permissions of the file and its folder, or set THINKPANE_DATA_DIR "
            "to a writable folder.",
            detail=detail,
        )
    if kind == "locked":
        return StoreError(
            f"{action}: the database is locked by another program {where}",
            "Another Thinkpane (or a tool holding the file open) is writing to it. "
            "Close it and try again; nothing typed here is lost.",
            detail=detail,
            retryable=True,
        )
    if kind == "full":
        return StoreError(
            f"{action}: the disk is full {where}",
            "Free some disk space, or set THINKPANE_DATA_DIR to a folder on another disk. "
            "The text on screen is kept and will be saved when there is room.",
            detail=detail,
            retryable=True,
        )
    if kind == "ioerr":
        return StoreError(
            f"{action}: the disk reported an error {where}",
            "Check that the disk is still mounted and has free space. The text on screen "
            "is kept and will be saved on the next try.",
            detail=detail,
            retryable=True,
        )
    if kind == "corrupt":
        return StoreError(
            f"{action}: the database file is damaged {where}",
            f"Move it aside (e.g. `mv '{path}' '{path}.corrupt'`) and start Thinkpane "
            "again; a new, empty history will be created.",
            detail=detail,
        )
    if kind == "cantopen":
        return StoreError(
            f"{action}: the database file cannot be opened {where}",
            "Check that its folder exists and is writable, or set THINKPANE_DATA_DIR.",
            detail=detail,
        )
    return StoreError(f"{action} {where}", "See the detail for what SQLite reported.", detail=detail)


# --------------------------------------------------------------------------- the store


_CONVERSATION_COLUMNS = (
    "c.id, c.title, c.created_at, c.updated_at, "
    "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id), "
    "c.backend, c.model, c.system"
)
_MESSAGE_COLUMNS = (
    "id, conversation_id, role, content, reasoning, status, backend, model, input_tokens, "
    "output_tokens, stop_reason, error, extra, created_at, finished_at, ttft_ms, elapsed_ms"
)


class ConversationStore:
    """Conversations and their messages in one SQLite file. Safe to share between threads."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S,
        full_text_search: bool | None = None,
    ) -> None:
        """Open (creating if needed) the database at ``path``; ``":memory:"`` for a throwaway one.

        ``full_text_search=False`` forces the LIKE fallback for a new database (tests use it);
        ``None`` uses FTS5 when this SQLite has it.
        """
        self.path = str(path)
        # Identifies the file for _LIVE_ANSWERS, whatever relative path or symlink led to it.
        self._key = self.path if self.path == MEMORY else os.path.realpath(self.path)
        self._lock = threading.RLock()
        self._writers: weakref.WeakSet[AnswerWriter] = weakref.WeakSet()
        self._conn: sqlite3.Connection | None = None
        self._last_time = 0.0
        try:
            self._conn = self._connect(busy_timeout)
            fts = _fts5_available(self._conn) if full_text_search is None else full_text_search
            migrate(self._conn, fts=fts)
            self._fts = self._has_table("messages_fts")
            self._recover_interrupted()
            # Continue the clock from the newest stored change (the system clock may lag).
            self._last_time = self._db.execute(
                "SELECT coalesce(max(updated_at), 0) FROM conversations"
            ).fetchone()[0]
            self._tighten_permissions()
        except _NewerSchema as exc:
            self._abandon()
            raise StoreError(
                f"The conversation history was written by a newer Thinkpane ({self.path})",
                f"It has schema version {exc.version}; this Thinkpane knows up to "
                f"{SCHEMA_VERSION}. Upgrade Thinkpane, or set THINKPANE_DATA_DIR to use "
                "another folder.",
            ) from None
        except (sqlite3.Error, OSError) as exc:
            self._abandon()
            raise _describe(exc, self.path, "Could not open the conversation history") from None
        except StoreError:
            self._abandon()
            raise

    # ----------------------------------------------------------------- connection

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        if self.path != MEMORY:
            from thinkpane.tui.core.paths import ensure_private_dir

            file = Path(self.path)
            ensure_private_dir(file.parent)
            if not file.exists():
                # Create it 0600 ourselves; SQLite gives -wal/-shm the database's mode.
                os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(
            self.path,
            timeout=busy_timeout,
            check_same_thread=False,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
        )
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            # The first real read: a file that is not a database fails here.
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _tighten_permissions(self) -> None:
        if self.path == MEMORY:
            return
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(self.path + suffix, 0o600)

    def _abandon(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _now(self) -> float:
        """Wall-clock time, strictly increasing within this store so "newest first" is exact."""
        with self._lock:
            self._last_time = max(time.time(), self._last_time + 1e-6)
            return self._last_time

    def _has_table(self, name: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("The conversation history is closed", "This is a bug; please report it.")
        return self._conn

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[sqlite3.Connection]:
        """Hold the lock; turn any SQLite failure into a StoreError."""
        with self._lock:
            try:
                yield self._db
            except (sqlite3.Error, OSError) as exc:
                raise _describe(exc, self.path, action) from None

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """A write transaction under the lock; rolled back on any error."""
        with self._guard(action) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    def _recover_interrupted(self) -> None:
        """Rows left "streaming" by a process that is gone (crash, kill) become "interrupted".

        Rows whose writer is still running (another Thinkpane, or another store in this
        process) are left alone.
        """
        now = self._now()
        with self._write("Could not open the conversation history") as conn:
            rows = conn.execute(
                "SELECT id, writer_pid FROM messages WHERE status = 'streaming'"
            ).fetchall()
            with _LIVE_ANSWERS_LOCK:
                live_here = {mid for key, mid in _LIVE_ANSWERS if key == self._key}
            own = os.getpid()
            orphans = [
                (now, message_id)
                for message_id, pid in rows
                if pid is None
                or (pid == own and message_id not in live_here)
                or (pid != own and not _pid_alive(pid))
            ]
            conn.executemany(
                "UPDATE messages SET status = 'interrupted', "
                "finished_at = coalesce(finished_at, ?) WHERE id = ?",
                orphans,
            )

    # ----------------------------------------------------------------- conversations

    def create_conversation(
        self,
        title: str = "New chat",
        *,
        backend: str = "",
        model: str = "",
        system: str | None = None,
    ) -> int:
        now = self._now()
        with self._write("Could not save the conversation") as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, backend, model, system) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (_storable(title), now, now, backend, model, _storable_or_none(system)),
            )
            return int(cursor.lastrowid)

    def list_conversations(self, query: str | None = None, limit: int = 200) -> list[ConversationSummary]:
        """Newest first. ``query``: words that must all appear in a title or in one message."""
        words = _storable(query or "").split()
        with self._guard("Could not read the conversation history") as conn:
            if not words:
                rows = conn.execute(
                    f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c "
                    "ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                    (limit,),
                ).fetchall()
            elif self._fts:
                match = _fts_query(words)
                rows = conn.execute(
                    f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c "
                    "WHERE c.id IN (SELECT m.conversation_id FROM messages m WHERE m.id IN "
                    "  (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)) "
                    "OR c.id IN (SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ?) "
                    "ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                    (match, match, limit),
                ).fetchall()
            else:
                like = " AND ".join(["{col} LIKE ? ESCAPE '\\'"] * len(words))
                patterns = [f"%{_escape_like(word)}%" for word in words]
                rows = conn.execute(
                    f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c "
                    "WHERE (" + like.format(col="c.title") + ") "
                    "OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id "
                    "  AND " + like.format(col="m.content") + ") "
                    "ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                    (*patterns, *patterns, limit),
                ).fetchall()
        return [ConversationSummary(*row) for row in rows]

    def get_conversation(self, conversation_id: int) -> ConversationSummary | None:
        with self._guard("Could not read the conversation history") as conn:
            row = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?",
                (conversation_id,),
            ).fetchone()
        return ConversationSummary(*row) if row else None

    def rename(self, conversation_id: int, title: str) -> None:
        # Renaming does not bump updated_at: the list stays in order of conversation activity.
        with self._write("Could not rename the conversation") as conn:
            conn.execute(
                "UPDATE conversations SET title = ? WHERE id = ?", (_storable(title), conversation_id)
            )

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation and (by cascade) its messages. Unknown ids are ignored."""
        with self._write("Could not delete the conversation") as conn:
            conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def last_conversation_id(self) -> int | None:
        with self._guard("Could not read the conversation history") as conn:
            row = conn.execute(
                "SELECT id FROM conversations ORDER BY updated_at DESC, id DESC LIMIT 1"
            ).fetchone()
        return int(row[0]) if row else None

    # ----------------------------------------------------------------- messages

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        reasoning: str = "",
        backend: str = "",
        model: str = "",
        status: str = "complete",
    ) -> int:
        return self._insert_message(
            conversation_id, role, content, reasoning=reasoning, backend=backend, model=model,
            status=status, action="Could not save the message",
        )

    def start_answer(self, conversation_id: int, *, backend: str, model: str) -> AnswerWriter:
        """Insert the assistant row now (status "streaming") and return its writer."""
        message_id = self._insert_message(
            conversation_id, "assistant", "", reasoning="", backend=backend, model=model,
            status="streaming", action="Could not start saving the answer",
        )
        writer = AnswerWriter(self, message_id, conversation_id)
        self._writers.add(writer)
        with _LIVE_ANSWERS_LOCK:
            _LIVE_ANSWERS.add((self._key, message_id))
        return writer

    def _insert_message(
        self, conversation_id: int, role: str, content: str, *, reasoning: str, backend: str,
        model: str, status: str, action: str,
    ) -> int:
        if role not in ROLES:
            raise ValueError(f"role must be one of {sorted(ROLES)}, not {role!r}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}, not {status!r}")
        now = self._now()
        finished_at = None if status == "streaming" else now
        with self._write(action) as conn:
            cursor = conn.execute(
                "INSERT INTO messages (conversation_id, role, content, reasoning, status, backend, "
                "model, created_at, finished_at, writer_pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, _storable(content), _storable(reasoning), status,
                 backend, model, now, finished_at, os.getpid() if status == "streaming" else None),
            )
            self._touch(conn, conversation_id, now)
            return int(cursor.lastrowid)

    @staticmethod
    def _touch(conn: sqlite3.Connection, conversation_id: int, now: float) -> None:
        conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))

    def load_messages(self, conversation_id: int) -> list[StoredMessage]:
        """Oldest first."""
        with self._guard("Could not read the conversation") as conn:
            rows = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        return [_message_from_row(row) for row in rows]

    def get_message(self, message_id: int) -> StoredMessage | None:
        with self._guard("Could not read the conversation") as conn:
            row = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        return _message_from_row(row) if row else None

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Save what open answer writers still buffer (best effort), then close. Idempotent."""
        with self._lock:
            if self._conn is None:
                return
            for writer in list(self._writers):
                with contextlib.suppress(StoreError):
                    writer.flush()
                writer._forget()
            self._abandon()

    @property
    def closed(self) -> bool:
        return self._conn is None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --------------------------------------------------------------------------- the writer


class AnswerWriter:
    """Saves one streaming assistant answer in batches, so storing never slows the stream.

    ``append_*`` only touch an in-memory list (O(1)). ``flush()`` writes everything buffered
    with one UPDATE. A failed flush raises :class:`StoreError` and keeps the buffer; an
    append that crossed the size threshold never raises (the error waits for the next
    explicit ``flush()``/``finish()``, and automatic flushing pauses until then so a locked
    database cannot stall every delta).
    """

    def __init__(self, store: ConversationStore, message_id: int, conversation_id: int) -> None:
        self.store = store
        self.message_id = message_id
        self.conversation_id = conversation_id
        self._buffer_lock = threading.Lock()
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._buffered = 0
        self._meta: dict[str, Any] = {}
        self._extra: dict[str, Any] = {}
        self._meta_dirty = False
        self._auto_flush = True
        self.finished = False
        self.last_error: StoreError | None = None

    # ----------------------------------------------------------------- buffering

    def append_content(self, text: str) -> None:
        self._append(self._content, text)

    def append_reasoning(self, text: str) -> None:
        self._append(self._reasoning, text)

    def _append(self, parts: list[str], text: str) -> None:
        if not text or self.finished:
            # A cancelled stream may still deliver a late delta; the answer is already final.
            return
        with self._buffer_lock:
            parts.append(text)
            self._buffered += len(text)
            over = self._buffered > FLUSH_THRESHOLD_CHARS and self._auto_flush
        if over:
            try:
                self.flush()
            except StoreError:
                self._auto_flush = False  # flush() recorded last_error

    def set_usage(self, input_tokens: int | None, output_tokens: int | None) -> None:
        with self._buffer_lock:
            self._meta["input_tokens"] = input_tokens
            self._meta["output_tokens"] = output_tokens
            self._meta_dirty = True

    def set_timing(self, ttft_ms: int | None, elapsed_ms: int | None) -> None:
        with self._buffer_lock:
            self._meta["ttft_ms"] = ttft_ms
            self._meta["elapsed_ms"] = elapsed_ms
            self._meta_dirty = True

    def merge_extra(self, data: dict) -> None:
        with self._buffer_lock:
            self._extra.update(data)
            # default=str: a backend slipping in a non-JSON value must not break the stream.
            self._meta["extra"] = json.dumps(self._extra, ensure_ascii=False, default=str)
            self._meta_dirty = True

    @property
    def buffered_chars(self) -> int:
        """Characters appended but not yet in the database."""
        return self._buffered

    # ----------------------------------------------------------------- writing

    def flush(self) -> None:
        """Write what is buffered now (one UPDATE). Raises StoreError, keeping the buffer."""
        self._write(final=None)

    def finish(self, status: str, *, stop_reason: str | None = None, error: str | None = None) -> None:
        """Write the rest and the final state. ``status``: complete | cancelled | error."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {sorted(FINAL_STATUSES)}, not {status!r}")
        if self.finished:
            return
        self._write(final=(status, stop_reason, error))
        self.finished = True
        self._forget()

    def _forget(self) -> None:
        """No longer a live answer: a later open may mark it interrupted if still streaming."""
        self.store._writers.discard(self)
        with _LIVE_ANSWERS_LOCK:
            _LIVE_ANSWERS.discard((self.store._key, self.message_id))

    def _write(self, final: tuple[str, str | None, str | None] | None) -> None:
        with self._buffer_lock:
            content, reasoning = self._content, self._reasoning
            if final is None and not content and not reasoning and not self._meta_dirty:
                return
            self._content, self._reasoning, self._buffered = [], [], 0
            meta, meta_dirty = dict(self._meta), self._meta_dirty
            self._meta_dirty = False
        content_text, content_held = _split_for_storage("".join(content), final is None)
        reasoning_text, reasoning_held = _split_for_storage("".join(reasoning), final is None)

        assignments = ["content = content || ?", "reasoning = reasoning || ?"]
        params: list[Any] = [content_text, reasoning_text]
        if meta_dirty or final is not None:
            for column, value in meta.items():
                assignments.append(f"{column} = ?")
                params.append(value)
        now = self.store._now()
        if final is not None:
            status, stop_reason, error = final
            assignments += ["status = ?", "stop_reason = ?", "error = ?", "finished_at = ?"]
            params += [status, stop_reason, _storable_or_none(error), now]
        try:
            with self.store._write("Could not save the conversation") as conn:
                conn.execute(
                    f"UPDATE messages SET {', '.join(assignments)} WHERE id = ?",
                    (*params, self.message_id),
                )
                if final is not None:
                    ConversationStore._touch(conn, self.conversation_id, now)
        except StoreError as exc:
            # Put the text back in front of anything appended meanwhile: nothing is lost.
            with self._buffer_lock:
                if content:
                    self._content[:0] = content
                if reasoning:
                    self._reasoning[:0] = reasoning
                self._buffered += sum(map(len, content)) + sum(map(len, reasoning))
                self._meta_dirty = self._meta_dirty or meta_dirty
            self.last_error = exc
            raise
        with self._buffer_lock:
            # A high surrogate held back waits for its pair in the next flush.
            if content_held:
                self._content.insert(0, content_held)
                self._buffered += 1
            if reasoning_held:
                self._reasoning.insert(0, reasoning_held)
                self._buffered += 1
        self.last_error = None
        self._auto_flush = True


# --------------------------------------------------------------------------- helpers


def _message_from_row(row: tuple) -> StoredMessage:
    values = list(row)
    try:
        extra = json.loads(values[12] or "{}")
    except ValueError:
        extra = {}
    values[12] = extra if isinstance(extra, dict) else {}
    return StoredMessage(*values)


def _storable(text: str) -> str:
    """``text`` as SQLite can store it: lone surrogates (not encodable) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # Round-trip through UTF-16 joins valid pairs and replaces the lone halves.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _storable_or_none(text: str | None) -> str | None:
    return None if text is None else _storable(text)


def _split_for_storage(text: str, hold_back: bool) -> tuple[str, str]:
    """(what to write now, what to keep buffered): keep a trailing high surrogate for its pair."""
    if hold_back and text and "\ud800" <= text[-1] <= "\udbff":
        return _storable(text[:-1]), text[-1]
    return _storable(text), ""


def _fts_query(words: list[str]) -> str:
    """User words -> an FTS5 query: every word required, the last one as a prefix."""
    phrases = ['"' + word.replace('"', '""') + '"' for word in words]
    phrases[-1] += "*"
    return " AND ".join(phrases)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
