"""A small dialog that picks a backend and a model: to switch mid-chat, or to regenerate with.

The backends are the registry's names (reading package metadata only: no SDK is imported
to list them); the model is free text, filled in with the one the backend runs now (or its
configured one), and left empty for the backend's own default. Enter (or OK) dismisses with
a :class:`ModelChoice`; Esc with None. Nothing is saved to config.toml: the choice holds for
this session, like ``--backend``/``--model`` on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class ModelChoice:
    backend: str
    model: str  # "" for the backend's default


class ModelScreen(ModalScreen[ModelChoice | None]):
    DEFAULT_CSS = """
    ModelScreen { align: center middle; }
    ModelScreen #model-dialog {
        width: 64; max-width: 100%; height: auto;
        border: thick $accent; background: $surface; padding: 1 2;
    }
    ModelScreen #model-backends { height: auto; max-height: 8; margin: 1 0; }
    ModelScreen #model-detail { color: $text-muted; }
    ModelScreen #model-buttons { height: auto; margin-top: 1; }
    ModelScreen #model-buttons Button { margin-right: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Cancel", id="model.close", tooltip="Close without changing anything"),
    ]

    def __init__(self, title: str, detail: str, backends: list[str], current: str,
                 models: dict[str, str]) -> None:
        """``models``: the model to fill in for each backend (the running or configured one)."""
        super().__init__()
        self.dialog_title = title
        self.detail = detail
        self.backends = backends
        self.current = current
        self.models = models

    def compose(self) -> ComposeResult:
        with Vertical(id="model-dialog"):
            yield Label(Text(self.dialog_title, style="bold"), id="model-title")
            yield Static(self.detail, id="model-detail", markup=False)
            yield OptionList(*[Option(name, id=name) for name in self.backends], id="model-backends")
            yield Input(placeholder="model (empty: the backend's default)", id="model-name")
            with Horizontal(id="model-buttons"):
                yield Button("OK", variant="primary", id="model-ok")
                yield Button("Cancel", id="model-cancel")

    @property
    def backend_list(self) -> OptionList:
        return self.query_one("#model-backends", OptionList)

    @property
    def model_input(self) -> Input:
        return self.query_one("#model-name", Input)

    def on_mount(self) -> None:
        if self.current in self.backends:
            self.backend_list.highlighted = self.backends.index(self.current)
        self.model_input.value = self.models.get(self.current, "")
        self.model_input.focus()

    def chosen_backend(self) -> str:
        index = self.backend_list.highlighted
        return self.backends[index] if index is not None else self.current

    @on(OptionList.OptionHighlighted, "#model-backends")
    def on_backend_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self.model_input.value = self.models.get(event.option.id, "")

    @on(OptionList.OptionSelected, "#model-backends")
    def on_backend_selected(self) -> None:
        self.model_input.focus()

    @on(Input.Submitted, "#model-name")
    @on(Button.Pressed, "#model-ok")
    def on_ok(self) -> None:
        self.dismiss(ModelChoice(self.chosen_backend(), self.model_input.value.strip()))

    @on(Button.Pressed, "#model-cancel")
    def action_close(self) -> None:
        self.dismiss(None)
