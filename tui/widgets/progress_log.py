"""The live provisioning / connection-test log of the setup screen: one line per step.

A step's line is updated in place as its :class:`thinkpane.backends.base.ProgressEvent`\\ s arrive
(``step`` is the key): a spinner while it runs, then ✓ ok, – skip, ! warn or ✗ fail with
its duration. A failure or warning shows the server's message (cut after DETAIL_LIMIT
characters; the ``thinkpane setup`` command prints it whole) and its hint (the fix) under
it. Text from servers and models goes through :func:`thinkpane.tui.core.sanitize.sanitize`,
never through the markup parser.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Static

from thinkpane.backends.events import ProgressEvent
from thinkpane.tui.core.error_text import shown_detail
from thinkpane.tui.core.sanitize import sanitize, sanitize_line

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SYMBOLS = {"ok": "✓", "skip": "–", "warn": "!", "fail": "✗", "info": "·", "cancelled": "■"}
RUNNING = ("start", "progress")
FINISHED = ("ok", "skip", "warn", "fail", "cancelled")
# Where a cut detail can be read whole: the CLI runs the same steps and prints it all.
SEE_ALL = "`thinkpane setup` / `teardown` in a terminal prints all"

# CSS classes a line carries for its state (styled in DEFAULT_CSS below).
CLASS_BY_STATUS = {
    "ok": "-ok",
    "skip": "-skip",
    "warn": "-warn",
    "fail": "-fail",
    "cancelled": "-cancelled",
    "start": "-running",
    "progress": "-running",
}


class StepLine(Static):
    """One step of the log. ``status`` / ``message`` / ``hint`` are what the user sees."""

    DEFAULT_CSS = """
    StepLine { height: auto; padding: 0 1; }
    StepLine.-ok { color: $text-success; }
    StepLine.-fail { color: $text-error; }
    StepLine.-warn { color: $text-warning; background: $warning-muted; }
    StepLine.-skip, StepLine.-cancelled { color: $text-muted; }
    """

    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step
        self.status = "start"
        self.message = ""
        self.hint = ""
        self.detail = ""
        self.duration_s: float | None = None
        self.frame = 0

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    def apply(self, event: ProgressEvent) -> None:
        # An "info" line about a running step keeps the step running; on its own it is a note.
        if event.status != "info" or self.status not in RUNNING:
            self.set_status(event.status)
        self.message = sanitize(event.message)
        self.hint = sanitize(event.hint)
        self.detail = shown_detail(str(event.data.get("detail", "") or "") if event.data else "", SEE_ALL)
        self.duration_s = event.duration_s
        self.refresh_text()

    def set_status(self, status: str) -> None:
        self.status = status
        self.set_classes(CLASS_BY_STATUS.get(status, ""))

    def refresh_text(self) -> None:
        self.update(self.render_text())

    def render_text(self) -> Text:
        symbol = SPINNER[self.frame % len(SPINNER)] if self.running else SYMBOLS.get(self.status, "·")
        # A running step's message can be a long stream of model text: show its newest part.
        message = sanitize_line(self.message)
        if self.running and len(message) > 160:
            message = "…" + message[-159:]
        text = Text.assemble((symbol + " ", "bold"), (self.step, "dim"), "  ", message)
        if self.duration_s is not None and self.status in FINISHED:
            text.append(f"  ({self.duration_s:.1f} s)", style="dim")
        if self.status in ("fail", "warn") and self.detail:
            text.append("\n    " + self.detail, style="dim")
        if self.status in ("fail", "warn", "cancelled") and self.hint:
            text.append("\n    → " + self.hint, style="bold")
        return text


class ProgressLog(VerticalScroll, can_focus=True):
    """Lines keyed by step id, in the order the steps first appeared."""

    DEFAULT_CSS = """
    ProgressLog { height: auto; min-height: 3; max-height: 14; border: round $panel; }
    ProgressLog:focus { border: round $accent; }
    """

    SPIN_INTERVAL_S: ClassVar[float] = 0.1

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Progress"
        self.lines: dict[str, StepLine] = {}
        self._spinner: Timer | None = None

    def on_mount(self) -> None:
        self._spinner = self.set_interval(self.SPIN_INTERVAL_S, self._spin, pause=True)

    # ------------------------------------------------------------------ API

    def show(self, event: ProgressEvent) -> StepLine:
        """Add the step's line or update it in place."""
        line = self.lines.get(event.step)
        if line is None:
            line = self.lines[event.step] = StepLine(event.step)
            self.mount(line)
            line.apply(event)
            self.scroll_end(animate=False)
        else:
            line.apply(event)
        self._update_spinner()
        return line

    def line(self, step: str) -> StepLine | None:
        return self.lines.get(step)

    def statuses(self) -> dict[str, str]:
        """Step id -> status, in display order (what tests and the screen read)."""
        return {step: line.status for step, line in self.lines.items()}

    def stop_running(self, message: str, hint: str = "") -> None:
        """Mark every running step as cancelled (the worker was stopped)."""
        for line in self.lines.values():
            if line.running:
                line.set_status("cancelled")
                line.message = message
                line.hint = hint
                line.refresh_text()
        self._update_spinner()

    def clear(self) -> None:
        for line in self.lines.values():
            line.remove()
        self.lines.clear()
        self._update_spinner()

    # ------------------------------------------------------------------ spinner

    def _update_spinner(self) -> None:
        if self._spinner is None:
            return
        if any(line.running for line in self.lines.values()):
            self._spinner.resume()
        else:
            self._spinner.pause()

    def _spin(self) -> None:
        for line in self.lines.values():
            if line.running:
                line.frame += 1
                line.refresh_text()
