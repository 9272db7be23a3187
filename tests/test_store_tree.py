"""Conversations as trees in the store: branches, the active path, search into a branch, a
crash mid-branch, and the upgrade of a history written by the schema-3 store (the fixture
tests/fixtures/history_v3.sqlite3, made by tests/fixtures/make_history_v3.py)."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from thinkpane.tui.core import paths
from thinkpane.tui.core.store import SCHEMA_VERSION, ConversationStore

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(params=["fts5", "like"])
def store(request):
    with ConversationStore(paths.database_path(), full_text_search=request.param == "fts5") as opened:
        yield opened


def shape(messages) -> list[tuple[str, str, int, int]]:
    """(role, content, sibling_index, sibling_count) of each message."""
    return [(m.role, m.content, m.sibling_index, m.sibling_count) for m in messages]


def chat(store: ConversationStore) -> tuple[int, dict[str, int]]:
    """Q1 -> A1 -> Q2 -> A2, then A2 regenerated (A2b) and Q2 edited (Q2b -> A2c)."""
    cid = store.create_conversation("Fruit")
    ids = {"Q1": store.add_message(cid, "user", "Q1 apple")}
    ids["A1"] = store.add_message(cid, "assistant", "A1 banana")
    ids["Q2"] = store.add_message(cid, "user", "Q2 cherry")
    ids["A2"] = store.add_message(cid, "assistant", "A2 damson")
    ids["A2b"] = store.add_message(cid, "assistant", "A2b elderberry", parent_id=ids["Q2"])
    ids["Q2b"] = store.add_message(cid, "user", "Q2b fig", parent_id=ids["A1"])
    ids["A2c"] = store.add_message(cid, "assistant", "A2c guava")
    return cid, ids


def test_new_messages_go_under_the_active_leaf_and_become_it(store) -> None:
    cid, ids = chat(store)
    assert shape(store.load_messages(cid)) == [
        ("user", "Q1 apple", 1, 1), ("assistant", "A1 banana", 1, 1),
        ("user", "Q2b fig", 2, 2), ("assistant", "A2c guava", 1, 1),
    ]
    tree = {m.id: m for m in store.load_tree(cid)}
    assert [m.content for m in tree.values()] == [
        "Q1 apple", "A1 banana", "Q2 cherry", "A2 damson", "A2b elderberry", "Q2b fig", "A2c guava"]
    assert tree[ids["A2b"]].parent_id == ids["Q2"] and tree[ids["A2b"]].sibling_index == 2
    assert tree[ids["Q1"]].parent_id is None
    assert store.siblings(ids["A2"]) == [ids["A2"], ids["A2b"]]
    assert store.siblings(ids["Q1"]) == [ids["Q1"]]
    assert store.get_conversation(cid).message_count == 7


def test_activate_switches_branch_down_to_the_newest_message_below(store) -> None:
    cid, ids = chat(store)
    path = store.activate(ids["Q2"])
    # Q2's branch ends at its newest answer, the regenerated one.
    assert [m.content for m in path] == ["Q1 apple", "A1 banana", "Q2 cherry", "A2b elderberry"]
    assert store.load_messages(cid) == path
    assert shape(path)[2:] == [("user", "Q2 cherry", 1, 2), ("assistant", "A2b elderberry", 2, 2)]
    store.activate(ids["A2"])
    assert [m.content for m in store.load_messages(cid)][-1] == "A2 damson"
    # A new prompt now continues the chosen branch.
    store.add_message(cid, "user", "Q3 honeydew")
    assert [m.content for m in store.load_messages(cid)] == [
        "Q1 apple", "A1 banana", "Q2 cherry", "A2 damson", "Q3 honeydew"]
    assert store.activate(10_000) == []


def test_path_through_prefers_the_active_path(store) -> None:
    cid, ids = chat(store)
    active = store.load_messages(cid)
    assert store.path_through(ids["A1"]) == active  # on the active path: that path
    assert [m.content for m in store.path_through(ids["A2"])][-2:] == ["Q2 cherry", "A2 damson"]
    assert store.load_messages(cid) == active  # reading a path does not switch to it
    assert store.path_through(10_000) == []


def test_an_edited_first_prompt_is_a_second_first_message(store) -> None:
    cid = store.create_conversation()
    first = store.add_message(cid, "user", "hi")
    store.add_message(cid, "assistant", "hello")
    store.add_message(cid, "user", "hi, edited", parent_id=None)
    assert shape(store.load_messages(cid)) == [("user", "hi, edited", 2, 2)]
    assert [m.content for m in store.activate(first)] == ["hi", "hello"]


def test_a_parent_from_another_conversation_is_refused(store) -> None:
    one, two = store.create_conversation(), store.create_conversation()
    message = store.add_message(one, "user", "hi")
    with pytest.raises(ValueError, match="not in conversation"):
        store.add_message(two, "user", "sneaky", parent_id=message)
    with pytest.raises(ValueError, match="not in conversation"):
        store.start_answer(two, backend="b", model="m", parent_id=message)
    assert store.load_tree(two) == []


def test_a_regenerated_answer_streams_as_a_sibling_and_becomes_active(store) -> None:
    cid, ids = chat(store)
    store.activate(ids["A2"])
    writer = store.start_answer(cid, backend="openai", model="other", parent_id=ids["Q2"])
    writer.append_content("A2d kiwi")
    writer.finish("cancelled")
    path = store.load_messages(cid)
    assert shape(path)[-1] == ("assistant", "A2d kiwi", 3, 3)
    assert (path[-1].status, path[-1].model) == ("cancelled", "other")


def test_search_finds_words_in_every_branch_and_names_the_message(store) -> None:
    cid, ids = chat(store)
    other = store.create_conversation("Unrelated")
    store.add_message(other, "user", "nothing")
    # "damson" is only in A2, an answer that is not on the active path.
    [hit] = store.list_conversations("damson")
    assert (hit.id, hit.match_message_id) == (cid, ids["A2"])
    assert [m.content for m in store.path_through(hit.match_message_id)][-1] == "A2 damson"
    # A word on several messages names the newest; a title match names none.
    assert store.list_conversations("apple")[0].match_message_id == ids["Q1"]
    [by_title] = store.list_conversations("unrelated")
    assert (by_title.id, by_title.match_message_id) == (other, None)
    assert [c.match_message_id for c in store.list_conversations()] == [None, None]


def test_deleting_a_conversation_deletes_every_branch(store) -> None:
    cid, _ = chat(store)
    store.delete(cid)
    assert store.load_tree(cid) == [] and store.list_conversations("guava") == []


CRASHING_REGENERATE = textwrap.dedent("""
    import sys
    from thinkpane.tui.core.store import ConversationStore
    store = ConversationStore(sys.argv[1])
    cid = store.create_conversation("Crash")
    question = store.add_message(cid, "user", "Tell me a story")
    store.add_message(cid, "assistant", "The first telling.")
    writer = store.start_answer(cid, backend="openai", model="m2", parent_id=question)
    writer.append_reasoning("Retell it. ")
    writer.append_content("Once upon a second time, ")
    writer.flush()
    print(cid, flush=True)
    sys.stdin.read()  # killed here
""")


def test_sigkill_mid_regenerate_keeps_both_answers_and_the_flushed_text(tmp_path: Path) -> None:
    db_path = paths.database_path()
    paths.ensure_private_dir(db_path.parent)
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_REGENERATE, str(db_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
    )
    try:
        line = child.stdout.readline()
        assert line.strip().isdigit(), child.stderr.read()
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        for stream in (child.stdin, child.stdout, child.stderr):
            stream.close()
    cid = int(line)
    with ConversationStore(db_path) as store:
        path = store.load_messages(cid)
        assert shape(path) == [("user", "Tell me a story", 1, 1),
                               ("assistant", "Once upon a second time, ", 2, 2)]
        assert (path[-1].status, path[-1].reasoning) == ("interrupted", "Retell it. ")
        first = store.siblings(path[-1].id)[0]
        assert store.get_message(first).content == "The first telling."


# --------------------------------------------------------------------------- upgrade


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_schema_3_history_upgrades_into_lines_with_nothing_lost(tmp_path: Path) -> None:
    manifest = json.loads((FIXTURES / "history_v3.json").read_text(encoding="utf-8"))
    assert manifest["user_version"] == 3
    path = paths.database_path()
    paths.ensure_private_dir(path.parent)
    shutil.copyfile(FIXTURES / "history_v3.sqlite3", path)
    raw = sqlite3.connect(path, isolation_level=None)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 3
    crashed = manifest["crashed_message_id"]
    assert raw.execute("SELECT status FROM messages WHERE id = ?", (crashed,)).fetchone() == ("streaming",)
    # Pids are reused: make sure the crashed writer's pid is one no process has now.
    raw.execute("UPDATE messages SET writer_pid = ? WHERE id = ?", (_dead_pid(), crashed))
    raw.close()

    by_conversation: dict[int, list[dict]] = {}
    for message in manifest["messages"]:
        by_conversation.setdefault(message["conversation_id"], []).append(message)

    with ConversationStore(path) as store:
        assert [(c.id, c.title, c.backend, c.model, c.system) for c in
                sorted(store.list_conversations(), key=lambda c: c.id)] == [
            (c["id"], c["title"], c["backend"], c["model"], c["system"]) for c in manifest["conversations"]]
        for conversation in manifest["conversations"]:
            expected = by_conversation.get(conversation["id"], [])
            tree = store.load_tree(conversation["id"])
            # A line: every message under the one before it, and that line is the active path.
            assert store.load_messages(conversation["id"]) == tree
            assert [m.parent_id for m in tree] == [None, *(m["id"] for m in expected)][: len(expected)]
            assert all((m.sibling_index, m.sibling_count) == (1, 1) for m in tree)
            for loaded, old in zip(tree, expected, strict=True):
                fields = {name: getattr(loaded, name) for name in old if name != "writer_pid"}
                if old["id"] == crashed:
                    # The turn a SIGKILL cut short: its flushed text kept, now "interrupted".
                    assert loaded.status == "interrupted" and loaded.finished_at is not None
                    assert loaded.content == "nectarine, half an answer"
                    fields.update(status="streaming", finished_at=None)
                assert fields == {name: value for name, value in old.items() if name != "writer_pid"}

        for word, cid in [("cherry", 1), ("damson", 1), ("elderberry", 1), ("Holunder", 1), ("guava", 1),
                          ("Guave", 1), ("huckleberry", 2), ("kiwi", 2), ("blueberry", 2), ("lime", 4),
                          ("nectarine", 4)]:
            assert [c.id for c in store.list_conversations(word)] == [cid], word

        # The upgraded history takes branches: regenerate the crashed turn's answer.
        question = by_conversation[4][0]["id"]
        writer = store.start_answer(4, backend="openai", model="deepseek-reasoner", parent_id=question)
        writer.append_content("lemon, regenerated")
        writer.finish("complete")
        assert shape(store.load_messages(4)) == [("user", "lime or lemon?", 1, 1),
                                                  ("assistant", "lemon, regenerated", 2, 2)]
        # Signed reasoning survived, for the backend that made it.
        assert store.load_messages(2)[-1].extra["bedrock_reasoning"][0]["signature"] == "c2lnbmF0dXJlLWtpd2k="

    raw = sqlite3.connect(path, isolation_level=None)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        raw.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    finally:
        raw.close()
