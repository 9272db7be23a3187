"""The conversation store against a real SQLite file (and a real SIGKILLed process)."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from thinkpane.backends.errors import BackendError, ThinkpaneError
from thinkpane.backends.events import Message
from thinkpane.tui.core import paths
from thinkpane.tui.core.store import (
    FLUSH_THRESHOLD_CHARS,
    SCHEMA_VERSION,
    ConversationStore,
    StoreError,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return paths.database_path()  # under THINKPANE_DATA_DIR (conftest points it at tmp_path)


@pytest.fixture(params=["fts5", "like"])
def store(request, db_path: Path):
    with ConversationStore(db_path, full_text_search=request.param == "fts5") as opened:
        yield opened


@pytest.fixture
def fts_store(db_path: Path):
    with ConversationStore(db_path) as opened:
        yield opened


def _last(store: ConversationStore, conversation_id: int):
    return store.load_messages(conversation_id)[-1]


# --------------------------------------------------------------------------- conversations


def test_create_list_rename_delete_cascades(store: ConversationStore) -> None:
    first = store.create_conversation("First", backend="local", model="echo", system="Be brief.")
    second = store.create_conversation()
    store.add_message(first, "user", "hello")
    store.add_message(first, "assistant", "hi there", reasoning="greet back")

    summary = store.get_conversation(first)
    assert summary is not None
    assert (summary.title, summary.backend, summary.model, summary.message_count) == (
        "First", "local", "echo", 2,
    )
    assert summary.system == "Be brief."
    assert store.get_conversation(second).title == "New chat"

    store.rename(first, "Renamed")
    assert store.get_conversation(first).title == "Renamed"

    store.delete(first)
    assert store.get_conversation(first) is None
    assert store.load_messages(first) == []
    assert [c.id for c in store.list_conversations()] == [second]
    # The cascade really removed the rows, not just hid them.
    raw = sqlite3.connect(store.path)
    assert raw.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    raw.close()
    store.delete(12345)  # unknown ids are ignored


def test_newest_first_and_last_conversation(store: ConversationStore) -> None:
    assert store.last_conversation_id() is None
    older = store.create_conversation("older")
    newer = store.create_conversation("newer")
    assert [c.id for c in store.list_conversations()] == [newer, older]
    assert store.last_conversation_id() == newer

    store.add_message(older, "user", "bump")  # activity moves it to the top
    assert [c.id for c in store.list_conversations()] == [older, newer]
    assert store.last_conversation_id() == older

    store.rename(newer, "renamed")  # a rename is not activity
    assert store.last_conversation_id() == older

    many = [store.create_conversation(f"c{i}") for i in range(5)]
    assert [c.id for c in store.list_conversations(limit=3)] == many[::-1][:3]


def test_order_survives_reopen(db_path: Path) -> None:
    with ConversationStore(db_path) as store:
        a = store.create_conversation("a")
        b = store.create_conversation("b")
    with ConversationStore(db_path) as store:
        store.add_message(a, "user", "again")
        assert store.last_conversation_id() == a
        assert [c.id for c in store.list_conversations()] == [a, b]


def test_messages_oldest_first_and_validated(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    ids = [store.add_message(conversation, role, text) for role, text in
           [("system", "rules"), ("user", "q1"), ("assistant", "a1"), ("user", "q2")]]
    loaded = store.load_messages(conversation)
    assert [m.id for m in loaded] == ids
    assert [(m.role, m.content, m.status) for m in loaded] == [
        ("system", "rules", "complete"), ("user", "q1", "complete"),
        ("assistant", "a1", "complete"), ("user", "q2", "complete"),
    ]
    assert all(m.finished_at is not None and m.created_at > 0 for m in loaded)
    with pytest.raises(ValueError):
        store.add_message(conversation, "tool", "x")
    with pytest.raises(ValueError):
        store.add_message(conversation, "user", "x", status="weird")


# --------------------------------------------------------------------------- search


def test_search_titles_and_messages(store: ConversationStore) -> None:
    paris = store.create_conversation("Trip planning")
    store.add_message(paris, "user", "What should I see in Paris?")
    store.add_message(paris, "assistant", "The Louvre and the Musée d'Orsay.")
    rust = store.create_conversation("Rust lifetimes explained")
    store.add_message(rust, "user", "Why does the borrow checker complain?")
    gone = store.create_conversation("Deleted chat about Paris")
    store.add_message(gone, "user", "Paris again, with an unusual word: zanzibar")
    store.delete(gone)

    def found(query: str) -> list[int]:
        return [c.id for c in store.list_conversations(query)]

    assert found("paris") == [paris]  # case-insensitive, deleted one not found
    assert found("lifetimes") == [rust]  # title only
    assert found("borrow checker") == [rust]  # every word, in one message
    assert found("Louvre Orsay") == [paris]
    assert found("zanzibar") == []
    assert found("nothing-like-this-anywhere") == []
    assert found("   ") == found("") == [rust, paris]  # blank query = plain listing
    # Punctuation and FTS syntax in user input never raise.
    for odd in ['"', "AND", "OR NOT", "*", "c++", "(paris", "a:b", "'%_\\"]:
        store.list_conversations(odd)


def test_fts_prefix_and_diacritics(fts_store: ConversationStore) -> None:
    conversation = fts_store.create_conversation("Cafés")
    fts_store.add_message(conversation, "user", "Explain the résumé format")
    assert [c.id for c in fts_store.list_conversations("resume")] == [conversation]
    assert [c.id for c in fts_store.list_conversations("expl")] == [conversation]  # as you type
    assert [c.id for c in fts_store.list_conversations("cafe")] == [conversation]


def test_streaming_answer_becomes_searchable_when_finished(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    writer = store.start_answer(conversation, backend="local", model="m")
    writer.append_content("photosynthesis happens in chloroplasts")
    writer.flush()
    writer.finish("complete")
    assert [c.id for c in store.list_conversations("chloroplasts")] == [conversation]
    assert store.list_conversations("chloroplasts photosynthesis")[0].message_count == 1


# --------------------------------------------------------------------------- answer writer


def test_writer_buffers_until_flush(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    store.add_message(conversation, "user", "Explain")
    writer = store.start_answer(conversation, backend="openai", model="deepseek-reasoner")
    row = _last(store, conversation)
    assert (row.id, row.role, row.status, row.content, row.finished_at) == (
        writer.message_id, "assistant", "streaming", "", None,
    )

    writer.append_reasoning("Let me ")
    writer.append_reasoning("think.")
    writer.append_content("Here ")
    assert _last(store, conversation).content == ""  # not written yet
    assert writer.buffered_chars == len("Let me think.Here ")

    writer.flush()
    row = _last(store, conversation)
    assert (row.reasoning, row.content, row.status) == ("Let me think.", "Here ", "streaming")
    assert writer.buffered_chars == 0

    writer.append_content("it is.")
    writer.flush()
    writer.flush()  # nothing buffered: a no-op
    assert _last(store, conversation).content == "Here it is."


def test_writer_flushes_by_itself_past_threshold(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    writer = store.start_answer(conversation, backend="local", model="m")
    chunk = "x" * 100
    appended = 0
    while appended <= FLUSH_THRESHOLD_CHARS:
        assert _last(store, conversation).content == ""
        writer.append_content(chunk)
        appended += len(chunk)
    assert _last(store, conversation).content == chunk * (appended // len(chunk))
    assert writer.buffered_chars == 0


def test_finish_writes_final_state(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    before = store.get_conversation(conversation).updated_at
    writer = store.start_answer(conversation, backend="bedrock", model="deepseek.r1")
    writer.append_reasoning("hmm")
    writer.append_content("partial")
    writer.set_usage(12, 34)
    writer.set_timing(250, 4100)
    writer.merge_extra({"signature": "abc"})
    writer.merge_extra({"redacted": ["x"], "signature": "def"})
    writer.finish("error", stop_reason="max_tokens", error="Connection dropped")

    row = _last(store, conversation)
    assert (row.content, row.reasoning, row.status) == ("partial", "hmm", "error")
    assert (row.input_tokens, row.output_tokens) == (12, 34)
    assert (row.ttft_ms, row.elapsed_ms) == (250, 4100)
    assert (row.stop_reason, row.error) == ("max_tokens", "Connection dropped")
    assert row.extra == {"signature": "def", "redacted": ["x"]}
    assert (row.backend, row.model) == ("bedrock", "deepseek.r1")
    assert row.finished_at is not None and row.finished_at >= row.created_at
    assert store.get_conversation(conversation).updated_at > before

    writer.append_content(" late delta")  # after finish: dropped, never raises
    writer.finish("complete")  # second finish: no-op
    assert _last(store, conversation).status == "error"
    assert _last(store, conversation).content == "partial"
    with pytest.raises(ValueError):
        store.start_answer(conversation, backend="b", model="m").finish("streaming")


def test_usage_written_on_flush_too(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    writer = store.start_answer(conversation, backend="b", model="m")
    writer.set_usage(1, None)
    writer.flush()
    assert (_last(store, conversation).input_tokens, _last(store, conversation).output_tokens) == (1, None)


def test_to_backend_message(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    writer = store.start_answer(conversation, backend="b", model="m")
    writer.append_reasoning("because")
    writer.append_content("answer")
    writer.merge_extra({"reasoning_signature": "sig=="})
    writer.finish("complete", stop_reason="end_turn")
    message = _last(store, conversation).to_backend_message()
    assert message == Message("assistant", "answer", reasoning="because",
                              extra={"reasoning_signature": "sig=="})


def test_concurrent_appends_and_timer_flushes(store: ConversationStore) -> None:
    """A worker thread streams while the UI timer flushes: nothing lost, nothing reordered."""
    conversation = store.create_conversation()
    writer = store.start_answer(conversation, backend="b", model="m")
    pieces = [f"<{i}>" for i in range(5000)]
    done = threading.Event()

    def stream() -> None:
        for piece in pieces:
            writer.append_content(piece)
        done.set()

    worker = threading.Thread(target=stream)
    worker.start()
    while not done.is_set():
        writer.flush()
    worker.join()
    writer.finish("complete")
    assert _last(store, conversation).content == "".join(pieces)


def test_close_flushes_open_writers(db_path: Path) -> None:
    store = ConversationStore(db_path)
    conversation = store.create_conversation()
    writer = store.start_answer(conversation, backend="b", model="m")
    writer.append_content("said before quitting")
    store.close()
    store.close()  # idempotent
    with ConversationStore(db_path) as reopened:
        row = _last(reopened, conversation)
        assert (row.content, row.status) == ("said before quitting", "interrupted")


# --------------------------------------------------------------------------- crash safety


CRASHING_CHILD = textwrap.dedent(
    """
    import sys, time
    from thinkpane.tui.core.store import ConversationStore
    store = ConversationStore(sys.argv[1])
    conversation = store.create_conversation("Crash test")
    store.add_message(conversation, "user", "Tell me a long story")
    writer = store.start_answer(conversation, backend="local", model="story")
    writer.append_reasoning("Plot first. ")
    writer.append_content("Once upon a time, ")
    writer.flush()
    writer.append_content("there was a buffer that never got flushed")
    print(conversation, flush=True)
    sys.stdin.read()  # wait to be killed
    """
)


def test_sigkill_mid_stream_keeps_flushed_text(db_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_CHILD, str(db_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO_ROOT,
    )
    try:
        line = child.stdout.readline()  # the child says it flushed; no sleeps needed
        assert line.strip().isdigit(), child.stderr.read()
        # While the child lives, opening the store elsewhere leaves its answer alone.
        with ConversationStore(db_path) as store:
            answer = store.load_messages(int(line))[-1]
            assert (answer.status, answer.content) == ("streaming", "Once upon a time, ")
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdin.close()
        child.stdout.close()
        child.stderr.close()
    conversation = int(line)

    with ConversationStore(db_path) as store:
        messages = store.load_messages(conversation)
        assert [(m.role, m.content) for m in messages] == [
            ("user", "Tell me a long story"),
            ("assistant", "Once upon a time, "),
        ]
        answer = messages[1]
        assert (answer.status, answer.reasoning) == ("interrupted", "Plot first. ")
        assert answer.finished_at is not None
        # Recovered text is searchable like any finished answer.
        assert [c.id for c in store.list_conversations("upon")] == [conversation]


# --------------------------------------------------------------------------- files and errors


def test_private_file_modes(db_path: Path) -> None:
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        with ConversationStore(db_path) as store:
            conversation = store.create_conversation()
            store.add_message(conversation, "user", "private")
            files = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
            assert all(file.exists() for file in files)
            for file in files:
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
            assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    finally:
        os.umask(old_umask)


def test_existing_loose_file_is_tightened(db_path: Path) -> None:
    ConversationStore(db_path).close()
    db_path.chmod(0o644)
    ConversationStore(db_path).close()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_schema_version_and_migration(db_path: Path) -> None:
    ConversationStore(db_path).close()
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError) as caught:
        ConversationStore(db_path)
    assert "newer Thinkpane" in caught.value.title
    assert "Upgrade Thinkpane" in caught.value.hint


def test_corrupt_file_is_a_store_error_naming_the_path(db_path: Path) -> None:
    paths.ensure_private_dir(db_path.parent)
    db_path.write_bytes(b"this is not a database, just garbage bytes " * 200)
    with pytest.raises(StoreError) as caught:
        ConversationStore(db_path)
    error = caught.value
    assert isinstance(error, ThinkpaneError) and not isinstance(error, BackendError)
    assert "damaged" in error.title and str(db_path) in error.title
    assert f"mv '{db_path}' '{db_path}.corrupt'" in error.hint


def _simulate_read_only(store: ConversationStore, on: bool) -> None:
    # Tests run as root here, which ignores file permissions; query_only makes SQLite
    # refuse writes with the same SQLITE_READONLY error a read-only file gives.
    store._conn.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


def test_read_only_flush_raises_and_keeps_buffer(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    writer = store.start_answer(conversation, backend="b", model="m")
    writer.append_content("first ")
    writer.flush()
    writer.append_reasoning("thought ")
    writer.append_content("second ")
    _simulate_read_only(store, True)
    with pytest.raises(StoreError) as caught:
        writer.flush()
    assert "read-only" in caught.value.title and store.path in caught.value.title
    assert "THINKPANE_DATA_DIR" in caught.value.hint
    assert writer.last_error is caught.value
    writer.append_content("third")  # the stream goes on meanwhile
    with pytest.raises(StoreError):
        writer.finish("complete")

    _simulate_read_only(store, False)
    writer.finish("complete")
    row = _last(store, conversation)
    assert (row.content, row.reasoning, row.status) == ("first second third", "thought ", "complete")


def _fails(call: Callable[..., object], *args: object, **kwargs: object) -> None:
    """``call(*args, **kwargs)`` raises StoreError (kept by nothing: pytest.raises keeps the frames)."""
    try:
        call(*args, **kwargs)
    except StoreError:
        return
    raise AssertionError("no StoreError")


def test_an_answer_whose_finish_failed_is_saved_later_with_how_it_ended(db_path: Path) -> None:
    store = ConversationStore(db_path)
    conversation = store.create_conversation()
    saved_later = store.start_answer(conversation, backend="b", model="m")
    saved_at_close = store.start_answer(conversation, backend="b", model="m")
    for writer in (saved_later, saved_at_close):
        writer.append_content("the whole answer")
    _simulate_read_only(store, True)
    _fails(saved_later.finish, "complete", stop_reason="end_turn")
    _fails(saved_at_close.finish, "cancelled")
    assert saved_later.unsaved and store.unsaved_chars() == 2 * len("the whole answer")
    assert store.save_pending() is not None  # still read-only: the error that stands
    del writer, saved_at_close
    gc.collect()  # the store keeps what it could not save, whoever else lets go of it

    _simulate_read_only(store, False)
    assert store.save_pending() is None  # the retry writes the text and the final state
    assert not saved_later.unsaved and store.unsaved_chars() == 0
    first, second = store.load_messages(conversation)
    assert (first.content, first.status, first.stop_reason) == ("the whole answer", "complete", "end_turn")
    assert (second.content, second.status) == ("the whole answer", "cancelled")

    late = store.start_answer(conversation, backend="b", model="m")
    late.append_content("written at close")
    _simulate_read_only(store, True)
    _fails(late.finish, "complete")
    _simulate_read_only(store, False)
    del late
    gc.collect()
    store.close()  # the last chance, on the way out: labelled as it ended, not "interrupted"
    with ConversationStore(db_path) as reopened:
        row = _last(reopened, conversation)
    assert (row.content, row.status) == ("written at close", "complete")


def _make_read_only(path: Path) -> Callable[[], None]:
    """Really make ``path`` unwritable; returns the undo. Root ignores modes, so use chattr."""
    if os.geteuid() != 0:
        path.chmod(0o400)
        return lambda: path.chmod(0o600)
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a file read-only")
    if subprocess.run(["chattr", "+i", str(path)], check=False, capture_output=True).returncode != 0:
        pytest.skip("chattr +i not supported on this filesystem")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_file_at_open(db_path: Path) -> None:
    with ConversationStore(db_path) as store:
        store.create_conversation()
    undo = _make_read_only(db_path)
    try:
        with pytest.raises(StoreError) as caught:
            ConversationStore(db_path)
    finally:
        undo()
    error = caught.value
    assert error.title == f"Could not open the conversation history: the database is read-only ({db_path})"
    assert "THINKPANE_DATA_DIR" in error.hint
    with ConversationStore(db_path) as store:  # writable again: all is well
        assert len(store.list_conversations()) == 1


def test_disk_full_keeps_buffer(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    writer = store.start_answer(conversation, backend="b", model="m")
    # Cap the file at its current size: the next growth fails with SQLITE_FULL.
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    big = "y" * 200_000
    writer.append_content(big)  # crosses the threshold: the auto-flush fails quietly
    assert writer.last_error is not None and "disk is full" in writer.last_error.title
    writer.append_content("z")  # auto-flush paused: no retry storm per delta
    with pytest.raises(StoreError) as caught:
        writer.flush()
    assert "disk is full" in caught.value.title and caught.value.retryable
    assert writer.buffered_chars == len(big) + 1

    store._conn.execute("PRAGMA max_page_count = 1073741823")
    writer.flush()
    assert _last(store, conversation).content == big + "z"


def test_locked_database(db_path: Path) -> None:
    with ConversationStore(db_path, busy_timeout=0.05) as store:
        conversation = store.create_conversation()
        writer = store.start_answer(conversation, backend="b", model="m")
        writer.append_content("kept")
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(StoreError) as caught:
                writer.flush()
            assert "locked" in caught.value.title and caught.value.retryable
            with pytest.raises(StoreError):
                store.create_conversation()
        finally:
            other.execute("ROLLBACK")
            other.close()
        writer.flush()
        assert _last(store, conversation).content == "kept"


def test_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError) as caught:
        ConversationStore(blocker / "conversations.sqlite3")
    assert "cannot be opened" in caught.value.title or "read-only" in caught.value.title


# --------------------------------------------------------------------------- text fidelity


def test_unicode_and_huge_text_round_trip(store: ConversationStore) -> None:
    conversation = store.create_conversation("日本語 \u202eRTL override\u202c 🧠")
    one_mb_line = ("مرحبا 👋🏽 e\u0301 ") * (1024 * 1024 // 12)
    texts = {
        "rtl": "abc \u202edlrow olleh\u202c def \u200f",
        "nul": "before\x00after",
        "emoji_zwj": "👩‍👩‍👧‍👦 family",
        "huge": one_mb_line,
    }
    for text in texts.values():
        store.add_message(conversation, "user", text)
    writer = store.start_answer(conversation, backend="b", model="m")
    # Streamed in odd-sized pieces that cut through emoji and combining marks.
    for start in range(0, len(one_mb_line), 50_021):
        writer.append_content(one_mb_line[start:start + 50_021])
    writer.append_reasoning("nul\x00inside")
    writer.finish("complete")

    loaded = store.load_messages(conversation)
    assert [m.content for m in loaded] == [*texts.values(), one_mb_line]
    assert loaded[-1].reasoning == "nul\x00inside"
    assert store.get_conversation(conversation).title == "日本語 \u202eRTL override\u202c 🧠"


def test_nul_text_after_the_nul_is_searchable_with_fts(fts_store: ConversationStore) -> None:
    conversation = fts_store.create_conversation()
    fts_store.add_message(conversation, "user", "before\x00afterword")
    assert [c.id for c in fts_store.list_conversations("afterword")] == [conversation]


def test_lone_surrogates_are_replaced_and_split_pairs_rejoined(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    writer = store.start_answer(conversation, backend="b", model="m")
    # 😀 is "\ud83d\ude00" in UTF-16; a JSON stream can split it across two deltas and a
    # flush can fall between them.
    writer.append_content("smile \ud83d")
    writer.flush()
    writer.append_content("\ude00 and a lone \udc00 half")
    writer.finish("complete")
    assert _last(store, conversation).content == "smile 😀 and a lone \ufffd half"
    store.add_message(conversation, "user", "bad \ud800 text")
    assert _last(store, conversation).content == "bad \ufffd text"


def test_store_import_stays_cheap() -> None:
    """The CLI imports the store before deciding whether to start the TUI: no textual."""
    code = "import sys, thinkpane.tui.core.store; print(','.join(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'pydantic')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=REPO_ROOT)
    assert result.stdout.strip() == ""


@pytest.fixture
def tiny_filesystem(tmp_path: Path):
    """A real 384 KB tmpfs (needs root and mount rights; skipped otherwise)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tiny tmpfs")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=384k,mode=0700", "tmpfs", str(mount_point)],
        check=False, capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + mounted.stderr.decode(errors="replace"))
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_real_disk_full_keeps_buffer_and_recovers(tiny_filesystem: Path) -> None:
    path = tiny_filesystem / "conversations.sqlite3"
    with ConversationStore(path) as store:
        conversation = store.create_conversation()
        writer = store.start_answer(conversation, backend="b", model="m")
        pieces: list[str] = []
        with pytest.raises(StoreError) as caught:
            for i in range(200):  # ~2 MB in 10 KB flushes cannot fit in 384 KB
                pieces.append(f"<{i:04d}>" + "w" * 9994)
                writer.append_content(pieces[-1])
                writer.flush()
        assert "disk is full" in caught.value.title, caught.value
        assert str(path) in caught.value.title
        assert writer.buffered_chars > 0
        on_disk = _last(store, conversation).content
        assert "".join(pieces).startswith(on_disk) and len(on_disk) < len("".join(pieces))

        # Make room (grow the filesystem): the buffered text is written after all.
        subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_filesystem)], check=True)
        writer.finish("complete")
        row = _last(store, conversation)
        assert (row.content, row.status) == ("".join(pieces), "complete")


def test_error_kind_comes_from_sqlite_not_from_the_path(tmp_path: Path) -> None:
    folder = paths.ensure_private_dir(tmp_path / "disk is full, locked, readonly")
    path = folder / "conversations.sqlite3"
    path.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(StoreError) as caught:
        ConversationStore(path)
    assert "damaged" in caught.value.title


def test_message_for_unknown_conversation_is_a_store_error(store: ConversationStore) -> None:
    with pytest.raises(StoreError) as caught:
        store.add_message(4242, "user", "orphan")
    assert "FOREIGN KEY" in caught.value.detail
    assert store.load_messages(4242) == []


def test_locked_at_open_is_a_store_error(db_path: Path) -> None:
    ConversationStore(db_path).close()
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as caught:
            ConversationStore(db_path, busy_timeout=0.05)
        assert caught.value.title.startswith("Could not open the conversation history: the database is locked")
    finally:
        other.execute("ROLLBACK")
        other.close()
    ConversationStore(db_path).close()


def test_extra_that_is_not_json_does_not_break_the_stream(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    writer = store.start_answer(conversation, backend="b", model="m")
    writer.merge_extra({"when": Path("/x")})
    writer.finish("complete")
    assert _last(store, conversation).extra == {"when": "/x"}


def test_a_later_schema_version_upgrades_existing_data(db_path: Path, monkeypatch) -> None:
    from thinkpane.tui.core.store import schema

    with ConversationStore(db_path) as store:
        kept = store.create_conversation("kept across upgrade")
        store.add_message(kept, "user", "still here")

    def add_pinned_column(conn: sqlite3.Connection, *, fts: bool) -> None:
        conn.execute("ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_pinned_column])
    with ConversationStore(db_path) as store:
        assert store.load_messages(kept)[0].content == "still here"
        assert [c.id for c in store.list_conversations("upgrade")] == [kept]
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert raw.execute("SELECT pinned FROM conversations").fetchall() == [(0,)]
    raw.close()


def test_a_second_store_leaves_a_live_answer_alone(db_path: Path) -> None:
    first = ConversationStore(db_path)
    conversation = first.create_conversation()
    writer = first.start_answer(conversation, backend="b", model="m")
    writer.append_content("still going")
    writer.flush()
    with ConversationStore(db_path) as second:  # e.g. a second Thinkpane window
        assert _last(second, conversation).status == "streaming"
    writer.append_content(", and done")
    writer.finish("complete")
    first.close()
    with ConversationStore(db_path) as reopened:
        row = _last(reopened, conversation)
        assert (row.content, row.status) == ("still going, and done", "complete")


def test_version_1_database_is_upgraded_and_its_orphans_recovered(db_path: Path) -> None:
    from thinkpane.tui.core.store import schema

    paths.ensure_private_dir(db_path.parent)
    raw = sqlite3.connect(db_path, isolation_level=None)
    schema.MIGRATIONS[0](raw, fts=True)  # a database as version 1 left it
    raw.execute("PRAGMA user_version = 1")
    raw.execute("INSERT INTO conversations (title, created_at, updated_at) VALUES ('old', 1, 1)")
    raw.execute(
        "INSERT INTO messages (conversation_id, role, content, status, created_at) "
        "VALUES (1, 'assistant', 'half an answer', 'streaming', 1)"
    )
    raw.close()
    with ConversationStore(db_path) as store:
        row = _last(store, 1)
        assert (row.content, row.status) == ("half an answer", "interrupted")
        assert [c.title for c in store.list_conversations("answer")] == ["old"]
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    raw.close()


def test_full_text_index_matches_the_tables_after_every_kind_of_change(db_path: Path) -> None:
    store = ConversationStore(db_path)
    kept = store.create_conversation("alpha")
    store.add_message(kept, "user", "first words")
    finished = store.start_answer(kept, backend="b", model="m")
    finished.append_content("streamed ")
    finished.flush()
    finished.append_content("then finished")
    finished.finish("complete")
    store.rename(kept, "beta")
    dropped = store.create_conversation("gamma")
    live = store.start_answer(dropped, backend="b", model="m")
    live.append_content("never finished")
    live.flush()
    store.delete(dropped)  # deleted while streaming
    live.flush()
    orphan = store.start_answer(kept, backend="b", model="m")
    orphan.append_content("left streaming")
    store.close()  # flushes; the next open marks it interrupted
    with ConversationStore(db_path) as reopened:
        assert _last(reopened, kept).status == "interrupted"
        raw = reopened._conn
        # Any later edit of a finished message (a future "edit" command, or a flush racing
        # finish() from another thread) re-indexes it.
        raw.execute("UPDATE messages SET content = content || ' edited' WHERE id = ?",
                    (finished.message_id,))
        # FTS5 compares an external-content index with its table and raises if they differ.
        raw.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
        raw.execute("INSERT INTO conversations_fts(conversations_fts) VALUES ('integrity-check')")
        assert [c.id for c in reopened.list_conversations("left streaming")] == [kept]
        assert [c.id for c in reopened.list_conversations("beta")] == [kept]
        assert reopened.list_conversations("alpha") == []
        assert reopened.list_conversations("gamma") == []
        assert [c.id for c in reopened.list_conversations("finished edited")] == [kept]
