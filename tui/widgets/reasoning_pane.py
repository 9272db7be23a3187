"""The Reasoning pane: the live reasoning of the current turn, or a reopened earlier one.

Live reasoning streams into a ``LiveMarkdown`` through a ``MarkdownStream``; a reopened
turn is shown as one lightweight ``Static`` (Rich Markdown). Both keep the model's line
breaks (``rendered_reasoning``): reasoning is lines of thought, which Markdown's paragraph
rules joined into one run of text.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.render.following import Following
from thinkpane.tui.render.laid_out_once import LaidOutOnce
from thinkpane.tui.render.strip_scrollbar import StripScrollbars
from thinkpane.tui.widgets.live_markdown import LiveMarkdown, RenderedOnce
from thinkpane.tui.widgets.turn import rendered_code, rendered_markdown


def reasoning_header(
    record: TurnRecord | None,
    now: float | None = None,
    *,
    label: str = "Reasoning",
    position: tuple[int, int] | None = None,
    width: int | None = None,
    streamed: bool = True,
) -> Text:
    """ "Reasoning · answer 2 of 3 · 1,234 tokens · 12.3 s" (tokens as the provider reported
    them, "~1,234" estimated when it did not), or the most detailed shorter form that fits
    ``width`` ("Reasoning 2/3 · 1,234 tok · 12.3 s", then without the time):
    a narrow pane drops whole parts, never half a number or unit. ``streamed``: whether the
    backend streams reasoning (``Backend.STREAMS_REASONING``), which is what a live turn
    still without reasoning says: waiting, or not streamed."""
    forms = _header_forms(record, now, label, position, streamed)
    for form in forms:
        if width is None or form.cell_len <= width:
            return form
    return forms[-1]


def _header_forms(
    record: TurnRecord | None, now: float | None, label: str, position: tuple[int, int] | None,
    streamed: bool = True,
) -> list[Text]:
    long_label = f"{label} · answer {position[0]} of {position[1]}" if position else label
    short_label = f"{label} {position[0]}/{position[1]}" if position else label
    if record is None:
        return [Text(long_label, style="bold")]
    if record.redacted and not record.reasoning:
        return [_header(long_label, (" · redacted by the provider", "italic")),
                _header(short_label, (" · redacted", "italic"))]
    if not record.reasoning:
        if record.status != "streaming":
            note = short_note = " · none for this answer"
        elif streamed:
            note = short_note = " · waiting…"
        else:
            note, short_note = " · not streamed by this backend", " · not streamed"
        return [_header(long_label, (note, "italic")), _header(short_label, (note, "italic")),
                _header(short_label, (short_note, "italic")), _header(short_label)]
    tokens = record.reasoning_tokens_label()
    seconds = record.reasoning_seconds(now)
    timing = f" · {seconds:.1f} s" if seconds is not None else ""
    if record.redacted:  # that it was redacted matters more than its size
        redacted = (" · redacted by the provider", "italic")
        return [
            _header(long_label, redacted, f" · {tokens} tokens{timing}"),
            _header(short_label, redacted, f" · {tokens} tok{timing}"),
            _header(short_label, redacted),
            _header(short_label, (" · redacted", "italic")),
        ]
    return [
        _header(long_label, f" · {tokens} tokens{timing}"),
        _header(short_label, f" · {tokens} tokens{timing}"),
        _header(short_label, f" · {tokens} tok{timing}"),
        _header(short_label, f" · {tokens} tok"),
        _header(short_label),
    ]


def _header(label: str, *parts: str | tuple[str, str] | None) -> Text:
    text = Text(label, style="bold", no_wrap=True, overflow="ellipsis")
    for part in parts:
        if isinstance(part, tuple):
            text.append(*part)
        elif part:
            text.append(part)
    return text


def rendered_reasoning(text: str) -> RenderedOnce:
    """Reasoning as Markdown with every line break kept (the answer keeps Markdown's rules)."""
    return rendered_markdown(text, hard_breaks=True)


class ReasoningHeader(Static):
    """The pane's header line, drawn for the width it has (the pane is narrow at 80 columns)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.record: TurnRecord | None = None
        self.now: float | None = None
        self.label = "Reasoning"
        self.position: tuple[int, int] | None = None
        self.streamed = True

    def show(
        self, record: TurnRecord | None, now: float | None, label: str, position: tuple[int, int] | None,
        streamed: bool = True,
    ) -> None:
        self.record, self.now, self.label, self.position = record, now, label, position
        self.streamed = streamed
        self.refresh()  # one row (height: 1): a repaint, no layout

    def render(self) -> Text:
        return reasoning_header(
            self.record, self.now, label=self.label, position=self.position,
            width=self.content_size.width or None, streamed=self.streamed,
        )


EMPTY_CLASS = "-empty"


class _ReasoningBody(StripScrollbars, Following, LaidOutOnce, VerticalScroll):
    """The scrolling reasoning text; growing needs no second layout pass (see LaidOutOnce),
    and the scrollbar it moves costs next to nothing to draw (see strip_scrollbar.py)."""


class ReasoningPane(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.header = ReasoningHeader(id="reasoning-header")
        self.body = _ReasoningBody(id="reasoning-body", can_focus=True)
        self.live: LiveMarkdown | None = None
        self.shown: TurnRecord | None = None
        # Whether the live turn's backend streams reasoning (Backend.STREAMS_REASONING).
        self.streamed = True

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.body

    async def start_live(self, record: TurnRecord, *, streamed: bool = True, text: str = "") -> LiveMarkdown:
        """Empty the pane and return a Markdown widget for this turn's live reasoning.

        ``streamed``: the backend's ``STREAMS_REASONING``; False makes the header say the
        reasoning is not streamed (rather than "waiting…") until some arrives. ``text``: the
        reasoning already shown (the live turn is shown again after another answer was)."""
        await self.body.remove_children()
        self.live = LiveMarkdown(text, renderer=rendered_reasoning, code_renderer=rendered_code, id="reasoning-live")
        self.shown = record
        self.streamed = streamed
        await self.body.mount(self.live)
        self.body.follow_end(restart=True)
        self.set_header(record)
        return self.live

    def set_header(
        self,
        record: TurnRecord | None,
        now: float | None = None,
        label: str = "Reasoning",
        position: tuple[int, int] | None = None,
    ) -> None:
        # One row high (app.tcss): a new label never moves anything, so a repaint, no layout pass.
        self.header.show(record, now, label, position, self.streamed)
        # Nothing to read: narrow layouts shrink the pane to give the answer the room.
        self.set_class(record is None or not (record.reasoning or record.redacted), EMPTY_CLASS)

    def keep_following(self) -> None:
        self.body.follow_end()

    async def show_record(
        self, record: TurnRecord, *, label: str = "Reasoning", position: tuple[int, int] | None = None
    ) -> None:
        """Show a finished turn's reasoning (a reopened turn, or one loaded from the store)."""
        self.body.anchor(False)
        await self.body.remove_children()
        self.live = None
        self.shown = record
        if record.reasoning:
            body = Static(rendered_reasoning(record.reasoning), classes="reasoning-text")
        elif record.redacted:
            body = Static(Text("The provider redacted this reasoning; it cannot be shown.", style="italic"),
                          classes="reasoning-empty")
        else:
            body = Static(Text("No reasoning for this answer.", style="italic"), classes="reasoning-empty")
        await self.body.mount(body)
        self.body.scroll_home(animate=False)
        self.set_header(record, label=label, position=position)

    async def clear(self) -> None:
        await self.body.remove_children()
        self.live = None
        self.shown = None
        self.set_header(None)

    def live_text(self) -> str:
        """The Markdown source currently in the live widget (tests read it)."""
        return self.live.source if self.live is not None else ""
