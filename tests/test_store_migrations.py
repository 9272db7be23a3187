"""Histories written by earlier Thinkpane builds open in this one with every message intact.

The DDL below is frozen: it is what the store created at schema versions 1 and 2 (commits
c4ec745 and 5b12740 of tui/store.py), written out here rather than taken from
``schema.MIGRATIONS``, so an edit to an old migration cannot make this test build a database
no one ever had. Both versions created the full-text index with two update triggers that
fire in the wrong order (an edited message lost words from the index); version 3 swaps in
one trigger and rebuilds the index, which the search checks below see.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from thinkpane.tui.core import paths
from thinkpane.tui.core.store import SCHEMA_VERSION, ConversationStore, StoredMessage

V1_TABLES = """
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
CREATE INDEX messages_streaming ON messages(id) WHERE status = 'streaming';
"""

# Created only when that SQLite had FTS5 (otherwise search used LIKE).
V1_FULL_TEXT_INDEX = """
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
CREATE TRIGGER messages_fts_unindex AFTER UPDATE OF content, status ON messages
WHEN old.status != 'streaming' BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content)
    VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER messages_fts_reindex AFTER UPDATE OF content, status ON messages
WHEN new.status != 'streaming' BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
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

V2_CHANGES = "ALTER TABLE messages ADD COLUMN writer_pid INTEGER;"

COLUMNS = (
    "conversation_id", "role", "content", "reasoning", "status", "backend", "model",
    "input_tokens", "output_tokens", "stop_reason", "error", "extra", "created_at",
    "finished_at", "ttft_ms", "elapsed_ms",
)


def _message(conversation_id: int, role: str, content: str, created_at: float, **fields) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(conversation_id=conversation_id, role=role, content=content, reasoning="",
               status="complete", backend="", model="", extra="{}", created_at=created_at,
               finished_at=created_at + 1)
    row.update(fields)
    return row


def _dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _old_database(path: Path, version: int, *, fts: bool) -> dict[int, list[StoredMessage]]:
    """Write a history as Thinkpane at schema ``version`` did; return what it holds, by conversation.

    Every column is filled somewhere, with text that is easy to get wrong (NUL, emoji,
    accents, quotes), in every status an old build could leave behind.
    """
    paths.ensure_private_dir(path.parent)
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("PRAGMA journal_mode = WAL")
    raw.executescript(V1_TABLES + (V1_FULL_TEXT_INDEX if fts else "") + (V2_CHANGES if version >= 2 else ""))
    raw.execute(f"PRAGMA user_version = {version}")

    conversations = [
        ("Apricot trip to Zürich ✈", 1_700_000_000.0, "openai", "deepseek-reasoner", "Be brief."),
        ("draft title", 1_700_000_100.0, "bedrock", "claude", None),
        ("Empty chat", 1_700_000_200.0, "", "", None),
    ]
    for title, created, backend, model, system in conversations:
        raw.execute(
            "INSERT INTO conversations (title, created_at, updated_at, backend, model, system) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (title, created, created + 50, backend, model, system),
        )
    raw.execute("UPDATE conversations SET title = 'Blueberry recipes, renamed' WHERE id = 2")

    rows = [
        _message(1, "system", "You are terse.", 1_700_000_001.0),
        _message(1, "user", "What is \"cherry\" in German? Ünïcödé ok", 1_700_000_002.0),
        _message(1, "assistant", "Kirsche 😀 damson\x00after a NUL", 1_700_000_003.0,
                 reasoning="The user asks… translate.", backend="openai", model="deepseek-reasoner",
                 input_tokens=12, output_tokens=34, stop_reason="stop",
                 extra=json.dumps({"usage": {"cached_tokens": 3}, "note": "é"}),
                 ttft_ms=120, elapsed_ms=900),
        _message(1, "assistant", "elderberry, then the user pressed Esc", 1_700_000_004.0,
                 status="cancelled", reasoning="half a thought"),
        _message(1, "assistant", "", 1_700_000_005.0, status="error",
                 error="HTTP 500 from the server: fig"),
        _message(2, "user", "guava jam?", 1_700_000_101.0),
        _message(2, "assistant", "", 1_700_000_102.0, status="streaming", finished_at=None),
        _message(2, "assistant", "huckleberry, before a crash", 1_700_000_103.0,
                 status="interrupted", finished_at=1_700_000_104.0),
        # Still streaming when that Thinkpane was killed: the next open marks it interrupted.
        _message(2, "assistant", "", 1_700_000_105.0, status="streaming", finished_at=None,
                 reasoning="kiwi reasoning"),
    ]
    for row in rows:
        raw.execute(f"INSERT INTO messages ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    tuple(row[c] for c in COLUMNS))
    # How those builds saved a streamed answer: appends while streaming, then the final
    # status; then a late append to the finished row, which their triggers mis-indexed.
    for piece in ("lime streamed ", "then finished"):
        raw.execute("UPDATE messages SET content = content || ? WHERE id = 7", (piece,))
    raw.execute("UPDATE messages SET status = 'complete', finished_at = ? WHERE id = 7", (1_700_000_102.5,))
    raw.execute("UPDATE messages SET content = content || ' mango' WHERE id = 7")
    rows[6].update(content="lime streamed then finished mango", status="complete", finished_at=1_700_000_102.5)
    raw.execute("UPDATE messages SET content = 'nectarine, half an answer' WHERE id = 9")
    rows[8]["content"] = "nectarine, half an answer"
    if version >= 2:
        raw.execute("UPDATE messages SET writer_pid = ? WHERE id = 9", (_dead_pid(),))
    if fts:  # the fault the next open must repair is really there
        assert raw.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'lime'").fetchall() == []
    raw.close()

    held: dict[int, list[StoredMessage]] = {1: [], 2: [], 3: []}
    for message_id, row in enumerate(rows, 1):
        values = {**row, "extra": json.loads(row["extra"])}
        # Version 4 makes each conversation a tree: a line, each message under the one before.
        previous = held[row["conversation_id"]][-1].id if held[row["conversation_id"]] else None
        held[row["conversation_id"]].append(StoredMessage(id=message_id, parent_id=previous, **values))
    return held


@pytest.mark.parametrize("fts", [True, False], ids=["fts5", "like"])
@pytest.mark.parametrize("version", [1, 2])
def test_old_database_is_upgraded_with_every_message_kept(tmp_path: Path, version: int, fts: bool) -> None:
    path = tmp_path / "data" / "conversations.sqlite3"
    held = _old_database(path, version, fts=fts)

    with ConversationStore(path) as store:
        assert [(c.id, c.title, c.message_count, c.backend, c.model, c.system)
                for c in store.list_conversations()] == [
            (3, "Empty chat", 0, "", "", None),
            (2, "Blueberry recipes, renamed", 4, "bedrock", "claude", None),
            (1, "Apricot trip to Zürich ✈", 5, "openai", "deepseek-reasoner", "Be brief."),
        ]
        for conversation_id, expected in held.items():
            loaded = store.load_messages(conversation_id)
            crashed = loaded[-1] if conversation_id == 2 else None
            if crashed is not None:
                # The one row a killed process left streaming: kept, and now "interrupted".
                assert crashed.status == "interrupted" and crashed.finished_at is not None
                expected = [*expected[:-1], replace(expected[-1], status="interrupted",
                                                    finished_at=crashed.finished_at)]
            assert loaded == expected

        # Every message can be found by its own word, including the one the old triggers
        # mis-indexed and the one recovered from the crash.
        for word, conversation_id in [
            ("apricot", 1), ("cherry", 1), ("damson", 1),
            ("elderberry", 1), ("blueberry", 2), ("guava", 2), ("lime", 2), ("finished mango", 2),
            ("huckleberry", 2), ("nectarine", 2),
        ]:
            assert [c.id for c in store.list_conversations(word)] == [conversation_id], word
        assert store.list_conversations("draft") == []

        # A later edit of a finished message (what the old triggers got wrong) re-indexes it.
        editor = sqlite3.connect(path, isolation_level=None)
        editor.execute("UPDATE messages SET content = 'rewritten' WHERE id = 7")
        editor.close()
        assert store.list_conversations("lime") == []
        assert [c.id for c in store.list_conversations("rewritten")] == [2]

        # And the upgraded file takes new answers like a new one.
        writer = store.start_answer(1, backend="openai", model="deepseek-reasoner")
        writer.append_content("quince")
        writer.finish("complete")
        assert store.load_messages(1)[-1].content == "quince"
        assert [c.id for c in store.list_conversations("quince")] == [1]

    raw = sqlite3.connect(path, isolation_level=None)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        if fts:
            # FTS5 compares an external-content index with its table and raises if they differ.
            raw.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
            raw.execute("INSERT INTO conversations_fts(conversations_fts) VALUES ('integrity-check')")
    finally:
        raw.close()
