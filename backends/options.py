"""Settings a backend declares once, rendered as CLI flags and setup-form fields.

Like harlequin's adapter options: a backend lists its :class:`Option` declarations; the CLI turns each into
a ``--flag``, the setup screen into a form field, config.toml into a key. Values are parsed and
defaulted here, once (:func:`resolve_options`), before a backend is constructed.

:meth:`Option.parse` is the one check every source goes through (flags, config.toml, the
environment, the setup form): the type, then the bounds an option declares (``min``,
``min_exclusive``, ``max``) and its ``check`` (:func:`http_url`, :func:`http_header`). A value
that does not fit raises :class:`InvalidValueError`, whose ``expected`` says what would, so a
zero timeout or a negative token limit is refused where it is typed, never sent or replaced.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.secrets import Secret

OptionKind = Literal["text", "secret", "int", "float", "bool", "choice", "path", "list"]


class InvalidValueError(ConfigurationError):
    """A value that does not fit its :class:`Option`; ``expected`` says what would fit.

    The title quotes the value (shortened), except a list's: extra headers may carry tokens.
    """

    def __init__(self, option: Option, raw: Any, expected: str) -> None:
        self.option = option
        self.expected = expected
        label = option.label
        if len(label) > 1 and label[1].islower():  # "Base URL" -> "base URL", "CA bundle" stays
            label = label[0].lower() + label[1:]
        shown = "" if option.kind in ("list", "secret") else " " + repr(_shorten(str(raw)))
        super().__init__(
            f"Invalid {label}{shown}",
            f"Expected {expected}; set it with {option.flag} or as {option.name} = ... in your "
            "backend's section of config.toml.",
        )


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def http_url(value: str) -> str | None:
    """None for an http:// or https:// URL with a host (and a port from 1 to 65535, if
    any); otherwise what was expected."""
    expected = "an http:// or https:// URL with a host name, e.g. https://api.example.com/v1"
    try:
        parts = urlsplit(value.strip())
    except ValueError:  # e.g. an unclosed [IPv6] bracket
        return expected
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return expected
    if port == 0:
        return "a port from 1 to 65535 in the URL, e.g. http://127.0.0.1:8080/v1"
    return None


def http_header(value: str) -> str | None:
    """None for a 'Name: value' header; otherwise what was expected."""
    name, colon, content = value.partition(":")
    name = name.strip()
    if not colon or not name or not content.strip() or any(c.isspace() for c in name):
        return "'Name: value' headers separated by commas, e.g. 'X-Title: Thinkpane'"
    return None


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
    # Bounds of an int or float option: at least ``min`` (more than ``min`` with
    # ``min_exclusive``, e.g. a timeout), at most ``max``.
    min: float | None = None
    min_exclusive: bool = False
    max: float | None = None
    # A text option's (or each list item's) format: returns None when the value fits,
    # otherwise what was expected (see http_url, http_header).
    check: Callable[[str], str | None] | None = None
    # Values a text option offers (the setup form completes them as they are typed; any
    # other value is accepted, unlike a choice's), e.g. a provider's current model names.
    suggestions: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_secret(self) -> bool:
        return self.kind == "secret"

    def parse(self, raw: Any) -> Any:
        """Turn a raw value (CLI string, TOML value, form text) into the option's type.

        None or "" means "not set" and gives None. Raises :class:`InvalidValueError` when the
        value has the wrong type, is out of bounds or fails the option's check.
        """
        if raw is None or raw == "":
            return None
        try:
            value = self._convert(raw)
        except (TypeError, ValueError):
            raise InvalidValueError(self, raw, self.expected()) from None
        if not self._within_bounds(value):
            raise InvalidValueError(self, raw, self.expected())
        if self.check is not None:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and (problem := self.check(item)):
                    raise InvalidValueError(self, raw, problem)
        return value

    def expected(self) -> str:
        """What a valid value looks like, e.g. 'a number greater than 0'."""
        if self.kind == "int":
            return "a whole number" + self._bounds_text(int)
        if self.kind == "float":
            return "a number" + self._bounds_text(float)
        return {
            "bool": "true or false",
            "choice": "one of " + ", ".join(self.choices),
        }.get(self.kind, "text")

    def _convert(self, raw: Any) -> Any:
        if self.kind == "secret":
            return raw if isinstance(raw, Secret) else Secret(str(raw))
        if self.kind in ("int", "float") and isinstance(raw, bool):
            raise TypeError(raw)  # TOML `true` is not 1
        if self.kind == "int":
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError(raw)  # 3.5 tokens is a mistake, not 3
            return int(raw)
        if self.kind == "float":
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
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

    def _within_bounds(self, value: Any) -> bool:
        if self.kind not in ("int", "float"):
            return True
        if self.min is not None and (value <= self.min if self.min_exclusive else value < self.min):
            return False
        return self.max is None or value <= self.max

    def _bounds_text(self, number: type) -> str:
        def show(bound: float) -> str:
            return str(int(bound)) if float(bound).is_integer() else str(bound)

        if self.min is not None and self.max is not None and not self.min_exclusive:
            return f" from {show(self.min)} to {show(self.max)}"
        parts = []
        if self.min is not None:
            parts.append(f"greater than {show(self.min)}" if self.min_exclusive else f"of at least {show(self.min)}")
        if self.max is not None:
            parts.append(f"at most {show(self.max)}")
        return (" " + " and ".join(parts)) if parts else ""


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
