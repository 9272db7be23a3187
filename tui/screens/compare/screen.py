"""The compare screen: one prompt, two to four columns streaming their reasoning and answers.

Each column (column.py) is a profile or backend spec with its own backend, stream and
failure; this screen owns the layout, the prompt, which column is current, and what is kept.

* **Layout.** Columns side by side; below ``NARROW_BELOW_COLUMNS`` columns of terminal they
  become tabs (a ``Tabs`` bar, one column shown at a time). Not ``TabbedContent``: it shows
  one pane at a time and makes any pane that takes the focus the shown one, while the wide
  layout shows them all. Here the same column widgets serve both layouts and a resize only
  changes which are displayed, so a stream never restarts when the terminal is resized.
* **Keys.** Esc stops every column (when none streams, it goes back to the chat); ``x``
  stops the current column, ``w`` keeps the current column's answer. The current column is
  the one the focus is in, else the shown tab, else the last one the focus was in; its
  header is highlighted. ``x`` and ``w`` are typed as text while the prompt has the focus.
* **Continue from a winner.** The prompt and the kept answer become the chat conversation's
  next turn and the other columns' answers are kept with it (comparison.save_comparison);
  the chat then goes on with the winner's backend. Columns still streaming are stopped
  first (their partial text is kept too). Leaving without keeping an answer asks first.

The conversation a prompt is sent with is the chat's (its history, its system prompt), so
a comparison can be made in the middle of a conversation.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Static, Tab, Tabs

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import ThinkpaneError
from thinkpane.tui.core.comparison import ComparedAnswer, save_comparison
from thinkpane.tui.core.profiles import BackendChoice
from thinkpane.tui.core.sanitize import sanitize_line
from thinkpane.tui.render.crop_compositor import install_crop_compositor
from thinkpane.tui.screens.compare.column import CURRENT_CLASS, CompareColumn
from thinkpane.tui.screens.confirm import ConfirmScreen
from thinkpane.tui.widgets.listed_commands import Entry, ListedCommands
from thinkpane.tui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from thinkpane.tui.app.app import ThinkpaneApp

NARROW_CLASS = "-narrow"
NARROW_BELOW_COLUMNS = 100


class CompareCommands(ListedCommands):
    """The compare screen's palette entries: every key of the screen, and each column's "keep"."""

    def entries(self) -> list[Entry]:
        screen = self.screen
        if not isinstance(screen, CompareScreen):
            return []
        return [
            ("Stop every column", "Stop all the answers streaming (Esc)", screen.action_cancel_all),
            ("Stop the current column", "Stop the current column's answer (x)", screen.action_cancel_column),
            ("Keep the current column's answer",
             "It becomes the conversation's turn; the others are kept beside it (w)", screen.action_pick_winner),
            *[(f"Keep column {column.number}: {sanitize_line(column.described)}",
               "Continue the conversation from this answer", partial(screen.pick, column.number))
              for column in screen.columns],
            ("Back to the chat", "Leave the comparison", screen.action_leave),
        ]


class CompareScreen(Screen[int | None]):
    """Dismissed with the conversation's id when an answer was kept, else None."""

    CSS_PATH = "../../styles/compare.tcss"

    if TYPE_CHECKING:
        app: ThinkpaneApp  # the app this widget belongs to, for the type checker

    COMMANDS: ClassVar = {CompareCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel_all", "Stop all", id="compare.cancel_all",
                tooltip="Stop every column (the partial text is kept); when none streams, go back to the chat"),
        Binding("x", "cancel_column", "Stop column", id="compare.cancel_column",
                tooltip="Stop the current column's answer; the others go on"),
        Binding("w", "pick_winner", "Keep this", id="compare.pick_winner",
                tooltip="Keep the current column's answer as the conversation's turn (the others are kept "
                "beside it) and go back to the chat"),
    ]

    def __init__(self, choices: list[BackendChoice], *, conversation_id: int | None = None,
                 prompt: str = "") -> None:
        super().__init__()
        install_crop_compositor(self)  # as the chat: a frame renders only what changed
        self.columns = [CompareColumn(number, choice) for number, choice in enumerate(choices, 1)]
        self.current = self.columns[0]
        self.conversation_id = conversation_id
        self.initial_prompt = prompt
        self.sent: str | None = None  # the prompt the columns answer
        self.kept = False
        self._winner: CompareColumn | None = None  # to keep once the other columns have stopped
        self._adopted: Backend | None = None  # the backend handed to the chat

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-title")
        yield Tabs(*[Tab(self._tab_label(column), id=f"column-tab-{column.number}") for column in self.columns],
                   id="column-tabs")
        with Horizontal(id="columns"):
            yield from self.columns
        yield PromptInput(id="compare-prompt")
        yield Footer()

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.prompt.cursor_blink = False  # deterministic screenshots
        self.prompt.load_text(self.initial_prompt)
        self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.focus()
        self._set_title()
        self._set_current(self.current)
        self._layout(self.app.size.width)

    def on_resize(self, event) -> None:
        self._layout(event.size.width)

    def _layout(self, width: int) -> None:
        narrow = width < NARROW_BELOW_COLUMNS
        self.set_class(narrow, NARROW_CLASS)
        for column in self.columns:
            column.display = not narrow or column is self.current

    def _set_title(self) -> None:
        title = Text(f"Compare · {len(self.columns)} columns", style="bold")
        if self.sent is not None:
            title.append(" · " + sanitize_line(self.sent), style="")
        else:
            title.append(" · type a prompt: every column answers it", style="dim")
        self.query_one("#compare-title", Static).update(title)

    @staticmethod
    def _tab_label(column: CompareColumn) -> str:
        return f"{column.number} {sanitize_line(column.choice.label)} · {column.header.state_word()}"

    # ------------------------------------------------------------------ the current column

    def _set_current(self, column: CompareColumn) -> None:
        self.current = column
        for each in self.columns:
            each.header.set_class(each is column, CURRENT_CLASS)
        tabs = self.query_one(Tabs)
        if tabs.active != f"column-tab-{column.number}":
            tabs.active = f"column-tab-{column.number}"
        self._layout(self.size.width or self.app.size.width)

    def on_descendant_focus(self, event) -> None:
        for node in event.widget.ancestors_with_self:
            if isinstance(node, CompareColumn):
                if node is not self.current:
                    self._set_current(node)
                return

    @on(Tabs.TabActivated, "#column-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        number = int(event.tab.id.rsplit("-", 1)[1]) if event.tab.id else 1
        column = self.columns[number - 1]
        if column is not self.current:
            self._set_current(column)

    def _refresh_tabs(self) -> None:
        for column in self.columns:
            self.query_one(f"#column-tab-{column.number}", Tab).label = self._tab_label(column)

    # ------------------------------------------------------------------ sending

    @property
    def streaming(self) -> list[CompareColumn]:
        return [column for column in self.columns if column.live is not None]

    @on(PromptInput.Submitted)
    async def on_prompt_submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        await self.send(event.text)

    async def send(self, text: str) -> bool:
        """Every ready column answers ``text``; False (prompt kept) when it cannot start."""
        prompt = text.strip()
        if not prompt:
            return False
        if self.streaming:
            self.notify("The columns are still answering: press Esc to stop them before sending.",
                        severity="warning")
            return False
        if not any(column.ready for column in self.columns):
            self.notify("No column is ready yet: wait for the backends, or fix the ones that failed.",
                        severity="warning")
            return False
        settings = self.app.settings
        try:
            stored = self.app.store.load_messages(self.conversation_id) if self.conversation_id else []
        except ThinkpaneError as error:
            self.notify(error.hint, title=error.title, severity="error", markup=False)
            return False
        self.sent = text.rstrip()
        self.kept = False
        self.prompt.remember(self.sent)
        self.prompt.clear()
        self._set_title()
        for column in self.columns:
            await column.ask(stored, settings.system_prompt, self.sent)
        self._refresh_tabs()
        # The column keys work from the columns: the focus leaves the prompt.
        self.current.transcript.focus()
        return True

    @on(CompareColumn.Ended)
    async def on_column_ended(self, event: CompareColumn.Ended) -> None:
        self._refresh_tabs()
        if self._winner is not None and not self.streaming:
            winner, self._winner = self._winner, None
            await self._keep(winner)

    # ------------------------------------------------------------------ actions

    def action_cancel_all(self) -> None:
        streaming = self.streaming
        if not streaming:
            self.action_leave()
            return
        for column in streaming:
            column.cancel_turn()
        self.notify(f"Stopping {len(streaming)} column{'s' if len(streaming) > 1 else ''}…", timeout=3)

    def action_cancel_column(self) -> None:
        column = self.current
        if not column.cancel_turn():
            self.notify(f"Column {column.number} is not answering.", timeout=3)

    def action_pick_winner(self) -> None:
        self.pick(self.current.number)

    def pick(self, number: int) -> None:
        """Keep column ``number``'s answer (see the module docstring)."""
        column = self.columns[number - 1]
        if column.live is not None:
            self.notify(f"Column {number} is still answering: wait for it, or press x to stop it first.",
                        severity="warning")
            return
        record = column.recorder.record if column.recorder is not None else None
        if self.sent is None or record is None:
            self.notify(f"Column {number} has no answer to keep yet: send a prompt first.", severity="warning")
            return
        if not record.content.strip():
            self.notify(f"Column {number} has no answer text to keep; pick another column.", severity="warning")
            return
        if self.kept:
            return
        if self.streaming:
            self._winner = column  # kept once the others have stopped (on_column_ended)
            for other in self.streaming:
                other.cancel_turn()
            return
        self.run_worker(self._keep(column), group="keep", exit_on_error=False)

    async def _keep(self, winner: CompareColumn) -> None:
        answers = [
            ComparedAnswer(column.described, column.choice.backend, column.backend.model, column.recorder)
            for column in self.columns
            if column.recorder is not None and column.backend is not None
        ]
        index = next(i for i, answer in enumerate(answers) if answer.recorder is winner.recorder)
        assert self.sent is not None
        try:
            conversation_id = save_comparison(
                self.app.store, self.conversation_id, self.sent, answers, index,
                system=self.app.settings.system_prompt,
            )
        except ThinkpaneError as error:
            self.notify(error.hint, title=error.title, severity="error", markup=False)
            return
        self.kept = True
        self.conversation_id = conversation_id
        assert winner.backend is not None
        self._adopted = winner.backend
        self.app.adopt_backend(winner.backend)
        self.dismiss(conversation_id)

    @property
    def answers_unkept(self) -> bool:
        """Answers arrived (or are arriving) and none was kept: leaving or quitting loses them."""
        return self.sent is not None and not self.kept

    def action_leave(self) -> None:
        if self.streaming:
            self.action_cancel_all()
            return
        if not self.answers_unkept:
            self.dismiss(None)
            return

        def leave(sure: bool | None) -> None:
            if sure:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen(
            "Leave without keeping an answer?",
            "The answers of this comparison are not saved unless you keep one (w): it then becomes "
            "the conversation's turn and the others are kept beside it.",
            yes="Leave", no="Stay",
        ), leave)

    def last_answer_text(self) -> str | None:
        """The current column's answer (what "Copy last answer" and the y key copy here)."""
        recorder = self.current.recorder
        return recorder.record.content if recorder is not None else None

    async def on_unmount(self) -> None:
        for column in self.columns:
            if column.backend is not None and column.backend is not self._adopted:
                try:
                    await column.backend.aclose()
                except Exception as exc:
                    self.log.warning(f"closing a backend failed: {type(exc).__name__}")
