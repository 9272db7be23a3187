"""Faults end to end: what the USER sees when the server, the disk or the config misbehaves.

Backend-level behaviour is tested in test_openai_backend.py / test_bedrock_backend.py /
test_store.py / test_config.py; here every fault goes through ``thinkpane ask`` (exit code
1, ``Error:`` + a hint on stderr, the partial answer kept on stdout) or through the chat
screen under Pilot (the partial text stays on screen and in the store, the typed prompt
survives, the app keeps taking keys).
"""

from __future__ import annotations

import time

import pytest

from tests.servers import bedrock_eventstream as bedrock_server
from tests.servers.openai_sse import (
    DONE,
    Close,
    HoldOpen,
    Raw,
    Respond,
    chunk,
    error_body,
    serve,
)
from tests.tui_helpers import GatedBackend, rendered_text, wait_until
from thinkpane.backends import registry
from thinkpane.backends.events import ContentDelta, ReasoningDelta, Stop
from thinkpane.tui.cli.main import main
from thinkpane.tui.core.store import ConversationStore

PARTIAL = [chunk(role=True, reasoning=""), chunk(reasoning="Thinking it over."), chunk(content="Partial answer")]
TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def server():
    with serve() as running:
        yield running


def ask(server, *args: str) -> int:
    return main(["ask", "--backend", "openai", "--base-url", server.base_url, "--timeout-s", "1", *args])


def assert_clean_failure(err: str) -> list[str]:
    """``Error: <title>`` then at least one more line (detail or what to do); no traceback."""
    lines = err.strip().splitlines()
    error_at = next(i for i, line in enumerate(lines) if line.startswith("Error: "))
    assert len(lines) - error_at >= 2, f"no hint after the error title: {err!r}"
    assert "Traceback" not in err
    return lines[error_at:]


# --------------------------------------------------------------------------- thinkpane ask, OpenAI

FAULTS = {
    "stall_mid_stream": PARTIAL + [HoldOpen(10)],
    "malformed_json": PARTIAL + [Raw(b'data: {"choices": [{"delta": {"content": "x"\n\n')],
    "malformed_sse": PARTIAL + [Raw(b"<<<garbage that is not an event stream>>>\n\n"), Close()],
    "error_object_mid_stream": PARTIAL + [Raw(b'data: {"error": {"message": "upstream overloaded", '
                                              b'"type": "server_error"}}\n\n')],
    "close_without_done": PARTIAL + [Close()],
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_ask_fault_mid_stream_exits_1_keeps_partial_and_says_what_happened(server, capsys, fault) -> None:
    server.enqueue(FAULTS[fault])
    started = time.monotonic()
    assert ask(server, "q") == 1
    out, err = capsys.readouterr()
    assert out == "Partial answer\n"  # what arrived is kept, and the line is ended
    assert err.startswith("Thinking it over.")
    assert_clean_failure(err)
    assert time.monotonic() - started < 8, "a stalled server must time out, not hang"


@pytest.mark.parametrize("status, body, headers, words", [
    (200, "<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>", {"Content-Type": "text/html"},
     "HTML"),
    (502, "<html><head><title>502 Bad Gateway</title></head></html>", {"Content-Type": "text/html"}, "502"),
    (200, '{"id": "x", "object": "chat.completion", "choices": [', {"Content-Type": "application/json"}, ""),
])
def test_ask_html_or_broken_json_instead_of_a_stream(server, capsys, status, body, headers, words) -> None:
    server.enqueue([Respond(status, body, headers)])
    assert ask(server, "q") == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = assert_clean_failure(err)
    assert words in "\n".join(lines)
    assert "<!DOCTYPE" not in err or len(err) < 2000


def test_ask_5xx_storm_is_one_clear_error_and_no_retry_loop(server, capsys) -> None:
    overloaded = [Respond(503, error_body("Service unavailable", "service_unavailable"))]
    server.enqueue(*[overloaded] * 20)
    assert ask(server, "q") == 1
    err = capsys.readouterr().err
    lines = assert_clean_failure(err)
    assert err.count("Error: ") == 1
    assert "503" in "\n".join(lines) or "unavailable" in "\n".join(lines).lower()
    assert len(server.chat_requests) <= 3, f"{len(server.chat_requests)} requests: a retry loop"


def test_ask_ten_megabyte_error_body_is_cut_short(server, capsys) -> None:
    server.enqueue([Respond(500, b"E" * TEN_MB, {"Content-Type": "text/plain"})])
    started = time.monotonic()
    assert ask(server, "q") == 1
    err = capsys.readouterr().err
    assert_clean_failure(err)
    assert len(err) < 5000, "the whole 10 MB body was printed"
    assert time.monotonic() - started < 10


def test_ask_ten_megabyte_event_is_refused_without_hanging(server, capsys) -> None:
    line = b'data: {"choices":[{"index":0,"delta":{"content":"' + b"x" * TEN_MB + b'"}}]}\n\n'
    server.enqueue(PARTIAL + [Raw(line), chunk(content="", finish="stop"), DONE])
    assert ask(server, "q") == 1
    out, err = capsys.readouterr()
    assert out == "Partial answer\n"
    assert_clean_failure(err)


def test_ask_ten_megabytes_of_small_deltas_stream_through(server, capsys) -> None:
    piece = "y" * 65536
    server.enqueue([chunk(content=piece) for _ in range(TEN_MB // len(piece))] + [chunk(content="", finish="stop"), DONE])
    assert ask(server, "--no-reasoning", "q") == 0
    out = capsys.readouterr().out
    assert len(out) == TEN_MB + 1


def test_ask_save_keeps_the_partial_answer_in_the_store(server, capsys) -> None:
    from thinkpane.tui.core import paths

    server.enqueue(PARTIAL + [Close()])
    assert ask(server, "--save", "q") == 1
    capsys.readouterr()
    with ConversationStore(paths.database_path()) as store:
        (summary,) = store.list_conversations()
        answer = store.load_messages(summary.id)[-1]
    assert (answer.content, answer.reasoning, answer.status) == ("Partial answer", "Thinking it over.", "error")
    assert answer.error


def test_ask_save_with_a_locked_store_is_a_clean_error_before_asking(server, capsys) -> None:
    import sqlite3

    from thinkpane.tui.core import paths

    paths.ensure_private_dir(paths.data_dir())
    ConversationStore(paths.database_path()).close()
    other = sqlite3.connect(paths.database_path(), isolation_level=None, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    try:
        code = ask(server, "--save", "q")
    finally:
        other.execute("ROLLBACK")
        other.close()
    err = capsys.readouterr().err
    assert code == 1
    lines = assert_clean_failure(err)
    assert "locked" in " ".join(lines)


# --------------------------------------------------------------------------- thinkpane ask, Bedrock


@pytest.fixture
def bedrock(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFAULTTEST0000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fault/secret+00000000000000000000000000")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    for var in ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    # Short retry waits: the storm test must not sleep 2 + 4 s.
    monkeypatch.setattr("thinkpane.backends.bedrock.backend.BedrockBackend.RETRY_DELAYS_S", (0.01, 0.02))
    with bedrock_server.BedrockStandIn(stall_s=10) as stand_in:
        yield stand_in


def ask_bedrock(stand_in, *args: str) -> int:
    return main(["ask", "--backend", "bedrock", "--endpoint-url", stand_in.url, "--region", "us-east-1",
                 "--read-timeout-s", "1", *args])


@pytest.mark.parametrize("scenario", ["bad_crc", "cut", "stall", "no_message_stop", "stream_model_error"])
def test_bedrock_fault_mid_stream_keeps_partial(bedrock, capsys, scenario) -> None:
    bedrock.enqueue(scenario)
    started = time.monotonic()
    assert ask_bedrock(bedrock, "q") == 1
    out, err = capsys.readouterr()
    assert out == "Partial answer\n"
    assert err.startswith("Partial thought.")
    assert_clean_failure(err)
    assert time.monotonic() - started < 8


def test_bedrock_5xx_storm_is_bounded(bedrock, capsys) -> None:
    bedrock.enqueue(*["http_unavailable"] * 20)
    assert ask_bedrock(bedrock, "q") == 1
    err = capsys.readouterr().err
    assert_clean_failure(err)
    assert err.count("Error: ") == 1
    assert len(bedrock.requests) <= 3, f"{len(bedrock.requests)} requests: a retry loop"


# --------------------------------------------------------------------------- corrupt config


@pytest.mark.parametrize("argv", [[], ["ask", "hi"], ["--continue"]])
def test_corrupt_config_is_a_clean_message_on_launch_and_ask(capsys, argv) -> None:
    from thinkpane.tui.core import paths

    paths.ensure_private_dir(paths.config_dir())
    paths.config_path().write_text('backend = "openai"\n[backends.openai\nbase_url = 1\n')
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = assert_clean_failure(err)
    assert str(paths.config_path()) in err and "line" in err.lower()
    assert len(lines) <= 6


# --------------------------------------------------------------------------- the chat screen


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


def make_app(store, backend):
    from thinkpane.tui.app import ThinkpaneApp
    from thinkpane.tui.core.config import Settings

    return ThinkpaneApp(Settings(), store, backend=backend)


async def type_and_send(pilot, text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")


def shown_answer(app) -> str:
    turn = app.chat.transcript.answers()[-1]
    return rendered_text(turn._body) if turn._body is not None else turn._live.source


@pytest.mark.parametrize("fault", ["close_without_done", "malformed_json", "stall_mid_stream"])
async def test_chat_fault_mid_stream_keeps_partial_on_screen_and_in_store(store, server, fault):
    server.enqueue(FAULTS[fault])
    backend = registry.create("openai", {"base_url": server.base_url, "timeout_s": 1.0})
    app = make_app(store, backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await type_and_send(pilot, "question")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "end", timeout=10)
        await pilot.pause()
        assert "Partial answer" in shown_answer(app)
        note = rendered_text(app.chat.transcript.answers()[-1].note)
        assert note.strip(), "the user is told what went wrong"
        assert app.chat.status.info.state == "error"
        stored = store.load_messages(app.chat.conversation_id)[-1]
        assert (stored.content, stored.reasoning, stored.status) == ("Partial answer", "Thinking it over.", "error")
        await type_and_send(pilot, "again")  # the app still works: the next answer streams
        await wait_until(pilot, lambda: len(app.chat.transcript.answers()) == 2 and app.chat.live is None, "next")
        assert "You said: again" in shown_answer(app)


async def test_chat_5xx_storm_is_one_error_and_no_retry_loop(store, server):
    server.enqueue(*[[Respond(503, error_body("Service unavailable", "service_unavailable"))]] * 20)
    backend = registry.create("openai", {"base_url": server.base_url})
    app = make_app(store, backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await type_and_send(pilot, "question")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "end", timeout=10)
        await pilot.pause(0.3)
        assert len(server.chat_requests) <= 3
        assert app.chat.status.info.state == "error"


async def test_chat_failed_send_keeps_the_typed_prompt(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(140, 40)) as pilot:
        store._conn.execute("PRAGMA query_only = ON")  # the database refuses writes (read-only file)
        await type_and_send(pilot, "a long prompt I typed")
        await pilot.pause()
        assert app.chat.prompt.text == "a long prompt I typed"
        assert app.chat.status.info.state == "error" and "read-only" in app.chat.status.info.text
        assert not app.chat.transcript.answers()
        store._conn.execute("PRAGMA query_only = OFF")
        await pilot.press("enter")  # the same text sends once the disk is writable again
        await wait_until(pilot, lambda: app.chat.live is not None, "sent")
        assert app.chat.prompt.text == ""
        backend.put(ContentDelta("ok"), Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "finished")


async def test_chat_store_flush_failure_keeps_text_on_screen_and_app_running(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await type_and_send(pilot, "question")
        await wait_until(pilot, lambda: app.chat.live is not None, "started")
        backend.put(ReasoningDelta("saved thought. "), ContentDelta("saved part. "))
        await wait_until(pilot, lambda: "saved part" in shown_answer(app), "first text")
        app.chat.live.recorder.flush()
        # The disk fills up: SQLite may not grow the file any more.
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")
        backend.put(ContentDelta("unsaved " + "z" * 300_000 + " tail"))
        await wait_until(pilot, lambda: "not saved" in app.chat.status.info.text, "the user is told", timeout=5)
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "finished")
        await pilot.pause()
        assert "tail" in shown_answer(app)  # everything received is still on screen
        assert any(n.severity == "error" for n in app._notifications), "the failed save is reported"
        # The app keeps running; once there is room again, new turns are saved.
        store._conn.execute("PRAGMA max_page_count = 1073741823")
        await type_and_send(pilot, "next")
        await wait_until(pilot, lambda: app.chat.live is not None, "next started")
        backend.put(ContentDelta("fine"), Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "next finished")
        assert store.load_messages(app.chat.conversation_id)[-1].content == "fine"


# --------------------------------------------------------------------------- a really full disk


@pytest.fixture
def tiny_data_dir(tmp_path, monkeypatch):
    """THINKPANE_DATA_DIR on a real 384 KB tmpfs (needs root and mount rights; skipped otherwise)."""
    import os
    import shutil
    import subprocess

    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tiny tmpfs")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=384k,mode=0700", "tmpfs", str(mount_point)],
                             check=False, capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    monkeypatch.setenv("THINKPANE_DATA_DIR", str(mount_point))
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_ask_save_on_a_full_disk_prints_the_whole_answer_and_says_it_was_not_saved(server, capsys, tiny_data_dir) -> None:
    answer = "".join(f"<{i:04d}>" + "w" * 9994 for i in range(100))  # ~1 MB cannot fit in 384 KB
    server.enqueue([chunk(content=answer[i : i + 50_000]) for i in range(0, len(answer), 50_000)]
                   + [chunk(content="", finish="stop"), DONE])
    code = ask(server, "--save", "--no-reasoning", "q")
    out, err = capsys.readouterr()
    assert out == answer + "\n"  # the user still gets every word
    assert code == 1
    lines = assert_clean_failure(err)
    assert "disk is full" in " ".join(lines) and "THINKPANE_DATA_DIR" in " ".join(lines)


# --------------------------------------------------------------------------- a send that fails


async def test_chat_a_prompt_whose_send_failed_stays_in_the_box_and_is_sent_once_on_retry(store, server):
    server.enqueue([Respond(500, error_body("The server had an error", "server_error"))])
    backend = registry.create("openai", {"base_url": server.base_url, "timeout_s": 5.0})
    app = make_app(store, backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await type_and_send(pilot, "Dup test")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "the failure",
                         timeout=10)
        assert app.chat.status.info.state == "error"
        assert app.chat.prompt.text == "Dup test"  # the prompt that could not be sent stays in the box
        await pilot.press("enter")  # send it again
        await wait_until(pilot, lambda: app.chat.live is None and len(app.chat.transcript.answers()) == 2,
                         "the answer", timeout=10)
        assert "You said: Dup test" in shown_answer(app)
    first, second = (request.body["messages"] for request in server.chat_requests)
    assert first == [{"role": "user", "content": "Dup test"}]
    assert second == [{"role": "user", "content": "Dup test"}]  # once, not "Dup test\n\nDup test"


# --------------------------------------------------------------------------- saved when there is room


def disk_full(store) -> None:
    """SQLite may not grow the file any more, as on a full disk."""
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")


def room_again(store) -> None:
    store._conn.execute("PRAGMA max_page_count = 1073741823")


async def stream_an_answer_onto_a_full_disk(pilot, app, backend, store) -> None:
    """A turn whose first words are saved, then the disk fills, the rest arrives, it ends."""
    await type_and_send(pilot, "question")
    await wait_until(pilot, lambda: app.chat.live is not None, "started")
    backend.put(ReasoningDelta("saved thought. "), ContentDelta("saved part. "))
    await wait_until(pilot, lambda: "saved part" in shown_answer(app), "first text")
    app.chat.live.recorder.flush()
    disk_full(store)
    backend.put(ContentDelta("unsaved " + "z" * 300_000 + " tail"), Stop())
    backend.end()
    await wait_until(pilot, lambda: app.chat.live is None, "finished")


LONG_ANSWER = "saved part. unsaved " + "z" * 300_000 + " tail"


async def test_chat_an_answer_that_did_not_fit_is_saved_once_there_is_room_labelled_as_it_ended(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await stream_an_answer_onto_a_full_disk(pilot, app, backend, store)
        notice = next(n for n in app._notifications if n.severity == "error")
        assert "will be saved when there is room" in notice.message
        answer = store.load_messages(app.chat.conversation_id)[-1]
        assert (answer.content, answer.status) == ("saved part. ", "streaming")  # not saved yet
        room_again(store)  # the user frees some space; nothing else happens
        await wait_until(pilot, lambda: store.load_messages(app.chat.conversation_id)[-1].status != "streaming",
                         "the answer saved by itself", timeout=5)
        assert "saved" in app.chat.status.info.text and "history" in app.chat.status.info.text
        answer = store.load_messages(app.chat.conversation_id)[-1]
        assert (answer.content, answer.status) == (LONG_ANSWER, "complete")
        assert store.unsaved_chars() == 0


async def test_quitting_with_an_unsaved_answer_asks_first_and_close_saves_it_when_it_can(store, tmp_path):
    from thinkpane.tui.screens.confirm import ConfirmScreen

    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await stream_an_answer_onto_a_full_disk(pilot, app, backend, store)
        conversation_id = app.chat.conversation_id
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        question = rendered_text(app.screen.query_one("#confirm-dialog"))
        assert "Quit without saving" in question and "disk is full" in question
        assert "300,013 characters" in question and "Keep the app open" in question and "Quit anyway" in question
        await pilot.press("n")  # keep the app open
        await wait_until(pilot, lambda: app.screen is app.chat, "back in the chat")
        assert app.is_running
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "asked again")
        await pilot.press("y")  # quit anyway
        await wait_until(pilot, lambda: app._exit, "the app quits")
    # Room appears after all, before the process ends: closing the history (as `thinkpane`
    # does on its way out) writes the answer and how it ended.
    room_again(store)
    store.close()
    with ConversationStore(tmp_path / "chats.sqlite3") as reopened:
        answer = reopened.load_messages(conversation_id)[-1]
    assert (answer.content, answer.status) == (LONG_ANSWER, "complete")


async def test_quitting_asks_nothing_once_the_answer_is_saved(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await stream_an_answer_onto_a_full_disk(pilot, app, backend, store)
        room_again(store)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app._exit, "the app quits")
    assert store.load_messages(store.last_conversation_id())[-1].content == LONG_ANSWER


# --------------------------------------------------------------------------- a history that cannot be opened


@pytest.mark.parametrize("argv", [[], ["--continue"], ["--conversation", "3"]])
def test_launch_with_a_read_only_data_folder_starts_without_history_and_says_why(monkeypatch, read_only_data_dir,
                                                                               argv):
    from thinkpane.tui.app import ThinkpaneApp

    started = []
    monkeypatch.setattr(ThinkpaneApp, "run", lambda app: started.append(app))
    assert main(argv) == 0  # it starts: exit 1 was the bug
    (app,) = started
    assert app.store.path == ":memory:" and app.chat.conversation_id is None
    problem = app.history_problem
    assert "read-only" in problem.title and str(read_only_data_dir) in problem.title
    assert "THINKPANE_DATA_DIR" in problem.hint  # shown in the app, with what to do
