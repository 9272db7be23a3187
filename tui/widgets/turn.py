"""One exchange in the transcript: the user's prompt, and the assistant's answer.

A streaming answer is a ``LiveMarkdown`` (Rich Markdown rendered block by block, cheap per
update; see live_markdown.py) fed by a ``MarkdownStream``; when the turn ends it stays as the
finished body (one widget drawing its cached lines). A turn loaded as finished is a lightweight ``Static``
holding a Rich ``Markdown`` renderable: a Textual Markdown tree costs ~27 widgets per
message (measured: 200 of them took 16 s and 325 MB to mount), a Static costs one.

An answer that ended in an error says so under its text: the error's title, the provider's
own message (cut after DETAIL_LIMIT characters, naming the export that holds it all) and the
hint, live and when the conversation is reopened.

A conversation is a tree (tui/core/store): each turn knows its ``message_id`` and its
:class:`TurnPlace` among its siblings (the answers regenerated for one prompt, the edits of
one prompt). A :class:`BranchBar` on top of a turn shows ``‹ 2/3 ›`` when it has siblings
(clicking an arrow posts :class:`BranchBar.Stepped`), and on an answer the backend and
model it ran with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from thinkpane.backends.events import STOP_EXPLANATIONS
from thinkpane.tui.core.cell_width import drop_width_modifiers
from thinkpane.tui.core.error_text import shown_detail
from thinkpane.tui.core.sanitize import sanitize, sanitize_line
from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.render.laid_out_once import LaidOutOnce, SizedByLayout
from thinkpane.tui.render.rich_markdown import rich_code_block, rich_markdown
from thinkpane.tui.widgets.live_markdown import LiveMarkdown, RenderedOnce

# Where a cut error detail can be read whole: the export holds the stored error.
ERROR_DETAIL_SEE_ALL = "“Export conversation” in the command palette (ctrl+p) shows all"


def rendered_markdown(text: str, *, hard_breaks: bool = False) -> RenderedOnce:
    """Finished Markdown, sanitised; Rich Markdown never interprets Rich markup.

    Sanitised here as well as at ingest: a conversation stored by an earlier version holds
    the raw text. Rendered once per width (Textual would render it to measure it, then again
    to draw it). ``hard_breaks``: every line break is kept (the reasoning; see
    rich_markdown.py). Emoji sequences are taken apart so they are as wide as measured
    (cell_width.py).
    """
    return RenderedOnce(rich_markdown(drop_width_modifiers(sanitize(text)), hard_breaks=hard_breaks))


def rendered_code(code: str, lexer: str, first_line: int) -> RenderedOnce:
    """A code block being written, from ``first_line`` on, as ``rendered_markdown`` draws it
    (the same text, cleaned the same way; see code_tail.py)."""
    return RenderedOnce(rich_code_block(drop_width_modifiers(sanitize(code)), lexer, first_line=first_line))


@dataclass(frozen=True)
class TurnPlace:
    """Where a turn sits in the conversation's tree: its message, and which of its siblings
    (those with the same parent, oldest first) it is."""

    message_id: int | None = None
    sibling_index: int = 1
    sibling_count: int = 1

    @classmethod
    def of(cls, message: Any) -> TurnPlace:
        """The place of a ``thinkpane.tui.core.store.StoredMessage``."""
        return cls(message.id, message.sibling_index, message.sibling_count)


PREVIOUS_ARROW, NEXT_ARROW = "‹", "›"


def ran_with(backend: str, model: str) -> str:
    """"openai · deepseek-v4-flash": what an answer ran with, as shown above it."""
    return sanitize_line(" · ".join(part for part in (backend, model) if part))


class BranchBar(Static):
    """``‹ 2/3 › · openai · deepseek-v4-flash``: a turn's place among its siblings (when it
    has any) and, for an answer, what it ran with. Clicking an arrow posts ``Stepped``."""

    @dataclass
    class Stepped(Message):
        """An arrow was clicked: show the previous (-1) or next (+1) sibling of ``turn``."""

        turn: UserTurn | AnswerTurn
        step: int

    def __init__(self, turn: UserTurn | AnswerTurn, place: TurnPlace, label: str = "") -> None:
        super().__init__("", classes="branch-bar", markup=False)
        self.turn = turn
        self.place = place
        self.label = label

    def on_mount(self) -> None:
        self.show(self.place, self.label)

    def show(self, place: TurnPlace, label: str) -> None:
        self.place, self.label = place, label
        text = Text(no_wrap=True, overflow="ellipsis")
        if place.sibling_count > 1:
            text.append(PREVIOUS_ARROW, style="bold" if place.sibling_index > 1 else "dim")
            text.append(f" {place.sibling_index}/{place.sibling_count} ")
            text.append(NEXT_ARROW, style="bold" if place.sibling_index < place.sibling_count else "dim")
        if label:
            text.append((" · " if text else "") + label, style="dim")
        self.update(text)
        self.display = bool(text)

    def arrow_at(self, x: int) -> int:
        """-1 or +1 when column ``x`` (of the content) is an arrow, else 0."""
        if self.place.sibling_count < 2:
            return 0
        if x == 0:
            return -1
        if x == len(f"{PREVIOUS_ARROW} {self.place.sibling_index}/{self.place.sibling_count} "):
            return 1
        return 0

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        step = self.arrow_at(offset.x) if offset is not None and offset.y == 0 else 0
        if step:
            event.stop()
            self.post_message(self.Stepped(self.turn, step))


class InTree:
    """A turn with a place in the conversation's tree (UserTurn and AnswerTurn)."""

    place: TurnPlace

    @property
    def message_id(self) -> int | None:
        return self.place.message_id


class UserTurn(InTree, Vertical):
    """The user's prompt, shown literally (a ``Text``: markup is not interpreted), under its
    branch bar (shown only when the prompt was edited into siblings)."""

    def __init__(self, prompt: str, *, place: TurnPlace | None = None) -> None:
        super().__init__(classes="user-turn")
        self.prompt = prompt
        self.place = place or TurnPlace()
        self.bar = BranchBar(self, self.place)
        self.text = Static(Text(sanitize(drop_width_modifiers(prompt))), classes="user-text")

    def compose(self):
        yield self.bar
        yield self.text


class ReasoningLink(SizedByLayout, Static, can_focus=True):
    """"▸ Thought for 9.1 s · 1,130 tokens": click or Enter shows that turn's reasoning."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "select", "Show reasoning", id="turn.show_reasoning",
                tooltip="Show this answer's reasoning in the Reasoning pane"),
    ]

    @dataclass
    class Selected(Message):
        turn: AnswerTurn

    def __init__(self, turn: AnswerTurn) -> None:
        super().__init__("", classes="reasoning-link")
        self.turn = turn

    def show_record(self, record: TurnRecord) -> None:
        if record.redacted:
            label = "▸ Reasoning (redacted by the provider)"
        else:
            # Reported tokens, or "~" estimated: the same count as the Reasoning pane's header.
            label = "▸ " + record.thought_label()
        self.update(Text(label))
        self.display = bool(record.reasoning) or record.redacted

    def action_select(self) -> None:
        self.post_message(self.Selected(self.turn))

    def on_click(self) -> None:
        self.focus()
        self.action_select()


class AnswerTurn(InTree, LaidOutOnce, Vertical):
    """The assistant's answer: live while streaming; loaded finished, a lightweight Static."""

    def __init__(
        self, record: TurnRecord, *, place: TurnPlace | None = None, ran_with: str = "", live_text: str = ""
    ) -> None:
        """``ran_with``: the backend and model (see :func:`ran_with`); ``live_text``: what a
        streaming answer already shows (it is shown again in another branch and back)."""
        super().__init__(classes="answer-turn")
        self.record = record
        self.place = place or TurnPlace()
        self.bar = BranchBar(self, self.place, ran_with)
        self._live_text = live_text
        self.link = ReasoningLink(self)
        self.note = Static("", classes="turn-note")
        self._live: LiveMarkdown | None = None  # while streaming
        self._suggestion = ""  # what the user can do next, under the note (never stored)
        # Finished: a Static (a turn loaded as finished) or the LiveMarkdown it streamed into.
        self._body: Static | LiveMarkdown | None = None

    def compose(self):
        yield self.bar
        yield self.link
        if self.record.status == "streaming":
            self._live = LiveMarkdown(self._live_text, renderer=rendered_markdown, code_renderer=rendered_code,
                                      classes="answer-body")
            yield self._live
        else:
            self._body = Static(rendered_markdown(self.record.content), classes="answer-body")
            yield self._body
        yield self.note

    def on_mount(self) -> None:
        self.link.show_record(self.record)
        if self.record.status == "streaming":
            self.link.display = False
        self.refresh_note()

    def live_markdown(self) -> LiveMarkdown:
        assert self._live is not None, "only a streaming turn has a live Markdown"
        return self._live

    async def finalize(self) -> None:
        """Keep the live view, now holding the whole answer, as the finished body.

        Swapping it for a single Static cost one ~56 ms frame plus a second layout pass after
        the last token; the live view already shows the rendered blocks.
        """
        if self._live is not None:
            live, self._live = self._live, None
            text = self.record.content  # sanitised at ingest (the stream worker)
            if live.source != text:
                await live.update(text)
            self._body = live
        self.link.show_record(self.record)
        self.refresh_note()

    def suggest(self, text: str) -> None:
        """Show ``text`` (what the user can do next) under the note; "" removes it."""
        self._suggestion = text
        self.refresh_note()

    def refresh_note(self) -> None:
        """The lines under the answer: how it ended when that needs saying, then what it ran
        with (model, thinking, effort)."""
        record = self.record
        note = Text()
        if record.status == "cancelled":
            note.append("cancelled", style="dim italic")
        elif record.status == "interrupted":
            note.append("interrupted (the app closed while this answer streamed)", style="dim italic")
        elif record.status == "error":
            note.append(sanitize(record.error_title or "Error"), style="bold")
            detail = shown_detail(record.error_detail, ERROR_DETAIL_SEE_ALL)
            if detail:
                note.append("\n" + detail, style="dim")
            if record.error_hint:
                note.append("\n" + sanitize(record.error_hint))
        elif record.status == "complete" and record.stop_reason not in (None, "end_turn"):
            explanation = STOP_EXPLANATIONS.get(record.stop_reason or "")
            if explanation:
                note.append(explanation, style="italic")
        if record.status == "complete" and not record.content and not record.reasoning:
            note.append("(empty answer)", style="dim italic")
        if ran_with := record.ran_with_label():
            note.append(("\n" if note else "") + sanitize(ran_with), style="dim")
        if self._suggestion:
            note.append(("\n" if note else "") + self._suggestion, style="italic")
        self.note.update(note)
        self.note.display = bool(note)
        self.set_class(record.status == "error", "-error")
