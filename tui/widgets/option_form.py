"""A backend's declared options (:class:`thinkpane.backends.base.Option`) rendered as form fields.

Like harlequin's options: declared once by the backend, shown here as widgets. text / path
-> Input, secret -> password Input, int / float -> Input checked on every change, bool ->
Switch, choice -> Select, list -> comma-separated Input. A bad value gets an inline error
naming the option and what it expects (``Option.parse``: its type, bounds and format, the
same check the CLI flags and config.toml get). When the backend has a secret,
a "keep in config file" checkbox decides whether it is saved (default off: it is then read
from its environment variable at startup, which the form names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static, Switch

from thinkpane.backends.options import InvalidValueError, Option
from thinkpane.backends.secrets import Secret

KEEP_SECRETS_ID = "keep-secrets"
FIELD_CLASS = "option-field"
ERROR_CLASS = "option-error"
HIDDEN_CLASS = "-hidden"


def field_id(option: Option) -> str:
    return f"option-{option.name}"


def error_id(option: Option) -> str:
    return f"option-error-{option.name}"


def display_value(option: Option, value: Any) -> Any:
    """The value as its widget shows it (text for Inputs, bool for Switches)."""
    if option.kind == "bool":
        return bool(value) if value is not None else False
    if value is None:
        return ""
    if isinstance(value, Secret):
        return value.get()
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr from the settings
        return value.get_secret_value()
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


class OptionForm(Vertical):
    """Fields for ``options``, prefilled from ``values`` (already merged with env and defaults)."""

    # One line per field (compact widgets), the help and any error under it, indented to
    # the field: a backend with a dozen options still fits on a laptop screen.
    DEFAULT_CSS = """
    OptionForm { height: auto; }
    OptionForm .option-row { height: auto; margin-top: 1; }
    OptionForm .option-label { width: 26; text-style: bold; padding-right: 1; }
    OptionForm .option-row > Input, OptionForm .option-row > Select { width: 1fr; }
    OptionForm .option-row > Switch { border: none; height: 1; padding: 0; }
    OptionForm .option-help { color: $text-muted; padding-left: 26; }
    OptionForm .option-error { color: $text-error; padding-left: 26; }
    OptionForm Checkbox { margin-top: 1; }
    OptionForm .secret-note { padding-left: 4; }
    OptionForm .-hidden { display: none; }
    OptionForm Input.-invalid { background: $error-muted; }
    """

    def __init__(
        self,
        options: Sequence[Option],
        values: Mapping[str, Any],
        *,
        env_sources: Mapping[str, str] | None = None,
        keep_secrets: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.options = tuple(options)
        self.initial = dict(values)
        # Option name -> the environment variable its prefilled value came from.
        self.env_sources = dict(env_sources or {})
        self._keep_secrets_default = keep_secrets

    @property
    def secret_options(self) -> list[Option]:
        return [option for option in self.options if option.is_secret]

    def compose(self) -> ComposeResult:
        for option in self.options:
            label = option.label + (" *" if option.required else "")
            with Horizontal(classes="option-row"):
                yield Label(label, classes="option-label", markup=False)
                yield self._field(option)
            help_text = option.description
            if option.name in self.env_sources:
                help_text += f" (now from ${self.env_sources[option.name]})"
            if help_text:
                yield Static(help_text.strip(), classes="option-help", markup=False)
            yield Static("", id=error_id(option), classes=f"{ERROR_CLASS} {HIDDEN_CLASS}", markup=False)
        if self.secret_options:
            yield Checkbox(
                "Keep the key in the config file (mode 0600)",
                value=self._keep_secrets_default,
                id=KEEP_SECRETS_ID,
                # Compact, like the fields: one row also when focused (a focused non-compact
                # Checkbox grows a border, moving the form under a Tab that scrolled to it).
                compact=True,
            )
            yield Static(self._secret_note(), classes="option-help secret-note", markup=False)

    def _field(self, option: Option) -> Widget:
        value = display_value(option, self.initial.get(option.name))
        widget: Widget
        if option.kind == "bool":
            widget = Switch(value=value, id=field_id(option))
        elif option.kind == "choice":
            choices = [(choice, choice) for choice in option.choices]
            widget = Select(
                choices,
                value=value if value in option.choices else Select.NULL,
                allow_blank=value not in option.choices,
                id=field_id(option),
                compact=True,
            )
        else:
            widget = Input(
                value=value,
                placeholder=option.placeholder or _placeholder(option),
                password=option.is_secret,
                suggester=SuggestFromList(option.suggestions) if option.suggestions else None,
                id=field_id(option),
                compact=True,
            )
        widget.add_class(FIELD_CLASS)
        return widget

    def _secret_note(self) -> str:
        parts = []
        for option in self.secret_options:
            if option.env:
                parts.append(f"{option.label} from ${' or $'.join(option.env)}")
            else:
                parts.append(f"{option.label} with {option.flag}")
        return (
            "Off: the key is used for this session only; next time Thinkpane reads "
            + "; ".join(parts)
            + "."
        )

    # ------------------------------------------------------------------ reading

    @property
    def keep_secrets(self) -> bool:
        if not self.secret_options:
            return False
        return self.query_one(f"#{KEEP_SECRETS_ID}", Checkbox).value

    def raw_value(self, option: Option) -> Any:
        widget = self.query_one(f"#{field_id(option)}")
        if isinstance(widget, Switch):
            return widget.value
        if isinstance(widget, Select):
            return None if widget.value is Select.NULL else widget.value
        assert isinstance(widget, Input)
        return widget.value.strip() if not option.is_secret else widget.value

    def raw_values(self) -> dict[str, Any]:
        """Every field as entered (unparsed)."""
        return {option.name: self.raw_value(option) for option in self.options}

    def check(self, option: Option) -> tuple[Any, str | None]:
        """(parsed value, None) or (None, an error message naming the option)."""
        raw = self.raw_value(option)
        try:
            value = option.parse(raw)
        except InvalidValueError as error:
            return None, f"{option.label} ({option.name}): expected {error.expected}."
        if option.required and (value is None or value == ""):
            return None, f"{option.label} ({option.name}) is required."
        return value, None

    def validate(self) -> dict[str, Any] | None:
        """Every option's parsed value, or None after showing the errors inline."""
        values: dict[str, Any] = {}
        ok = True
        for option in self.options:
            value, problem = self.check(option)
            self._show_error(option, problem)
            ok = ok and problem is None
            values[option.name] = value
        return values if ok else None

    def errors(self) -> dict[str, str]:
        """Option name -> the inline error shown now (for tests and the screen)."""
        shown = {}
        for option in self.options:
            error = self.query_one(f"#{error_id(option)}", Static)
            if not error.has_class(HIDDEN_CLASS):
                shown[option.name] = str(error.render())
        return shown

    def _show_error(self, option: Option, problem: str | None) -> None:
        error = self.query_one(f"#{error_id(option)}", Static)
        error.update(problem or "")
        error.set_class(problem is None, HIDDEN_CLASS)
        field = self.query_one(f"#{field_id(option)}")
        field.set_class(problem is not None, "-invalid")

    def option_for(self, widget: Widget) -> Option | None:
        for option in self.options:
            if widget.id == field_id(option):
                return option
        return None

    # Check a field as the user types, so the error appears next to it, not only on Run.
    def on_input_changed(self, event: Input.Changed) -> None:
        option = self.option_for(event.input)
        if option is not None:
            self._show_error(option, self.check(option)[1])


def _placeholder(option: Option) -> str:
    if option.default not in (None, ""):
        return display_value(option, option.default)
    return {"int": "a whole number", "float": "a number", "list": "comma, separated"}.get(option.kind, "")
