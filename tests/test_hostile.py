"""Hostile text (tests/hostile.py) through every path that shows it: the sanitiser, ``thinkpane
ask`` over the REAL OpenAI and Bedrock backends and their HTTP stand-ins (invalid UTF-8 on
the wire included), ``ask --json``, the store, and every pane of the chat screen.

Each test fails if the protection it covers is removed: the payloads carry live escape
sequences, C1 controls, bidi overrides and markup, and the assertions look for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import hostile
from tests.hostile import (
    ALL_IN_ONE,
    ALL_LITERAL,
    HUGE_LINE,
    INVALID_UTF8,
    PAYLOADS,
    assert_inert,
)
from tests.servers import bedrock_eventstream as bedrock_server
from tests.servers.openai_sse import DONE, Raw, Respond, chunk, error_body, serve
from tests.tui_helpers import GatedBackend, rendered_text, wait_until
from thinkpane.backends.errors import ServerError
from thinkpane.backends.events import ContentDelta, ErrorEvent, Notice, ReasoningDelta, Stop
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.cli.main import main
from thinkpane.tui.core.sanitize import EventSanitizer, StreamSanitizer, sanitize, sanitize_line
from thinkpane.tui.core.store import ConversationStore

THINKPANE = Path(sys.executable).with_name("thinkpane")


def pieces(text: str, size: int = 7) -> list[str]:
    """``text`` cut into small deltas, so sequences are split across chunks."""
    return [text[i : i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------- the sanitiser


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.name)
def test_each_payload_is_made_inert_and_stays_readable(payload) -> None:
    shown = sanitize(payload.text)
    assert shown == payload.shown  # whole sequences gone: no "(B", "#8", "7" debris
    for control in hostile.TERMINAL_CONTROLS + list(hostile.BIDI_CONTROLS):
        assert control not in shown
    for forbidden in payload.forbidden:
        assert forbidden not in shown
    assert payload.marker in shown
    assert sanitize(shown) == shown  # idempotent: nothing left to strip


def test_the_sanitiser_keeps_text_and_removes_sequences() -> None:
    text = "a\x1b[31mred\x1b[0m\x1b]8;;http://x\x07link\x1b]8;;\x07\x00\x9b2J z\tq\r\n"
    assert sanitize(text) == "aredlink z\tq\n"
    assert sanitize("\x1b]52;c;ZXZpbA==\x07paste") == "paste"
    # A sequence cut off by another ESC or the end goes as far as it got (a terminal swallows it too).
    assert sanitize("x\x1b[31\x1b[0my \x1b(") == "xy "


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_a_sequence_split_between_deltas_is_removed_whole(size) -> None:
    # The chat screen and `ask` sanitise delta by delta: the result is the same text whatever
    # the cuts, with no debris from a sequence cut in two ("0;pwned", "(B").
    for payload in PAYLOADS:
        stream = StreamSanitizer()
        assert "".join(stream.feed(part) for part in pieces(payload.text, size)) == payload.shown, payload.name
    whole = sanitize(ALL_IN_ONE)
    for cut in range(len(ALL_IN_ONE) + 1):
        stream = StreamSanitizer()
        assert stream.feed(ALL_IN_ONE[:cut]) + stream.feed(ALL_IN_ONE[cut:]) == whole, cut


def test_events_are_sanitised_at_ingest() -> None:
    clean = EventSanitizer()
    assert [clean(ReasoningDelta(p)).text for p in ("x\x1b(", "By")] == ["x", "y"]
    assert [clean(ContentDelta(p)).text for p in ("a\x1b#", "8b")] == ["a", "b"]
    assert clean(Notice("n\x1b7ote", "warning")) == Notice("note", "warning")
    error = clean(ErrorEvent(ServerError("t\x1bcitle", "h\x1b8int", detail="d\x1b=etail", status=500))).error
    assert (type(error), error.title, error.hint, error.detail, error.status) == (
        ServerError, "title", "hint", "detail", 500)
    assert str(error) == "title — detail — hint"
    assert clean(Stop()) == Stop()


def test_single_line_helper_keeps_markup_literal() -> None:
    from thinkpane.tui.core.backend_conversation import title_from_prompt

    assert title_from_prompt("a\x1b]0;pwned\x07b\x1b(B\nc") == "ab c"  # a title is made clean
    assert sanitize_line(hostile.BY_NAME["rich_markup"].text) == hostile.BY_NAME["rich_markup"].text
    assert sanitize_line("a\nb\x1b[2Jc\u202ed\x1b(B") == "a bcd"
    assert sanitize_line("two\nlines\there") == "two lines here"


def test_huge_line_is_sanitised_quickly() -> None:
    started = time.monotonic()
    assert sanitize(HUGE_LINE) == HUGE_LINE
    assert sanitize("\x1b]0;" + HUGE_LINE) == ""  # an unterminated OSC swallows the rest
    assert time.monotonic() - started < 2.0


# --------------------------------------------------------------------------- thinkpane ask, OpenAI


@pytest.fixture
def server():
    with serve() as running:
        yield running


def ask(server, *args: str) -> int:
    return main(["ask", "--backend", "openai", "--base-url", server.base_url, *args])


def hostile_stream(text: str = ALL_IN_ONE):
    return [chunk(role=True, reasoning="")] + [chunk(reasoning=p) for p in pieces(text)] + [
        chunk(content=p) for p in pieces(text)] + [chunk(content="", finish="stop"), DONE]


def test_ask_shows_hostile_reasoning_and_answer_as_inert_text(server, capsys) -> None:
    server.enqueue(hostile_stream())
    assert ask(server, "hi") == 0
    out, err = capsys.readouterr()
    assert_inert(out, where="stdout")
    assert_inert(err, where="stderr")


def test_ask_json_keeps_the_exact_text_as_data(server, capsys) -> None:
    server.enqueue(hostile_stream())
    assert ask(server, "--json", "hi") == 0
    out = capsys.readouterr().out
    assert out.isascii()
    for control in hostile.TERMINAL_CONTROLS:
        assert control not in out
    events = [json.loads(line) for line in out.splitlines()]  # every line is valid JSON
    assert "".join(e["text"] for e in events if e["type"] == "content") == ALL_IN_ONE
    assert "".join(e["text"] for e in events if e["type"] == "reasoning") == ALL_IN_ONE


def test_hostile_error_body_is_inert_on_stderr(server, capsys) -> None:
    server.enqueue([Respond(400, error_body(ALL_IN_ONE))])
    assert ask(server, "hi") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("Error: ")
    for control in hostile.TERMINAL_CONTROLS + list(hostile.BIDI_CONTROLS):
        assert control not in err
    for forbidden in hostile.ALL_FORBIDDEN:
        assert forbidden not in err


def test_invalid_utf8_on_the_wire_is_replaced_not_fatal(server, capsys) -> None:
    data = b'data: {"choices":[{"index":0,"delta":{"content":"' + INVALID_UTF8 + b'"},"finish_reason":null}]}\n\n'
    server.enqueue([chunk(reasoning="ok"), Raw(data), chunk(content=" END", finish="stop"), DONE])
    code = ask(server, "hi")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("BAD") and "BYTES END" in out
    assert "\ufffd" in out  # the broken bytes are visible as replacement characters
    assert "Traceback" not in err


def test_invalid_utf8_in_an_error_body_is_replaced(server, capsys) -> None:
    server.enqueue([Respond(500, b"<html>oops " + INVALID_UTF8 + b"\x1b]0;pwned\x07</html>",
                            {"Content-Type": "text/html"})])
    assert ask(server, "hi") == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "Traceback" not in err
    assert "\x1b" not in err and "pwned" not in err


def test_a_megabyte_without_newline_streams_through_ask(server, capsys) -> None:
    server.enqueue([chunk(content=p) for p in pieces(HUGE_LINE, 65536)] + [chunk(content="", finish="stop"), DONE])
    started = time.monotonic()
    assert ask(server, "--no-reasoning", "hi") == 0
    out = capsys.readouterr().out
    assert out == HUGE_LINE + "\n"
    assert time.monotonic() - started < 20


def test_a_megabyte_in_one_event_streams_through_ask(server, capsys) -> None:
    server.enqueue([chunk(content=HUGE_LINE, finish="stop"), DONE])
    assert ask(server, "--no-reasoning", "hi") == 0
    assert capsys.readouterr().out == HUGE_LINE + "\n"


def test_console_script_writes_no_raw_control_bytes(server) -> None:
    """The real process, byte for byte: what a terminal would actually receive."""
    server.enqueue(hostile_stream())
    result = subprocess.run(
        [str(THINKPANE), "ask", "--backend", "openai", "--base-url", server.base_url, "hi"],
        check=False, capture_output=True, timeout=60, env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr
    for stream in (result.stdout, result.stderr):
        for byte in (b"\x1b", b"\x07", b"\x9b", b"\xc2\x9b", b"\xc2\x9d", b"\r", b"\xe2\x80\xae"):
            assert byte not in stream
        assert_inert(stream.decode("utf-8"))


def saved_conversation():
    from thinkpane.tui.core import paths

    store = ConversationStore(paths.database_path())
    try:
        (summary,) = store.list_conversations()
        return summary, store.load_messages(summary.id)
    finally:
        store.close()


def test_saved_hostile_exchange_stores_what_was_printed(server, capsys) -> None:
    server.enqueue(hostile_stream())
    assert ask(server, "--save", ALL_IN_ONE) == 0
    out, err = capsys.readouterr()
    assert_inert(err, markers=[])
    summary, messages = saved_conversation()
    # The prompt is kept as typed (it is what was sent); the answer as it was printed.
    assert messages[0].content == ALL_IN_ONE
    assert messages[1].content + "\n" == out
    assert messages[1].content == messages[1].reasoning == sanitize(ALL_IN_ONE)
    # The app's title rule: 60 characters at most, cut with an ellipsis.
    assert summary.title == sanitize_line(ALL_IN_ONE)[:59].rstrip() + "…"


def test_saved_json_exchange_prints_the_raw_text_and_stores_the_clean_text(server, capsys) -> None:
    server.enqueue(hostile_stream())
    assert ask(server, "--json", "--save", "hi") == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "".join(e["text"] for e in events if e["type"] == "content") == ALL_IN_ONE
    _, messages = saved_conversation()
    assert messages[1].content == messages[1].reasoning == sanitize(ALL_IN_ONE)


def test_store_round_trips_every_payload_in_every_field(tmp_path) -> None:
    store = ConversationStore(tmp_path / "db.sqlite3")
    try:
        for payload in PAYLOADS + [hostile.Payload("huge", HUGE_LINE, "Z", shown=HUGE_LINE)]:
            cid = store.create_conversation(payload.text, backend="scripted", model=payload.text)
            store.add_message(cid, "user", payload.text)
            writer = store.start_answer(cid, backend="scripted", model="m")
            for part in pieces(payload.text, 3 if len(payload.text) < 1000 else 65536):
                writer.append_reasoning(part)
                writer.append_content(part)
            writer.finish("error", error=payload.text)
            user, answer = store.load_messages(cid)
            assert user.content == payload.text
            assert (answer.content, answer.reasoning, answer.error) == (payload.text, payload.text, payload.text)
            assert store.get_conversation(cid).title == payload.text
    finally:
        store.close()


# --------------------------------------------------------------------------- thinkpane ask, Bedrock


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDHOSTILETEST0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hostile/secret+0000000000000000000000000")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    for var in ("AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)


def bedrock_text_frame(raw_text: bytes, index: int = 1) -> bedrock_server.Frame:
    payload = b'{"contentBlockIndex":%d,"delta":{"text":"%s"},"p":"abc"}' % (index, raw_text)
    return bedrock_server.Frame(bedrock_server.encode_frame(
        [(":event-type", "contentBlockDelta"), (":content-type", "application/json"), (":message-type", "event")],
        payload))


@pytest.fixture
def bedrock(monkeypatch, aws_env):
    """The Bedrock stand-in with two extra scenarios: hostile text, and invalid UTF-8 bytes."""
    original = bedrock_server.build_script

    def build_script(name, request, stall_s, delay_s):
        if name == "hostile":
            return (bedrock_server._start() + bedrock_server._reasoning(0, pieces(ALL_IN_ONE))
                    + bedrock_server._block_stop(0) + bedrock_server._text(1, pieces(ALL_IN_ONE))
                    + bedrock_server._block_stop(1) + bedrock_server._finish())
        if name == "hostile_error":
            return [bedrock_server.HttpError(400, "ValidationException", ALL_IN_ONE)]
        if name == "invalid_utf8":
            return (bedrock_server._start() + bedrock_server._text(1, ["before "])
                    + [bedrock_text_frame(INVALID_UTF8)] + bedrock_server._text(1, [" after"])
                    + bedrock_server._block_stop(1) + bedrock_server._finish())
        return original(name, request, stall_s, delay_s)

    monkeypatch.setattr(bedrock_server, "build_script", build_script)
    with bedrock_server.BedrockStandIn() as stand_in:
        yield stand_in


def ask_bedrock(stand_in, *args: str) -> int:
    return main(["ask", "--backend", "bedrock", "--endpoint-url", stand_in.url, "--region", "us-east-1", *args])


def test_bedrock_hostile_reasoning_and_answer_are_inert(bedrock, capsys) -> None:
    bedrock.enqueue("hostile")
    assert ask_bedrock(bedrock, "hi") == 0
    out, err = capsys.readouterr()
    assert_inert(out, where="stdout")
    assert_inert(err, where="stderr")


def test_bedrock_json_keeps_the_exact_text(bedrock, capsys) -> None:
    bedrock.enqueue("hostile")
    assert ask_bedrock(bedrock, "--json", "hi") == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "".join(e["text"] for e in events if e["type"] == "content") == ALL_IN_ONE


def test_bedrock_hostile_error_message_is_inert(bedrock, capsys) -> None:
    bedrock.enqueue("hostile_error")
    assert ask_bedrock(bedrock, "hi") == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "Traceback" not in err
    for control in hostile.TERMINAL_CONTROLS + list(hostile.BIDI_CONTROLS):
        assert control not in err


def test_bedrock_invalid_utf8_frame_is_a_clean_outcome(bedrock, capsys) -> None:
    bedrock.enqueue("invalid_utf8")
    code = ask_bedrock(bedrock, "hi")
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert out.startswith("before ")  # what arrived before the bad frame is kept
    # A frame that cannot be decoded is a protocol error saying so, never "this is a bug".
    assert code == 1 and err.startswith("Error: Bedrock sent an event that could not be decoded")
    assert "bug" not in err and "partial answer is kept" in err


# --------------------------------------------------------------------------- the chat screen


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


def make_app(store, backend=None, **kwargs):
    from thinkpane.tui.app import ThinkpaneApp
    from thinkpane.tui.core.config import Settings

    return ThinkpaneApp(Settings(), store, backend=backend, **kwargs)


async def send(pilot, text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")


def answer_shown(app) -> str:
    turn = app.chat.transcript.answers()[-1]
    return rendered_text(turn._body) if turn._body is not None else turn._live.source


async def still_responsive(app, pilot) -> None:
    """A keypress after the hostile text still works: type into the prompt and see it."""
    app.chat.prompt.focus()
    await pilot.press("o", "k")
    await wait_until(pilot, lambda: app.chat.prompt.text.endswith("ok"), "prompt still takes keys")


async def test_every_pane_shows_hostile_text_literally_and_inert(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(160, 50)) as pilot:
        await send(pilot, "go")
        await wait_until(pilot, lambda: app.chat.live is not None, "turn started")
        backend.put(*[ReasoningDelta(p) for p in pieces(ALL_IN_ONE)])
        backend.put(Notice(ALL_IN_ONE, "warning"))
        await wait_until(pilot, lambda: "MARKUP" in app.chat.reasoning_pane.live_text(), "reasoning")
        await wait_until(pilot, lambda: "TITLEOK" in app.chat.status.line_text().plain, "notice")
        notice = rendered_text(app.chat.status)
        for control in hostile.TERMINAL_CONTROLS + list(hostile.BIDI_CONTROLS):
            assert control not in notice
        assert "pwned" not in notice and "[bold red]MARKUP[/]" in app.chat.status.line_text().plain
        backend.put(*[ContentDelta(p) for p in pieces(ALL_IN_ONE)])
        backend.put(ErrorEvent(ServerError(ALL_IN_ONE, hint=ALL_IN_ONE, detail=ALL_IN_ONE)))
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "turn ended")
        await pilot.pause()
        # Stored as shown: the text and the error message were sanitised where they arrived.
        stored = store.load_messages(app.chat.conversation_id)[-1]
        clean = sanitize(ALL_IN_ONE)
        assert (stored.reasoning, stored.content, stored.error) == (clean, clean, f"{clean} — {clean} — {clean}")

        reasoning_live = app.chat.reasoning_pane.live_text()
        assert_inert(reasoning_live, where="reasoning pane")
        shown_reasoning = rendered_text(app.chat.reasoning_pane.live)
        for control in hostile.TERMINAL_CONTROLS:
            assert control not in shown_reasoning
        answer = answer_shown(app)
        assert_inert(answer, where="answer", markers=["TITLEOK", "CLIPOK", "LINKOK", "C1OK", "BIDIOK"])
        for literal in ALL_LITERAL:
            assert literal in answer, f"markup {literal!r} not shown literally"
        note = rendered_text(app.chat.transcript.answers()[-1].note)
        assert_inert(note, where="error note", markers=["TITLEOK", "BIDIOK"])
        status = rendered_text(app.chat.status)
        for control in hostile.TERMINAL_CONTROLS + list(hostile.BIDI_CONTROLS):
            assert control not in status
        await still_responsive(app, pilot)


async def test_a_megabyte_line_does_not_hang_the_screen(store):
    backend = ScriptedBackend()
    backend.enqueue([ReasoningDelta(p) for p in pieces(HUGE_LINE, 100_000)]
                    + [ContentDelta(p) for p in pieces(HUGE_LINE, 100_000)] + [Stop()])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        started = time.monotonic()
        await send(pilot, "big")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer", timeout=60)
        await still_responsive(app, pilot)
        assert time.monotonic() - started < 60
        assert app.chat.transcript.answers()[-1].record.content == HUGE_LINE


async def test_hostile_problem_panel_and_title_header(store):
    cid = store.create_conversation(ALL_IN_ONE, backend="scripted", model="m")
    store.add_message(cid, "user", ALL_IN_ONE)
    store.add_message(cid, "assistant", ALL_IN_ONE, reasoning=ALL_IN_ONE, status="complete")
    app = make_app(store, ScriptedBackend(), conversation_id=cid)
    async with app.run_test(size=(400, 50)) as pilot:
        await wait_until(pilot, lambda: app.chat.transcript.answers(), "loaded")
        await pilot.pause()
        header = rendered_text(app.chat.query_one("#answer-header"))
        assert_inert(header, where="answer header", markers=["TITLEOK", "BIDIOK"])
        assert "[bold red]MARKUP[/]" in header
        user = rendered_text(app.chat.query_one("UserTurn"))
        assert_inert(user, where="user turn", markers=["TITLEOK", "BIDIOK"])
        assert "[bold red]MARKUP[/]" in user
        reopened = rendered_text(app.chat.reasoning_pane.body.children[0])
        assert_inert(reopened, where="reopened reasoning", markers=["TITLEOK", "BIDIOK"])
        assert "[bold red]MARKUP[/]" in reopened

        app.chat.show_problem(ServerError(ALL_IN_ONE, hint=ALL_IN_ONE, detail=ALL_IN_ONE))
        await pilot.pause()
        panel = rendered_text(app.chat.query_one("#message-panel"))
        assert_inert(panel, where="problem panel", markers=["TITLEOK", "BIDIOK"])
        assert "[bold red]MARKUP[/]" in panel
        await still_responsive(app, pilot)


async def test_conversation_list_shows_hostile_titles_inert(store):
    for payload in PAYLOADS:
        store.create_conversation(payload.text, backend="scripted", model=payload.text)
    app = make_app(store, ScriptedBackend())
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("ctrl+l")
        from thinkpane.tui.screens.conversations import ConversationsScreen

        await wait_until(pilot, lambda: isinstance(app.screen, ConversationsScreen), "list")
        await pilot.pause()
        screen = app.screen
        table = screen.table
        cells = [str(cell) for row in range(table.row_count) for cell in table.get_row_at(row)]
        shown = rendered_text(table)
        for text in (" ".join(cells), shown):
            for control in hostile.TERMINAL_CONTROLS + list(hostile.BIDI_CONTROLS):
                assert control not in text
            assert "pwned" not in text
        assert "[bold red]MARKUP[/] [link=http://markup.example]x[/link] [@click=app.quit]q[/]" in cells
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.chat, "back to chat")
        await still_responsive(app, pilot)  # [@click=app.quit] did not quit


async def test_real_openai_backend_over_http_into_the_chat_screen(store, server):
    from thinkpane.backends import registry

    server.enqueue(hostile_stream())
    backend = registry.create("openai", {"base_url": server.base_url})
    app = make_app(store, backend)
    async with app.run_test(size=(160, 50)) as pilot:
        await send(pilot, "hi")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer", timeout=20)
        await pilot.pause()
        answer = answer_shown(app)
        assert_inert(answer, where="answer", markers=["TITLEOK", "CLIPOK", "LINKOK", "C1OK", "BIDIOK"])
        reasoning = rendered_text(app.chat.reasoning_pane.body.children[0])
        for control in hostile.TERMINAL_CONTROLS + list(hostile.BIDI_CONTROLS):
            assert control not in reasoning
        messages = store.load_messages(app.chat.conversation_id)
        assert messages[-1].content == sanitize(ALL_IN_ONE)  # stored as shown
        await still_responsive(app, pilot)


class _RefusingWriter:
    """An AnswerWriter whose final save fails with a hint that looks like markup.

    Store hints name the database path (e.g. "move '/home/me/[old]/conversations.sqlite3'
    aside"), and a folder name may contain brackets; a notification must show it literally.
    """

    def append_content(self, text) -> None:
        pass

    append_reasoning = append_content

    def flush(self) -> None:
        pass

    def set_usage(self, input_tokens, output_tokens) -> None:
        pass

    def merge_extra(self, data) -> None:
        pass

    def set_timing(self, ttft_ms, elapsed_ms) -> None:
        pass

    def finish(self, status, **kwargs) -> None:
        from thinkpane.tui.core.store import StoreError

        raise StoreError("Could not save [/] the answer", "Move '/data/[/]old [@click=app.quit]x[/]' aside.")


async def test_store_error_notification_shows_markup_literally(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await send(pilot, "go")
        await wait_until(pilot, lambda: app.chat.live is not None, "turn started")
        app.chat.live.recorder.writer = _RefusingWriter()
        backend.put(ContentDelta("answer"), Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "turn ended")
        await wait_until(pilot, lambda: bool(app.screen.query("Toast")), "notification shown")
        await pilot.pause()
        toast = app.screen.query_one("Toast").render().plain
        assert "[@click=app.quit]x[/]" in toast and "[/]old" in toast
        await still_responsive(app, pilot)


async def test_a_sequence_split_between_deltas_never_shows_debris_while_streaming(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(160, 50)) as pilot:
        await send(pilot, "go")
        await wait_until(pilot, lambda: app.chat.live is not None, "turn started")
        # Each half arrives in its own message: the live panes must not show "0;pwned" debris.
        for half in ("before \x1b]0;pwn", "ed-title\x07 after"):
            backend.put(ReasoningDelta(half), ContentDelta(half))
            await wait_until(pilot, lambda: "before" in app.chat.reasoning_pane.live_text(), "text shown")
            await pilot.pause(0.05)
        await wait_until(pilot, lambda: "after" in app.chat.transcript.answers()[-1]._live.source, "second half")
        for live_source in (app.chat.reasoning_pane.live_text(), app.chat.transcript.answers()[-1]._live.source):
            assert live_source == "before  after"
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "turn ended")


async def shown_answers(app, pilot) -> list[tuple[str, str]]:
    """(answer turn, its reasoning in the Reasoning pane) for every answer, as drawn."""
    shown = []
    for answer in app.chat.transcript.answers():
        # A reopened conversation mounts its older turns as the user scrolls up to them.
        app.chat.transcript.scroll_to_widget(answer, animate=False)
        await wait_until(pilot, lambda answer=answer: answer.is_mounted and answer.size.height > 0, "answer shown")
        await app.chat.show_reasoning_of(answer)
        await pilot.pause()
        shown.append((rendered_text(answer), rendered_text(app.chat.reasoning_pane.body)))
    return shown


async def test_live_stored_reopened_and_exported_text_are_the_same_clean_text(store):
    """Each payload streamed as one answer (reasoning and answer in 2-character deltas, so
    every sequence is cut): the live panes, the store, the conversation reopened in a new
    app and the Markdown export all hold ``payload.shown``, debris-free."""
    from thinkpane.tui.core.export import export_conversation

    backend = ScriptedBackend()
    for payload in PAYLOADS:
        backend.enqueue_turn(pieces(payload.text, 2), pieces(payload.text, 2))
    app = make_app(store, backend)
    async with app.run_test(size=(160, 50)) as pilot:
        for number, payload in enumerate(PAYLOADS, start=1):
            assert await app.chat.send(payload.name)
            await wait_until(pilot, lambda number=number: app.chat.live is None and len(app.chat.transcript.answers()) == number,
                             payload.name)
        await pilot.pause()
        live = await shown_answers(app, pilot)
        conversation_id = app.chat.conversation_id

    stored = [m for m in store.load_messages(conversation_id) if m.role == "assistant"]
    assert [(m.reasoning, m.content) for m in stored] == [(p.shown, p.shown) for p in PAYLOADS]

    reopened_app = make_app(store, ScriptedBackend(), conversation_id=conversation_id)
    async with reopened_app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: len(reopened_app.chat.transcript.answers()) == len(PAYLOADS), "reopened")
        await pilot.pause()
        reopened = await shown_answers(reopened_app, pilot)

    exported = export_conversation(store, conversation_id, "md")
    assert_inert(exported)
    for payload, (answer, reasoning), again in zip(PAYLOADS, live, reopened):
        assert (answer, reasoning) == again, payload.name
        # The drawn text is the clean text (Markdown only rewraps it), with nothing left over.
        for drawn in (answer, reasoning):
            assert " ".join(payload.shown.split()) in " ".join(drawn.split()), (payload.name, drawn)
            for control in hostile.TERMINAL_CONTROLS + list(hostile.BIDI_CONTROLS):
                assert control not in drawn, (payload.name, control)
            for forbidden in payload.forbidden:
                assert forbidden not in drawn, (payload.name, forbidden)
        assert (f"<details><summary>Reasoning</summary>\n\n{payload.shown}\n\n</details>\n\n{payload.shown}\n\n_"
                in exported), payload.name
