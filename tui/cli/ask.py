"""``thinkpane ask``: one prompt, one streamed answer, in a pipe-friendly shape.

Text mode: the reasoning goes to stderr (dimmed on a terminal unless NO_COLOR is set), the
answer to stdout, each delta flushed as it arrives, so ``thinkpane ask ... > answer.md``
keeps only the answer. ``--json``: one JSON object per event on stdout, with the exact text
(JSON escaping makes any control character inert; ASCII-only output).

Every event is sanitised where it arrives, in :func:`run_ask`
(thinkpane.tui.core.sanitize.EventSanitizer: escape sequences and control characters
removed): text mode prints that text and ``--save`` stores it, so what was printed is what
the app shows when the conversation is reopened. Only ``--json`` prints the raw events. The turn itself
(timings, usage, a stream that ends without ``Stop``, what ``--save`` stores) is kept by
thinkpane.tui.core.turn_recorder, the same recorder the chat screen uses: ``--json`` adds its
timings to the stop event (``timing``: first token, first reasoning, thinking and answer time
in ms) and, when the provider reported no reasoning tokens, an ``estimated_reasoning_tokens``
to the usage event.

Exit codes: 0 answered; 1 the backend failed (the error's title and hint on stderr); 130
interrupted (what was printed stays printed).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, TextIO

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import ThinkpaneError
from thinkpane.backends.events import (
    ContentDelta,
    Conversation,
    ErrorEvent,
    Message,
    Notice,
    ReasoningDelta,
    Stop,
    StreamEvent,
    Usage,
    event_to_json,
)
from thinkpane.tui.core.sanitize import sanitize, sanitize_line
from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.core.turn_recorder import TurnRecorder, record_turn

# Stop reasons the user needs told about; the others are normal endings.
EXPLAINED_STOPS = frozenset({"max_tokens", "content_filter", "context_window"})

DIM, UNDIM = "\x1b[2m", "\x1b[22m"


@dataclass(frozen=True)
class AskOptions:
    json_mode: bool = False
    show_reasoning: bool = True


def build_prompt(prompt: str | None, stdin_text: str | None) -> str:
    """The prompt argument, then piped input after a blank line (either may be missing)."""
    parts = [part.strip("\n") for part in (prompt, stdin_text) if part and part.strip()]
    return "\n\n".join(parts)


def print_error(error: ThinkpaneError, err: TextIO) -> None:
    """``Error: <title>``, then the detail (the provider's own words, cut after
    DETAIL_LIMIT characters: ``--json`` prints the whole error) and the hint, each indented."""
    from thinkpane.tui.core.error_text import shown_detail

    err.write(f"Error: {sanitize_line(error.title)}\n")
    detail = shown_detail(error.detail, "`thinkpane ask --json` prints all")
    if detail:
        err.write("  " + detail.replace("\n", "\n  ") + "\n")
    if error.hint:
        err.write(f"  {sanitize(error.hint)}\n")
    err.flush()


class _Printer:
    """Routes events to stdout/stderr (text mode: sanitised events) or JSON lines (json mode: raw)."""

    def __init__(self, out: TextIO, err: TextIO, options: AskOptions, record: TurnRecord | None = None) -> None:
        self.out, self.err, self.options = out, err, options
        self.record = record or TurnRecord()  # the timings and usage --json adds
        self.dim = dims_reasoning(err)
        self.reasoning_open = False  # reasoning printed and not yet closed by a newline
        self.reasoning_ends_with_newline = True
        self.content_printed = False
        self.content_ends_with_newline = True

    def event(self, event: StreamEvent) -> None:
        if self.options.json_mode:
            self._json(event)
            if isinstance(event, ErrorEvent):
                self._close_reasoning()
                print_error(event.error, self.err)
            return
        if isinstance(event, ReasoningDelta):
            if self.options.show_reasoning and event.text:
                self._write_reasoning(event.text)
        elif isinstance(event, ContentDelta):
            self._write_content(event.text)
        elif isinstance(event, Stop):
            if event.reason in EXPLAINED_STOPS and event.explanation:
                self.finish_lines()
                self.err.write(event.explanation + "\n")
        elif isinstance(event, Notice):
            self._close_reasoning()
            self.err.write(f"Note: {event.text}\n")
        elif isinstance(event, ErrorEvent):
            self.finish_lines()
            print_error(event.error, self.err)
        # Usage and MessageExtra are for --json and the store.

    def cancelled(self) -> None:
        if self.options.json_mode:
            self._json(Stop("cancelled"))
        else:
            self.finish_lines()

    def finish_lines(self) -> None:
        """End open reasoning / answer lines so the next message starts on its own line."""
        self._close_reasoning()
        if self.content_printed and not self.content_ends_with_newline:
            self.out.write("\n")
            self.content_ends_with_newline = True
        self.out.flush()
        self.err.flush()

    def _write_reasoning(self, text: str) -> None:
        if not text:
            return
        self.err.write(f"{DIM}{text}{UNDIM}" if self.dim else text)
        self.err.flush()
        self.reasoning_open = True
        self.reasoning_ends_with_newline = text.endswith("\n")

    def _close_reasoning(self) -> None:
        if self.reasoning_open:
            # One newline between the reasoning and whatever comes next on the terminal.
            self.err.write("\n" if self.reasoning_ends_with_newline else "\n\n")
            self.err.flush()
            self.reasoning_open = False

    def _write_content(self, text: str) -> None:
        if not text:
            return
        self._close_reasoning()
        self.out.write(text)
        self.out.flush()
        self.content_printed = True
        self.content_ends_with_newline = text.endswith("\n")

    def _json(self, event: StreamEvent) -> None:
        self.out.write(json.dumps(event_json(event, self.record), ensure_ascii=True) + "\n")
        self.out.flush()


def event_json(event: StreamEvent, record: TurnRecord) -> dict[str, Any]:
    """One event as ``--json`` prints it (``thinkpane ask``, and each column of ``thinkpane
    compare``): the event's own fields, a usage with an estimate of the reasoning tokens when
    none were reported, a stop with the turn's timings from ``record``."""
    data = event_to_json(event)
    if isinstance(event, Usage) and event.reasoning_tokens is None and record.reasoning:
        data["estimated_reasoning_tokens"] = record.estimated_reasoning_tokens
    elif isinstance(event, Stop):
        data["timing"] = record.timing_json()
    return data


async def run_ask(
    backend: Backend,
    conversation: Conversation,
    *,
    out: TextIO,
    err: TextIO,
    options: AskOptions,
    writer=None,  # thinkpane.tui.core.store.AnswerWriter when --save
) -> int:
    """Stream one answer to the terminal; returns the exit code. Cancellation propagates."""
    # The recorder keeps the turn (sanitised), with the model and thinking setting it runs
    # with, and saves it (--save).
    recorder = TurnRecorder(TurnRecord.for_backend(backend, time.monotonic()), writer=writer, label=backend.label)
    printer = _Printer(out, err, options, recorder.record)
    await record_turn(
        recorder, backend, conversation, lambda raw, event: printer.event(raw if options.json_mode else event),
        on_cancel=printer.cancelled,
    )
    printer.finish_lines()
    return 1 if recorder.finish().status == "error" else 0


def conversation_for(prompt: str, system: str | None) -> Conversation:
    return Conversation([Message("user", prompt)], system=system or None)


def dims_reasoning(stream: TextIO) -> bool:
    """Reasoning written to ``stream`` is dimmed: a terminal, and NO_COLOR is not set."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return terminal and not os.environ.get("NO_COLOR")
