"""``thinkpane compare``: one prompt, two to four columns (profiles or backend specs) at once.

The columns stream concurrently, each through the same loop as ``thinkpane ask``
(thinkpane.tui.core.turn_recorder.record_turn), so each keeps its own timings and usage.

Text mode prints a report on stdout: each column's reasoning (dimmed on a terminal unless
NO_COLOR is set) and answer under a header naming it, in column order as soon as the column
and those before it have finished, then a summary table of their figures
(thinkpane.tui.core.comparison.figures). ``--json``: every event as ``ask --json`` prints it,
with the ``column`` number (1 for the first ``--with``) as it arrives, then one ``summary``
object with a row per column; a column's error also goes to stderr, as in ``ask``.

A column that fails (its backend cannot be built, the server is down, the stream breaks)
shows its error in its place and in the table; the other columns go on. Exit codes: 0 every
column answered; 1 any failed; 130 interrupted (what was printed stays printed).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from thinkpane.backends import registry
from thinkpane.backends.base import Backend
from thinkpane.backends.errors import BackendError
from thinkpane.backends.events import (
    STOP_EXPLANATIONS,
    Conversation,
    ErrorEvent,
    Stop,
    StreamEvent,
)
from thinkpane.backends.log_redaction import register_secrets
from thinkpane.tui.cli.ask import DIM, EXPLAINED_STOPS, UNDIM, AskOptions, dims_reasoning, event_json, print_error
from thinkpane.tui.cli.table import write_table
from thinkpane.tui.core.comparison import figures, summary
from thinkpane.tui.core.profiles import BackendChoice, describe
from thinkpane.tui.core.sanitize import sanitize_line
from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.core.turn_recorder import TurnRecorder, record_turn

TABLE_HEADINGS = ("column", "backend / model / effort", "TTFT", "thinking", "reasoning tok", "answer tok", "status")
NUMBER_COLUMNS = (2, 3, 4, 5)  # right-aligned


@dataclass
class _Column:
    number: int
    choice: BackendChoice
    backend: Backend | None = None
    setup_error: BackendError | None = None
    recorder: TurnRecorder | None = None
    done: bool = False

    @property
    def described(self) -> str:
        return describe(self.choice.label, self.backend)

    @property
    def failed(self) -> bool:
        return self.recorder is None or self.recorder.record.status != "complete"


async def run_compare(
    choices: Sequence[BackendChoice],
    conversation: Conversation,
    *,
    out: TextIO,
    err: TextIO,
    options: AskOptions,
) -> int:
    """Stream every column, print as described in the module docstring; the exit code."""
    columns = [_Column(number, choice) for number, choice in enumerate(choices, 1)]
    for column in columns:
        try:
            column.backend = registry.create(column.choice.backend, column.choice.options)
        except BackendError as error:
            column.setup_error = error
        else:
            register_secrets(column.backend.secrets())
    report = _Report(columns, out, err, options)
    await asyncio.gather(*(_run_column(column, conversation, report) for column in columns))
    report.summary()
    return 1 if any(column.failed for column in columns) else 0


async def _run_column(column: _Column, conversation: Conversation, report: _Report) -> None:
    backend = column.backend
    if backend is None:
        assert column.setup_error is not None
        report.event(column, ErrorEvent(column.setup_error), ErrorEvent(column.setup_error))
    else:
        try:
            # The record carries the model and thinking setting the column runs with.
            column.recorder = recorder = TurnRecorder(TurnRecord.for_backend(backend, time.monotonic()),
                                                      label=backend.label)
            await record_turn(
                recorder, backend, conversation, lambda raw, event: report.event(column, raw, event),
                on_cancel=lambda: report.cancelled(column),
            )
            recorder.finish()
        finally:
            await backend.aclose()
    column.done = True
    report.column_done()


class _Report:
    """What goes to the terminal: JSON lines as events arrive, or text blocks in column order."""

    def __init__(self, columns: list[_Column], out: TextIO, err: TextIO, options: AskOptions) -> None:
        self.columns, self.out, self.err, self.options = columns, out, err, options
        self.dim = dims_reasoning(out)
        self.printed = 0  # columns whose block is out (text mode)

    def event(self, column: _Column, raw: StreamEvent, event: StreamEvent) -> None:
        if not self.options.json_mode:
            return  # text mode prints each column's record once it has finished
        self._json({"column": column.number, **event_json(raw, _record_of(column))})
        if isinstance(event, ErrorEvent):
            self.err.write(f"Column {column.number} ({sanitize_line(column.choice.label)}):\n")
            print_error(event.error, self.err)

    def cancelled(self, column: _Column) -> None:
        if self.options.json_mode:
            self._json({"column": column.number, **event_json(Stop("cancelled"), _record_of(column))})

    def column_done(self) -> None:
        if self.options.json_mode:
            return
        while self.printed < len(self.columns) and self.columns[self.printed].done:
            self._block(self.columns[self.printed])
            self.printed += 1

    def summary(self) -> None:
        if self.options.json_mode:
            rows = []
            for column in self.columns:
                data = summary(column.number, column.choice.label, column.choice.backend, column.described,
                               _record_of(column))
                rows.append(data)
            self._json({"type": "summary", "columns": rows})
            return
        table = [TABLE_HEADINGS]
        for column in self.columns:
            shown = figures(_record_of(column))
            status = shown.status
            error = column.setup_error or (column.recorder.error if column.recorder else None)
            if error is not None and status == "error":
                status = f"error: {sanitize_line(error.title)}"
            table.append((str(column.number), sanitize_line(column.described), shown.ttft, shown.thinking,
                          shown.reasoning_tokens, shown.answer_tokens, status))
        write_table(self.out, table, right=NUMBER_COLUMNS)
        self.out.flush()

    def _block(self, column: _Column) -> None:
        out = self.out
        out.write(f"── {column.number} · {sanitize_line(column.described)} ──\n")
        recorder = column.recorder
        if recorder is not None:
            record = recorder.record
            for notice in recorder.notices:
                out.write(f"Note: {sanitize_line(notice.text)}\n")
            if record.reasoning and self.options.show_reasoning:
                reasoning = record.reasoning.rstrip("\n")
                out.write((f"{DIM}{reasoning}{UNDIM}" if self.dim else reasoning) + "\n\n")
            if record.content:
                out.write(record.content.rstrip("\n") + "\n")
            if record.stop_reason in EXPLAINED_STOPS:
                out.write(STOP_EXPLANATIONS[record.stop_reason] + "\n")
        error = column.setup_error or (recorder.error if recorder is not None else None)
        if error is not None:
            print_error(error, out)
        out.write("\n")
        out.flush()

    def _json(self, data: dict[str, object]) -> None:
        self.out.write(json.dumps(data, ensure_ascii=True) + "\n")
        self.out.flush()


def _record_of(column: _Column) -> TurnRecord:
    """The column's record; a column whose backend could not be built failed before it began."""
    if column.recorder is not None:
        return column.recorder.record
    error = column.setup_error
    return TurnRecord(status="error", error_title=error.title if error else None, error_hint=error.hint if error else None)

