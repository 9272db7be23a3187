"""One answer while it streams: its widgets, its recorder, and what the stream does to them.

:meth:`LiveTurn.start` puts the prompt and an empty answer in the transcript, a live
Markdown in both panes, resets the counters and starts a tick. The stream worker feeds
every event to the turn's :class:`~thinkpane.tui.core.turn_recorder.TurnRecorder` (text,
timings, usage, the store) and posts the text, coalesced; :meth:`LiveTurn.show` writes it
to the panes. :meth:`LiveTurn.end` runs once, whatever ended the turn (the stream finished,
failed or was cancelled, the worker died), and :meth:`LiveTurn.abandon` when the app closes
mid-stream. Its host (the chat screen, or a compare column: turn_host.py) owns the message
handlers and the worker; this owns the widgets' side of a turn. ``screen`` below is that host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.timer import Timer
from textual.widgets import Markdown
from textual.worker import Worker

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import BackendError, ThinkpaneError
from thinkpane.backends.events import Conversation
from thinkpane.tui.core.turn_record import CHARS_PER_TOKEN, TurnRecord
from thinkpane.tui.core.turn_recorder import TurnRecorder
from thinkpane.tui.widgets.live_markdown import LiveMarkdown
from thinkpane.tui.widgets.turn import AnswerTurn

if TYPE_CHECKING:
    from textual.widgets.markdown import MarkdownStream

    from thinkpane.tui.screens.chat.turn_host import TurnView

# The live turn saves what arrived, and checks the counters, this often.
FLUSH_INTERVAL_S = 0.25
# A following pane scrolls by 1/GROW_FRACTION of its height at a time while text streams.
GROW_FRACTION = 4



def not_stopped_text(backend: Backend) -> str:
    """After Esc, for a backend that cannot cancel (IMPLEMENTS_CANCEL false): the provider
    goes on generating (and billing) the answer nobody will see; the user should know."""
    return f"{backend.label} finishes this answer on its side; it will not be shown"

class LiveTurn:
    """Everything that exists only while one answer streams."""

    def __init__(self, screen: TurnView, turn: int, backend: Backend, recorder: TurnRecorder,
                 answer: AnswerTurn, reasoning_markdown: LiveMarkdown, input_estimate: str) -> None:
        self.screen = screen
        self.turn = turn
        self.backend = backend
        self.recorder = recorder
        self.answer = answer
        # LiveMarkdown is not a Markdown subclass but has what MarkdownStream calls (append).
        self.answer_stream: MarkdownStream = Markdown.get_stream(answer.live_markdown())  # type: ignore[arg-type]
        self.reasoning_stream: MarkdownStream | None = Markdown.get_stream(reasoning_markdown)  # type: ignore[arg-type]
        self.input_estimate = input_estimate
        self.answer_shown = False  # the Answer pane has been given text
        self.worker: Worker | None = None
        self.ending = False  # end() is running: ignore further stream messages
        self._tick_timer: Timer | None = None

    @property
    def record(self) -> TurnRecord:
        return self.recorder.record

    @classmethod
    async def start(cls, screen: TurnView, turn: int, backend: Backend, conversation: Conversation,
                    prompt: str | None, writer) -> LiveTurn:
        """Show ``prompt`` (unless None) and an empty answer in ``screen`` (the chat screen, a
        compare column); ``writer``: the store's AnswerWriter for it, or None."""
        record = TurnRecord(status="streaming", started_at=screen.clock())
        if prompt is not None:
            await screen.transcript.add_user(prompt)
        answer = await screen.transcript.add_answer(record)
        screen.transcript.follow()
        reasoning_markdown = await screen.reasoning_pane.start_live(record, streamed=backend.STREAMS_REASONING)
        chars = sum(len(m.content) for m in conversation.messages) + len(conversation.system or "")
        live = cls(
            screen, turn, backend, TurnRecorder(record, writer=writer, clock=screen.clock, label=backend.label), answer,
            reasoning_markdown, f"~{round(chars / CHARS_PER_TOKEN):,}",
        )
        # Counters change when a pane paints new text (at most 8 times a second), not on
        # every coalesced delta (see counters.py).
        answer.live_markdown().on_render = screen.counters.text_painted
        reasoning_markdown.on_render = screen.counters.text_painted
        # Each pane scrolls by a quarter of its height at a time while text streams (see
        # LiveMarkdown.grow_rows): text that stands still is easier to read, and a frame that
        # only adds words is cheap (a third less CPU per frame at 150 tokens/s).
        answer.live_markdown().grow_rows = screen.transcript.size.height // GROW_FRACTION
        reasoning_markdown.grow_rows = screen.reasoning_pane.body.size.height // GROW_FRACTION
        screen.counters.start(record, backend, live.input_estimate)
        live._tick_timer = screen.set_interval(FLUSH_INTERVAL_S, live.tick)
        return live

    async def show(self, reasoning: str, content: str) -> None:
        """Text the worker sanitised, recorded and posted: into the panes."""
        screen = self.screen
        screen.counters.show_ttft()
        if reasoning and self.reasoning_stream is not None:
            await self.reasoning_stream.write(reasoning)
            screen.reasoning_pane.keep_following()
        if content:
            await self.answer_stream.write(content)
            self.answer_shown = True
            screen.transcript.keep_following()
        screen.counters.show_state(answering=self.answer_shown)

    def tick(self) -> None:
        """Every 0.25 s while streaming: persist buffered text, refresh elapsed and counters."""
        if self.ending:
            return
        self.save_so_far()
        screen = self.screen
        screen.counters.tick()
        if screen.reasoning_pane.shown is self.record:
            screen.reasoning_pane.keep_following()
        screen.transcript.keep_following()

    def save_so_far(self) -> None:
        """Write what has arrived to the store; a failure is told on the status line."""
        try:
            self.recorder.flush()
        except ThinkpaneError as error:
            self.screen.status.set(text="not saved: " + error.title)

    async def stop_reasoning_stream(self) -> None:
        """The Reasoning pane is about to show another answer: stop feeding its live Markdown."""
        if self.reasoning_stream is not None:
            await self.reasoning_stream.stop()
            self.reasoning_stream = None

    async def end(self, status: str, *, error: BackendError | None = None) -> bool:
        """Record the outcome and show the finished answer; False when the screen was
        already taken down (nothing was redrawn)."""
        self.ending = True
        if self._tick_timer is not None:
            self._tick_timer.stop()
            self._tick_timer = None
        record = self.record
        self._finish_recording(status, error)
        screen = self.screen
        if not self.answer.is_attached:
            # The app is quitting mid-stream and has taken the widgets down already (the
            # worker's StreamCancelled comes after): keep what arrived, redraw nothing.
            # Mounting the finished answer now raised MountError and crashed the exit.
            screen.counters.stop()
            return False
        await self.answer_stream.stop()
        self.answer.live_markdown().grow_rows = 1  # as tall as the text again
        if self.reasoning_stream is not None:
            await self.reasoning_stream.stop()
            if screen.reasoning_pane.live is not None:
                screen.reasoning_pane.live.grow_rows = 1
                # Textual #6518: a code block body can vanish after a stream ends; re-render fully.
                await screen.reasoning_pane.live.update(record.reasoning)
        await self.answer.finalize()
        if screen.reasoning_pane.shown is record and not record.reasoning:
            await screen.reasoning_pane.show_record(record)  # "No reasoning for this answer."
        screen.counters.finish(self.input_estimate)
        if status == "cancelled" and not self.backend.IMPLEMENTS_CANCEL:
            screen.status.set(text=not_stopped_text(self.backend))
        return True

    def abandon(self) -> None:
        """The app is closing mid-stream: keep what arrived, marked cancelled."""
        self.ending = True
        self._finish_recording("cancelled", None)

    def _finish_recording(self, status: str, error: BackendError | None) -> None:
        try:
            self.recorder.finish(status, error=error)
        except ThinkpaneError as store_error:
            self.screen.notify(store_error.hint or store_error.title, title=store_error.title, severity="error",
                               markup=False)  # hints name file paths, which may contain [brackets]
