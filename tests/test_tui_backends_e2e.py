"""The real app with each real backend, end to end, over real HTTP on 127.0.0.1.

Every test runs ``thinkpane.tui.app.app.ThinkpaneApp`` under Pilot with a real store in tmp_path and a
real config written by ``thinkpane.tui.core.config``; the app builds its backend from those settings
(nothing scripted), and the backend talks to its stand-in server: the OpenAI SSE server,
the Bedrock event-stream server, the ML Commons cluster, or SmolLM2 through llama.cpp.
What is asserted is what the user sees (the panes' rendered text, the status line, the
setup log) and what is kept (the store, the config file, the provisioning state file).
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomllib
from textual.command import CommandList
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, OptionList, Select

from tests import backend_fixtures
from tests.backend_fixtures import AWS_KEY_ID, AWS_SECRET
from tests.servers.bedrock_eventstream import ANSWER as BEDROCK_ANSWER
from tests.servers.bedrock_eventstream import REASONING as BEDROCK_REASONING
from tests.servers.bedrock_eventstream import BedrockStandIn
from tests.servers.mlcommons import REGEX_KEY, TEST_API_KEY, preprovision
from tests.servers.openai_sse import REASONER_REASONING
from tests.tui_helpers import rendered_text, wait_until
from thinkpane.backends.bedrock import BedrockBackend
from thinkpane.backends.local import models as local_models
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core import paths
from thinkpane.tui.core import setup_flow as setup_steps
from thinkpane.tui.core.config import Settings, config_exists, load_settings, save_settings
from thinkpane.tui.core.store import ConversationStore
from thinkpane.tui.screens.chat import ChatScreen
from thinkpane.tui.screens.setup import SetupScreen
from thinkpane.tui.widgets.progress_log import ProgressLog
from thinkpane.tui.widgets.status_line import StatusLine
from thinkpane.tui.widgets.turn import UserTurn

# The shared stand-in fixtures, requested by name in the tests below.
aws_env = backend_fixtures.aws_env
openai_server = backend_fixtures.openai_server
bedrock_server = backend_fixtures.bedrock_server
mlcommons_server = backend_fixtures.mlcommons_server

SIZE = (120, 40)
PROMPT = "Say hello"


# --------------------------------------------------------------------------- helpers


BORDER_GLYPHS = set("█▌▐▎▏│┃")


def words(text: str) -> str:
    """Text with every run of whitespace made one space, border glyphs dropped: what a
    reader sees, however the pane wrapped it."""
    return " ".join(token for token in text.split() if not set(token) <= BORDER_GLYPHS)


def write_config(backend: str, section: dict[str, Any]) -> Settings:
    """Save a config as setup would, then load it back the way the CLI does."""
    save_settings(Settings(backend=backend, backends={backend: section}))
    return load_settings()


async def backend_ready(pilot, app: ThinkpaneApp, name: str, timeout: float = 10.0) -> None:
    await wait_until(
        pilot,
        lambda: app.backend_error is not None or (app.backend is not None and app.backend.name == name),
        f"the {name} backend",
        timeout=timeout,
    )
    assert app.backend_error is None, f"{app.backend_error.title}: {app.backend_error.hint}"


async def send(pilot, text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")


async def turn_finished(pilot, app: ThinkpaneApp, timeout: float = 10.0) -> None:
    chat = app.chat

    def done() -> bool:
        answers = chat.transcript.answers()
        return chat.live is None and bool(answers) and answers[-1].record.status != "streaming"

    await wait_until(pilot, done, "the answer to finish", timeout=timeout)
    await pilot.pause()


def drawn(widget: Widget) -> str:
    """What a widget's leaves draw, top to bottom (a LiveMarkdown draws its own lines)."""
    if not widget.display:
        return ""
    if not widget.children:
        return words(rendered_text(widget))
    return words(" ".join(drawn(child) for child in widget.children))


def shown_answer(app: ThinkpaneApp) -> str:
    """The last answer as the Answer pane draws it (finished: one Static; live: the Markdown)."""
    turn = app.chat.transcript.answers()[-1]
    return drawn(turn._live if turn._live is not None else turn._body)


def shown_reasoning(app: ThinkpaneApp) -> str:
    """What the Reasoning pane's body draws."""
    return drawn(app.chat.reasoning_pane.body)


def status_text(app: ThinkpaneApp) -> str:
    """The status line as drawn (cut to the terminal's width, as the user sees it)."""
    return words(rendered_text(app.chat.status))


def the_note(app: ThinkpaneApp) -> str:
    return words(rendered_text(app.chat.transcript.answers()[-1].note))


def first_index(lines: list[str], needle: str) -> int:
    """Where ``needle`` first shows up in a recorded history of lines."""
    for index, line in enumerate(lines):
        if needle in line:
            return index
    raise AssertionError(f"{needle!r} never showed; saw {lines}")


def files_containing(root: Path, needle: str) -> list[Path]:
    raw = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and raw in p.read_bytes()]


# --------------------------------------------------------------------------- 1. chat on every backend


@dataclass
class Case:
    name: str
    section: dict[str, Any]
    label: str
    model: str
    reasoning: str  # "" for a model that does not reason
    answer: str | None  # the exact stored answer; None: whatever the real model says
    usage: tuple[int, int] | None  # (in, out) the provider reports; None: read from the store
    load_timeout: float = 10.0


needs_local_model = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or local_models.smollm2_gguf_path() is None,
    reason="llama-cpp-python or the SmolLM2 GGUF is not installed",
)


@pytest.fixture(params=[
    "openai",
    "bedrock",
    "opensearch",
    pytest.param("local", marks=[pytest.mark.slow, needs_local_model]),
])
def case(request) -> Case:
    name = request.param
    if name == "openai":
        server = request.getfixturevalue("openai_server")
        return Case(
            name, {"base_url": server.base_url, "model": "deepseek-reasoner"},
            "OpenAI-compatible", "deepseek-reasoner",
            reasoning="".join(REASONER_REASONING), answer=f"You said: {PROMPT}", usage=(12, 40),
        )
    if name == "bedrock":
        server = request.getfixturevalue("bedrock_server")
        return Case(
            name, {"endpoint_url": server.url, "region": "us-east-1"},
            "AWS Bedrock", "us.deepseek.r1-v1:0",
            reasoning="".join(BEDROCK_REASONING), answer="".join(BEDROCK_ANSWER), usage=(12, 34),
        )
    if name == "opensearch":
        server = request.getfixturevalue("mlcommons_server")
        model_id = preprovision(server.state)
        config = server.config
        return Case(
            name, {"url": server.url, "auth": "none", "model_id": model_id, "mode": "predict"},
            "OpenSearch ML Commons", "deepseek-v4-flash",
            reasoning=config.reply_reasoning, answer=config.reply_content, usage=(12, 34),
        )
    return Case(
        name, {"max_tokens": 16, "n_threads": 1, "seed": 7, "temperature": 0.2},
        "Local model (llama.cpp)", "SmolLM2-135M-Instruct.Q4_1",
        reasoning="", answer=None, usage=None, load_timeout=60.0,
    )


async def test_a_turn_streams_into_both_panes_is_stored_and_survives_a_restart(case: Case, tmp_path):
    settings = write_config(case.name, case.section)
    db = tmp_path / "chats.sqlite3"
    store = ConversationStore(db)
    app = ThinkpaneApp(settings, store)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await backend_ready(pilot, app, case.name, timeout=case.load_timeout)
            await send(pilot, PROMPT)
            await turn_finished(pilot, app, timeout=case.load_timeout)

            record = app.chat.transcript.answers()[-1].record
            assert record.status == "complete", (record.error_title, record.error_hint)
            answer = case.answer if case.answer is not None else record.content
            assert answer.strip(), "the model said nothing"
            assert shown_answer(app) == words(answer)
            if case.reasoning:
                assert shown_reasoning(app) == words(case.reasoning)
            else:
                assert shown_reasoning(app) == "No reasoning for this answer."

            conversation_id = store.last_conversation_id()
            assert conversation_id is not None
            user, stored = store.load_messages(conversation_id)
            assert (user.role, user.content, user.status) == ("user", PROMPT, "complete")
            assert (stored.role, stored.status) == ("assistant", "complete")
            assert (stored.content, stored.reasoning) == (answer, case.reasoning)
            assert (stored.backend, stored.model) == (case.name, case.model)
            usage = case.usage or (stored.input_tokens, stored.output_tokens)
            assert (stored.input_tokens, stored.output_tokens) == usage
            assert all(isinstance(n, int) and n > 0 for n in usage)

            status = status_text(app)
            assert f"{case.label} · {case.model}" in status
            assert f"tokens {usage[0]:,} in / {usage[1]:,} out" in status
            assert "idle" in status
    finally:
        store.close()

    # Restart on the same database, as `thinkpane --continue` does.
    store = ConversationStore(db)
    try:
        app = ThinkpaneApp(load_settings(), store, conversation_id=store.last_conversation_id())
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.chat.transcript.answers(), "the stored conversation")
            await pilot.pause()
            prompts = [words(rendered_text(turn)) for turn in app.chat.query(UserTurn)]
            assert prompts == [PROMPT]
            assert shown_answer(app) == words(answer)
            if case.reasoning:
                assert shown_reasoning(app) == words(case.reasoning)
            assert app.chat.transcript.answers()[-1].record.status == "complete"
    finally:
        store.close()


@pytest.mark.slow
@needs_local_model
async def test_a_local_chat_that_outgrows_its_context_window_can_leave_its_oldest_turns_out(tmp_path):
    """SmolLM2 with a small context: the turn that no longer fits fails with llama.cpp's real
    error, the note offers to leave the oldest turns out, and Enter sends it again that way."""
    settings = write_config("local", {"n_ctx": 192, "max_tokens": 8, "n_threads": 1, "seed": 7, "temperature": 0.2})
    store = ConversationStore(tmp_path / "chats.sqlite3")
    app = ThinkpaneApp(settings, store)
    prompt = "Repeat after me: " + " ".join(["apple river stone cloud lamp"] * 4)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await backend_ready(pilot, app, "local", timeout=60)
            for turn in range(1, 15):
                app.chat.prompt.load_text(f"{turn}. {prompt}")
                await pilot.press("enter")
                await turn_finished(pilot, app, timeout=60)
                record = app.chat.transcript.answers()[-1].record
                if record.status == "error":
                    break
                assert record.status == "complete", (record.error_title, record.error_hint)
            else:
                pytest.fail("the chat never outgrew a 192-token context")
            assert turn > 1, "the first prompt alone was too long"
            assert "context window" in (record.error_title or "")
            assert "Press Enter to send it again without the oldest" in the_note(app)
            assert app.chat.prompt.text == f"{turn}. {prompt}"
            await pilot.press("enter")
            await turn_finished(pilot, app, timeout=60)
            record = app.chat.transcript.answers()[-1].record
            assert record.status == "complete", (record.error_title, record.error_hint)
            assert "oldest turns not sent" in status_text(app)
    finally:
        store.close()


# --------------------------------------------------------------------------- 2. Bedrock errors in the TUI


@pytest.fixture
def bedrock_app(bedrock_server, tmp_path):
    """The app on Bedrock (the stand-in); yields (app, store, server)."""
    settings = write_config("bedrock", {"endpoint_url": bedrock_server.url, "region": "us-east-1"})
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield ThinkpaneApp(settings, store), store, bedrock_server
    store.close()


def record_status_lines(monkeypatch) -> list[str]:
    """Every status line drawn, in order (a notice can come and go between two polls)."""
    history: list[str] = []
    set_status = StatusLine.set

    def recording_set(self, **changes):
        set_status(self, **changes)
        history.append(self.line_text().plain)

    monkeypatch.setattr(StatusLine, "set", recording_set)
    return history


def last_stored_answer(store: ConversationStore):
    conversation_id = store.last_conversation_id()
    assert conversation_id is not None
    return store.load_messages(conversation_id)[-1]


async def test_bedrock_throttled_mid_stream_keeps_the_partial_turn_and_says_what_to_do(bedrock_app):
    app, store, server = bedrock_app
    server.enqueue("stream_throttling")  # two reasoning and two answer tokens, then the exception
    async with app.run_test(size=SIZE) as pilot:
        await backend_ready(pilot, app, "bedrock")
        await send(pilot, PROMPT)
        await turn_finished(pilot, app)

        record = app.chat.transcript.answers()[-1].record
        assert record.status == "error"
        assert shown_answer(app) == "Partial answer"
        assert shown_reasoning(app) == "Partial thought."
        assert record.error_title and record.error_title.startswith("Throttled by Bedrock")
        assert record.error_hint and "quota" in record.error_hint
        assert words(record.error_title) in the_note(app) and words(record.error_hint) in the_note(app)
        assert app.chat.status.info.state == "error"
        assert record.error_title in status_text(app)
        assert AWS_SECRET not in the_note(app) + status_text(app)

    stored = last_stored_answer(store)
    assert (stored.status, stored.content, stored.reasoning) == ("error", "Partial answer", "Partial thought.")
    assert stored.error and stored.error.startswith("Throttled by Bedrock")
    assert len(server.requests) == 1, "a stream that already showed tokens is never retried"


LONG_MESSAGE = "lorem " * 250 + "the end"  # 1,507 characters


@pytest.mark.parametrize(("body", "shown"), [
    ("plain text error from proxy", "plain text error from proxy"),
    ({"error": {"message": LONG_MESSAGE, "type": "invalid_request_error"}},
     LONG_MESSAGE[:1000] + "… (507 more characters; “Export conversation” in the command palette (ctrl+p) shows all)"),
])
async def test_the_providers_message_is_shown_under_the_error_title(openai_server, tmp_path, body, shown):
    from tests.servers.openai_sse import Respond

    openai_server.enqueue([Respond(400, body)])
    settings = write_config("openai", {"base_url": openai_server.base_url})
    store = ConversationStore(tmp_path / "chats.sqlite3")
    try:
        for reopened in (False, True):
            app = ThinkpaneApp(settings, store, conversation_id=store.last_conversation_id() if reopened else None)
            async with app.run_test(size=SIZE) as pilot:
                await backend_ready(pilot, app, "openai")
                if not reopened:
                    await send(pilot, PROMPT)
                    await turn_finished(pilot, app)
                await wait_until(pilot, lambda app=app: "HTTP 400" in the_note(app), "the error note")
                note = the_note(app)
                title = f"The server at {openai_server.base_url} rejected the request (HTTP 400)"
                assert note.startswith(title + " " + words(shown) + " "), (reopened, note)
                assert "below" not in note
        stored = last_stored_answer(store)
        assert stored.status == "error" and (body if isinstance(body, str) else "the end") in stored.error
    finally:
        store.close()


async def test_bedrock_throttled_before_the_first_token_retries_with_a_notice(bedrock_app, monkeypatch):
    app, store, server = bedrock_app
    # Long enough to see the notice, short enough for a fast test.
    monkeypatch.setattr(BedrockBackend, "RETRY_DELAYS_S", (0.3, 0.3))
    server.enqueue("stream_throttling_early")
    status_history = record_status_lines(monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await backend_ready(pilot, app, "bedrock")
        await send(pilot, PROMPT)
        await turn_finished(pilot, app)

        # The status line said so while waiting, and only then did the answer stream.
        notice = "Throttled by Bedrock; retrying in 0.3 s (attempt 2 of 3)"
        said = first_index(status_history, notice)
        streamed = first_index(status_history, "│ thinking")
        assert said < streamed
        assert all("│ waiting" in line for line in status_history[said:streamed]), status_history[said:streamed]

        assert app.chat.transcript.answers()[-1].record.status == "complete"
        assert shown_answer(app) == words("".join(BEDROCK_ANSWER))
        assert shown_reasoning(app) == words("".join(BEDROCK_REASONING))
        assert "retrying" not in status_text(app)  # the notice is gone once the turn ended
        assert "tokens 12 in / 34 out" in status_text(app)

    assert [r.scenario for r in server.requests] == ["stream_throttling_early", "reasoning_text"]
    stored = last_stored_answer(store)
    assert (stored.status, stored.content) == ("complete", "".join(BEDROCK_ANSWER))


async def test_escape_mid_stream_cancels_keeps_the_partial_turn_and_hangs_up_at_once(aws_env, tmp_path):
    with BedrockStandIn(scenario="paced", delay_s=0.05) as server:
        settings = write_config("bedrock", {"endpoint_url": server.url, "region": "us-east-1"})
        store = ConversationStore(tmp_path / "chats.sqlite3")
        app = ThinkpaneApp(settings, store)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await backend_ready(pilot, app, "bedrock")
                await send(pilot, PROMPT)
                await wait_until(pilot, lambda: "step by step" in shown_reasoning(app), "some reasoning")
                assert app.chat.live is not None
                assert not server.disconnected.is_set()

                pressed_at = time.monotonic()
                await pilot.press("escape")
                await turn_finished(pilot, app)
                assert await asyncio.to_thread(server.disconnected.wait, 2), "the stand-in never saw a hang-up"
                hung_up_after = server.disconnects[0].at - pressed_at
                assert hung_up_after < 0.1, f"the connection stayed open {hung_up_after * 1000:.0f} ms after Esc"

                record = app.chat.transcript.answers()[-1].record
                assert record.status == "cancelled"
                assert record.reasoning.startswith("Let me think about this step by step.")
                assert shown_reasoning(app) == words(record.reasoning)
                assert "cancelled" in the_note(app)
                assert app.chat.status.info.state == "cancelled"
                stored = last_stored_answer(store)
                assert stored.status == "cancelled"
                assert (stored.reasoning, stored.content) == (record.reasoning, record.content)

                if not record.content.strip():
                    # Cancelled before any answer text: the prompt is back in the box.
                    assert app.chat.prompt.text == PROMPT
                    app.chat.prompt.clear()
                # The client is still usable after the hang-up: the next prompt is answered.
                server.enqueue("reasoning_text")
                await send(pilot, "Again")
                await turn_finished(pilot, app)
                assert app.chat.transcript.answers()[-1].record.status == "complete"
                assert shown_answer(app) == words("".join(BEDROCK_ANSWER))
        finally:
            store.close()
    first, second = server.requests
    assert first.scenario == "paced" and second.scenario == "reasoning_text"
    if record.content.strip():  # a busy machine let the answer start before the Esc
        expected = [{"role": "user", "content": [{"text": PROMPT}]},
                    {"role": "assistant", "content": [{"text": record.content}]},
                    {"role": "user", "content": [{"text": "Again"}]}]
    else:
        # Cancelled while reasoning, the turn has no answer text to send back, nor its prompt
        # (the user got it back in the box): one user turn, as Bedrock wants them alternating.
        expected = [{"role": "user", "content": [{"text": "Again"}]}]
    assert second.body["messages"] == expected


async def test_quitting_mid_stream_exits_cleanly_keeps_the_partial_turn_and_hangs_up(aws_env, tmp_path):
    with BedrockStandIn(scenario="paced", delay_s=0.05) as server:
        settings = write_config("bedrock", {"endpoint_url": server.url, "region": "us-east-1"})
        store = ConversationStore(tmp_path / "chats.sqlite3")
        app = ThinkpaneApp(settings, store)
        try:
            # run_test re-raises anything the app raised while shutting down.
            async with app.run_test(size=SIZE) as pilot:
                await backend_ready(pilot, app, "bedrock")
                await send(pilot, PROMPT)
                await wait_until(pilot, lambda: "step by step" in shown_reasoning(app), "some reasoning")
                shown = app.chat.live.record.reasoning
                pressed_at = time.monotonic()
                await pilot.press("ctrl+q")
            assert await asyncio.to_thread(server.disconnected.wait, 2), "the stand-in never saw a hang-up"
            assert server.disconnects[0].at - pressed_at < 0.1
            stored = last_stored_answer(store)
            assert stored.status == "cancelled"
            assert stored.reasoning.startswith(shown)
        finally:
            store.close()


# --------------------------------------------------------------------------- 3. OpenSearch first launch


def setup_screen(app: ThinkpaneApp) -> SetupScreen:
    assert isinstance(app.screen, SetupScreen), app.screen
    return app.screen


def setup_log(app: ThinkpaneApp) -> ProgressLog:
    return app.screen.query_one("#setup-log", ProgressLog)


def log_lines(app: ThinkpaneApp) -> dict[str, str]:
    log = setup_log(app)
    return {step: log.line(step).render_text().plain for step in log.statuses()}


async def choose_backend(pilot, app: ThinkpaneApp, name: str) -> None:
    """Arrow down the backend list to ``name``, then Enter (which focuses its first field)."""
    backend_list = app.screen.query_one("#backend-list", OptionList)
    backend_list.focus()
    ids = [option.id for option in backend_list.options]
    assert name in ids, ids
    for _ in range(len(ids)):
        if ids[backend_list.highlighted or 0] == name:
            break
        await pilot.press("down")
    await pilot.press("enter")
    await wait_until(pilot, lambda: setup_screen(app).selected == name and app.screen.query(".option-field"),
                     f"the {name} form")


def fill(app: ThinkpaneApp, **values: Any) -> None:
    for name, value in values.items():
        widget = app.screen.query_one(f"#option-{name}")
        assert isinstance(widget, (Input, Select)), widget
        widget.value = value


async def press_button(pilot, app: ThinkpaneApp, button: str) -> None:
    widget = app.screen.query_one(f"#{button}", Button)
    assert not widget.disabled, f"{button} is disabled"
    await pilot.click(widget)


async def test_opensearch_first_launch_setup_chat_and_teardown(mlcommons_server, monkeypatch):
    server = mlcommons_server
    server.state.config.valid_api_key = TEST_API_KEY  # the simulated DeepSeek checks the key
    # A cluster that does not trust api.deepseek.com yet: setup has to change a setting too,
    # so every step does work and ends with ✓.
    with server.state.lock:
        server.state.persistent[REGEX_KEY] = [r"^https://api\.openai\.com/.*$"]
    assert not config_exists()
    store = ConversationStore(paths.database_path())
    app = ThinkpaneApp(load_settings(), store, first_launch=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")
            await choose_backend(pilot, app, "opensearch")
            fill(app, url=server.url, auth="none", deepseek_api_key=TEST_API_KEY,
                 endpoint="https://api.deepseek.com")
            await pilot.pause()
            assert not app.screen.query_one("#keep-secrets", Checkbox).value  # the key is not kept
            assert app.screen.query_one("#run", Button).label.plain == "Run"
            await press_button(pilot, app, "run")
            await wait_until(pilot, lambda: setup_screen(app).phase in ("succeeded", "failed"),
                             "provisioning", timeout=20)
            lines = log_lines(app)
            assert setup_screen(app).phase == "succeeded", lines
            assert list(lines) == ["connect", "cluster_settings", "model_group", "connector", "model",
                                   "deploy", "wait_deployed", "test", "chat"]
            assert all(text.startswith("✓ ") for text in lines.values()), lines
            assert TEST_API_KEY not in " ".join(lines.values())
            model_id = setup_screen(app).saved["model_id"]
            assert server.counts()["models"] == 1 and model_id in server.state.models

            await press_button(pilot, app, "save")
            await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat screen")
            await backend_ready(pilot, app, "opensearch")
            assert app.focused is app.chat.prompt
            await send(pilot, "Hello!")
            await turn_finished(pilot, app)
            record = app.chat.transcript.answers()[-1].record
            assert record.status == "complete", (record.error_title, record.error_hint)
            assert shown_reasoning(app) == words(server.config.reply_reasoning)
            assert shown_answer(app) == words(server.config.reply_content)
            assert "OpenSearch ML Commons · deepseek-v4-flash" in status_text(app)
            assert "tokens 12 in / 34 out" in status_text(app)
            # The chat went through the model setup deployed, with the key setup stored in it.
            assert server.state.provider_calls[-1]["authorization"] == f"Bearer {TEST_API_KEY}"
    finally:
        store.close()

    # The next launch chats from the saved config alone (the key stays in the connector).
    store = ConversationStore(paths.database_path())
    app = ThinkpaneApp(load_settings(), store, conversation_id=store.last_conversation_id())
    try:
        async with app.run_test(size=SIZE) as pilot:
            await backend_ready(pilot, app, "opensearch")
            await wait_until(pilot, lambda: app.chat.transcript.answers(), "the previous turn")
            await send(pilot, "And again?")
            await turn_finished(pilot, app)
            assert [a.record.status for a in app.chat.transcript.answers()] == ["complete", "complete"]
            assert shown_answer(app) == words(server.config.reply_content)
    finally:
        store.close()
    # History went back without reasoning (DeepSeek rejects reasoning_content in requests).
    assert [m["role"] for m in server.state.provider_calls[-1]["messages"]] == ["user", "assistant", "user"]

    config = tomllib.loads(paths.config_path().read_text(encoding="utf-8"))
    assert config["backend"] == "opensearch"
    assert config["backends"]["opensearch"]["model_id"] == model_id
    assert config["backends"]["opensearch"]["url"] == server.url
    state_file = setup_steps.state_path_for("opensearch")
    assert state_file.is_file() and model_id in state_file.read_text(encoding="utf-8")
    # Not ticked "keep": the key lives only in the cluster's connector.
    assert files_containing(paths.config_dir(), TEST_API_KEY) == []
    assert files_containing(paths.data_dir(), TEST_API_KEY) == []

    from thinkpane.tui.cli import main as cli

    exit_code = await asyncio.to_thread(cli.main, ["teardown", "opensearch", "--yes"])
    assert exit_code == 0
    assert server.counts() == {**server.counts(), "models": 0, "connectors": 0, "model_groups": 0}
    assert "model_id" not in load_settings().backends.get("opensearch", {})


# --------------------------------------------------------------------------- 4. Bedrock in the setup screen


def record_log_lines(monkeypatch) -> list[tuple[str, str]]:
    """Every (step, line text) the setup log draws, in order: a fast run can go past a state
    quicker than a test polls, so the test reads the history instead of racing it."""
    shown: list[tuple[str, str]] = []
    show = ProgressLog.show

    def recording_show(self, event):
        line = show(self, event)
        shown.append((event.step, line.render_text().plain))
        return line

    monkeypatch.setattr(ProgressLog, "show", recording_show)
    return shown


def palette_first_hit(app) -> str:
    """The first command the palette offers for what was typed ("" while it searches)."""
    lists = app.screen.query(CommandList)
    if not lists or lists.first().option_count == 0:
        return ""
    prompt = lists.first().get_option_at_index(0).prompt
    return getattr(prompt, "plain", str(prompt))


async def test_bedrock_from_the_setup_screen_tests_live_then_saves_without_secrets(
    aws_env, openai_server, tmp_path, monkeypatch
):
    # A user on the OpenAI backend opens setup from the command palette to switch to Bedrock.
    settings = write_config("openai", {"base_url": openai_server.base_url})
    store = ConversationStore(tmp_path / "chats.sqlite3")
    shown = record_log_lines(monkeypatch)
    with BedrockStandIn(scenario="paced", delay_s=0.02) as server:
        app = ThinkpaneApp(settings, store)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await backend_ready(pilot, app, "openai")
                await pilot.press("ctrl+p")
                await pilot.press(*"Set up a backend")
                await wait_until(pilot, lambda: palette_first_hit(app).startswith("Set up a backend"),
                                 "the palette to find the command")
                await pilot.press("down", "enter")
                await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")
                await choose_backend(pilot, app, "bedrock")
                fill(app, region="eu-west-1", model="eu.deepseek.r1-v1:0", endpoint_url=server.url)
                await pilot.pause()
                assert app.screen.query_one("#run", Button).label.plain == "Test connection"
                await press_button(pilot, app, "run")

                await wait_until(pilot, lambda: setup_screen(app).phase in ("succeeded", "failed"), "the test")
                lines = log_lines(app)
                assert setup_screen(app).phase == "succeeded", lines
                assert list(lines) == ["test"] and lines["test"].startswith("✓ "), lines
                assert "That's all!" in lines["test"]

                await press_button(pilot, app, "save")
                await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat screen")
                await backend_ready(pilot, app, "bedrock")
                assert "AWS Bedrock · eu.deepseek.r1-v1:0" in status_text(app)
        finally:
            store.close()

    # The log showed the probe live: reasoning tokens first, then the answer, then the ✓.
    test_lines = [text for step, text in shown if step == "test"]
    first_thinking = first_index(test_lines, "Thinking: Let me think")
    first_answer = first_index(test_lines, "Answer: ")
    assert first_thinking < first_answer < len(test_lines) - 1
    assert test_lines[-1].startswith("✓ ") and all(not t.startswith("✓") for t in test_lines[:-1])

    (probe,) = server.requests
    assert probe.model_id == "eu.deepseek.r1-v1:0"
    assert f"Credential={AWS_KEY_ID}/" in probe.headers["Authorization"]
    assert "/eu-west-1/bedrock/" in probe.headers["Authorization"]  # signed for the region typed

    text = paths.config_path().read_text(encoding="utf-8")
    config = tomllib.loads(text)
    assert config["backend"] == "bedrock"
    assert config["backends"]["bedrock"] == {
        "region": "eu-west-1", "model": "eu.deepseek.r1-v1:0", "endpoint_url": server.url,
    }
    assert config["backends"]["openai"]["base_url"] == openai_server.base_url  # the old section stays
    assert AWS_SECRET not in text and AWS_KEY_ID not in text
    assert files_containing(tmp_path, AWS_SECRET) == []
