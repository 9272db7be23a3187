"""The chat screen: Reasoning pane | Answer pane (transcript), prompt, status line.

Sending: the user message is stored before the stream starts; the prompt is cleared only
once the stream has started, so a send that fails (no backend, store error) loses nothing.
Sending while an answer streams is refused with a status message (Esc cancels first): a
queue would send a prompt written before the user saw the answer it replies to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import BackendError, InternalError, ThinkpaneError
from thinkpane.backends.events import Conversation, Stop
from thinkpane.tui.render.crop_compositor import install_crop_compositor
from thinkpane.tui.screens.chat.keys import PaneKeys
from thinkpane.tui.core.backend_conversation import backend_conversation, title_from_prompt
from thinkpane.tui.screens.chat.messages import (
    ExtraReceived,
    NoticeReceived,
    StreamCancelled,
    StreamFailed,
    StreamFinished,
    TextReceived,
    UsageReceived,
)
from thinkpane.tui.render.paint_soon import paint_soon
from thinkpane.tui.core.sanitize import sanitize, sanitize_line
from thinkpane.tui.screens.chat.stream_worker import pump_stream
from thinkpane.tui.core.turn_record import CHARS_PER_TOKEN, REASONING_MS_KEY, TurnRecord
from thinkpane.tui.widgets.prompt_input import PromptInput
from thinkpane.tui.widgets.reasoning_pane import ReasoningPane
from thinkpane.tui.widgets.status_line import StatusLine
from thinkpane.tui.widgets.transcript import Transcript
from thinkpane.tui.widgets.turn import AnswerTurn, ReasoningLink, UserTurn

if TYPE_CHECKING:
    from textual.widgets.markdown import MarkdownStream

NARROW_CLASS = "-narrow"
HIDE_REASONING_CLASS = "-hide-reasoning"
ERROR_CLASS = "-error"
NARROW_BELOW_COLUMNS = 100
FLUSH_INTERVAL_S = 0.25
# The status line's elapsed time and token counter, and the Reasoning header, change this
# often while text streams (in the frames that paint text; the tick covers a stall).
COUNTERS_INTERVAL_S = 0.25
# A following pane scrolls by 1/GROW_FRACTION of its height at a time while text streams.
GROW_FRACTION = 4


def not_stopped_text(backend: Backend) -> str:
    """After Esc, for a backend that cannot cancel (IMPLEMENTS_CANCEL false): the provider
    goes on generating (and billing) the answer nobody will see; the user should know."""
    return f"{backend.label} finishes this answer on its side; it will not be shown"


@dataclass
class LiveTurn:
    """Everything that exists only while one answer streams."""

    turn: int
    backend: Backend
    record: TurnRecord
    answer: AnswerTurn
    answer_stream: MarkdownStream
    reasoning_stream: MarkdownStream | None
    writer: object  # thinkpane.tui.core.store.AnswerWriter
    input_estimate: str
    worker: Worker | None = None
    ending: bool = False  # _end_turn is running: ignore further stream messages


class ChatScreen(PaneKeys, Screen):  # PaneKeys: scrolling from the prompt, Tab order, typing
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="chat.cancel",
                tooltip="Stop the running answer; the partial text is kept"),
        Binding("ctrl+t", "toggle_reasoning", "Reasoning", id="chat.toggle_reasoning",
                tooltip="Show or hide the Reasoning pane"),
        Binding("ctrl+n", "new_chat", "New chat", id="chat.new", tooltip="Start a new conversation"),
        Binding("ctrl+up", "step_reasoning(-1)", "Earlier reasoning", id="chat.previous_reasoning",
                show=False, tooltip="Show the reasoning of the previous answer"),
        Binding("ctrl+down", "step_reasoning(1)", "Later reasoning", id="chat.next_reasoning",
                show=False, tooltip="Show the reasoning of the next answer"),
    ]

    def __init__(self, *, conversation_id: int | None = None) -> None:
        super().__init__()
        # A frame renders only the widgets that show where it changed (not, say, the prompt
        # and footer for every frame of a growing reasoning pane), far-apart changes (the
        # pane, the header, the status line) as separate areas.
        install_crop_compositor(self)
        self.conversation_id = conversation_id
        self.live: LiveTurn | None = None
        self.turn_counter = 0
        self._tick_timer: Timer | None = None
        self._counters_at = float("-inf")  # time.monotonic() when the counters were last shown
        self._counters_due: asyncio.TimerHandle | None = None  # a trailing update, if one waits
        # Async callables to run once the current stream has ended (new chat, switch backend…).
        self._after_stream: list[Callable[[], Awaitable[object]]] = []
        self.shown_answer: AnswerTurn | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield ReasoningPane(id="reasoning")
            with Vertical(id="answer-pane"):
                yield Static("", id="answer-header")
                yield Static("", id="message-panel")
                yield Transcript(id="transcript")
        yield PromptInput(id="prompt")
        yield StatusLine(id="status")
        yield Footer()

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def reasoning_pane(self) -> ReasoningPane:
        return self.query_one(ReasoningPane)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    def clock(self) -> float:
        return self.app.clock()

    async def on_mount(self) -> None:
        self.set_class(not self.app.show_reasoning, HIDE_REASONING_CLASS)
        self.set_class(self.app.size.width < NARROW_BELOW_COLUMNS, NARROW_CLASS)
        self.query_one("#message-panel").display = False
        if self.app.is_headless:
            self.prompt.cursor_blink = False  # deterministic screenshots
        self.prompt.focus()
        self.refresh_backend_state()
        self._set_answer_header()
        if self.conversation_id is not None:
            await self.open_conversation(self.conversation_id)

    def on_resize(self, event) -> None:
        self.set_class(event.size.width < NARROW_BELOW_COLUMNS, NARROW_CLASS)

    def _set_answer_header(self, title: str | None = None) -> None:
        header = Text("Answer", style="bold")
        if title:
            header.append(" · " + sanitize_line(title))
        self.query_one("#answer-header", Static).update(header)

    # ------------------------------------------------------------------ backend state

    def refresh_backend_state(self) -> None:
        """Show what the app knows about its backend: ready, loading, or a config error."""
        if not self.query("#message-panel"):
            return  # not composed yet; on_mount calls this again
        app = self.app
        backend: Backend | None = app.backend
        panel = self.query_one("#message-panel", Static)
        if backend is not None:
            panel.display = False
            if self.live is None:
                self.status.set(backend=backend.label, model=backend.model, state="idle", text="")
            return
        if app.backend_error is not None:
            self.show_problem(app.backend_error)
            self.status.set(backend=app.settings.backend, model="", state="error",
                            text=app.backend_error.title)
        else:
            self.status.set(backend=app.settings.backend, model="", state="loading",
                            text=app.backend_loading_text or "preparing backend…")

    def show_problem(self, error: ThinkpaneError) -> None:
        """A message panel above the transcript: the title, the detail and what to do."""
        text = Text()
        text.append(sanitize_line(error.title), style="bold")
        if error.detail:
            text.append("\n" + sanitize(error.detail))
        if error.hint:
            text.append("\n" + sanitize(error.hint))
        text.append("\nPress Ctrl+P → “Set up a backend…” to configure one.", style="dim")
        panel = self.query_one("#message-panel", Static)
        panel.update(text)
        panel.add_class(ERROR_CLASS)
        panel.display = True

    # ------------------------------------------------------------------ conversations

    async def open_conversation(self, conversation_id: int) -> None:
        if self.live is not None:
            self.after_stream(lambda: self.open_conversation(conversation_id))
            return
        store = self.app.store
        try:
            summary = store.get_conversation(conversation_id)
            stored = store.load_messages(conversation_id) if summary else []
        except ThinkpaneError as error:
            self.status.set(state="error", text=error.title)
            return
        if summary is None:
            self.status.set(state="error", text=f"Conversation {conversation_id} no longer exists")
            return
        self.conversation_id = conversation_id
        widgets: list[UserTurn | AnswerTurn] = []
        for message in stored:
            if message.role == "user":
                widgets.append(UserTurn(message.content))
                self.prompt.remember(message.content)
            elif message.role == "assistant":
                widgets.append(AnswerTurn(TurnRecord.from_stored(message)))
        await self.transcript.add_many(widgets)
        self._set_answer_header(summary.title)
        answers = self.transcript.answers()
        if answers:
            await self.show_reasoning_of(answers[-1])
        else:
            await self.reasoning_pane.clear()

    def action_new_chat(self) -> None:
        self.run_worker(self.new_chat(), group="ui", exclusive=False)

    async def new_chat(self) -> None:
        if self.live is not None:
            self.after_stream(self.new_chat)
            return
        self.conversation_id = None
        self.shown_answer = None
        await self.transcript.clear()
        await self.reasoning_pane.clear()
        self._set_answer_header()
        self.refresh_backend_state()
        self.prompt.focus()

    # ------------------------------------------------------------------ sending

    @on(PromptInput.Submitted)
    async def on_prompt_submitted(self, event: PromptInput.Submitted) -> None:
        await self.send(event.text)

    async def send(self, text: str) -> bool:
        """Start a turn for ``text``; False (prompt kept) when it cannot start."""
        prompt = text.strip()
        if not prompt:
            return False
        if self.live is not None:
            self.status.set(text="still answering: press Esc to stop it before sending")
            self.app.bell()
            return False
        backend: Backend | None = self.app.backend
        if backend is None:
            error = self.app.backend_error
            if error is not None:
                self.show_problem(error)
                self.status.set(state="error", text="cannot send: " + error.title)
            else:
                self.status.set(state="loading", text="the backend is still loading; try again in a moment")
            return False
        store = self.app.store
        try:
            if self.conversation_id is None:
                title = title_from_prompt(prompt)
                self.conversation_id = store.create_conversation(
                    title, backend=backend.name, model=backend.model, system=self.app.settings.system_prompt
                )
                self._set_answer_header(title)
            store.add_message(self.conversation_id, "user", text.rstrip())
            conversation = backend_conversation(
                store.load_messages(self.conversation_id), self.app.settings.system_prompt
            )
            writer = store.start_answer(self.conversation_id, backend=backend.name, model=backend.model)
        except ThinkpaneError as error:
            self.status.set(state="error", text=error.title)
            return False
        self.prompt.remember(text.rstrip())
        self.prompt.clear()
        await self._start_turn(backend, conversation, text.rstrip(), writer)
        return True

    async def _start_turn(self, backend: Backend, conversation: Conversation, prompt: str, writer) -> None:
        # Imported here, not for the first frame (the app's warm-up has imported it by now).
        from textual.widgets import Markdown

        self.turn_counter += 1
        record = TurnRecord(status="streaming", started_at=self.clock())
        await self.transcript.add_user(prompt)
        answer = await self.transcript.add_answer(record)
        self.transcript.follow()
        reasoning_markdown = await self.reasoning_pane.start_live(record, streamed=backend.STREAMS_REASONING)
        self.shown_answer = answer
        chars = sum(len(m.content) for m in conversation.messages) + len(conversation.system or "")
        self.live = LiveTurn(
            turn=self.turn_counter,
            backend=backend,
            record=record,
            answer=answer,
            answer_stream=Markdown.get_stream(answer.live_markdown()),
            reasoning_stream=Markdown.get_stream(reasoning_markdown),
            writer=writer,
            input_estimate=f"~{round(chars / CHARS_PER_TOKEN):,}",
        )
        # Counters change when a pane paints new text (at most 8 times a second), not on
        # every coalesced delta: 60 updates a second were 60 frames, doubling a stream's CPU
        # (tests/bench/bench_render.py).
        answer.live_markdown().on_render = self._show_counters
        reasoning_markdown.on_render = self._show_counters
        # Each pane scrolls by a quarter of its height at a time while text streams (see
        # LiveMarkdown.grow_rows): text that stands still is easier to read, and a frame that
        # only adds words is cheap (a third less CPU per frame at 150 tokens/s).
        answer.live_markdown().grow_rows = self.transcript.size.height // GROW_FRACTION
        reasoning_markdown.grow_rows = self.reasoning_pane.body.size.height // GROW_FRACTION
        self.status.set(backend=backend.label, model=backend.model, state="waiting", text="",
                        elapsed_s=0.0, ttft_ms=None, tokens_in=self.live.input_estimate, tokens_out="~0")
        self._counters_at = float("-inf")  # the first text shows the counters at once
        self._tick_timer = self.set_interval(FLUSH_INTERVAL_S, self._tick)
        self.live.worker = self.run_stream(backend, conversation, self.turn_counter)

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def run_stream(self, backend: Backend, conversation: Conversation, turn: int) -> None:
        await pump_stream(backend, conversation, turn, self.post_message)

    def _current(self, turn: int) -> LiveTurn | None:
        """The live turn if a message belongs to it (late messages from old streams are dropped)."""
        live = self.live
        return live if live is not None and live.turn == turn and not live.ending else None

    # ------------------------------------------------------------------ stream messages

    @on(TextReceived)
    async def on_text_received(self, message: TextReceived) -> None:
        live = self._current(message.turn)
        if live is None:
            return
        record = live.record
        now = self.clock()
        if record.first_token_at is None:
            record.first_token_at = now
            record.ttft_ms = round((now - (record.started_at or now)) * 1000)
            self.status.set(ttft_ms=record.ttft_ms)
        if message.reasoning:
            record.reasoning += message.reasoning
            live.writer.append_reasoning(message.reasoning)
            if live.reasoning_stream is not None:
                await live.reasoning_stream.write(message.reasoning)
                self.reasoning_pane.keep_following()
        if message.content:
            if record.first_content_at is None:
                record.first_content_at = now
            record.content += message.content
            live.writer.append_content(message.content)
            await live.answer_stream.write(message.content)
            self.transcript.keep_following()
        state = "answering" if record.content else "thinking"
        if self.status.info.state != state:
            self.status.set(state=state)

    def _show_counters(self) -> None:
        """A pane painted new text: bring the header, elapsed time and token counter up to
        date in the same frame, about 4 times a second (the tick leaves them alone while
        text keeps coming). Every render also repainting the status line and the header
        widened each frame from the reasoning pane to the whole screen."""
        live = self.live
        if live is None:
            return
        # Real time paces the updates; the shown times come from self.clock (tests fix it).
        wait = self._counters_at + COUNTERS_INTERVAL_S - time.monotonic()
        if wait > 0:
            # The next render will most likely update them; if none comes (a pause in the
            # stream), this does, so the text on screen is always counted soon after.
            if self._counters_due is None:
                self._counters_due = asyncio.get_running_loop().call_later(
                    wait + COUNTERS_INTERVAL_S, self._counters_now)
            return
        self._counters_now()

    def _counters_now(self) -> None:
        if self._counters_due is not None:
            self._counters_due.cancel()
            self._counters_due = None
        live = self.live
        if live is None or not self.is_attached:
            return
        record = live.record
        now = self.clock()
        self._counters_at = time.monotonic()
        if self.reasoning_pane.shown is record:
            self.reasoning_pane.set_header(record, now)
        self.status.set(elapsed_s=now - (record.started_at or now), tokens_out=record.output_tokens_label())

    @on(UsageReceived)
    def on_usage_received(self, message: UsageReceived) -> None:
        if live := self._current(message.turn):
            if message.input_tokens is not None:
                live.record.input_tokens = message.input_tokens
            if message.output_tokens is not None:
                live.record.output_tokens = message.output_tokens
            live.writer.set_usage(live.record.input_tokens, live.record.output_tokens)

    @on(NoticeReceived)
    def on_notice_received(self, message: NoticeReceived) -> None:
        if self._current(message.turn):
            self.status.set(text=message.text)

    @on(ExtraReceived)
    def on_extra_received(self, message: ExtraReceived) -> None:
        if live := self._current(message.turn):
            live.record.extra.update(message.data)
            live.writer.merge_extra(dict(message.data))

    @on(StreamFinished)
    async def on_stream_finished(self, message: StreamFinished) -> None:
        if self._current(message.turn):
            await self._end_turn("complete", stop=message.stopped_by)

    @on(StreamFailed)
    async def on_stream_failed(self, message: StreamFailed) -> None:
        if self._current(message.turn):
            await self._end_turn("error", error=message.error)

    @on(StreamCancelled)
    async def on_stream_cancelled(self, message: StreamCancelled) -> None:
        if self._current(message.turn):
            await self._end_turn("cancelled")

    @on(Worker.StateChanged)
    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker cancelled before it ran, or a bug in our own code: end the turn anyway."""
        live = self.live
        if live is None or live.ending or event.worker is not live.worker:
            return
        if event.state == WorkerState.CANCELLED:
            await self._end_turn("cancelled")
        elif event.state == WorkerState.ERROR:
            await self._end_turn("error", error=InternalError(
                "The stream stopped unexpectedly",
                "This is a bug in Thinkpane; the partial answer is kept.",
                detail=sanitize_line(f"{type(event.worker.error).__name__}: {event.worker.error}"),
            ))

    def _tick(self) -> None:
        """Every 0.25 s while streaming: persist buffered text, refresh elapsed and counters."""
        live = self.live
        if live is None or live.ending:
            return
        try:
            live.writer.flush()
        except ThinkpaneError as error:
            self.status.set(text="not saved: " + error.title)
        now = self.clock()
        record = live.record
        # While text streams, the counters change in the frames that paint it (_show_counters);
        # a frame of their own 4 times a second cost as much as a fifth of the stream's CPU.
        # Waiting for the first token, or a stalled stream, still shows the time passing.
        if time.monotonic() - self._counters_at >= 2 * COUNTERS_INTERVAL_S:
            self.status.set(elapsed_s=now - (record.started_at or now), tokens_out=record.output_tokens_label())
            if self.reasoning_pane.shown is record:
                self.reasoning_pane.set_header(record, now)
        if self.reasoning_pane.shown is record:
            self.reasoning_pane.keep_following()
        self.transcript.keep_following()

    async def _end_turn(self, status: str, *, stop: Stop | None = None, error: BackendError | None = None) -> None:
        live = self.live
        if live is None or live.ending:
            return
        live.ending = True
        if self._tick_timer is not None:
            self._tick_timer.stop()
            self._tick_timer = None
        record = live.record
        now = self.clock()
        record.ended_at = now
        record.status = status
        record.elapsed_ms = round((now - (record.started_at or now)) * 1000)
        seconds = record.reasoning_seconds(now)
        if record.reasoning and seconds is not None:
            record.reasoning_ms = round(seconds * 1000)
        if stop is not None:
            record.stop_reason = stop.reason
        if error is not None:
            record.error_title, record.error_hint = error.title, error.hint
        if not live.answer.is_attached:
            # The app is quitting mid-stream and has taken the widgets down already (the
            # worker's StreamCancelled comes after): keep what arrived, redraw nothing.
            # Mounting the finished answer now raised MountError and crashed the exit.
            self._save_outcome(live, error)
            self.live = None
            return
        await live.answer_stream.stop()
        live.answer.live_markdown().grow_rows = 1  # as tall as the text again
        if live.reasoning_stream is not None:
            await live.reasoning_stream.stop()
            if self.reasoning_pane.live is not None:
                self.reasoning_pane.live.grow_rows = 1
                # Textual #6518: a code block body can vanish after a stream ends; re-render fully.
                await self.reasoning_pane.live.update(record.reasoning)
        await live.answer.finalize()
        if self.reasoning_pane.shown is record and not record.reasoning:
            await self.reasoning_pane.show_record(record)  # "No reasoning for this answer."
        self._save_outcome(live, error)
        if self.reasoning_pane.shown is record:
            self.reasoning_pane.set_header(record, now)
        cancelled_text = "" if live.backend.IMPLEMENTS_CANCEL else not_stopped_text(live.backend)
        state_text = {"error": error.title if error else "", "cancelled": cancelled_text, "complete": ""}[status]
        self.status.set(
            state={"complete": "idle"}.get(status, status),
            text=state_text,
            elapsed_s=record.elapsed_ms / 1000,
            ttft_ms=record.ttft_ms,
            tokens_in=f"{record.input_tokens:,}" if record.input_tokens is not None else live.input_estimate,
            tokens_out=record.output_tokens_label(),
        )
        self.live = None
        # The last text, headers, link and status line in one frame, without waiting for a tick.
        paint_soon(self)
        follow_ups, self._after_stream = self._after_stream, []
        for follow_up in follow_ups:
            await follow_up()

    def _save_outcome(self, live: LiveTurn, error: BackendError | None) -> None:
        record = live.record
        try:
            if record.reasoning_ms is not None:
                live.writer.merge_extra({REASONING_MS_KEY: record.reasoning_ms})
            live.writer.set_timing(record.ttft_ms, record.elapsed_ms)
            live.writer.finish(record.status, stop_reason=record.stop_reason,
                               error=str(error) if error is not None else None)
        except ThinkpaneError as store_error:
            self.notify(store_error.hint or store_error.title, title=store_error.title, severity="error",
                        markup=False)  # hints name file paths, which may contain [brackets]

    def on_unmount(self) -> None:
        """The app is closing mid-stream: keep what arrived, marked cancelled."""
        if self._counters_due is not None:
            self._counters_due.cancel()
            self._counters_due = None
        if self.live is not None and not self.live.ending:
            self.live.record.status = "cancelled"
            self._save_outcome(self.live, None)
            self.live = None

    def after_stream(self, follow_up: Callable[[], Awaitable[object]]) -> bool:
        """Cancel the running answer (its partial text is kept) and run ``follow_up`` once it
        has ended; False (nothing scheduled) when no answer is streaming."""
        if self.live is None:
            return False
        self._after_stream.append(follow_up)
        self.action_cancel()
        return True

    def flush_live_answer(self) -> None:
        """Write what the streaming answer has received so far to the store (before an export)."""
        live = self.live
        if live is None or live.ending:
            return
        try:
            live.writer.flush()
        except ThinkpaneError as error:
            self.status.set(text="not saved: " + error.title)

    # ------------------------------------------------------------------ actions

    def action_cancel(self) -> None:
        live = self.live
        if live is None or live.worker is None or live.ending:
            return
        self.status.set(text="cancelling…")
        live.worker.cancel()

    def action_toggle_reasoning(self) -> None:
        self.app.show_reasoning = not self.app.show_reasoning
        self.set_class(not self.app.show_reasoning, HIDE_REASONING_CLASS)

    @on(ReasoningLink.Selected)
    async def on_reasoning_link_selected(self, event: ReasoningLink.Selected) -> None:
        await self.show_reasoning_of(event.turn)

    async def show_reasoning_of(self, answer: AnswerTurn) -> None:
        """Reopen an earlier answer's reasoning in the Reasoning pane."""
        live = self.live
        if live is not None and live.reasoning_stream is not None and answer is not live.answer:
            # The live Markdown is about to be removed: stop feeding it first.
            await live.reasoning_stream.stop()
            live.reasoning_stream = None
        self.shown_answer = answer
        answers = self.transcript.answers()
        position = answers.index(answer) + 1 if answer in answers else 0
        # "answer 2 of 3", or "2/3" when the pane is narrow (the header picks what fits).
        await self.reasoning_pane.show_record(answer.record, position=(position, len(answers)) if position else None)
        if not self.app.show_reasoning:
            self.action_toggle_reasoning()

    async def action_step_reasoning(self, step: int) -> None:
        answers = [a for a in self.transcript.answers() if a.record.status != "streaming"]
        if not answers:
            return
        if self.shown_answer in answers:
            index = max(0, min(len(answers) - 1, answers.index(self.shown_answer) + step))
        else:
            index = len(answers) - 1
        target = answers[index]
        await self.show_reasoning_of(target)
        self.transcript.scroll_to_widget(target, animate=False)

    def last_answer_text(self) -> str | None:
        answers = self.transcript.answers()
        return answers[-1].record.content if answers else None
