"""Choosing what to compare: two to four of the profiles in config.toml and the current backend.

Palette "Compare…" (or the app's compare key) opens this list; the chosen entries become
the compare screen's columns, in the list's order. With fewer than two entries to choose
from it does not open: it says how to add profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, SelectionList

from thinkpane.backends.errors import ThinkpaneError
from thinkpane.tui.core.comparison import MAX_COLUMNS, MIN_COLUMNS
from thinkpane.tui.core.profiles import BackendChoice, parse_spec, profile_names, profile_summary
from thinkpane.tui.core.sanitize import sanitize_line
from thinkpane.tui.widgets.listed_commands import Entry, ListedCommands

if TYPE_CHECKING:
    from thinkpane.tui.app.app import ThinkpaneApp


def candidates(settings) -> list[tuple[str, str]]:
    """(what the list shows, the spec it stands for): the current backend, then each profile."""
    entries = [(f"current backend: {settings.backend}", settings.backend)]
    for name in profile_names(settings):
        details = profile_summary(settings, name)
        entries.append((f"{name}  ({details})" if details else name, name))
    return entries


def choose_columns(app: ThinkpaneApp, then: Callable[[list[BackendChoice]], object]) -> None:
    """Ask which columns to compare, then call ``then`` with them (not when cancelled)."""
    entries = candidates(app.settings)
    if len(entries) < MIN_COLUMNS:
        app.notify(
            "Add profiles to config.toml to compare them: a [profiles.NAME] table with backend = "
            "\"...\" and any of its options (model, reasoning_effort...). Or start "
            "`thinkpane --compare SPEC SPEC`.",
            title="Nothing to compare yet", severity="warning", timeout=20, markup=False,
        )
        return

    def chosen(choices: list[BackendChoice] | None) -> None:
        if choices:
            then(choices)

    app.push_screen(ChooseColumns(entries), chosen)


class ChooseCommands(ListedCommands):
    """The palette entries of the list's keys."""

    def entries(self) -> list[Entry]:
        screen = self.screen
        if not isinstance(screen, ChooseColumns):
            return []
        return [("Compare the chosen columns", "Open the compare screen", screen.action_compare),
                ("Cancel choosing columns", "Back to the chat", screen.action_close)]


class ChooseColumns(ModalScreen[list[BackendChoice] | None]):
    """A list to tick two to four entries in; dismissed with their choices, or None."""

    CSS_PATH = "../../styles/compare.tcss"

    if TYPE_CHECKING:
        app: ThinkpaneApp  # the app this widget belongs to, for the type checker

    COMMANDS: ClassVar = {ChooseCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Cancel", id="compare_choose.close", tooltip="Back to the chat; nothing is compared"),
        Binding("f8", "compare", "Compare", id="compare_choose.compare",
                tooltip=f"Compare the ticked entries ({MIN_COLUMNS} to {MAX_COLUMNS}) side by side"),
    ]

    def __init__(self, entries: list[tuple[str, str]]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(id="choose-dialog"):
            yield Label(f"Compare which? Tick {MIN_COLUMNS} to {MAX_COLUMNS} (Space or click).", id="choose-question")
            yield SelectionList[str](*[(sanitize_line(shown), spec) for shown, spec in self.entries],
                                     id="choose-list")
            with Horizontal(id="choose-buttons"):
                yield Button("Compare", variant="primary", id="choose-compare", disabled=True)
                yield Button("Cancel", id="choose-cancel")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    @on(SelectionList.SelectedChanged)
    def _ticked(self) -> None:
        count = len(self.query_one(SelectionList).selected)
        self.query_one("#choose-compare", Button).disabled = not MIN_COLUMNS <= count <= MAX_COLUMNS

    @on(Button.Pressed, "#choose-compare")
    def action_compare(self) -> None:
        ticked = set(self.query_one(SelectionList).selected)
        specs = [spec for _, spec in self.entries if spec in ticked]  # in the list's order
        if not MIN_COLUMNS <= len(specs) <= MAX_COLUMNS:
            self.notify(f"Tick {MIN_COLUMNS} to {MAX_COLUMNS} entries (now {len(specs)}).", severity="warning")
            return
        try:
            choices = [parse_spec(self.app.settings, spec) for spec in specs]
        except ThinkpaneError as error:
            self.notify(error.hint, title=error.title, severity="error", timeout=20, markup=False)
            return
        for choice in choices:
            for warning in choice.warnings:
                self.notify(warning, title="Settings", severity="warning", timeout=20, markup=False)
        self.dismiss(choices)

    @on(Button.Pressed, "#choose-cancel")
    def action_close(self) -> None:
        self.dismiss(None)
