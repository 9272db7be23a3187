"""One answer while it streams: its widgets, its recorder, and what the stream does to them.

:meth:`LiveTurn.start` takes the empty answer the screen put in the transcript, feeds a live
Markdown in both panes, resets the counters and starts a tick. The stream worker feeds
every event to the turn's :class:`~thinkpane.tui.core.turn_recorder.TurnRecorder` (text,
timings, usage, the store) and posts the text, coalesced; :meth:`LiveTurn.show` writes it
to the panes. :meth:`LiveTurn.end` runs once, whatever ended the turn (the stream finished,
failed or was cancelled, the worker died), and :meth:`LiveTurn.abandon` when the app closes
mid-stream. Its host (the chat screen, or a compare column: turn_host.py) owns the message
handlers and the worker; this owns the widgets' side of a turn. ``screen`` below is that host.

The user may switch to another branch while the answer streams (its older sibling, or
another version of a prompt above it): :meth:`LiveTurn.detach` stops feeding the widgets
that are about to go, the answer goes on streaming into its record and the store, and
:meth:`LiveTurn.reattach` / :meth:`LiveTurn.show_reasoning` feed the new widgets when its
branch is shown again. The record runs ahead of the panes (the worker records a delta
before it posts it), so the widgets are rebuilt from the text the panes were given so far
(``content_shown``, ``reasoning_shown``), and the deltas still on their way follow it.

Key bindings run on the app's message loop, the stream's messages on the screen's, so a
switch can come in while :meth:`LiveTurn.show` awaits a write: ``panes_lock`` makes showing
text, ending, and swapping the widgets (the screen holds it around a switch) happen one
at a time, so no text is written twice or to a stream that has stopped.

A stream that stays silent for ``stall_notice_s`` seconds (30 by default, ``--stall-notice-s``)
is pointed out on the status line by the tick, with how long it has been silent and that Esc
cancels; SSE keep-alives (``Heartbeat``, kept on the record by the recorder) make it say the
server is alive and the model still thinking instead.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual.timer import Timer
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
# A following pane scrolls by 1/GROW_FRACTION of its height at a time while text streams:
# half, as Emacs recenters. Each step is a layout pass and a repaint of the whole pane, about
# a fifth of a stream's CPU at a quarter-pane step (py-spy on tests/bench/bench_render.py).
GROW_FRACTION = 2
# Seconds without stream events before the status line points the silence out (Settings
# stall_notice_s overrides it).
STALL_NOTICE_S = 30.0



def not_stopped_text(backend: Backend) -> str:
    """After Esc, for a backend that cannot cancel (IMPLEMENTS_CANCEL false): the provider
    goes on generating (and billing) the answer nobody will see; the user should know."""
    return f"{backend.label} finishes this answer on its side; it will not be shown"

class LiveTurn:
    """Everything that exists only while one answer streams."""

    def __init__(self, screen: TurnView, turn: int, backend: Backend, conversation: Conversation,
                 recorder: TurnRecorder, answer: AnswerTurn, reasoning_markdown: LiveMarkdown,
                 input_estimate: str, message_id: int | None, typed: str | None) -> None:
        self.screen = screen
        self.turn = turn
        self.backend = backend
        self.conversation = conversation  # what was sent
        self.typed = typed  # the prompt as the user sent it (None: an answer asked again)
        self.recorder = recorder
        self.message_id = message_id  # the answer's row in the store (None: not stored yet)
        self.answer = answer
        self.answer_stream: MarkdownStream | None = None
        self.reasoning_stream: MarkdownStream | None = None
        self.input_estimate = input_estimate
        self.answer_shown = False  # the Answer pane has been given text
        # How much of the record's text the panes have been given (see the module docstring).
        self.content_shown = 0
        self.reasoning_shown = 0
        self.worker: Worker | None = None
        self.ending = False  # end() is running: ignore further stream messages
        self.stalled = False  # the status line says the stream is silent
        self.detached = False  # another branch is shown: the answer streams out of sight
        self.panes_lock = asyncio.Lock()  # see the module docstring
        self._tick_timer: Timer | None = None
        self._feed_answer(answer)
        self._feed_reasoning(reasoning_markdown)

    @property
    def record(self) -> TurnRecord:
        return self.recorder.record

    @classmethod
    async def start(cls, screen: TurnView, turn: int, backend: Backend, conversation: Conversation,
                    writer, answer: AnswerTurn, typed: str | None = None) -> LiveTurn:
        """Stream into ``answer`` (mounted, its record "streaming") in ``screen`` (the chat
        screen, a compare column); ``writer``: the store's AnswerWriter for it, or None to keep
        the answer in memory only (a compare column's, until the user keeps one); ``typed``:
        the prompt as the user sent it."""
        record = answer.record
        record.started_at = screen.clock()
        screen.transcript.follow()
        reasoning_markdown = await screen.reasoning_pane.start_live(record, streamed=backend.STREAMS_REASONING)
        chars = sum(len(m.content) for m in conversation.messages) + len(conversation.system or "")
        live = cls(
            screen, turn, backend, conversation,
            TurnRecorder(record, writer=writer, clock=screen.clock, label=backend.label), answer,
            reasoning_markdown, f"~{round(chars / CHARS_PER_TOKEN):,}",
            writer.message_id if writer is not None else None, typed,
        )
        screen.counters.start(record, backend, live.input_estimate)
        live._tick_timer = screen.set_interval(FLUSH_INTERVAL_S, live.tick)
        return live

    def _feed_answer(self, answer: AnswerTurn) -> None:
        # Imported here, not for the first frame (the app's warm-up has imported it by now).
        from textual.widgets import Markdown

        self.answer = answer
        markdown = answer.live_markdown()
        # LiveMarkdown is not a Markdown subclass but has what MarkdownStream calls (append).
        self.answer_stream = Markdown.get_stream(markdown)  # type: ignore[arg-type]
        # Counters change when a pane paints new text (at most 8 times a second), not on
        # every coalesced delta (see counters.py).
        markdown.on_render = self.screen.counters.text_painted
        # Each pane scrolls by half its height at a time while text streams (see
        # LiveMarkdown.grow_rows): text that stands still is easier to read, and a frame that
        # only adds words is cheap (a third less CPU per frame at 150 tokens/s).
        markdown.grow_rows = self.screen.transcript.size.height // GROW_FRACTION

    def _feed_reasoning(self, markdown: LiveMarkdown) -> None:
        from textual.widgets import Markdown  # as in _feed_answer

        self.reasoning_stream = Markdown.get_stream(markdown)  # type: ignore[arg-type]
        markdown.on_render = self.screen.counters.text_painted
        markdown.grow_rows = self.screen.reasoning_pane.body.size.height // GROW_FRACTION

    def shown_text(self) -> str:
        """The answer text its pane has been given (what a rebuilt answer starts with)."""
        return self.record.content[: self.content_shown]

    async def detach(self) -> None:
        """Another branch is about to be shown: stop feeding the widgets that will go.
        (Called with ``panes_lock`` held, like :meth:`reattach`.)"""
        self.detached = True
        if self.answer_stream is not None:
            await self.answer_stream.stop()
            self.answer_stream = None
        await self._stop_reasoning()

    def reattach(self, answer: AnswerTurn) -> None:
        """The answer's branch is shown again: feed ``answer`` (built from :meth:`shown_text`)."""
        self.detached = False
        self._feed_answer(answer)

    async def show_reasoning(self) -> None:
        """Show the live reasoning in the Reasoning pane again (from what it was given so far)."""
        async with self.panes_lock:
            if self.reasoning_stream is not None or self.ending:
                return
            markdown = await self.screen.reasoning_pane.start_live(
                self.record, streamed=self.backend.STREAMS_REASONING,
                text=self.record.reasoning[: self.reasoning_shown])
            self._feed_reasoning(markdown)

    async def show(self, reasoning: str, content: str) -> None:
        """Text the worker sanitised, recorded and posted: into the panes."""
        async with self.panes_lock:
            await self._show(reasoning, content)

    async def _show(self, reasoning: str, content: str) -> None:
        screen = self.screen
        screen.counters.show_ttft()
        self.reasoning_shown += len(reasoning)
        self.content_shown += len(content)
        if reasoning and self.reasoning_stream is not None:
            await self.reasoning_stream.write(reasoning)
            screen.reasoning_pane.keep_following()
        if content:
            self.answer_shown = True
            if self.answer_stream is not None:
                await self.answer_stream.write(content)
                screen.transcript.keep_following()
        screen.counters.show_state(answering=self.answer_shown)

    def tick(self) -> None:
        """Every 0.25 s while streaming: persist buffered text, refresh elapsed and counters."""
        if self.ending:
            return
        self.save_so_far()
        screen = self.screen
        self.check_stall(screen.clock())
        screen.counters.tick()
        if screen.reasoning_pane.shown is self.record:
            screen.reasoning_pane.keep_following()
        screen.transcript.keep_following()

    def check_stall(self, now: float) -> None:
        """Point out a stream silent for ``stall_notice_s`` seconds (see the module docstring),
        and stop saying so once events come again."""
        record = self.record
        limit = float(getattr(self.screen.app.settings, "stall_notice_s", None) or STALL_NOTICE_S)
        silent = now - (record.last_event_at or record.started_at or now)
        status = self.screen.status
        if silent < limit:
            if self.stalled:
                self.stalled = False
                status.set(text="")
            return
        self.stalled = True
        if record.heartbeat_at is not None:
            status.set(text=f"server alive, model still thinking: no text for {silent:.0f} s · Esc cancels")
        else:
            status.set(text=f"no data from the server for {silent:.0f} s · Esc cancels")

    def save_so_far(self) -> None:
        """Write what has arrived to the store; a failure is told on the status line."""
        try:
            self.recorder.flush()
        except ThinkpaneError as error:
            self.screen.status.set(text="not saved: " + error.title)
            self.screen.retry_saves()

    async def stop_reasoning_stream(self) -> None:
        """The Reasoning pane is about to show another answer: stop feeding its live Markdown."""
        async with self.panes_lock:
            await self._stop_reasoning()

    async def _stop_reasoning(self) -> None:
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
        async with self.panes_lock:
            return await self._show_end(record, status)

    async def _show_end(self, record: TurnRecord, status: str) -> bool:
        screen = self.screen
        if self.detached or not self.answer.is_attached:
            await self._stop_reasoning()
            if self.detached and screen.is_attached:
                # Another branch is shown: the answer ended out of sight, saved; say how.
                screen.counters.finish(self.input_estimate)
                return True
            # The app is quitting mid-stream and has taken the widgets down already (the
            # worker's StreamCancelled comes after): keep what arrived, redraw nothing.
            # Mounting the finished answer now raised MountError and crashed the exit.
            screen.counters.stop()
            return False
        if self.answer_stream is not None:
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
