"""A yes/no question in a modal dialog, asked before something is thrown away.

Deleting a conversation, leaving the setup screen with a form the user filled in, and
quitting while an answer is not saved yet all ask here. The safe answer has the focus, so an Enter pressed by habit keeps things as they
are; y and n answer from anywhere in the dialog, Esc is no.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismissed with True for yes (``#confirm-yes``), False for no (``#confirm-no``)."""

    # Here, not in an app stylesheet: the setup screen asks too, and it also runs in hosts
    # (tests, ``thinkpane setup``) that do not load app.tcss.
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen #confirm-dialog {
        width: 60; max-width: 100%; height: auto;
        border: thick $error; background: $surface; padding: 1 2;
    }
    ConfirmScreen #confirm-detail { color: $text-muted; }
    ConfirmScreen #confirm-buttons { height: auto; margin-top: 1; }
    ConfirmScreen #confirm-buttons Button { margin-right: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Answer yes (the left button)"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", tooltip="Answer no: nothing changes"),
    ]

    def __init__(self, question: str | Text, detail: str, *, yes: str, no: str) -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label(self.question, id="confirm-question", markup=False)
            yield Static(self.detail, id="confirm-detail", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(self.yes_label, variant="error", id="confirm-yes")
                yield Button(self.no_label, id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")
