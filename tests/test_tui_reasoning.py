"""The chat screen's reasoning controls, usage details, thinking telemetry and stall watchdog.

Driven through Pilot: keys and the command palette switch thinking and effort on the real
OpenAI backend against the SSE stand-in (the request body proves they reached the server);
a backend the test feeds event by event and a clock the test moves make the timings exact
without waiting for them.
"""

from __future__ import annotations

import pytest

from tests.servers.openai_sse import serve
from tests.tui_helpers import GatedBackend, SetClock, make_app, rendered_text, send, wait_until
from thinkpane.backends.events import ContentDelta, Heartbeat, ReasoningDelta, Stop, Usage
from thinkpane.backends.openai_compat import OpenAIBackend
from thinkpane.backends.thinking import Reasoning, effort_option, thinking_option
from thinkpane.tui.core.config import Settings

KEY = "sk-thinkpane-test-0123456789abcdef"  # the stand-in takes any key


class ThinkingGated(GatedBackend):
    """A gated backend that declares the thinking switch and effort (it sends nothing)."""

    options = (thinking_option("on"), effort_option())

    def __init__(self) -> None:
        super().__init__()
        self.settings.update({"thinking": "on", "reasoning_effort": None})


def status(app) -> str:
    return app.chat.status.line_text().plain


@pytest.fixture
def server():
    with serve() as running:
        yield running


# --------------------------------------------------------------------------- thinking and effort


async def test_keys_switch_thinking_and_effort_for_the_next_turn_and_the_turn_records_them(store, server):
    backend = OpenAIBackend({"base_url": server.base_url, "api_key": KEY, "dialect": "deepseek"})
    app = make_app(store, backend)
    async with app.run_test(size=(140, 40)) as pilot:
        chat = app.chat
        await wait_until(pilot, lambda: "thinking on" in status(app), "the setting in the status line")
        await pilot.press("f4")
        await wait_until(pilot, lambda: "thinking off" in status(app), "thinking off")
        await send(pilot, "first")
        await wait_until(pilot, lambda: chat.live is None and chat.transcript.answers(), "first answer")
        assert server.chat_requests[-1].body["thinking"] == {"type": "disabled"}
        first = chat.transcript.answers()[-1]
        assert "deepseek-v4-flash · thinking off" in rendered_text(first.note)

        await pilot.press("f4")  # back on
        await pilot.press("f5", "f5", "f5")  # default -> low -> medium -> high
        await wait_until(pilot, lambda: "thinking on · effort high" in status(app), "effort high")
        await send(pilot, "second")
        await wait_until(pilot, lambda: chat.live is None and len(chat.transcript.answers()) == 2, "second answer")
        body = server.chat_requests[-1].body
        assert (body["thinking"], body["reasoning_effort"]) == ({"type": "enabled"}, "high")
        second = chat.transcript.answers()[-1]
        assert "deepseek-v4-flash · thinking on · effort high" in rendered_text(second.note)
        # The first turn still shows what it ran with.
        assert "thinking off" in rendered_text(first.note)

        await pilot.press("f5", "f5")  # high -> max -> default again
        await wait_until(pilot, lambda: "deepseek-v4-flash · thinking on │" in status(app), "default effort")

    stored = [m for m in store.load_messages(store.list_conversations()[0].id) if m.role == "assistant"]
    assert [(m.model, m.extra["thinkpane_thinking"], m.extra["thinkpane_effort"]) for m in stored] == [
        ("deepseek-v4-flash", "off", None), ("deepseek-v4-flash", "on", "high")]


async def test_choosing_an_effort_while_thinking_is_off_turns_thinking_on(store):
    backend = ThinkingGated()
    backend.set_reasoning(Reasoning("off"))
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: "thinking on · effort low" in status(app), "effort low")
        assert backend.reasoning == Reasoning("on", "low")


async def test_a_backend_without_the_switch_says_so(store):
    app = make_app(store, GatedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: "has no thinking switch" in status(app), "no switch")
        await pilot.press("f5")
        await wait_until(pilot, lambda: "has no reasoning-effort control" in status(app), "no effort")


@pytest.mark.parametrize(("command", "expected"), [("toggle thinking", Reasoning("off")),
                                                   ("cycle reasoning effort", Reasoning("on", "low"))])
async def test_the_command_palette_switches_them_too(store, command, expected):
    backend = ThinkingGated()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*command)
        await wait_until(pilot, lambda: command in str(
            app.screen.query("CommandList").first().get_option_at_index(0).prompt).lower(), "palette hit")
        await pilot.press("enter")
        await wait_until(pilot, lambda: backend.reasoning == expected, "the setting changed")
        await wait_until(pilot, lambda: expected.label() in status(app), "shown")


def test_the_bindings_have_ids_and_tooltips():
    from thinkpane.tui.screens.chat.screen import ChatScreen

    bindings = {binding.id: binding for binding in ChatScreen.BINDINGS}
    for binding_id in ("chat.toggle_thinking", "chat.cycle_effort"):
        assert bindings[binding_id].tooltip


# --------------------------------------------------------------------------- telemetry


async def test_thinking_time_adds_up_its_segments_and_stops_when_the_answer_starts(store):
    clock = SetClock()
    backend = ThinkingGated()
    app = make_app(store, backend, clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await send(pilot, "think")  # sent at 1000.0
        await wait_until(pilot, lambda: chat.live is not None, "stream start")
        record = chat.live.record

        clock.now = 1000.5
        backend.put(ReasoningDelta("First thought."))
        await wait_until(pilot, lambda: record.reasoning == "First thought.", "reasoning")
        clock.now = 1003.0
        backend.put(ContentDelta("Part one. "))
        await wait_until(pilot, lambda: record.content == "Part one. ", "answer")
        # The answer has started: time passing no longer counts as thinking.
        clock.now = 1010.0
        await wait_until(pilot, lambda: "2.5 s" in rendered_text(chat.reasoning_pane.header), "header at 2.5 s")
        assert record.reasoning_seconds(clock.now) == 2.5

        backend.put(ReasoningDelta(" Second thought."))  # thinking again, from 1010.0
        await wait_until(pilot, lambda: "Second" in record.reasoning, "second segment")
        clock.now = 1011.0
        backend.put(ContentDelta("Part two."))
        await wait_until(pilot, lambda: record.content.endswith("Part two."), "answer resumes")
        clock.now = 1012.0
        backend.put(Usage(input_tokens=10, output_tokens=90, reasoning_tokens=1840), Stop("end_turn"))
        backend.end()
        await wait_until(pilot, lambda: chat.live is None, "end")
        await pilot.pause()

        answer = chat.transcript.answers()[-1]
        assert rendered_text(answer.link).strip() == "▸ Thought for 3.5 s · 1,840 tokens"
        assert "1,840 tokens · 3.5 s" in rendered_text(chat.reasoning_pane.header)

    message = store.load_messages(store.list_conversations()[0].id)[-1]
    assert (message.ttft_ms, message.elapsed_ms) == (500, 12000)
    assert message.extra["thinkpane_reasoning_ms"] == 3500
    assert message.extra["thinkpane_first_reasoning_ms"] == 500
    assert message.extra["thinkpane_answer_ms"] == 9000  # first answer text at 1003, end at 1012
    assert message.extra["thinkpane_reasoning_tokens"] == 1840


async def test_reported_usage_details_are_shown_and_estimates_only_without_them(store):
    backend = GatedBackend()
    app = make_app(store, backend, clock=SetClock())
    async with app.run_test(size=(160, 40)) as pilot:
        chat = app.chat
        await send(pilot, "q1")
        backend.put(ReasoningDelta("Some thinking here."), ContentDelta("A."),
                    Usage(input_tokens=2000, output_tokens=500, reasoning_tokens=420, cached_input_tokens=1536),
                    Stop("end_turn"))
        backend.end()
        await wait_until(pilot, lambda: chat.live is None and chat.transcript.answers(), "first")
        await pilot.pause()
        assert "tokens 2,000 in (1,536 cached) / 500 out (420 reasoning)" in status(app)
        assert "420 tokens" in rendered_text(chat.reasoning_pane.header)
        assert "~" not in rendered_text(chat.reasoning_pane.header)

        await send(pilot, "q2")
        backend.put(ReasoningDelta("Some thinking here."), ContentDelta("B."), Usage(5, 6), Stop("end_turn"))
        backend.end()
        await wait_until(pilot, lambda: chat.live is None and len(chat.transcript.answers()) == 2, "second")
        await pilot.pause()
        assert "tokens 5 in / 6 out" in status(app) and "cached" not in status(app)
        assert "~5 tokens" in rendered_text(chat.reasoning_pane.header)  # estimated: 19 characters

    stored = store.load_messages(store.list_conversations()[0].id)[1]
    assert stored.extra["thinkpane_cached_input_tokens"] == 1536


async def test_reopened_turns_show_their_telemetry(store):
    clock = SetClock()
    backend = ThinkingGated()
    app = make_app(store, backend, clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "q")
        await wait_until(pilot, lambda: app.chat.live is not None, "start")
        backend.put(ReasoningDelta("Thinking."))
        await wait_until(pilot, lambda: app.chat.live.record.reasoning, "reasoning")
        clock.now = 1012.3
        backend.put(ContentDelta("Done."), Usage(1, 2, reasoning_tokens=1840), Stop("end_turn"))
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "end")
    conversation_id = store.list_conversations()[0].id
    again = make_app(store, ThinkingGated(), conversation_id=conversation_id)
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: again.chat.transcript.answers(), "reopened")
        answer = again.chat.transcript.answers()[-1]
        assert rendered_text(answer.link).strip() == "▸ Thought for 12.3 s · 1,840 tokens"
        assert "gated-r1 · thinking on" in rendered_text(answer.note)


# --------------------------------------------------------------------------- the stall watchdog


async def test_a_silent_stream_is_pointed_out_then_keep_alives_say_the_model_still_thinks(store):
    clock = SetClock()
    backend = GatedBackend()
    app = make_app(store, backend, clock=clock, settings=Settings(stall_notice_s=30))
    async with app.run_test(size=(160, 40)) as pilot:
        chat = app.chat
        await send(pilot, "q")
        backend.put(ReasoningDelta("Hmm."))
        await wait_until(pilot, lambda: chat.live is not None and chat.live.record.reasoning, "reasoning")
        clock.now = 1020.0
        chat.live.tick()  # what the timer does: 20 s of silence is not yet worth a word
        await pilot.pause()
        assert "Esc cancels" not in status(app)
        clock.now = 1042.0
        await wait_until(pilot, lambda: "no data from the server for 42 s · Esc cancels" in status(app), "stall")
        backend.put(Heartbeat())
        clock.now = 1050.0
        await wait_until(pilot, lambda: "server alive, model still thinking: no text for 50 s" in status(app),
                         "keep-alive")
        backend.put(ReasoningDelta(" More."))
        await wait_until(pilot, lambda: "Esc cancels" not in status(app), "text again clears it")
        await pilot.press("escape")
        await wait_until(pilot, lambda: chat.live is None, "cancelled")


@pytest.mark.parametrize(
    ("scenario", "notice_s", "later", "said"),
    [
        # Keep-alive comments keep coming: the server is there, the model has not answered.
        ("stall_keepalive", 5, 1010.0, "server alive, model still thinking: no text for 10 s · Esc cancels"),
        # Nothing at all (DeepSeek-V3 #1608), with the default of 30 s.
        ("stall", None, 1031.0, "no data from the server for 31 s · Esc cancels"),
    ],
)
async def test_a_real_stream_gone_quiet_is_pointed_out_and_esc_hangs_up(store, scenario, notice_s, later, said):
    clock = SetClock()
    settings = Settings(stall_notice_s=notice_s) if notice_s else Settings()
    with serve(scenario, delay=0.05) as server:
        backend = OpenAIBackend({"base_url": server.base_url, "api_key": KEY})
        app = make_app(store, backend, clock=clock, settings=settings)
        async with app.run_test(size=(160, 40)) as pilot:
            chat = app.chat
            await send(pilot, "q")
            await wait_until(pilot, lambda: chat.live is not None and chat.live.record.reasoning, "reasoning")
            clock.now = later
            await wait_until(pilot, lambda: said in status(app), "the status line points it out")
            await pilot.press("escape")
            await wait_until(pilot, lambda: chat.live is None, "cancelled")
        await wait_until_disconnected(server)


async def wait_until_disconnected(server) -> None:
    import asyncio

    request = server.chat_requests[-1]
    assert await asyncio.to_thread(request.disconnected.wait, 10), "Esc hung up the stream"


def test_stall_notice_s_is_a_flag_and_a_setting(monkeypatch):
    from thinkpane.tui.cli.main import build_parser, main

    assert build_parser(None).parse_args(["--stall-notice-s", "12.5"]).stall_notice_s == 12.5
    assert main(["--stall-notice-s", "0"]) == 2
    assert Settings(stall_notice_s=7).stall_notice_s == 7
    with pytest.raises(ValueError):
        Settings(stall_notice_s=-1)
