"""The chat screen, driven through Pilot with a backend the test feeds event by event."""

from __future__ import annotations

import asyncio

import pytest

from tests.tui_helpers import GatedBackend, make_app, rendered_text, send, wait_until
from thinkpane.backends.errors import ServerError
from thinkpane.backends.events import ContentDelta, ErrorEvent, Notice, ReasoningDelta, Stop, Usage
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.core.config import Settings
from thinkpane.tui.core.store import ConversationStore


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


def answer_text(app) -> str:
    """What the last answer shows: the finished Static, or the live Markdown source."""
    turn = app.chat.transcript.answers()[-1]
    if turn._live is not None:
        return turn._live.source
    return rendered_text(turn._body)


async def test_prompt_streams_reasoning_then_answer_into_their_panes(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await send(pilot, "Why is the sky blue?")
        await wait_until(pilot, lambda: chat.live is not None, "stream start")
        assert chat.prompt.text == ""  # cleared once the send started

        backend.put(ReasoningDelta("Rayleigh "), ReasoningDelta("scattering **matters**."))
        await wait_until(pilot, lambda: "scattering" in chat.reasoning_pane.live_text(), "reasoning")
        assert chat.reasoning_pane.live_text() == "Rayleigh scattering **matters**."
        assert chat.status.info.state == "thinking"
        assert answer_text(app) == ""

        backend.put(ContentDelta("Because short "), ContentDelta("wavelengths scatter."))
        await wait_until(pilot, lambda: "scatter." in answer_text(app), "answer")
        assert answer_text(app) == "Because short wavelengths scatter."
        assert chat.status.info.state == "answering"

        backend.put(Usage(input_tokens=12, output_tokens=34), Stop("end_turn"))
        backend.end()
        await wait_until(pilot, lambda: chat.live is None, "stream end")
        await pilot.pause()

        assert "Because short wavelengths scatter." in answer_text(app)
        link = chat.transcript.answers()[-1].link
        assert link.display and "Thought for " in rendered_text(link) and "s · ~8 tokens" in rendered_text(link)
        assert "12 in / 34 out" in chat.status.line_text().plain
        assert "TTFT" in chat.status.line_text().plain

    conversation = store.list_conversations()[0]
    assert conversation.title == "Why is the sky blue?"
    user, answer = store.load_messages(conversation.id)
    assert (user.role, user.content) == ("user", "Why is the sky blue?")
    assert (answer.status, answer.content) == ("complete", "Because short wavelengths scatter.")
    assert answer.reasoning == "Rayleigh scattering **matters**."
    assert (answer.input_tokens, answer.output_tokens, answer.stop_reason) == (12, 34, "end_turn")
    assert answer.ttft_ms is not None and answer.elapsed_ms is not None
    # The backend got the user's message, nothing else.
    assert [m.content for m in backend.received[0].messages] == ["Why is the sky blue?"]


async def test_the_state_says_thinking_until_answer_text_reaches_the_pane(store, monkeypatch):
    # The worker records the answer's first words before the screen has shown the reasoning
    # that came first: the status line follows the panes, not the record.
    from thinkpane.tui.widgets.status_line import StatusLine

    states: list[str] = []
    set_status = StatusLine.set

    def recording_set(self, **changes):
        set_status(self, **changes)
        if not states or states[-1] != self.info.state:
            states.append(self.info.state)

    monkeypatch.setattr(StatusLine, "set", recording_set)
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "quick one")
        await wait_until(pilot, lambda: app.chat.live is not None, "stream start")
        backend.put(ReasoningDelta("Easy."), ContentDelta("Yes."), Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "stream end")
    assert states[states.index("waiting"):] == ["waiting", "thinking", "answering", "idle"]


async def test_ctrl_j_inserts_a_newline_and_does_not_send(store):
    backend = ScriptedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"line one", "ctrl+j", *"line two")
        await pilot.pause()
        assert app.chat.prompt.text == "line one\nline two"
        assert app.chat.transcript.answers() == []
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: app.chat.live is None, "stream end")
        assert [m.content for m in backend.received[0].messages] == ["line one\nline two"]


async def test_up_on_an_empty_prompt_recalls_the_last_prompt(store):
    app = make_app(store, ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "first question")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer")
        assert app.chat.prompt.text == ""
        await pilot.press("up")
        assert app.chat.prompt.text == "first question"


class AnswerFirstBackend(GatedBackend):
    """Like OpenSearch's _predict: no reasoning while it works, and no way to cancel it."""

    label = "Answer first"
    STREAMS_REASONING = False
    IMPLEMENTS_CANCEL = False


@pytest.mark.parametrize("backend_class", [GatedBackend, AnswerFirstBackend])
async def test_escape_cancels_and_keeps_the_partial_text_on_screen_and_in_the_store(store, backend_class):
    backend = backend_class()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await send(pilot, "Count to a million")
        backend.put(ReasoningDelta("Counting slowly."), ContentDelta("1, 2, 3"))
        await wait_until(pilot, lambda: "1, 2, 3" in answer_text(app), "partial answer")

        await pilot.press("escape")
        await wait_until(pilot, lambda: chat.live is None, "cancellation")
        await pilot.pause()

        turn = chat.transcript.answers()[-1]
        assert turn.record.status == "cancelled"
        assert "1, 2, 3" in answer_text(app)
        assert "cancelled" in rendered_text(turn.note)
        assert chat.status.info.state == "cancelled"
        assert backend.closed_streams == 1  # the backend's generator was closed
        # IMPLEMENTS_CANCEL: a backend that cannot stop an answer gets a status line saying
        # it goes on at the provider; one that can gets the plain "cancelled".
        if backend.IMPLEMENTS_CANCEL:
            assert chat.status.info.text == ""
        else:
            assert chat.status.info.text == "Answer first finishes this answer on its side; it will not be shown"

    answer = store.load_messages(store.list_conversations()[0].id)[-1]
    assert (answer.status, answer.content, answer.reasoning) == ("cancelled", "1, 2, 3", "Counting slowly.")


async def test_an_error_mid_stream_keeps_the_partial_text_and_shows_title_and_hint(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await send(pilot, "Tell me a story")
        backend.put(ContentDelta("Once upon a time"))
        await wait_until(pilot, lambda: "Once" in answer_text(app), "partial answer")
        backend.put(ErrorEvent(ServerError("The server failed (HTTP 500)", "Try again in a minute.")))
        await wait_until(pilot, lambda: chat.live is None, "error")
        await pilot.pause()

        turn = chat.transcript.answers()[-1]
        assert "Once upon a time" in answer_text(app)
        note = rendered_text(turn.note)
        assert "The server failed (HTTP 500)" in note and "Try again in a minute." in note
        assert turn.has_class("-error")
        assert "The server failed (HTTP 500)" in chat.status.line_text().plain
        assert chat.status.info.state == "error"

    answer = store.load_messages(store.list_conversations()[0].id)[-1]
    assert answer.status == "error" and answer.content == "Once upon a time"
    assert "The server failed (HTTP 500)" in answer.error


async def test_a_stream_that_ends_without_stop_is_an_incomplete_answer(store):
    # The same check as thinkpane ask's (tests/test_cli_ask.py): both go through TurnRecorder.
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "hi")
        backend.put(ContentDelta("Half an ans"))
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "end")
        assert app.chat.transcript.answers()[-1].record.status == "error"
        note = rendered_text(app.chat.transcript.answers()[-1].note)
        assert "Gated stopped before the answer was finished" in note
        assert "The partial answer is kept. Try again." in note
    answer = store.load_messages(store.list_conversations()[0].id)[-1]
    assert (answer.status, answer.content) == ("error", "Half an ans")


async def test_a_send_without_a_usable_backend_keeps_the_prompt(store):
    app = make_app(store, settings=Settings(backend="openai"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.backend_error is not None, "backend error")
        panel = app.chat.query_one("#message-panel")
        assert panel.display
        await wait_until(pilot, lambda: "No API key" in rendered_text(panel), "the panel drawn")
        shown = rendered_text(panel)
        assert "No API key" in shown and "thinkpane setup openai" in shown

        await send(pilot, "Are you there?")
        await pilot.pause()
        assert app.chat.prompt.text == "Are you there?"  # nothing the user typed is lost
        assert app.chat.status.info.state == "error"
        assert store.list_conversations() == []


async def test_sending_while_an_answer_streams_is_refused_and_keeps_the_prompt(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "first")
        await wait_until(pilot, lambda: app.chat.live is not None, "stream start")
        await send(pilot, "second")
        await pilot.pause()
        assert app.chat.prompt.text == "second"
        assert "press Esc" in app.chat.status.line_text().plain
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "end")
        assert len(backend.received) == 1


async def test_scrolling_up_stops_following_and_scrolling_to_the_end_resumes(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 30)) as pilot:
        transcript = app.chat.transcript
        await send(pilot, "Write a long list")
        lines = "".join(f"- item {n}\n" for n in range(60))
        backend.put(ContentDelta(lines))
        await wait_until(pilot, lambda: transcript.max_scroll_y > 20, "overflow")
        await wait_until(pilot, lambda: transcript.is_anchored and transcript.scroll_y == transcript.max_scroll_y,
                         "following the end")

        transcript.scroll_up(animate=False)  # what the mouse wheel / keys do: releases the anchor
        transcript.scroll_to(y=5, animate=False)
        await pilot.pause()
        assert transcript.scroll_y == 5
        backend.put(ContentDelta("".join(f"- more {n}\n" for n in range(30))))
        await wait_until(pilot, lambda: "more 29" in answer_text(app), "more text")
        await pilot.pause()
        assert transcript.scroll_y == 5  # not dragged down while reading

        transcript.scroll_end(animate=False)
        await pilot.pause()
        backend.put(ContentDelta("".join(f"- last {n}\n" for n in range(30))))
        await wait_until(pilot, lambda: "last 29" in answer_text(app), "last text")
        await wait_until(pilot, lambda: transcript.scroll_y == transcript.max_scroll_y and transcript.scroll_y > 60,
                         "following again")
        backend.put(Stop())
        backend.end()


async def test_ctrl_t_hides_and_shows_the_reasoning_pane(store):
    app = make_app(store, ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.chat.reasoning_pane
        assert pane.display and pane.region.width > 0
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.chat.has_class("-hide-reasoning") and pane.region.width == 0
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert pane.region.width > 0


async def test_show_reasoning_false_in_settings_starts_hidden(store):
    app = make_app(store, ScriptedBackend(), settings=Settings(show_reasoning=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.chat.reasoning_pane.region.width == 0


async def test_an_earlier_turns_reasoning_can_be_reopened(store):
    backend = ScriptedBackend()
    backend.enqueue_turn(["First thoughts about apples."], ["Apples."])
    backend.enqueue_turn(["Second thoughts about pears."], ["Pears."])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await send(pilot, "apples?")
        await wait_until(pilot, lambda: chat.live is None and len(chat.transcript.answers()) == 1, "turn 1")
        await send(pilot, "pears?")
        await wait_until(pilot, lambda: chat.live is None and len(chat.transcript.answers()) == 2, "turn 2")
        await pilot.pause()
        assert "Second thoughts" in chat.reasoning_pane.live_text()

        first = chat.transcript.answers()[0]
        await pilot.click(first.link)
        await pilot.pause()
        shown = rendered_text(chat.reasoning_pane.body.children[0])
        assert "First thoughts about apples." in shown
        assert "answer 1 of 2" in rendered_text(chat.reasoning_pane.header)

        await pilot.press("ctrl+down")
        await pilot.pause()
        assert "Second thoughts about pears." in rendered_text(chat.reasoning_pane.body.children[0])
        await pilot.press("ctrl+up")
        await pilot.pause()
        assert "First thoughts" in rendered_text(chat.reasoning_pane.body.children[0])

        # The link is focusable: Enter on it reopens too.
        chat.transcript.answers()[1].link.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "Second thoughts" in rendered_text(chat.reasoning_pane.body.children[0])


async def test_a_narrow_terminal_stacks_the_panes(store):
    app = make_app(store, ScriptedBackend())
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        reasoning = app.chat.reasoning_pane.region
        answer = app.chat.query_one("#answer-pane").region
        assert app.chat.has_class("-narrow")
        assert reasoning.bottom <= answer.y and reasoning.width == answer.width
        await pilot.resize_terminal(140, 40)
        await pilot.pause()
        assert not app.chat.has_class("-narrow")
        assert app.chat.reasoning_pane.region.right <= app.chat.query_one("#answer-pane").region.x


async def test_markup_and_escape_sequences_in_model_output_are_shown_literally(store):
    backend = ScriptedBackend()
    backend.enqueue_turn(
        ["[bold]think[/bold] \x1b]0;pwned\x07hard"],
        ["[bold red]x[/] and [link=https://evil.example]click[/link]\x1b[31m red\x1b[0m \x07"],
    )
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "[b]prompt[/b]")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer")
        await pilot.pause()
        shown = answer_text(app)
        assert "[bold red]x[/]" in shown
        assert "[link=https://evil.example]click[/link]" in shown
        assert "\x1b" not in shown and "\x07" not in shown and " red" in shown
        assert "[b]prompt[/b]" in rendered_text(app.chat.query_one("UserTurn"))
        reasoning = app.chat.reasoning_pane.live_text()
        assert "[bold]think[/bold]" in reasoning and "\x1b" not in reasoning and "pwned" not in reasoning


async def test_notices_show_in_the_status_line(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "hello")
        backend.put(Notice("Throttled by Bedrock; retrying in 2 s (attempt 2 of 3)", "warning"))
        await wait_until(pilot, lambda: "Throttled" in app.chat.status.line_text().plain, "notice")
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "end")


async def test_new_chat_starts_an_empty_conversation(store):
    app = make_app(store, ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "one")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer")
        first_id = app.chat.conversation_id
        assert "tokens" in app.chat.status.line_text().plain
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: not app.chat.transcript.children, "cleared")
        # The status line forgets the previous chat's figures.
        line = app.chat.status.line_text().plain
        assert "tokens" not in line and " s │" not in line and "TTFT" not in line, line
        assert app.chat.status.info.state == "idle"
        await send(pilot, "two")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer")
        assert app.chat.conversation_id != first_id
        assert len(store.list_conversations()) == 2


async def test_continue_opens_the_stored_conversation_and_sends_its_history(store):
    cid = store.create_conversation("Earlier chat", backend="scripted", model="scripted-r1")
    store.add_message(cid, "user", "What is 2+2?")
    store.add_message(cid, "assistant", "4", reasoning="Two plus two is four.")
    backend = ScriptedBackend()
    app = make_app(store, backend, conversation_id=cid)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: len(app.chat.transcript.answers()) == 1, "loaded turns")
        assert "4" in answer_text(app)
        assert "Two plus two" in rendered_text(app.chat.reasoning_pane.body.children[0])
        await send(pilot, "And 3+3?")
        await wait_until(pilot, lambda: app.chat.live is None and len(app.chat.transcript.answers()) == 2, "answer")
        sent = backend.received[0]
        assert [(m.role, m.content) for m in sent.messages] == [
            ("user", "What is 2+2?"), ("assistant", "4"), ("user", "And 3+3?")]
        assert all(m.reasoning == "" or m.role == "assistant" for m in sent.messages)


async def test_redacted_reasoning_is_shown_as_redacted(store):
    from thinkpane.backends.events import MessageExtra

    backend = ScriptedBackend()
    backend.enqueue([
        ReasoningDelta("[redacted reasoning]"),
        MessageExtra({"bedrock_reasoning": [{"redacted": "b3BhcXVl"}]}),
        ContentDelta("Done."),
        Stop(),
    ])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "secret?")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer")
        await pilot.pause()
        assert "redacted by the provider" in rendered_text(app.chat.transcript.answers()[-1].link)
        assert "redacted by the provider" in rendered_text(app.chat.reasoning_pane.header)
    stored = store.load_messages(store.list_conversations()[0].id)[-1]
    assert stored.extra["bedrock_reasoning"] == [{"redacted": "b3BhcXVl"}]


async def test_command_palette_copies_the_last_answer(store):
    backend = ScriptedBackend()
    backend.enqueue_turn(["hmm"], ["Copy **me**."])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "q")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"copy last answer")
        await wait_until(pilot, lambda: "Copy last answer" in str(app.screen.query("CommandList").first().get_option_at_index(0).prompt), "palette hit")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.clipboard == "Copy **me**.", "clipboard")


async def test_the_users_keymap_rebinds_actions(store):
    settings = Settings(keymap={"chat.toggle_reasoning": "f2"})
    app = make_app(store, ScriptedBackend(), settings=settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await pilot.pause()
        assert app.chat.has_class("-hide-reasoning")


async def test_first_launch_opens_the_setup_screen_and_its_result_switches_backend(store):
    from thinkpane.tui.screens.setup import SetupResult, SetupScreen

    app = make_app(store, ScriptedBackend(), first_launch=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen), "setup screen")
        app.screen.dismiss(SetupResult("openai", {"base_url": "http://127.0.0.1:9/v1", "model": "deepseek-reasoner"}))
        await wait_until(pilot, lambda: app.backend is not None and app.backend.name == "openai", "new backend")
        assert app.screen is app.chat
        assert app.settings.backend == "openai"
        assert "deepseek-reasoner" in app.chat.status.line_text().plain


async def test_new_chat_while_streaming_cancels_the_stream_first(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "long one")
        backend.put(ContentDelta("partial"))
        await wait_until(pilot, lambda: "partial" in answer_text(app), "partial")
        first_id = app.chat.conversation_id
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.chat.live is None and not app.chat.transcript.children, "new chat")
        assert app.chat.conversation_id is None
        # Said, not done silently: the answer was stopped, and its text is kept in its chat.
        line = app.chat.status.line_text().plain
        assert "stopped" in line and "kept" in line, line
        assert "tokens" not in line and "TTFT" not in line, line
        assert app.chat.prompt.text == ""  # the partial answer had text: nothing to put back
    answer = store.load_messages(first_id)[-1]
    assert (answer.status, answer.content) == ("cancelled", "partial")


async def test_a_prompt_left_without_an_answer_goes_back_in_the_box_and_is_not_sent_again(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await send(pilot, "first")
        await wait_until(pilot, lambda: chat.live is not None, "first stream")
        assert chat.prompt.text == ""
        backend.put(ErrorEvent(ServerError("Down", "Later.")))
        await wait_until(pilot, lambda: chat.live is None and chat.transcript.answers(), "failed turn")
        assert chat.prompt.text == "first"  # back in the box, to send again or edit

        chat.prompt.clear()  # the user asks something else instead
        await send(pilot, "second")
        await wait_until(pilot, lambda: len(backend.received) == 2, "second stream")
        # The unanswered prompt is not merged into the next one: only answered turns are sent.
        assert [(m.role, m.content) for m in backend.received[1].messages] == [("user", "second")]
        await pilot.press("escape")  # cancelled before any answer text: back in the box too
        await wait_until(pilot, lambda: chat.live is None, "cancelled")
        assert chat.prompt.text == "second"
        backend.end()

    # The history keeps every prompt and how each turn ended.
    stored = store.load_messages(store.list_conversations()[0].id)
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", "first", "complete"), ("assistant", "", "error"),
        ("user", "second", "complete"), ("assistant", "", "cancelled")]


class SmallContextBackend(ScriptedBackend):
    """Answers "ok" while the conversation fits in LIMIT characters; beyond, the same typed
    error the local backend yields when llama.cpp's context window is full."""

    LIMIT = 170

    async def stream(self, conversation):
        from thinkpane.backends.errors import ContextWindowError

        self.received.append(conversation)
        used = sum(len(message.content) for message in conversation.messages)
        if used > self.LIMIT:
            raise ContextWindowError(
                "The conversation is too long for the local model's context window",
                "Start a new chat, or raise n_ctx (now 170) with --n-ctx.",
                detail=f"The conversation is about {used} tokens.", used_tokens=used, limit_tokens=self.LIMIT,
            )
        yield ContentDelta("ok")
        yield Stop()


async def test_a_chat_too_long_for_the_context_window_can_leave_its_oldest_turns_out(store):
    backend = SmallContextBackend()
    app = make_app(store, backend)
    prompts = [f"question {n} " + "x" * 40 for n in range(6)]  # 51 characters; a turn is 53
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat

        async def ask(prompt: str | None, answers: int) -> None:
            if prompt is not None:
                chat.prompt.load_text(prompt)  # typed (pressing 51 keys a prompt is slow)
            await pilot.press("enter")
            await wait_until(pilot, lambda: chat.live is None and len(chat.transcript.answers()) == answers,
                             f"answer {answers}")

        for n in range(3):
            await ask(prompts[n], n + 1)
        await ask(prompts[3], 4)  # 3 turns + the prompt: 210 characters, too long
        await pilot.pause()
        note = " ".join(rendered_text(chat.transcript.answers()[-1].note).replace("█", "").split())  # unwrapped
        assert "too long for the local model's context window" in note
        assert "Press Enter to send it again without the oldest turns of this chat (2 of 3;" in note, note
        assert chat.prompt.text == prompts[3]

        await ask(None, 5)
        assert [m.content for m in backend.received[-1].messages] == [prompts[2], "ok", prompts[3]]
        assert "oldest turns not sent: 2" in chat.status.line_text().plain
        assert "Press Enter" not in rendered_text(chat.transcript.answers()[3].note)  # taken: gone

        await ask(prompts[4], 6)  # the next prompts leave them out too
        assert backend.received[-1].messages[0].content == prompts[2]
        await ask(prompts[5], 7)  # too long again: more is offered
        await pilot.pause()
        note = " ".join(rendered_text(chat.transcript.answers()[-1].note).replace("█", "").split())
        assert "without the oldest turns of this chat (4 of 5;" in note, note
        assert len(chat.transcript.answers()) == 7  # everything stays on screen

    stored = store.load_messages(store.list_conversations()[0].id)
    assert [m.content for m in stored if m.role == "user"] == prompts[:4] + prompts[3:6]  # and in the history


async def test_an_answer_without_reasoning_says_so_in_the_reasoning_pane(store):
    backend = ScriptedBackend()
    backend.enqueue([ContentDelta("Just the answer."), Stop()])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "q")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer")
        await pilot.pause()
        assert "none for this answer" in rendered_text(app.chat.reasoning_pane.header)
        await wait_until(pilot, lambda: "No reasoning for this answer." in rendered_text(
            app.chat.reasoning_pane.body.children[0]), "no-reasoning note")
        assert not app.chat.transcript.answers()[-1].link.display


async def test_f1_toggles_the_key_help(store):
    app = make_app(store, ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f1")
        await wait_until(pilot, lambda: bool(app.screen.query("HelpPanel")), "help panel")
        await pilot.press("f1")
        await wait_until(pilot, lambda: not app.screen.query("HelpPanel"), "help closed")


# --------------------------------------------------------------------------- pure parts


async def test_the_stream_worker_posts_the_first_token_at_once_and_coalesces_the_rest():
    import asyncio

    from thinkpane.backends.base import Backend
    from thinkpane.backends.events import Conversation, Message
    from thinkpane.tui.screens.chat.messages import StreamFinished, TextReceived
    from thinkpane.tui.screens.chat.stream_worker import pump_stream

    class Fast(Backend):
        name, label = "fast", "Fast"

        async def stream(self, conversation):
            yield ReasoningDelta("r0 ")
            for n in range(2000):
                await asyncio.sleep(0)
                yield ContentDelta(f"t{n} ")
            yield Stop()

    posted = []
    await pump_stream(Fast({}), Conversation([Message("user", "go")]), 7, posted.append, interval=0.05)
    texts = [m for m in posted if isinstance(m, TextReceived)]
    assert texts[0].reasoning == "r0 " and texts[0].content == ""  # first token, alone, at once
    assert len(texts) < 200  # 2,001 deltas, far fewer messages
    assert "".join(m.content for m in texts) == "".join(f"t{n} " for n in range(2000))
    assert isinstance(posted[-1], StreamFinished) and posted[-1].turn == 7


def test_conversation_sent_to_the_backend_skips_failed_empty_answers():
    from types import SimpleNamespace

    from thinkpane.backends.events import Message, title_from_prompt
    from thinkpane.tui.core.backend_conversation import backend_conversation

    def stored(role, content, status="complete", reasoning=""):
        return SimpleNamespace(role=role, content=content, status=status, backend="b", model="m",
                               to_backend_message=lambda: Message(role, content, reasoning))

    history = [
        stored("user", "a"), stored("assistant", "partial", "cancelled", reasoning="hmm"),
        stored("user", "b"), stored("assistant", "", "error"),
        stored("user", "b"),  # sent again after the failure (its answer row failed to start)
        stored("user", "b"), stored("assistant", "B", "complete"),
        stored("user", "c"), stored("assistant", "", "streaming"),
        stored("user", "d"),
    ]
    conversation = backend_conversation(history, system="be brief", backend="b", model="m")
    # Unanswered prompts are not sent: "b" goes once, with its answer; "d" is the prompt.
    assert [(m.role, m.content) for m in conversation.messages] == [
        ("user", "a"), ("assistant", "partial"), ("user", "b"), ("assistant", "B"), ("user", "d")]
    assert conversation.system == "be brief"
    assert conversation.history_without_reasoning()[2] == {"role": "assistant", "content": "partial"}
    # The oldest answered turns can be left out of what is sent.
    trimmed = backend_conversation(history, backend="b", model="m", leave_out=1)
    assert [m.content for m in trimmed.messages] == ["b", "B", "d"]
    assert [m.content for m in backend_conversation(history, backend="b", model="m", leave_out=5).messages] == ["d"]
    assert title_from_prompt("  line one\nline two  ") == "line one line two"
    long_title = title_from_prompt("x" * 100)
    assert len(long_title) == 60 and long_title.endswith("…")


def test_turns_left_out_of_a_conversation_too_long_for_the_context_follow_the_reported_sizes():
    from thinkpane.backends.events import Conversation, Message
    from thinkpane.tui.core.backend_conversation import turns_to_leave_out

    turn = [Message("user", "q" * 100), Message("assistant", "a" * 300)]  # 400 characters
    sent = Conversation(turn * 4 + [Message("user", "p" * 100)])  # 4 earlier turns, 1,700 characters
    # Just too long: what is left must fill at most 3/4 of the context (room for the answer).
    assert turns_to_leave_out(sent, used_tokens=101, limit_tokens=100) == 2
    assert turns_to_leave_out(sent, used_tokens=200, limit_tokens=100) == 3
    assert turns_to_leave_out(sent, used_tokens=10_000, limit_tokens=100) == 4  # all of them, never the prompt
    assert turns_to_leave_out(sent) == 3  # sizes unknown: down to half
    assert turns_to_leave_out(Conversation([Message("user", "p" * 100)])) == 0  # the prompt alone is too long


async def test_a_store_failure_on_send_keeps_the_prompt_and_says_why(store):
    backend = ScriptedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        store.close()
        await send(pilot, "do not lose me")
        await pilot.pause()
        assert app.chat.prompt.text == "do not lose me"
        assert app.chat.status.info.state == "error"
        assert "conversation history is closed" in app.chat.status.line_text().plain
        assert backend.received == []


async def test_a_narrow_terminal_shrinks_an_empty_reasoning_pane(store):
    backend = ScriptedBackend()
    backend.enqueue([ContentDelta("No thoughts."), Stop()])
    backend.enqueue_turn(["Now I think."], ["Thoughtful."])
    app = make_app(store, backend)
    async with app.run_test(size=(80, 40)) as pilot:
        await send(pilot, "one")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer 1")
        await pilot.pause()
        assert app.chat.reasoning_pane.region.height <= 4
        await send(pilot, "two")
        await wait_until(pilot, lambda: app.chat.live is None and len(app.chat.transcript.answers()) == 2, "answer 2")
        await pilot.pause()
        assert app.chat.reasoning_pane.region.height > 10


class SlowToPrepareBackend(ScriptedBackend):
    """Its prepare() (a local model's load) waits for the test to open ``gate``."""

    name = "slowprepare"
    label = "Slow to prepare"
    gate: asyncio.Event

    def preparing(self) -> str:
        return "" if self.gate.is_set() else "Loading tiny-model…"

    async def prepare(self) -> None:
        await self.gate.wait()


async def test_the_app_prepares_the_backend_and_says_so_until_it_is_ready(store, monkeypatch):
    from thinkpane.backends import registry

    monkeypatch.setitem(registry.BUILTIN, "slowprepare", f"{__name__}:SlowToPrepareBackend")
    SlowToPrepareBackend.gate = asyncio.Event()
    app = make_app(store, settings=Settings(backend="slowprepare"))
    async with app.run_test(size=(120, 40)) as pilot:
        status = app.chat.status
        await wait_until(pilot, lambda: "Loading tiny-model…" in status.line_text().plain, "the loading status")
        assert status.info.state == "loading" and app.backend is None

        await send(pilot, "hello")
        await pilot.pause()
        assert app.chat.prompt.text == "hello" and "still loading" in status.line_text().plain

        SlowToPrepareBackend.gate.set()
        await wait_until(pilot, lambda: app.backend is not None, "the prepared backend")
        assert status.info.state == "idle" and "Loading" not in status.line_text().plain
        await pilot.press("enter")
        await wait_until(pilot, lambda: "You said: hello" in answer_text(app), "the answer")


@pytest.mark.parametrize("backend_class", [GatedBackend, AnswerFirstBackend])
async def test_the_reasoning_pane_says_whether_reasoning_is_streamed(store, backend_class):
    """STREAMS_REASONING: while a turn has no reasoning yet, the pane's header says why."""
    backend = backend_class()
    app = make_app(store, backend)
    async with app.run_test(size=(160, 40)) as pilot:
        await send(pilot, "Is 7 prime?")
        await wait_until(pilot, lambda: app.chat.live is not None, "stream start")
        header = app.chat.reasoning_pane.header
        if backend.STREAMS_REASONING:
            await wait_until(pilot, lambda: "waiting…" in rendered_text(header), "the waiting header")
        else:
            await wait_until(pilot, lambda: "not streamed by this backend" in rendered_text(header),
                             "the not-streamed header")
        backend.put(ReasoningDelta("7 has no divisors but 1 and itself."))
        await wait_until(pilot, lambda: "tokens" in rendered_text(header), "the reasoning counted")
        assert "not streamed" not in rendered_text(header)
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "end")
