"""Several Thinkpane processes writing one history at once (``thinkpane serve``: one per tab).

Two real processes open the same fresh database at the same moment and each saves many
conversations, answers streamed in small flushes, renames and searches, interleaved with
the other's writes. The store's WAL journal and busy timeout must make every write wait
its turn: nothing is lost, nothing fails with "database is locked".

That run hits one race only now and then: the first switch of a new file to WAL, which
SQLite fails at once (no busy timeout) while another connection holds the write lock. A
second test pins it down deterministically with two connections.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from thinkpane.tui.core.store import ConversationStore
from thinkpane.tui.core.store.conversations import _enable_wal

REPO_ROOT = Path(__file__).resolve().parent.parent
CONVERSATIONS_PER_WRITER = 40
DELTAS_PER_ANSWER = 12

WRITER = textwrap.dedent(
    """
    import sys
    from thinkpane.tui.core.store import ConversationStore
    path, name, count, deltas = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print("ready", flush=True)
    sys.stdin.readline()  # "go": both writers start together
    with ConversationStore(path) as store:
        for i in range(count):
            conversation = store.create_conversation(f"{name} draft {i}")
            store.add_message(conversation, "user", f"{name} prompt {i}")
            writer = store.start_answer(conversation, backend="scripted", model=name)
            for d in range(deltas):
                writer.append_reasoning(f"{name}-r{i}.{d} ")
                writer.append_content(f"{name}-a{i}.{d} ")
                writer.flush()  # one write transaction per delta, like a fast stream
                store.list_conversations(name)  # a reader in between, like the sidebar
            writer.finish("complete")
            store.rename(conversation, f"{name} chat {i}")
    print("done", flush=True)
    """
)


def test_two_writer_processes_at_once_lose_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "data" / "conversations.sqlite3"
    names = ("alpha", "beta")
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db_path), name, str(CONVERSATIONS_PER_WRITER), str(DELTAS_PER_ANSWER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        )
        for name in names
    ]
    try:
        for writer in writers:
            assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        for writer in writers:
            writer.stdin.write("go\n")
            writer.stdin.flush()
        for writer in writers:
            out, err = writer.communicate(timeout=120)
            assert writer.returncode == 0 and out.strip() == "done", err
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()

    with ConversationStore(db_path) as store:
        conversations = store.list_conversations(limit=1000)
        assert sorted(c.title for c in conversations) == sorted(
            f"{name} chat {i}" for name in names for i in range(CONVERSATIONS_PER_WRITER)
        )
        for conversation in conversations:
            name, _, i = conversation.title.split()
            messages = store.load_messages(conversation.id)
            assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "complete")]
            user, answer = messages
            assert user.content == f"{name} prompt {i}"
            assert answer.model == name
            assert answer.content == "".join(f"{name}-a{i}.{d} " for d in range(DELTAS_PER_ANSWER))
            assert answer.reasoning == "".join(f"{name}-r{i}.{d} " for d in range(DELTAS_PER_ANSWER))


def test_switch_to_wal_waits_for_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")  # another process is creating the history: write lock held
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    attempts: list[str] = []

    def on_statement(sql: str) -> None:
        attempts.append(sql)
        if len(attempts) == 2:  # the first try failed; the other writer finishes now
            other.execute("COMMIT")

    conn.set_trace_callback(on_statement)
    try:
        _enable_wal(conn, busy_timeout=30)
        assert attempts == ["PRAGMA journal_mode = WAL"] * 2
        conn.set_trace_callback(None)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
        other.close()
