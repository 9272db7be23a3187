"""Record one assistant turn from its backend stream: text, timings, usage, outcome, store.

``thinkpane ask`` and the chat screen's stream worker both feed every event of a turn to a
:class:`TurnRecorder`, one event at a time (so the worker can post coalesced messages to the
screen while the turn is recorded), then end it with :meth:`TurnRecorder.finish`. Whatever
the two front ends agree on lives here once: when the first token arrived, how long the turn
took, which usage and backend data to keep, that a stream ending without ``Stop`` is an
incomplete answer, and what reaches the store's ``AnswerWriter`` with which final status
(the partial text is kept whether the turn completed, failed or was cancelled).

Both front ends feed it events sanitised where they arrive (thinkpane.tui.core.sanitize.
EventSanitizer), so the record, the store and the screen hold the same text.
:meth:`TurnRecorder.feed` is the one place a delta enters the record and the store, and it
returns the text it kept, which is what the chat screen's worker passes on to the panes.

No Textual here: ``thinkpane ask`` imports this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from thinkpane.backends.errors import BackendError, IncompleteStreamError
from thinkpane.backends.events import (
    ContentDelta,
    ErrorEvent,
    Heartbeat,
    MessageExtra,
    Notice,
    ReasoningDelta,
    Stop,
    StreamEvent,
    Usage,
)
from thinkpane.tui.core.turn_record import TurnRecord

if TYPE_CHECKING:
    from thinkpane.tui.core.store import AnswerWriter

INCOMPLETE_HINT = "The partial answer is kept. Try again."


class TurnRecorder:
    """Consumes the stream events of one turn into a :class:`TurnRecord` (and an AnswerWriter).

    ``record``: the record to fill in (the chat screen's widgets already show it); a new one
    when omitted. ``clock``: monotonic seconds, injectable so tests can fix the timings.
    ``label``: the backend's name for the user, in the incomplete-answer error.
    """

    def __init__(
        self,
        record: TurnRecord | None = None,
        *,
        writer: AnswerWriter | None = None,
        clock: Callable[[], float] = time.monotonic,
        label: str = "The backend",
    ) -> None:
        self.record = record if record is not None else TurnRecord()
        self.writer = writer
        self.clock = clock
        self.label = label
        if self.record.started_at is None:
            self.record.started_at = clock()
        self.notices: list[Notice] = []
        self.stop: Stop | None = None
        self.error: BackendError | None = None
        self.finished = False
        if writer is not None and (setting := self.record.setting_extra()):
            writer.merge_extra(setting)  # what the turn runs with, kept even if it fails

    # ------------------------------------------------------------------ while it streams

    def feed(self, event: StreamEvent) -> str:
        """Record one event; returns the text a delta added to the turn ("" for other events).

        Events after :meth:`finish` (a late delta of a cancelled stream) are ignored.
        """
        if self.finished:
            return ""
        now = self.clock()
        if isinstance(event, Heartbeat):
            self.record.heartbeat_at = now  # the server is alive; no text yet
            return ""
        self.record.last_event_at, self.record.heartbeat_at = now, None
        if isinstance(event, ReasoningDelta):
            return self._add_text(event.text, reasoning=True)
        if isinstance(event, ContentDelta):
            return self._add_text(event.text, reasoning=False)
        record = self.record
        if isinstance(event, Usage):
            # A backend may report input and output tokens in separate events.
            record.apply_usage(event)
            if self.writer is not None:
                self.writer.set_usage(record.input_tokens, record.output_tokens)
        elif isinstance(event, MessageExtra):
            record.extra.update(event.data)
            if self.writer is not None:
                self.writer.merge_extra(dict(event.data))
        elif isinstance(event, Notice):
            self.notices.append(event)
        elif isinstance(event, Stop):
            self.stop = event
            record.end(self.clock())  # the last event: the timings are final (ask --json prints them)
        elif isinstance(event, ErrorEvent):
            self.error = event.error
        return ""

    def _add_text(self, text: str, *, reasoning: bool) -> str:
        if not text:
            return ""
        record = self.record
        now = self.clock()
        if reasoning:
            record.note_reasoning(now)
            record.reasoning += text
            if self.writer is not None:
                self.writer.append_reasoning(text)
        else:
            record.note_content(now)
            record.content += text
            if self.writer is not None:
                self.writer.append_content(text)
        return text

    def end_of_stream(self) -> ErrorEvent | None:
        """The backend's events ran out. A stream ends with ``Stop`` or an error; one that
        did neither is an incomplete answer, whatever the backend thought. Returns that error
        as an event, for the front end to show like any other (None when the stream ended
        properly)."""
        if self.stop is not None or self.error is not None or self.finished:
            return None
        # The contract says a backend reports this itself; never trust that blindly.
        self.error = IncompleteStreamError(
            f"{self.label} stopped before the answer was finished", INCOMPLETE_HINT
        )
        return ErrorEvent(self.error)

    def flush(self) -> None:
        """Save what arrived so far (before an export, or on a timer). Raises StoreError."""
        if self.writer is not None and not self.finished:
            self.writer.flush()

    # ------------------------------------------------------------------ the end

    def finish(self, status: str | None = None, *, error: BackendError | None = None) -> TurnRecord:
        """End the turn: final timings and outcome on the record, then the answer saved.

        ``status``: complete | cancelled | error; by default what the stream said (error if
        it failed or ended without ``Stop``, else complete). ``error``: what failed, when the
        front end knows better than the stream (a bug in its own code). The partial text is
        kept in every case. Only the first call counts. A failed save raises the store's
        error after the record is complete, so the caller can still show the turn.
        """
        record = self.record
        if self.finished:
            return record
        self.finished = True
        if error is None:
            error = self.error
        if status is None:
            status = "error" if error is not None else "complete"
        record.status = status
        record.end(self.clock())  # first token, thinking and answer time: TurnRecord measures them
        if status == "cancelled":
            record.stop_reason = "cancelled"
        elif self.stop is not None:
            record.stop_reason = self.stop.reason
        if status == "error" and error is not None:
            record.error_title, record.error_detail, record.error_hint = error.title, error.detail, error.hint
        if self.writer is not None:
            record.save_to(self.writer)
            self.writer.finish(
                status,
                stop_reason=record.stop_reason,
                error=str(error) if status == "error" and error is not None else None,
            )
        return record
