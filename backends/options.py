"""Settings a backend declares once, rendered as CLI flags and setup-form fields.

Like harlequin's adapter options: a backend lists its :class:`Option` declarations; the CLI turns each into
a ``--flag``, the setup screen into a form field, config.toml into a key. Values are parsed and
defaulted here, once (:func:`resolve_options`), before a backend is constructed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.secrets import Secret

OptionKind = Literal["text", "secret", "int", "float", "bool", "choice", "path", "list"]


@dataclass(frozen=True)
class Option:
    """One setting a backend declares. Rendered as a CLI flag and as a setup-form field."""

    name: str  # snake_case key in config and settings dicts; CLI flag is --name-with-dashes
    label: str
    description: str = ""
    kind: OptionKind = "text"
    default: Any = None
    choices: tuple[str, ...] = ()
    # Environment variables read when the option is not set in config, first one wins.
    env: tuple[str, ...] = ()
    required: bool = False
    placeholder: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_secret(self) -> bool:
        return self.kind == "secret"

    def parse(self, raw: Any) -> Any:
        """Turn a raw value (CLI string, TOML value, form text) into the option's type.

        Raises ConfigurationError naming the option when the value does not fit.
        """
        if raw is None or raw == "":
            return None
        try:
            if self.kind == "secret":
                return raw if isinstance(raw, Secret) else Secret(str(raw))
            if self.kind == "int":
                return int(raw)
            if self.kind == "float":
                return float(raw)
            if self.kind == "bool":
                if isinstance(raw, bool):
                    return raw
                text = str(raw).strip().lower()
                if text in {"1", "true", "yes", "on"}:
                    return True
                if text in {"0", "false", "no", "off"}:
                    return False
                raise ValueError(raw)
            if self.kind == "list":
                if isinstance(raw, (list, tuple)):
                    return [str(item) for item in raw]
                return [item.strip() for item in str(raw).split(",") if item.strip()]
            if self.kind == "choice":
                value = str(raw)
                if self.choices and value not in self.choices:
                    raise ValueError(value)
                return value
            return str(raw)
        except (TypeError, ValueError):
            expected = {
                "int": "a whole number",
                "float": "a number",
                "bool": "true or false",
                "choice": "one of " + ", ".join(self.choices),
            }.get(self.kind, "text")
            raise ConfigurationError(
                f"Option {self.name} has an invalid value",
                f"Expected {expected}; set it with {self.flag} or in the [{self.name}] "
                "entry of your backend's section in config.toml.",
            ) from None


def resolve_options(
    options: Sequence[Option],
    given: Mapping[str, Any],
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Merge given values, the options' environment variables and defaults; parse each.

    Given values win over the environment, the environment over defaults. Unknown keys in
    ``given`` are ignored here (the config layer warns about them).
    """
    resolved: dict[str, Any] = {}
    for option in options:
        raw = given.get(option.name)
        if raw is None or raw == "":
            raw = next((environ[var] for var in option.env if environ.get(var)), None)
        value = option.parse(raw)
        if value is None:
            value = option.default
        resolved[option.name] = value
    return resolved


def require(settings: Mapping[str, Any], option: Option, backend: str) -> Any:
    """The value of a required option, or a ConfigurationError saying how to set it."""
    value = settings.get(option.name)
    if value is None or value == "":
        where = f"{option.flag}"
        if option.env:
            where += " or the environment variable " + " / ".join(option.env)
        raise ConfigurationError(
            f"{backend}: {option.label} is not set",
            f"Set it with {where}, or run `thinkpane setup {backend}`.",
        )
    return value
