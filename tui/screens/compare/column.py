"""One column of the compare screen: a profile (or backend spec), its header, its Reasoning
pane and its answer, streaming on its own.

A column is a live-turn host like the chat screen (LiveTurnHost, turn_host.py): the same
LiveTurn, TurnRecorder, stream worker, LiveMarkdown panes and counters, so a column streams
exactly as the chat does, and its worker posts its messages to the column alone. A failure
(its backend cannot be built, the stream breaks) is drawn in the column, as the chat draws
a failed answer; the other columns never hear of it.

The header is a StatusLine (the counters set its state, elapsed time and tokens as in the
chat) drawn as three lines: the column's number and what it runs (profile, model,
reasoning effort), its state, then its figures (comparison.figures: time to first token,
thinking time, reasoning and answer tokens), each line in the most detailed form that fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import BackendError, ThinkpaneError
from thinkpane.backends.log_redaction import register_secrets
from thinkpane.tui.core.backend_conversation import backend_conversation
from thinkpane.tui.core.comparison import Figures, figures
from thinkpane.tui.core.profiles import BackendChoice, build_backend, describe
from thinkpane.tui.core.sanitize import sanitize_line
from thinkpane.tui.core.store import StoredMessage
from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.core.turn_recorder import TurnRecorder
from thinkpane.tui.screens.chat.live_turn import LiveTurn
from thinkpane.tui.screens.chat.turn_host import LiveTurnHost
from thinkpane.tui.widgets.reasoning_pane import ReasoningPane
from thinkpane.tui.widgets.status_line import STATE_STYLES, StatusLine
from thinkpane.tui.widgets.transcript import Transcript
from thinkpane.tui.widgets.turn import AnswerTurn

if TYPE_CHECKING:
    from thinkpane.tui.app.app import ThinkpaneApp

CURRENT_CLASS = "-current"
# A column's panes show new text this often (the chat's: 1/8 s). Columns are read by
# glancing from one to another, and their renders and frames are most of what they cost:
# three columns streaming 2,000 tokens each at 150 tokens/s took 1.6 s of CPU at 8 renders
# a second and about 1.3 s at 4, against 0.4 s for consuming the streams without a UI
# (tests/bench/bench_compare.py --quick, a loaded 2-core machine).
RENDER_INTERVAL_S = 1 / 4
# The header's state word for the counters' "idle" (a turn ended, or none ran yet).
ANSWERED, READY = "answered", "ready"
HEADER_STYLES = {**STATE_STYLES, ANSWERED: "bold", READY: "dim"}


class ColumnHeader(StatusLine):
    """Three lines: "2 · deep · deepseek-v4-pro · effort high", then "answering · 12.3 s ·
    TTFT 312 ms", then "thought 4.1 s · reasoning ~812 tok · answer ~140 tok"."""

    if TYPE_CHECKING:
        app: ThinkpaneApp  # the app this widget belongs to, for the type checker

    def __init__(self, number: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.number = number
        self.title = ""
        self.record: TurnRecord | None = None  # the column's current or last turn

    def render(self) -> Text:
        width = self.content_size.width or None
        shown = figures(self.record, self.app.clock()) if self.record is not None else None
        lines = [
            Text(f"{self.number} · {sanitize_line(self.title)}", style="bold"),
            self._state_line(shown, width),
            self._fitting(self._figure_forms(shown), width, style="dim"),
        ]
        text = Text("\n").join(lines)
        text.no_wrap, text.overflow = True, "ellipsis"
        return text

    def state_word(self) -> str:
        state = self.info.state
        if state == "idle":
            return ANSWERED if self.record is not None else READY
        return state

    def _state_line(self, shown: Figures | None, width: int | None) -> Text:
        info, word = self.info, self.state_word()
        line = Text()
        line.append(word, style=HEADER_STYLES.get(word, ""))
        if info.text:
            line.append(" · " + sanitize_line(info.text), style="red" if info.state == "error" else "yellow")
            return line  # a notice or an error says more than the figures
        if shown is None:
            return line
        elapsed = f" · {info.elapsed_s:.1f} s" if info.elapsed_s is not None else ""
        forms = [f"{elapsed} · TTFT {shown.ttft}", f" · TTFT {shown.ttft}", ""]
        rest = self._fitting(forms, None if width is None else width - line.cell_len)
        return line + rest

    @staticmethod
    def _figure_forms(shown: Figures | None) -> list[str]:
        if shown is None:
            return [""]
        cost = f" · {shown.cost}" if shown.cost else ""  # only when the provider gave the price
        return [
            f"thought {shown.thinking} · reasoning {shown.reasoning_tokens} tok · answer {shown.answer_tokens} tok{cost}",
            f"thought {shown.thinking} · reasoning {shown.reasoning_tokens} · answer {shown.answer_tokens}{cost}",
            f"thought {shown.thinking} · r {shown.reasoning_tokens} · a {shown.answer_tokens}{cost}",
            f"r {shown.reasoning_tokens} · a {shown.answer_tokens}{cost}",
            f"r {shown.reasoning_tokens} · a {shown.answer_tokens}",
        ]

    @staticmethod
    def _fitting(forms: list[str], width: int | None, style: str = "") -> Text:
        """The most detailed form that fits: a number is never cut in half."""
        chosen = next((form for form in forms if width is None or cell_len(form) <= width), forms[-1])
        return Text(chosen, style=style)


class CompareColumn(LiveTurnHost, Vertical):
    """A column: builds its backend when mounted, streams a turn when asked."""

    if TYPE_CHECKING:
        app: ThinkpaneApp  # the app this widget belongs to, for the type checker

    @dataclass
    class Ended(Message):
        """The column's turn ended (its ``recorder`` says how), or its backend failed to build."""

        column: CompareColumn

    def __init__(self, number: int, choice: BackendChoice) -> None:
        super().__init__(classes="compare-column", id=f"column-{number}")
        self.number = number
        self.choice = choice
        self.backend: Backend | None = None
        self.backend_error: ThinkpaneError | None = None
        self.recorder: TurnRecorder | None = None  # the last turn's, once it ended
        self.init_live_turns()
        self.header = ColumnHeader(number, id=f"column-header-{number}")
        self.header.title = choice.label

    def compose(self) -> ComposeResult:
        yield self.header
        yield ReasoningPane(id=f"column-reasoning-{self.number}")
        yield Transcript(id=f"column-answer-{self.number}")

    @property
    def described(self) -> str:
        return describe(self.choice.label, self.backend)

    # ------------------------------------------------------------------ the backend

    def on_mount(self) -> None:
        self.header.set(state="loading", text="preparing…")
        self.prepare_backend()

    @work(group="backend", exit_on_error=False)
    async def prepare_backend(self) -> None:
        try:
            backend = await build_backend(self.choice.backend, self.choice.options,
                                          lambda text: self.header.set(text=text))
        except ThinkpaneError as error:
            await self.show_failure(error)
            return
        register_secrets(backend.secrets())
        self.backend = backend
        self.header.title = self.described
        self.header.set(state="idle", text="", backend=backend.label, model=backend.model)

    async def show_failure(self, error: ThinkpaneError) -> None:
        """The column cannot run: say why where its answer would be."""
        self.backend_error = error
        self.header.set(state="error", text=error.title)
        record = TurnRecord(status="error", error_title=error.title, error_detail=error.detail, error_hint=error.hint)
        await self.transcript.add_many([AnswerTurn(record)])
        self.post_message(self.Ended(self))

    @property
    def ready(self) -> bool:
        return self.backend is not None

    # ------------------------------------------------------------------ a turn

    async def ask(self, history: Sequence[StoredMessage], system: str | None, prompt: str) -> bool:
        """Stream an answer to ``prompt`` after ``history`` (the chat's active path, converted
        for this column's backend and model); False when the column has no backend."""
        if self.backend is None:
            return False
        conversation = backend_conversation(history, system, backend=self.backend.name, model=self.backend.model,
                                            prompt=prompt)
        self.recorder = None
        # The record carries the model and thinking setting the column runs with.
        answer = AnswerTurn(TurnRecord.for_backend(self.backend, self.clock()))
        await self.transcript.add_many([answer])
        live = await self.start_turn(self.backend, conversation, None, answer)
        self.header.record = live.record
        for markdown in (live.answer.live_markdown(), self.reasoning_pane.live):
            if markdown is not None:
                markdown.MIN_INTERVAL_S = RENDER_INTERVAL_S
        return True

    async def turn_ended(self, live: LiveTurn, status: str, error: BackendError | None) -> None:
        self.recorder = live.recorder
        self.post_message(self.Ended(self))

    def on_unmount(self) -> None:
        self.abandon_turn()
