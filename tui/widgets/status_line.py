"""The bottom status line: backend · model | state | elapsed | TTFT | tokens in/out."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from tui.widgets.safe_text import clean_line

STATE_STYLES = {
    "idle": "dim",
    "thinking": "italic",
    "answering": "bold",
    "cancelled": "dim italic",
    "error": "bold red",
    "loading": "italic",
    "notice": "yellow",
}


@dataclass
class StatusInfo:
    backend: str = ""
    model: str = ""
    state: str = "idle"
    text: str = ""  # shown after the state word: notices, error titles
    elapsed_s: float | None = None
    ttft_ms: int | None = None
    tokens_in: str | None = None
    tokens_out: str | None = None


class StatusLine(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.info = StatusInfo()

    def set(self, **changes) -> None:
        for name, value in changes.items():
            setattr(self.info, name, value)
        # One row, always (height: 1 in app.tcss): a repaint, not a layout pass of the whole
        # screen; this runs up to 60 times a second while an answer streams.
        self.update(self.line_text(), layout=False)

    def line_text(self) -> Text:
        info = self.info
        line = Text(no_wrap=True, overflow="ellipsis")
        where = " · ".join(part for part in (clean_line(info.backend), clean_line(info.model)) if part)
        line.append(where or "no backend", style="bold")
        line.append(" │ ")
        line.append(info.state, style=STATE_STYLES.get(info.state, ""))
        if info.text:
            line.append(" · " + clean_line(info.text), style="red" if info.state == "error" else "yellow")
        if info.elapsed_s is not None:
            line.append(f" │ {info.elapsed_s:.1f} s")
        if info.ttft_ms is not None:
            line.append(f" │ TTFT {info.ttft_ms:,} ms")
        if info.tokens_in is not None or info.tokens_out is not None:
            line.append(f" │ tokens {info.tokens_in or '?'} in / {info.tokens_out or '?'} out")
        return line
