"""The conversation list: search, open, rename, delete. Dismisses with the one to open.

Typing searches (titles and message text in every branch, via the store's full-text
search); a result found in a message opens the branch that holds it (:class:`Chosen`). In the list,
Enter opens, ``r`` renames in place, ``d`` / Delete deletes after a confirmation; any other
letter typed in the list goes to the search box. Those keys follow the user's ``[keymap]``,
and the help line under the list names the keys actually bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from thinkpane.backends.errors import ThinkpaneError
from thinkpane.tui.core.sanitize import sanitize_line
from thinkpane.tui.core.store import ConversationSummary
from thinkpane.tui.screens.confirm import ConfirmScreen
from thinkpane.tui.widgets.bound_keys import key_hints

if TYPE_CHECKING:
    from thinkpane.tui.app.app import ThinkpaneApp

class ConfirmDeleteScreen(ConfirmScreen):
    def __init__(self, title: str) -> None:
        super().__init__(
            Text.assemble("Delete “", sanitize_line(title), "”?"),
            "Its messages are deleted too. This cannot be undone.",
            yes="Delete (y)", no="Keep (n)",
        )


@dataclass(frozen=True)
class Chosen:
    """The conversation to open and, for a search result, the message that matched."""

    conversation_id: int
    message_id: int | None = None


class ConversationsScreen(ModalScreen[Chosen | None]):
    CSS_PATH = "../styles/conversations.tcss"

    if TYPE_CHECKING:
        app: ThinkpaneApp  # the app this screen belongs to, for the type checker

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="conversations.close", tooltip="Close the list"),
        Binding("r", "rename", "Rename", id="conversations.rename", tooltip="Rename the selected conversation"),
        Binding("d,delete", "delete", "Delete", id="conversations.delete",
                tooltip="Delete the selected conversation (asks first)"),
        Binding("down", "focus_list", "List", id="conversations.focus_list", show=False,
                tooltip="Move from the search box to the list"),
    ]

    def __init__(self, store, *, format_date=None) -> None:
        super().__init__()
        self.store = store
        self.format_date = format_date or _default_format_date
        self.summaries: dict[int, ConversationSummary] = {}
        self.renaming: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="conversations-dialog"):
            yield Static(Text("Conversations", style="bold"), id="conversations-title")
            yield Input(placeholder="Search titles and messages…", id="conversation-search", select_on_focus=False)
            yield DataTable(id="conversation-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="conversations-empty")
            yield Input(id="conversation-rename", placeholder="New title")
            yield Static("", id="conversations-help")

    @property
    def table(self) -> DataTable:
        return self.query_one("#conversation-table", DataTable)

    @property
    def search(self) -> Input:
        return self.query_one("#conversation-search", Input)

    @property
    def rename_input(self) -> Input:
        return self.query_one("#conversation-rename", Input)

    def on_mount(self) -> None:
        # The title takes what the dialog (90% of the terminal) leaves after the other columns.
        title_width = max(16, min(60, int(self.app.size.width * 0.9) - 50))
        self.table.add_column("Title", key="title", width=title_width)
        self.table.add_column("Updated", key="updated", width=16)
        self.table.add_column("Msgs", key="count", width=5)
        self.table.add_column("Model", key="model")
        self.rename_input.display = False
        self.reload()
        self.search.focus()
        hints = key_hints(self, (("conversations.rename", "rename"), ("conversations.delete", "delete"),
                                 ("conversations.close", "close")))
        self.query_one("#conversations-help", Static).update(" · ".join(["Enter open", *hints]))

    def reload(self, keep_id: int | None = None) -> None:
        query = self.search.value.strip() or None
        try:
            summaries = self.store.list_conversations(query)
        except ThinkpaneError as error:
            self.notify(error.hint or error.title, title=error.title, severity="error", markup=False)
            return
        self.summaries = {summary.id: summary for summary in summaries}
        table = self.table
        table.clear()
        for summary in summaries:
            table.add_row(
                Text(sanitize_line(summary.title) or "Untitled"),
                Text(self.format_date(summary.updated_at)),
                Text(str(summary.message_count), justify="right"),
                Text(sanitize_line(summary.model or summary.backend), style="dim"),
                key=str(summary.id),
            )
        empty = self.query_one("#conversations-empty", Static)
        empty.display = not summaries
        if query:
            empty.update(Text.assemble("No conversation matches “", query, "”."))
        else:
            empty.update("No conversations yet: close this list and send a prompt.")
        if keep_id is not None and keep_id in self.summaries:
            table.move_cursor(row=table.get_row_index(str(keep_id)))

    def selected_id(self) -> int | None:
        table = self.table
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return int(row_key.value or 0)  # every row is added with its conversation id as key

    @on(Input.Changed, "#conversation-search")
    def on_search_changed(self) -> None:
        self.reload()

    @on(Input.Submitted, "#conversation-search")
    def on_search_submitted(self) -> None:
        self.open_selected()

    @on(DataTable.RowSelected)
    def on_row_selected(self) -> None:
        self.open_selected()

    def open_selected(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is not None:
            summary = self.summaries.get(conversation_id)
            self.dismiss(Chosen(conversation_id, summary.match_message_id if summary is not None else None))

    def on_key(self, event) -> None:
        """Type-to-search from the list: letters that are not bindings go to the search box."""
        if self.focused is not self.table or not event.is_printable or not event.character:
            return
        if event.key in self.active_bindings:  # with the user's keymap applied
            return
        event.stop()
        event.prevent_default()
        self.search.value += event.character
        self.search.cursor_position = len(self.search.value)
        self.search.focus()

    def action_focus_list(self) -> None:
        if self.focused is self.search:
            self.table.focus()

    def action_close(self) -> None:
        if self.renaming is not None:
            self._end_rename()
            return
        self.dismiss(None)

    def action_rename(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is None:
            return
        self.renaming = conversation_id
        self.rename_input.value = self.summaries[conversation_id].title
        self.rename_input.display = True
        self.rename_input.focus()

    @on(Input.Submitted, "#conversation-rename")
    def on_rename_submitted(self, event: Input.Submitted) -> None:
        title = sanitize_line(event.value)
        conversation_id = self.renaming
        if conversation_id is not None and title:
            try:
                self.store.rename(conversation_id, title)
            except ThinkpaneError as error:
                self.notify(error.hint or error.title, title=error.title, severity="error", markup=False)
        self._end_rename()
        self.reload(keep_id=conversation_id)

    def _end_rename(self) -> None:
        self.renaming = None
        self.rename_input.display = False
        self.table.focus()

    def action_delete(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is None:
            return

        def delete_if_confirmed(confirmed: bool | None) -> None:
            if not confirmed:
                return
            try:
                self.store.delete(conversation_id)
            except ThinkpaneError as error:
                self.notify(error.hint or error.title, title=error.title, severity="error", markup=False)
            self.app.conversation_deleted(conversation_id)
            self.reload()
            self.table.focus()

        self.app.push_screen(ConfirmDeleteScreen(self.summaries[conversation_id].title), delete_if_confirmed)


def _default_format_date(timestamp: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
