"""Where live turns stream: the chat screen, and each column of the compare screen.

A host is a screen or widget with a Reasoning pane (``reasoning_pane``), an answer pane
(``transcript``), a status line or header (``status``, a StatusLine) and a clock
(``clock()``). :class:`LiveTurnHost` gives it the rest, once: starting a turn (a
:class:`~thinkpane.tui.screens.chat.live_turn.LiveTurn` and its stream worker), the
worker's messages routed to the live turn (late ones from an older stream dropped), the
end of the turn whatever ended it, cancelling, and keeping what arrived when the host is
taken down mid-stream. The stream worker posts its messages to the host that started it
(they do not bubble), so several hosts stream side by side without seeing each other's.

A mixin, not a widget: its handlers are found by name (``on_text_received``…), which is
how Textual dispatches to plain classes in a widget's bases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from textual import work
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import BackendError, InternalError
from thinkpane.backends.events import Conversation
from thinkpane.tui.core import collector
from thinkpane.tui.core.sanitize import sanitize_line
from thinkpane.tui.core.turn_recorder import TurnRecorder
from thinkpane.tui.render.paint_soon import paint_soon
from thinkpane.tui.screens.chat.counters import TurnCounters
from thinkpane.tui.screens.chat.live_turn import LiveTurn
from thinkpane.tui.screens.chat.messages import (
    NoticeReceived,
    StreamCancelled,
    StreamFailed,
    StreamFinished,
    TextReceived,
)
from thinkpane.tui.screens.chat.stream_worker import pump_stream
from thinkpane.tui.widgets.reasoning_pane import ReasoningPane
from thinkpane.tui.widgets.status_line import StatusLine
from thinkpane.tui.widgets.transcript import Transcript
from thinkpane.tui.widgets.turn import AnswerTurn

if TYPE_CHECKING:
    from thinkpane.tui.app.app import ThinkpaneApp


class TurnView(Protocol):
    """What a live turn and its counters draw on (a host, seen from LiveTurn and TurnCounters)."""

    counters: TurnCounters

    @property
    def transcript(self) -> Transcript: ...

    @property
    def reasoning_pane(self) -> ReasoningPane: ...

    @property
    def status(self) -> StatusLine: ...

    @property
    def is_attached(self) -> bool: ...

    def clock(self) -> float: ...

    def set_interval(self, interval: float, callback: Callable[[], object]) -> Timer: ...

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               markup: bool = True) -> None: ...

    @property
    def app(self) -> ThinkpaneApp: ...

    def retry_saves(self) -> None: ...


class LiveTurnHost:
    """Mixed into a Screen or Widget holding one Transcript, one ReasoningPane and one
    StatusLine, which makes it a :class:`TurnView`; call :meth:`init_live_turns` from its
    ``__init__``."""

    live: LiveTurn | None
    turn_counter: int
    counters: TurnCounters

    # What a TurnView shows a turn in: the host's one Transcript, ReasoningPane and
    # StatusLine (a compare column's header is one), and the app's clock.

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)  # type: ignore[attr-defined]

    @property
    def reasoning_pane(self) -> ReasoningPane:
        return self.query_one(ReasoningPane)  # type: ignore[attr-defined]

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)  # type: ignore[attr-defined]

    def clock(self) -> float:
        return self.app.clock()  # type: ignore[attr-defined]

    def init_live_turns(self) -> None:
        self.live = None
        self.turn_counter = 0
        self.counters = TurnCounters(self)  # type: ignore[arg-type]

    async def start_turn(self, backend: Backend, conversation: Conversation, writer,
                         answer: AnswerTurn, typed: str | None = None) -> LiveTurn:
        """Stream an answer to ``conversation`` into ``answer`` (mounted in the transcript,
        its record "streaming"); ``writer``: the store's AnswerWriter for it, or None to keep
        the answer in memory only; ``typed``: the prompt as the user sent it."""
        self.turn_counter += 1
        self.live = await LiveTurn.start(self, self.turn_counter, backend, conversation, writer, answer,  # type: ignore[arg-type]
                                         typed)
        self.live.worker = self.run_stream(backend, conversation, self.turn_counter, self.live.recorder)
        return self.live

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def run_stream(self, backend: Backend, conversation: Conversation, turn: int,
                         recorder: TurnRecorder) -> None:
        with collector.streaming():  # no full garbage collections mid-stream (core/collector.py)
            await pump_stream(backend, conversation, turn, self.post_message, recorder=recorder)  # type: ignore[attr-defined]

    def cancel_turn(self) -> bool:
        """Stop the running answer (its partial text is kept); False when none runs."""
        live = self.live
        if live is None or live.worker is None or live.ending:
            return False
        live.worker.cancel()
        return True

    def abandon_turn(self) -> None:
        """The host is being taken down mid-stream: keep what arrived, marked cancelled."""
        self.counters.stop()
        if self.live is not None and not self.live.ending:
            self.live.abandon()
            self.live = None

    async def turn_ended(self, live: LiveTurn, status: str, error: BackendError | None) -> None:
        """Called once a turn has ended (``status``, and what failed) and been drawn."""

    def retry_saves(self) -> None:
        """A save of the live answer failed: the chat screen tries again (a column saves nothing
        until an answer is kept)."""

    def _current(self, turn: int) -> LiveTurn | None:
        """The live turn if a message belongs to it (late messages from old streams are dropped)."""
        live = self.live
        return live if live is not None and live.turn == turn and not live.ending else None

    # ------------------------------------------------------------------ stream messages

    async def on_text_received(self, message: TextReceived) -> None:
        if live := self._current(message.turn):
            await live.show(message.reasoning, message.content)

    def on_notice_received(self, message: NoticeReceived) -> None:
        if self._current(message.turn):
            self.status.set(text=message.text)

    async def on_stream_finished(self, message: StreamFinished) -> None:
        if self._current(message.turn):
            await self._end_turn("complete")

    async def on_stream_failed(self, message: StreamFailed) -> None:
        if self._current(message.turn):
            await self._end_turn("error", error=message.error)

    async def on_stream_cancelled(self, message: StreamCancelled) -> None:
        if self._current(message.turn):
            await self._end_turn("cancelled")

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

    async def _end_turn(self, status: str, *, error: BackendError | None = None) -> None:
        live = self.live
        if live is None or live.ending:
            return
        shown = await live.end(status, error=error)
        self.live = None
        if not shown:
            return
        # The last text, headers, link and status line in one frame, without waiting for a tick.
        paint_soon(self.screen)  # type: ignore[attr-defined]
        await self.turn_ended(live, status, error)
