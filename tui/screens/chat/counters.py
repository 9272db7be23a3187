"""The live turn's counters: state, elapsed time, TTFT and tokens on the status line, and the
Reasoning pane's header (tokens, seconds), while an answer streams and once it has ended.

While text streams they change in the frames that paint it (each pane's ``on_render`` calls
:meth:`TurnCounters.text_painted`), about 4 times a second, not on every coalesced delta:
60 updates a second were 60 frames, doubling a stream's CPU, and a frame of their own 4
times a second cost as much as a fifth of it (tests/bench/bench_render.py). The live turn's
tick (:meth:`TurnCounters.tick`) covers the wait for the first token and a stalled stream.
Real time paces the updates; the times shown come from the app's clock (tests fix it).
The compact forms for narrow terminals are the widgets' own (StatusLine.line_text, the
Reasoning header), picked for the width they have when they paint.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from thinkpane.backends.base import Backend
from thinkpane.tui.core.turn_record import TurnRecord

if TYPE_CHECKING:
    from thinkpane.tui.screens.chat.screen import ChatScreen

# The status line's elapsed time and token counter, and the Reasoning header, change this
# often while text streams (in the frames that paint text; the tick covers a stall).
COUNTERS_INTERVAL_S = 0.25


class TurnCounters:
    """What the status line and the Reasoning header say about the turn streaming now."""

    def __init__(self, screen: ChatScreen) -> None:
        self.screen = screen
        self.record: TurnRecord | None = None  # the streaming turn's, None between turns
        self._shown_at = float("-inf")  # time.monotonic() when the counters were last shown
        self._due: asyncio.TimerHandle | None = None  # a trailing update, if one waits

    def start(self, record: TurnRecord, backend: Backend, tokens_in: str) -> None:
        self.record = record
        self.screen.status.set(backend=backend.label, model=backend.model, state="waiting", text="",
                               elapsed_s=0.0, ttft_ms=None, tokens_in=tokens_in, tokens_out="~0",
                               tokens_cached=None, tokens_reasoning=None,
                               reasoning=backend.reasoning_label())
        self._shown_at = float("-inf")  # the first text shows the counters at once

    def show_ttft(self) -> None:
        """Text arrived: the time to the first token, the first time there is one."""
        record, status = self.record, self.screen.status
        if record is not None and record.ttft_ms is not None and status.info.ttft_ms is None:
            status.set(ttft_ms=record.ttft_ms)

    def show_state(self, answering: bool) -> None:
        """Thinking until the Answer pane has been given text, answering from then on. (Not
        from the record: the worker records answer text before the reasoning that came
        first has reached its pane.)"""
        state = "answering" if answering else "thinking"
        if self.record is not None and self.screen.status.info.state != state:
            self.screen.status.set(state=state)

    def text_painted(self) -> None:
        """A pane painted new text: bring the header, elapsed time and token counter up to
        date in the same frame, about 4 times a second (the tick leaves them alone while
        text keeps coming). Every render also repainting the status line and the header
        widened each frame from the reasoning pane to the whole screen."""
        if self.record is None:
            return
        wait = self._shown_at + COUNTERS_INTERVAL_S - time.monotonic()
        if wait > 0:
            # The next render will most likely update them; if none comes (a pause in the
            # stream), this does, so the text on screen is always counted soon after.
            if self._due is None:
                self._due = asyncio.get_running_loop().call_later(wait + COUNTERS_INTERVAL_S, self._show_now)
            return
        self._show_now()

    def _show_now(self) -> None:
        self._cancel_due()
        record = self.record
        if record is None or not self.screen.is_attached:
            return
        self._shown_at = time.monotonic()
        self._show(record, self.screen.clock())

    def tick(self) -> None:
        """Every 0.25 s while streaming. While text streams, the frames that paint it show
        the counters; waiting for the first token, or a stalled stream, still shows the time
        passing."""
        record = self.record
        if record is not None and time.monotonic() - self._shown_at >= 2 * COUNTERS_INTERVAL_S:
            self._show(record, self.screen.clock())

    def _show(self, record: TurnRecord, now: float) -> None:
        screen = self.screen
        if screen.reasoning_pane.shown is record:
            screen.reasoning_pane.set_header(record, now)
        screen.status.set(elapsed_s=now - (record.started_at or now), tokens_out=record.output_tokens_label())

    def finish(self, tokens_in_estimate: str) -> None:
        """The turn ended (its record says how): the final figures, and the outcome."""
        record = self.record
        self.stop()
        if record is None:
            return
        screen = self.screen
        if screen.reasoning_pane.shown is record:
            screen.reasoning_pane.set_header(record, record.ended_at)
        self.show_outcome(record, tokens_in_estimate)

    def show_outcome(self, record: TurnRecord, tokens_in_estimate: str | None = None) -> None:
        """A finished turn's figures and how it ended (a turn ending, or the version of an
        answer the user switched to)."""
        self.screen.status.set(
            state={"complete": "idle"}.get(record.status, record.status),
            text=(record.error_title or "") if record.status == "error" else "",
            elapsed_s=record.elapsed_ms / 1000 if record.elapsed_ms is not None else None,
            ttft_ms=record.ttft_ms,
            tokens_in=f"{record.input_tokens:,}" if record.input_tokens is not None else tokens_in_estimate,
            tokens_out=record.output_tokens_label(),
            tokens_cached=record.cached_input_tokens,
            tokens_reasoning=record.reasoning_tokens,
        )

    def clear(self) -> None:
        """Another chat is shown (Ctrl+N, a saved one): the last turn's figures go too."""
        self.stop()
        self.screen.status.set(elapsed_s=None, ttft_ms=None, tokens_in=None, tokens_out=None)

    def stop(self) -> None:
        """No turn to count any more (it ended, or the screen goes away)."""
        self.record = None
        self._cancel_due()

    def _cancel_due(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None
