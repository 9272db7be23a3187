"""The Reasoning pane: the live reasoning of the current turn, or a reopened earlier one.

Live reasoning streams into a ``LiveMarkdown`` through a ``MarkdownStream``; a reopened
turn is shown as one lightweight ``Static`` (Rich Markdown).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from tui.turn_record import TurnRecord
from tui.widgets.live_markdown import LiveMarkdown
from tui.widgets.transcript import follow_when_overflowing
from tui.widgets.turn import rendered_markdown


def reasoning_header(record: TurnRecord | None, now: float | None = None, *, label: str = "Reasoning") -> Text:
    """ "Reasoning · ~1,234 tokens · 12.3 s" """
    text = Text(label, style="bold")
    if record is None:
        return text
    if record.redacted:
        text.append(" · redacted by the provider", style="italic")
        if not record.reasoning:
            return text
    if not record.reasoning:
        text.append(" · waiting…" if record.status == "streaming" else " · none for this answer", style="italic")
        return text
    text.append(f" · ~{record.estimated_reasoning_tokens:,} tokens")
    seconds = record.reasoning_seconds(now)
    if seconds is not None:
        text.append(f" · {seconds:.1f} s")
    return text


EMPTY_CLASS = "-empty"


class ReasoningPane(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.header = Static(reasoning_header(None), id="reasoning-header")
        self.body = VerticalScroll(id="reasoning-body", can_focus=True)
        self.live: LiveMarkdown | None = None
        self.shown: TurnRecord | None = None

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.body

    async def start_live(self, record: TurnRecord) -> LiveMarkdown:
        """Empty the pane and return a Markdown widget for this turn's live reasoning."""
        await self.body.remove_children()
        self.live = LiveMarkdown(renderer=rendered_markdown, id="reasoning-live")
        self.shown = record
        await self.body.mount(self.live)
        follow_when_overflowing(self.body, restart=True)
        self.set_header(record)
        return self.live

    def set_header(self, record: TurnRecord | None, now: float | None = None, label: str = "Reasoning") -> None:
        self.header.update(reasoning_header(record, now, label=label))
        # Nothing to read: narrow layouts shrink the pane to give the answer the room.
        self.set_class(record is None or not (record.reasoning or record.redacted), EMPTY_CLASS)

    def keep_following(self) -> None:
        follow_when_overflowing(self.body)

    async def show_record(self, record: TurnRecord, *, label: str = "Reasoning") -> None:
        """Show a finished turn's reasoning (a reopened turn, or one loaded from the store)."""
        self.body.anchor(False)
        await self.body.remove_children()
        self.live = None
        self.shown = record
        if record.reasoning:
            body = Static(rendered_markdown(record.reasoning), classes="reasoning-text")
        elif record.redacted:
            body = Static(Text("The provider redacted this reasoning; it cannot be shown.", style="italic"),
                          classes="reasoning-empty")
        else:
            body = Static(Text("No reasoning for this answer.", style="italic"), classes="reasoning-empty")
        await self.body.mount(body)
        self.body.scroll_home(animate=False)
        self.set_header(record, label=label)

    async def clear(self) -> None:
        await self.body.remove_children()
        self.live = None
        self.shown = None
        self.set_header(None)

    def live_text(self) -> str:
        """The Markdown source currently in the live widget (tests read it)."""
        return self.live.source if self.live is not None else ""
