"""``thinkpane ask`` through the real OpenAI backend and its SSE stand-in over 127.0.0.1.

In-process via ``main([...])`` with capsys for most cases; real subprocesses of the
installed ``thinkpane`` console script for the entry point, Ctrl+C and import hygiene.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers.openai_sse import (
    DONE,
    Close,
    HoldOpen,
    Respond,
    Sleep,
    chunk,
    error_body,
    serve,
)
from thinkpane.backends import registry
from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.events import ContentDelta, ReasoningDelta, Stop
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.cli.ask import AskOptions, _Printer, conversation_for, run_ask
from thinkpane.tui.cli.main import main
from thinkpane.tui.core.sanitize import sanitize

KEY = "sk-ask-test-0123456789abcdef"
REASONING = "The user wrote something. I should echo it back."
THINKPANE = Path(sys.executable).with_name("thinkpane")


@pytest.fixture
def server():
    with serve() as running:
        yield running


def ask(server, *args: str) -> int:
    return main(["ask", "--backend", "openai", "--base-url", server.base_url, *args])


# --------------------------------------------------------------------------- happy paths


def test_reasoning_on_stderr_answer_on_stdout(server, capsys) -> None:
    assert ask(server, "hello there") == 0
    out, err = capsys.readouterr()
    assert out == "You said: hello there\n"
    assert err == REASONING + "\n\n"  # the reasoning, then a newline before the answer
    assert "\x1b" not in err  # stderr is not a terminal: no dimming
    body = server.chat_requests[0].body
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hello there"}]


def test_json_prints_one_object_per_event(server, capsys) -> None:
    assert ask(server, "--json", "hi") == 0
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    types = [event["type"] for event in events]
    assert types[0] == "reasoning" and types[-2:] == ["usage", "stop"]
    assert "".join(e["text"] for e in events if e["type"] == "reasoning") == REASONING
    assert "".join(e["text"] for e in events if e["type"] == "content") == "You said: hi"
    stop, usage = events[-1], events[-2]
    timing = stop.pop("timing")
    assert stop == {"type": "stop", "reason": "end_turn", "raw_reason": "stop"}
    # The reasoning came first: the first token is the first reasoning token.
    assert set(timing) == {"first_token_ms", "first_reasoning_ms", "thinking_ms", "answer_ms"}
    assert all(isinstance(value, int) and value >= 0 for value in timing.values())
    assert timing["first_reasoning_ms"] == timing["first_token_ms"]
    # What the provider reported, details included; no estimate when it was reported.
    assert (usage["input_tokens"], usage["output_tokens"]) == (12, 40)
    assert (usage["reasoning_tokens"], usage["cached_input_tokens"]) == (25, 0)
    assert "estimated_reasoning_tokens" not in usage
    assert err == ""


def test_prompt_from_stdin(server, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("from a pipe\n"))
    assert ask(server, "--no-reasoning") == 0
    out, err = capsys.readouterr()
    assert out == "You said: from a pipe\n"
    assert err == ""  # --no-reasoning


def test_prompt_argument_then_stdin_appended(server, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("def f(): pass\n"))
    assert ask(server, "Explain this:") == 0
    assert server.chat_requests[0].body["messages"][-1]["content"] == "Explain this:\n\ndef f(): pass"


def test_dash_reads_stdin(server, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("dash input"))
    assert ask(server, "-") == 0
    assert server.chat_requests[0].body["messages"][-1]["content"] == "dash input"


def test_system_prompt_and_model_flags_reach_the_server(server, capsys) -> None:
    assert ask(server, "--system", "Be brief.", "--model", "my-model", "--max-tokens", "50", "q") == 0
    body = server.chat_requests[0].body
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["model"] == "my-model"
    assert body["max_tokens"] == 50


def test_backend_and_options_come_from_config(server, capsys) -> None:
    from thinkpane.tui.core import paths

    paths.ensure_private_dir(paths.config_dir())
    paths.config_path().write_text(
        f'backend = "openai"\nsystem_prompt = "From config."\n'
        f'[backends.openai]\nbase_url = "{server.base_url}"\nmodel = "cfg-model"\n'
    )
    assert main(["ask", "question"]) == 0
    body = server.chat_requests[0].body
    assert body["model"] == "cfg-model"
    assert body["messages"][0]["content"] == "From config."
    assert capsys.readouterr().out == "You said: question\n"


def test_escape_sequences_from_the_model_never_reach_the_terminal(server, capsys) -> None:
    hostile = "\x1b]52;c;cm0gLXJmIH4=\x07safe \x1b[31mred\x1b[0m\x9b2J \x07bell\r\n"
    server.enqueue([chunk(reasoning="\x1b]0;pwned title\x07think"), chunk(content=hostile, finish="stop"), DONE])
    assert ask(server, "x") == 0
    out, err = capsys.readouterr()
    assert out == "safe red bell\n"
    assert err == "think\n\n"


def test_json_mode_escapes_control_characters(server, capsys) -> None:
    server.enqueue([chunk(content="\x1b[31mred\x9b", finish="stop"), DONE])
    assert ask(server, "--json", "x") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x9b" not in out
    assert "\\u001b[31mred\\u009b" in out
    content = [json.loads(line) for line in out.splitlines() if '"content"' in line]
    assert content[0]["text"] == "\x1b[31mred\x9b"  # escaped on the wire, exact when parsed


def test_max_tokens_stop_is_explained_on_stderr(server, capsys) -> None:
    server.enqueue([chunk(content="Cut sh", finish="length"), DONE])
    assert ask(server, "x") == 0
    out, err = capsys.readouterr()
    assert out == "Cut sh\n"
    assert "maximum output tokens" in err


def test_save_stores_the_exchange(server, capsys) -> None:
    assert ask(server, "--save", "remember me") == 0
    err = capsys.readouterr().err
    assert "Saved as conversation" in err
    from thinkpane.tui.core import paths
    from thinkpane.tui.core.store import ConversationStore

    store = ConversationStore(paths.database_path())
    try:
        conversation_id = store.last_conversation_id()
        messages = store.load_messages(conversation_id)
    finally:
        store.close()
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == "remember me"
    assert messages[1].content == "You said: remember me"
    assert messages[1].reasoning == REASONING
    assert messages[1].status == "complete"
    assert messages[1].backend == "openai"
    # The model and thinking setting it ran with, the reported usage details and the timings.
    extra = messages[1].extra
    assert messages[1].model == "deepseek-v4-flash"
    assert (extra["thinkpane_thinking"], extra["thinkpane_effort"]) == ("on", None)
    assert (extra["thinkpane_reasoning_tokens"], extra["thinkpane_cached_input_tokens"]) == (25, 0)
    assert (messages[1].input_tokens, messages[1].output_tokens) == (12, 40)
    for key in ("thinkpane_reasoning_ms", "thinkpane_first_reasoning_ms", "thinkpane_answer_ms"):
        assert isinstance(extra[key], int), key
    assert messages[1].ttft_ms == extra["thinkpane_first_reasoning_ms"]  # reasoning came first


def test_json_estimates_reasoning_tokens_only_when_none_are_reported(capsys) -> None:
    with serve("think_tags") as server:  # <think> text, and a usage with no details
        assert ask(server, "--json", "hi") == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [usage] = [event for event in events if event["type"] == "usage"]
    assert "reasoning_tokens" not in usage
    assert usage["estimated_reasoning_tokens"] == round(len("Let me think about it.") / 4)
    timing = events[-1]["timing"]
    assert timing["first_reasoning_ms"] is not None and timing["answer_ms"] is not None


def test_a_saved_long_prompt_gets_the_title_the_app_would_give_it(server, capsys) -> None:
    from thinkpane.tui.core import paths
    from thinkpane.tui.core.store import ConversationStore

    prompt = "Explain, step by step and with an example,   why the sky looks blue at noon but red at dusk"
    assert ask(server, "--save", prompt) == 0
    store = ConversationStore(paths.database_path())
    try:
        (summary,) = store.list_conversations()
    finally:
        store.close()
    assert summary.title == "Explain, step by step and with an example, why the sky look…"
    assert len(summary.title) == 60


def test_not_saved_by_default(server, capsys) -> None:
    from thinkpane.tui.core import paths

    assert ask(server, "hi") == 0
    assert not paths.database_path().exists()


# --------------------------------------------------------------------------- failures


def test_auth_error_exits_1_with_title_and_hint_and_no_key(capsys, monkeypatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    with serve("error_401") as server:
        code = ask(server, "hi")
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.startswith("Error: ")
    assert len(err.strip().splitlines()) >= 2  # title, then what to do
    assert "Traceback" not in err
    assert KEY not in err


def test_error_in_json_mode_goes_to_stdout_and_stderr(capsys) -> None:
    with serve("error_401") as server:
        code = ask(server, "--json", "hi")
    out, err = capsys.readouterr()
    assert code == 1
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["type"] == "error"
    assert events[-1]["kind"] == "authentication"
    assert err.startswith("Error: " + events[-1]["title"])


def test_connection_refused_keeps_nothing_secret_and_exits_1(capsys) -> None:
    code = main(["ask", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "hi"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Error: " in err and "Traceback" not in err


def test_stream_cut_mid_answer_keeps_partial_text_and_exits_1(server, capsys) -> None:
    server.enqueue([chunk(reasoning="hmm"), chunk(content="Partial"), Close()])
    assert ask(server, "x") == 1
    out, err = capsys.readouterr()
    assert out == "Partial\n"
    assert "Error: " in err


async def test_a_stream_ending_without_stop_is_an_incomplete_answer_exit_1(store) -> None:
    # The same check as the chat screen's (tests/test_tui_chat.py): both go through TurnRecorder.
    backend = ScriptedBackend()
    backend.enqueue([ReasoningDelta("half a thought"), ContentDelta("Half an ans")])
    writer = store.start_answer(store.create_conversation("t"), backend="scripted", model="m")
    out, err = io.StringIO(), io.StringIO()
    code = await run_ask(backend, conversation_for("hi", None), out=out, err=err, options=AskOptions(), writer=writer)
    assert code == 1
    assert out.getvalue() == "Half an ans\n"
    assert err.getvalue() == (
        "half a thought\n\n"
        "Error: Scripted stopped before the answer was finished\n"
        "  The partial answer is kept. Try again.\n"
    )
    answer = store.load_messages(writer.conversation_id)[-1]
    assert (answer.status, answer.content, answer.reasoning) == ("error", "Half an ans", "half a thought")
    assert answer.error.startswith("Scripted stopped before the answer was finished")


async def test_json_mode_reports_a_missing_stop_as_an_error_event() -> None:
    backend = ScriptedBackend()
    backend.enqueue([ContentDelta("Half")])
    out, err = io.StringIO(), io.StringIO()
    code = await run_ask(backend, conversation_for("hi", None), out=out, err=err, options=AskOptions(json_mode=True))
    assert code == 1
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["type"] for e in events] == ["content", "error"]
    assert events[-1]["kind"] == "incomplete"
    assert err.getvalue().startswith("Error: Scripted stopped before the answer was finished")


def test_server_error_body_is_shown(server, capsys) -> None:
    server.enqueue([Respond(503, error_body("Server overloaded", "service_unavailable"))])
    assert ask(server, "x") == 1
    assert "Error: " in capsys.readouterr().err


def test_a_plain_text_400_shows_the_message_after_the_title_and_before_the_hint(server, capsys) -> None:
    server.enqueue([Respond(400, "plain text error from proxy")])
    assert ask(server, "x") == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("Error: ") and "(HTTP 400)" in lines[0]
    assert lines[1] == "  plain text error from proxy"
    assert "below" not in lines[2] and lines[2].startswith("  ")


def test_a_long_provider_message_is_cut_and_says_how_to_see_all(server, capsys) -> None:
    message = "m" * 3000 + " sk-leaked0123456789abcdef"
    server.enqueue([Respond(400, error_body(message))])
    assert ask(server, "x") == 1
    detail = capsys.readouterr().err.splitlines()[1]
    assert detail == "  " + "m" * 1000 + "… (2,009 more characters; `thinkpane ask --json` prints all)"  # key masked

    server.enqueue([Respond(400, error_body(message))])
    assert ask(server, "--json", "x") == 1
    error = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert error["detail"].startswith("m" * 3000) and "sk-leaked" not in error["detail"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/v1", "http://127.0.0.1:0/v1"])
def test_a_port_out_of_range_is_a_plain_usage_error(url, capsys) -> None:
    assert main(["ask", "--backend", "openai", "--base-url", url, "hi"]) == 2
    err = capsys.readouterr().err
    assert "argument --base-url: expected a port from 1 to 65535 in the URL" in err
    assert "bug" not in err and "Traceback" not in err


def test_unknown_backend_is_a_usage_error(capsys) -> None:
    assert main(["ask", "--backend", "nonesuch", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: Unknown backend 'nonesuch'")
    assert "openai" in err  # lists the real ones


def test_missing_key_names_the_variables_and_the_setup_command(capsys) -> None:
    code = main(["ask", "--backend", "openai", "hi"])  # default base URL is DeepSeek's
    err = capsys.readouterr().err
    assert code == 1
    assert "DEEPSEEK_API_KEY" in err and "thinkpane setup openai" in err
    assert "Traceback" not in err


def test_missing_prompt_is_a_usage_error(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["ask", "--backend", "openai"]) == 2
    assert "no prompt" in capsys.readouterr().err


def test_invalid_option_value_is_a_usage_error(capsys) -> None:
    assert main(["ask", "--backend", "openai", "--max-tokens", "lots", "hi"]) == 2
    assert "--max-tokens" in capsys.readouterr().err


def test_scripted_backend_via_registry(capsys, monkeypatch) -> None:
    monkeypatch.setitem(registry.BUILTIN, "scripted", "thinkpane.backends.scripted:ScriptedBackend")
    assert main(["ask", "--backend", "scripted", "echo"]) == 0
    out, err = capsys.readouterr()
    assert out == "You said: echo\n"
    assert "echo it" in err


class ModelFileBackend(ScriptedBackend):
    """Needs preparing (like the local model's load); the file can be broken."""

    name = "modelfile"
    broken = False

    def __init__(self, settings=None) -> None:
        super().__init__(settings)
        self.loaded = False

    def preparing(self) -> str:
        return "" if self.loaded else "Loading tiny-model…"

    async def prepare(self) -> None:
        if self.broken:
            raise ConfigurationError("llama.cpp could not load the local model", "Download it again.")
        self.loaded = True


@pytest.mark.parametrize("broken", [False, True])
def test_ask_prepares_the_backend_first_and_says_so(capsys, monkeypatch, broken) -> None:
    monkeypatch.setitem(registry.BUILTIN, "modelfile", f"{__name__}:ModelFileBackend")
    monkeypatch.setattr(ModelFileBackend, "broken", broken)

    code = main(["ask", "--backend", "modelfile", "--no-reasoning", "echo"])

    out, err = capsys.readouterr()
    assert err.startswith("Note: Loading tiny-model…\n")
    if broken:
        assert code == 1 and out == ""
        assert "Error: llama.cpp could not load the local model" in err and "Download it again." in err
    else:
        assert code == 0 and out == "You said: echo\n"


# --------------------------------------------------------------------------- terminal output


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_reasoning_is_dimmed_on_a_terminal_unless_no_color(monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out, err = io.StringIO(), FakeTerminal()
    printer = _Printer(out, err, AskOptions())
    for event in (ReasoningDelta("thinking"), ContentDelta("answer"), Stop()):
        printer.event(event)
    printer.finish_lines()
    assert err.getvalue() == "\x1b[2mthinking\x1b[22m\n\n"
    assert out.getvalue() == "answer\n"

    monkeypatch.setenv("NO_COLOR", "1")
    err = FakeTerminal()
    printer = _Printer(io.StringIO(), err, AskOptions())
    printer.event(ReasoningDelta("thinking"))
    printer.finish_lines()
    assert err.getvalue() == "thinking\n\n"


def test_sanitize_keeps_text_newlines_tabs_and_unicode() -> None:
    assert sanitize("a\tb\nc — ünï 中文 🙂") == "a\tb\nc — ünï 中文 🙂"
    assert sanitize("\x1b[1;31mbold\x1b[0m") == "bold"
    assert sanitize("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\") == "link"
    assert sanitize("cut \x1b]0;unterminated title") == "cut "
    assert sanitize("\x1bP1$r0m\x1b\\x\x00\x7f\x85") == "x"


# --------------------------------------------------------------------------- real processes


def test_console_script_streams_over_real_http(server) -> None:
    result = subprocess.run(
        [str(THINKPANE), "ask", "--backend", "openai", "--base-url", server.base_url, "from a process"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: from a process\n"
    assert result.stderr == REASONING + "\n\n"


def test_console_script_reads_piped_stdin(server) -> None:
    result = subprocess.run(
        [str(THINKPANE), "ask", "--backend", "openai", "--base-url", server.base_url, "--json"],
        input="piped prompt", capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert server.chat_requests[0].body["messages"][-1]["content"] == "piped prompt"
    assert json.loads(result.stdout.splitlines()[-1])["type"] == "stop"


def test_console_script_version_and_error_exit_codes() -> None:
    version = subprocess.run([str(THINKPANE), "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("thinkpane ")
    unknown = subprocess.run(
        [str(THINKPANE), "ask", "--backend", "nope", "x"], capture_output=True, text=True, timeout=30
    )
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr


def test_ctrl_c_exits_130_and_keeps_what_was_printed() -> None:
    with serve() as server:
        # Two words, then the stream stays open: the process is mid-answer when interrupted.
        server.enqueue([chunk(reasoning="hmm"), chunk(content="word0 "), chunk(content="word1 "), HoldOpen(30)])
        process = subprocess.Popen(
            [str(THINKPANE), "ask", "--backend", "openai", "--base-url", server.base_url, "go"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            received = _read_until(process.stdout, b"word1 ", timeout=30)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 130
        assert (received + out).startswith(b"word0 word1 ")
        assert b"Traceback" not in err
        # The client hung up: the server saw the disconnect.
        assert server.chat_requests[0].disconnected.wait(10)


def _read_until(stream, marker: bytes, timeout: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    while marker not in data:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {marker!r}; got {data!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            piece = os.read(fd, 4096)
            assert piece, f"stream closed before {marker!r}; got {data!r}"
            data += piece
    return data


def test_ask_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from thinkpane.tui.cli.main import main\n"
        "assert main(['ask', '--help']) == 0\n"
        "heavy = ('textual', 'httpx', 'pydantic', 'pydantic_settings', 'boto3', 'opensearchpy', 'llama_cpp')\n"
        "print('HEAVY=' + ','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    heavy = [line for line in result.stdout.splitlines() if line.startswith("HEAVY=")]
    assert heavy == ["HEAVY="], f"`thinkpane ask --help` imported: {heavy}"
    assert "usage: thinkpane ask" in result.stdout


def test_reader_closing_the_pipe_is_not_a_traceback() -> None:
    with serve() as server:
        # Reasoning first: the backend then passes content through at once (no <think> check).
        server.enqueue([chunk(reasoning="hmm"), chunk(content="first "), Sleep(0.3), chunk(content="second "), Sleep(0.1),
                        chunk(content="third", finish="stop"), DONE])
        process = subprocess.Popen(
            [str(THINKPANE), "ask", "--backend", "openai", "--base-url", server.base_url, "x"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            _read_until(process.stdout, b"first ", timeout=30)
            process.stdout.close()  # like `| head -c 6`
            err = process.stderr.read()
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 141
    assert b"Traceback" not in err


def test_ask_help_with_a_backend_lists_its_option_flags(capsys) -> None:
    assert main(["ask", "--backend", "openai", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--base-url", "--api-key", "--max-tokens", "--verify-tls", "--no-verify-tls", "--think-tags"):
        assert flag in out
    assert "DEEPSEEK_API_KEY" in out


def test_ask_help_without_a_backend_says_how_to_see_options(capsys) -> None:
    assert main(["ask", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--backend NAME" in out and "--base-url" in out  # the note names them
    assert "--max-tokens" not in out


def test_notices_go_to_stderr_as_notes() -> None:
    from thinkpane.backends.events import Notice

    out, err = io.StringIO(), io.StringIO()
    printer = _Printer(out, err, AskOptions())
    printer.event(ReasoningDelta("r"))
    printer.event(Notice("Throttled; retrying in 2 s"))
    printer.event(ContentDelta("a"))
    printer.finish_lines()
    assert err.getvalue() == "r\n\nNote: Throttled; retrying in 2 s\n"
    assert out.getvalue() == "a\n"
