"""The conversation store: :class:`ConversationStore` opens the file and runs every query.

It opens (creating, migrating and recovering) the database, then lists, searches, reads
and writes conversations and messages; a streaming answer is saved by the
:class:`~thinkpane.tui.core.store.writer.AnswerWriter` that :meth:`ConversationStore.start_answer`
returns. The schema is in :mod:`.schema`, error wording in :mod:`.errors`.

* **Search is newest first**, not ranked: every word must appear in the title or in one
  message's text (the last word also as a prefix, for search as you type), in any branch.
  Reasoning is not searched. FTS5 when the database has its index (see :mod:`.schema`),
  ``LIKE`` otherwise. Each result names its newest matching message, and
  :meth:`ConversationStore.path_through` gives the branch that holds it.
* **Trees.** A conversation is a tree of messages with one *active path*, from a first
  message down to the conversation's ``active_leaf_id`` (see :mod:`.schema`).
  :meth:`~ConversationStore.load_messages` reads that path (what the chat shows and what a
  backend is sent), :meth:`~ConversationStore.load_tree` every message. A new message goes
  under the active leaf unless given a ``parent_id`` (a regenerated answer goes under its
  prompt, an edited prompt beside the original), and becomes the active leaf.
  :meth:`~ConversationStore.activate` switches branches: the path through a message, down
  to the newest message below it.
* **Privacy.** The file, its ``-wal`` and ``-shm`` are mode 0600 in a 0700 directory. The
  store never receives settings or secrets.
* **Threads.** One connection (``check_same_thread=False``) behind a lock: the app may
  flush from a timer while a worker thread streams.
* **Processes.** Several Thinkpanes may share the file (terminals, ``thinkpane serve`` runs
  one per browser tab): WAL (readers never block the writer), every write a ``BEGIN
  IMMEDIATE`` transaction, and a busy timeout so a write waits for another process's to
  finish. SQLite does not apply the busy timeout to the first switch of a new file to WAL,
  so two processes creating the history at once retry that step (:func:`_enable_wal`).
* **Crash recovery.** Opening marks the rows a dead process left ``"streaming"`` as
  ``"interrupted"`` (see :mod:`.writer` for how an answer is saved as it streams).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from thinkpane.tui.core.store.errors import MEMORY, StoreError, _classify, _describe
from thinkpane.tui.core.store.records import ROLES, STATUSES, ConversationSummary, StoredMessage
from thinkpane.tui.core.store.schema import SCHEMA_VERSION, _fts5_available, _NewerSchema, migrate
from thinkpane.tui.core.store.text import _storable, _storable_or_none
from thinkpane.tui.core.store.writer import _LIVE_ANSWERS, _LIVE_ANSWERS_LOCK, AnswerWriter

# How long a write waits for another Thinkpane process holding the database lock.
DEFAULT_BUSY_TIMEOUT_S = 3.0


def _enable_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """``PRAGMA journal_mode = WAL``, retried while another process holds the file (up to
    ``busy_timeout``): switching a new file to WAL needs an exclusive lock, and SQLite
    answers "database is locked" at once there instead of calling its busy handler."""
    deadline = time.monotonic() + busy_timeout
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if _classify(exc) != "locked" or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


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


_CONVERSATION_COLUMNS = (
    "c.id, c.title, c.created_at, c.updated_at, "
    "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id), "
    "c.backend, c.model, c.system"
)
# Read as ``messages m``; the last two count m's siblings (messages_by_parent).
_MESSAGE_COLUMNS = (
    "m.id, m.conversation_id, m.role, m.content, m.reasoning, m.status, m.backend, m.model, "
    "m.input_tokens, m.output_tokens, m.stop_reason, m.error, m.extra, m.created_at, "
    "m.finished_at, m.ttft_ms, m.elapsed_ms, m.parent_id, "
    "(SELECT count(*) FROM messages s WHERE s.conversation_id = m.conversation_id "
    "AND s.parent_id IS m.parent_id AND s.id <= m.id), "
    "(SELECT count(*) FROM messages s WHERE s.conversation_id = m.conversation_id "
    "AND s.parent_id IS m.parent_id)"
)
# A conversation's active leaf (``conversations c``); the newest message if none is set.
_ACTIVE_LEAF = "coalesce(c.active_leaf_id, (SELECT max(x.id) FROM messages x WHERE x.conversation_id = c.id))"
# The path from a first message down to the leaf that ``{leaf}`` selects: up the primary key.
_PATH_TO_LEAF = (
    "WITH RECURSIVE path(id) AS ({leaf} UNION ALL "
    "SELECT p.parent_id FROM messages p JOIN path ON p.id = path.id WHERE p.parent_id IS NOT NULL) "
    f"SELECT {_MESSAGE_COLUMNS} FROM messages m WHERE m.id IN (SELECT id FROM path) ORDER BY m.id"
)


class _ActiveLeaf:
    """The default parent of a new message: the conversation's active leaf."""

    def __repr__(self) -> str:
        return "ACTIVE_LEAF"


# ``parent_id=ACTIVE_LEAF``: add the message at the end of the active path.
ACTIVE_LEAF = _ActiveLeaf()


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
        # Answers not finished yet, or finished while their last write failed (kept until saved).
        self._writers: set[AnswerWriter] = set()
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
            _enable_wal(conn, busy_timeout)
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
            return int(cursor.lastrowid or 0)  # an INSERT always sets it

    def list_conversations(self, query: str | None = None, limit: int = 200) -> list[ConversationSummary]:
        """Newest first. ``query``: words that must all appear in a title or in one message.

        With a query, each summary's ``match_message_id`` is the newest message that matched
        (None when only the title did).
        """
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
                    "WITH best(conversation_id, message_id) AS ("
                    "  SELECT m.conversation_id, max(m.id) FROM messages m WHERE m.id IN "
                    "    (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?) "
                    "  GROUP BY m.conversation_id) "
                    f"SELECT {_CONVERSATION_COLUMNS}, best.message_id FROM conversations c "
                    "LEFT JOIN best ON best.conversation_id = c.id "
                    "WHERE best.message_id IS NOT NULL "
                    "OR c.id IN (SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH ?) "
                    "ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                    (match, match, limit),
                ).fetchall()
            else:
                like = " AND ".join(["{col} LIKE ? ESCAPE '\\'"] * len(words))
                patterns = [f"%{_escape_like(word)}%" for word in words]
                rows = conn.execute(
                    "WITH best(conversation_id, message_id) AS ("
                    "  SELECT m.conversation_id, max(m.id) FROM messages m "
                    "  WHERE " + like.format(col="m.content") + " GROUP BY m.conversation_id) "
                    f"SELECT {_CONVERSATION_COLUMNS}, best.message_id FROM conversations c "
                    "LEFT JOIN best ON best.conversation_id = c.id "
                    "WHERE (" + like.format(col="c.title") + ") OR best.message_id IS NOT NULL "
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
        parent_id: int | _ActiveLeaf | None = ACTIVE_LEAF,
    ) -> int:
        """Add a message under ``parent_id`` (default: the active leaf; None: a first message).

        The new message becomes the conversation's active leaf.
        """
        return self._insert_message(
            conversation_id, role, content, reasoning=reasoning, backend=backend, model=model,
            status=status, parent_id=parent_id, action="Could not save the message",
        )

    def start_answer(
        self, conversation_id: int, *, backend: str, model: str,
        parent_id: int | _ActiveLeaf | None = ACTIVE_LEAF,
    ) -> AnswerWriter:
        """Insert the assistant row now (status "streaming") and return its writer.

        ``parent_id``: the prompt it answers (default: the active leaf); a regenerated answer
        names the prompt of the answer it replaces and becomes that answer's sibling.
        """
        message_id = self._insert_message(
            conversation_id, "assistant", "", reasoning="", backend=backend, model=model,
            status="streaming", parent_id=parent_id, action="Could not start saving the answer",
        )
        writer = AnswerWriter(self, message_id, conversation_id)
        with self._lock:
            self._writers.add(writer)
        with _LIVE_ANSWERS_LOCK:
            _LIVE_ANSWERS.add((self._key, message_id))
        return writer

    def _insert_message(
        self, conversation_id: int, role: str, content: str, *, reasoning: str, backend: str,
        model: str, status: str, parent_id: int | _ActiveLeaf | None, action: str,
    ) -> int:
        if role not in ROLES:
            raise ValueError(f"role must be one of {sorted(ROLES)}, not {role!r}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}, not {status!r}")
        now = self._now()
        finished_at = None if status == "streaming" else now
        with self._write(action) as conn:
            if isinstance(parent_id, _ActiveLeaf):
                row = conn.execute(
                    f"SELECT {_ACTIVE_LEAF} FROM conversations c WHERE c.id = ?", (conversation_id,)
                ).fetchone()
                parent = row[0] if row else None
            else:
                parent = parent_id
                if parent is not None and conn.execute(
                    "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?", (parent, conversation_id)
                ).fetchone() is None:
                    raise ValueError(f"message {parent} is not in conversation {conversation_id}")
            cursor = conn.execute(
                "INSERT INTO messages (conversation_id, role, content, reasoning, status, backend, "
                "model, created_at, finished_at, writer_pid, parent_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, _storable(content), _storable(reasoning), status,
                 backend, model, now, finished_at, os.getpid() if status == "streaming" else None, parent),
            )
            message_id = int(cursor.lastrowid or 0)  # an INSERT always sets it
            conn.execute("UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (message_id, conversation_id))
            self._touch(conn, conversation_id, now)
            return message_id

    @staticmethod
    def _touch(conn: sqlite3.Connection, conversation_id: int, now: float) -> None:
        conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))

    def load_messages(self, conversation_id: int) -> list[StoredMessage]:
        """The active path, oldest first: what the chat shows and what a backend is sent."""
        with self._guard("Could not read the conversation") as conn:
            return self._active_path(conn, conversation_id)

    def load_tree(self, conversation_id: int) -> list[StoredMessage]:
        """Every message of every branch, oldest first (a parent before its children)."""
        with self._guard("Could not read the conversation") as conn:
            rows = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ? ORDER BY m.id",
                (conversation_id,),
            ).fetchall()
        return [_message_from_row(row) for row in rows]

    def get_message(self, message_id: int) -> StoredMessage | None:
        with self._guard("Could not read the conversation") as conn:
            row = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages m WHERE m.id = ?", (message_id,)
            ).fetchone()
        return _message_from_row(row) if row else None

    def siblings(self, message_id: int) -> list[int]:
        """The ids of the messages with the same parent as ``message_id`` (itself too), oldest first."""
        with self._guard("Could not read the conversation") as conn:
            rows = conn.execute(
                "SELECT s.id FROM messages m JOIN messages s ON s.conversation_id = m.conversation_id "
                "AND s.parent_id IS m.parent_id WHERE m.id = ? ORDER BY s.id",
                (message_id,),
            ).fetchall()
        return [row[0] for row in rows]

    def path_through(self, message_id: int) -> list[StoredMessage]:
        """The branch that holds ``message_id``, oldest first; [] when there is no such message.

        The active path when the message is on it; otherwise the path from a first message
        through this one down to the newest message below it.
        """
        with self._guard("Could not read the conversation") as conn:
            return self._path_through(conn, message_id)

    def activate(self, message_id: int) -> list[StoredMessage]:
        """Make the branch through ``message_id`` (see :meth:`path_through`) the active path.

        Returns that path ([] and no change when there is no such message). Does not change
        the conversation's place in the list, like a rename.
        """
        with self._write("Could not switch to that branch") as conn:
            path = self._path_through(conn, message_id)
            if path:
                conn.execute("UPDATE conversations SET active_leaf_id = ? WHERE id = ?",
                             (path[-1].id, path[-1].conversation_id))
        return path

    def _active_path(self, conn: sqlite3.Connection, conversation_id: int) -> list[StoredMessage]:
        leaf = f"SELECT {_ACTIVE_LEAF} FROM conversations c WHERE c.id = ?"
        rows = conn.execute(_PATH_TO_LEAF.format(leaf=leaf), (conversation_id,)).fetchall()
        return [_message_from_row(row) for row in rows]

    def _path_through(self, conn: sqlite3.Connection, message_id: int) -> list[StoredMessage]:
        row = conn.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return []
        conversation_id = row[0]
        active = self._active_path(conn, conversation_id)
        if any(message.id == message_id for message in active):
            return active
        # Children have larger ids than their parents, so the newest message below is a leaf.
        leaf = conn.execute(
            "WITH RECURSIVE below(id) AS (SELECT ? UNION ALL "
            "SELECT m.id FROM messages m JOIN below ON m.conversation_id = ? AND m.parent_id = below.id) "
            "SELECT max(id) FROM below",
            (message_id, conversation_id),
        ).fetchone()[0]
        rows = conn.execute(_PATH_TO_LEAF.format(leaf="SELECT ?"), (leaf,)).fetchall()
        return [_message_from_row(row) for row in rows]

    # ----------------------------------------------------------------- unsaved answers

    def save_pending(self) -> StoreError | None:
        """Write again what answer writers still hold after a failed write (their text, the
        final state of a finished answer): the disk has room again, the lock went away.
        Returns the error that still stands, None when everything is saved."""
        with self._lock:
            writers = [writer for writer in self._writers if writer.unsaved]
        failed = None
        for writer in writers:
            try:
                writer.flush()
            except StoreError as error:
                failed = error
        return failed

    def unsaved_chars(self) -> int:
        """Characters of answers that a failed write left out of the database so far."""
        with self._lock:
            return sum(writer.buffered_chars for writer in self._writers if writer.unsaved)

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Save what open answer writers still buffer, and the final state of an answer whose
        finish() failed (best effort), then close. Idempotent."""
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

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --------------------------------------------------------------------------- helpers


def _message_from_row(row: tuple[Any, ...]) -> StoredMessage:
    values = list(row)
    try:
        extra = json.loads(values[12] or "{}")
    except ValueError:
        extra = {}
    values[12] = extra if isinstance(extra, dict) else {}
    return StoredMessage(*values)


def _fts_query(words: list[str]) -> str:
    """User words -> an FTS5 query: every word required, the last one as a prefix."""
    phrases = ['"' + word.replace('"', '""') + '"' for word in words]
    phrases[-1] += "*"
    return " AND ".join(phrases)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
