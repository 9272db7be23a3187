"""The bottom status line: backend · model · thinking setting | state | elapsed | TTFT | tokens.

The thinking setting is what the next answer asks for ("thinking on · effort high"); the
tokens are in / out, with the prompt-cache hits and the reasoning share when the provider
reported them ("tokens 1,234 in (1,024 cached) / 567 out (400 reasoning)").

Narrow terminals get a compact form (``↑12 ↓34``, ``on/high``) rather than a line cut mid-number."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

from thinkpane.tui.core.sanitize import sanitize_line

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
    tokens_cached: int | None = None  # of tokens_in, read from the provider's prompt cache
    tokens_reasoning: int | None = None  # of tokens_out, spent thinking (as reported)
    reasoning: str = ""  # "thinking on · effort high": what the next answer asks for ("" if no switch)


# Narrow terminals: the most detailed form that fits. The thinking setting goes short first
# ("on/high": the words around it are the same every time); token counts are what people
# glance at, so they go compact ("↑12 ↓34") before anything is dropped; then TTFT, then the
# elapsed time; last the backend · model part is shortened. A number or unit is never cut
# in half. (long tokens, elapsed, TTFT, long thinking setting)
VARIANTS = (
    (True, True, True, True), (True, True, True, False), (False, True, True, False),
    (False, True, False, False), (False, False, False, False),
)
MIN_WHERE = 8  # cells of "backend · model" kept when even the shortest form is too wide


class StatusLine(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.info = StatusInfo()

    def set(self, **changes) -> None:
        for name, value in changes.items():
            setattr(self.info, name, value)
        # One row, always (height: 1 in app.tcss): a repaint, not a layout pass of the whole
        # screen; this runs up to 60 times a second while an answer streams.
        self.refresh()

    def render(self) -> Text:
        # Drawn for the width it has now, so a resize picks another form by itself.
        return self.line_text(self.content_size.width or None)

    def line_text(self, width: int | None = None) -> Text:
        """The line; with ``width``, the most detailed form that fits in it."""
        where = " · ".join(part for part in (sanitize_line(self.info.backend), sanitize_line(self.info.model)) if part)
        where = where or "no backend"
        for long_tokens, elapsed, ttft, long_setting in VARIANTS:
            line = self._line(where, long_tokens=long_tokens, elapsed=elapsed, ttft=ttft, long_setting=long_setting)
            if width is None or line.cell_len <= width:
                return line
        assert width is not None  # the loop above returned otherwise
        rest = line.cell_len - cell_len(where)
        room = max(MIN_WHERE, width - rest)
        if room < cell_len(where):
            where = where[: room - 1] + "…"
        return self._line(where, long_tokens=False, elapsed=False, ttft=False, long_setting=False)

    def _line(self, where: str, *, long_tokens: bool, elapsed: bool, ttft: bool, long_setting: bool) -> Text:
        info = self.info
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(where, style="bold")
        if info.reasoning:  # with the model it applies to: "deepseek-v4-flash · thinking on"
            line.append(" · ")
            line.append(info.reasoning if long_setting else short_setting(info.reasoning), style="italic")
        line.append(" │ ")
        line.append(info.state, style=STATE_STYLES.get(info.state, ""))
        if info.text:
            line.append(" · " + sanitize_line(info.text), style="red" if info.state == "error" else "yellow")
        if elapsed and info.elapsed_s is not None:
            line.append(f" │ {info.elapsed_s:.1f} s")
        if ttft and info.ttft_ms is not None:
            line.append(f" │ TTFT {info.ttft_ms:,} ms")
        if info.tokens_in is not None or info.tokens_out is not None:
            tokens_in, tokens_out = info.tokens_in or "?", info.tokens_out or "?"
            if long_tokens:
                cached = f" ({info.tokens_cached:,} cached)" if info.tokens_cached else ""
                thought = f" ({info.tokens_reasoning:,} reasoning)" if info.tokens_reasoning is not None else ""
                line.append(f" │ tokens {tokens_in} in{cached} / {tokens_out} out{thought}")
            else:
                line.append(f" │ ↑{tokens_in} ↓{tokens_out}")
        return line


def short_setting(label: str) -> str:
    """"thinking on · effort high" -> "on/high" (the narrow status line's form)."""
    return label.removeprefix("thinking ").replace(" · effort ", "/")
