"""Profiles and backend specs: which backend, with which option values, a name stands for.

A **profile** is a named set of backend settings in config.toml::

    [profiles.deep]
    backend = "openai"            # required: which backend
    model = "deepseek-v4-pro"     # then any option that backend declares
    reasoning_effort = "high"

It is laid over that backend's own section (``[backends.openai]``: the base URL, the key),
and command-line flags are laid over it. ``--profile NAME`` picks one for the app or
``thinkpane ask``, the command palette switches to one, and the compare screen and
``thinkpane compare`` put several side by side.

A **spec** (``thinkpane compare --with SPEC``, ``thinkpane --compare SPEC ...``) is a profile
name, a backend name, or ``BACKEND:key=value,key=value`` (the values of one backend's
options, e.g. ``openai:base_url=http://127.0.0.1:8080/v1,model=a``); commas separate the
pairs, so a value cannot hold one.

Mistakes are reported where they were made: a profile's bad value or missing backend is a
:class:`~thinkpane.tui.core.config.ConfigFileError` naming the file and line; a key the
backend does not declare is a warning with its file and line (the profile still works); a
name that is neither a profile nor a backend, or a malformed spec, is a :class:`ChoiceError`
(a usage error, exit 2). No Textual here: the CLI imports this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from thinkpane.backends import registry
from thinkpane.backends.base import Backend
from thinkpane.backends.errors import BackendError, ConfigurationError, InternalError
from thinkpane.backends.options import InvalidValueError, Option
from thinkpane.tui.core.config import (
    ConfigFileError,
    backend_options,
    check_value,
    setting_location,
)
from thinkpane.tui.core.turn_record import TurnRecord

if TYPE_CHECKING:
    from thinkpane.tui.core.settings_model import Settings

BACKEND_KEY = "backend"
SPEC_SYNTAX = "PROFILE, BACKEND or BACKEND:key=value,key=value"
# Options that say how the model reasons, shown in a profile's summary (the palette).
REASONING_OPTIONS = ("reasoning_effort", "thinking")


class ChoiceError(ConfigurationError):
    """A profile name or spec that names nothing usable: a usage error (exit 2)."""

    kind = "usage"


@dataclass(frozen=True)
class BackendChoice:
    """A backend and the option values to build it with (``registry.create(backend, options)``).

    ``label``: what the user called it (the profile name, the spec with secrets masked, or
    the backend's name). ``warnings``: profile keys that were ignored, with file and line.
    """

    backend: str
    options: dict[str, Any]
    label: str
    profile: str | None = None
    warnings: tuple[str, ...] = field(default=())


def profile_names(settings: Settings) -> list[str]:
    return sorted(settings.profiles)


def profile_summary(settings: Settings, name: str) -> str:
    """ "openai · deepseek-v4-pro · high": a profile at a glance, as config.toml has it."""
    table = settings.profiles.get(name, {})
    return " · ".join(str(table[key]) for key in (BACKEND_KEY, "model", *REASONING_OPTIONS) if table.get(key))


def profile_values(settings: Settings, name: str) -> tuple[str, dict[str, Any], list[str]]:
    """(backend name, the profile's option values parsed, warnings) for profile ``name``.

    Raises ChoiceError when there is no such profile, ConfigFileError (file:line) when it
    names no backend, an unknown one, or a value that does not fit its option.
    """
    if name not in settings.profiles:
        raise ChoiceError(f"There is no profile {name!r}", _profiles_hint(settings))
    table = dict(settings.profiles[name])
    backend = table.pop(BACKEND_KEY, None)
    available = sorted(registry.available())
    if not isinstance(backend, str) or not backend.strip():
        raise ConfigFileError(
            f"{setting_location(settings, 'profiles', name)}: profile {name!r} names no backend",
            f"Add backend = \"NAME\" to [profiles.{name}]; NAME is one of: {', '.join(available)}.",
        )
    if backend not in available:
        raise ConfigFileError(
            f"{setting_location(settings, 'profiles', name, BACKEND_KEY)}: profile {name!r}: "
            f"unknown backend {backend!r}",
            f"Choose one of: {', '.join(available)}.",
        )
    declared = {option.name: option for option in registry.load(backend).options}
    in_file = settings._file_data.get("profiles", {}).get(name, {})
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in table.items():
        where = setting_location(settings, "profiles", name, key)
        option = declared.get(key)
        if option is None:
            warning = f"{where}: profile {name!r}: the {backend} backend has no option {key!r}; ignored"
            settings.warn(warning)
            warnings.append(warning)
            continue
        parsed = check_value(option, value, where, in_file=key in in_file,
                             subject=f"{key!r} in profile {name!r}")
        if parsed is not None:
            values[key] = parsed
    return backend, values, warnings


def resolve_profile(
    settings: Settings, name: str, overrides: Mapping[str, Any] | None = None,
    *, environ: dict[str, str] | None = None,
) -> BackendChoice:
    """Profile ``name`` over its backend's section, ``overrides`` (flags) over both."""
    backend, values, warnings = profile_values(settings, name)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None and v != ""})
    options = backend_options(settings, backend, values, environ=environ, check=True)
    return BackendChoice(backend, options, label=name, profile=name, warnings=tuple(warnings))


def parse_spec(settings: Settings, spec: str, *, environ: dict[str, str] | None = None) -> BackendChoice:
    """A profile name, a backend name, or ``BACKEND:key=value,...`` (see the module docstring)."""
    text = spec.strip()
    if text in settings.profiles:
        return resolve_profile(settings, text, environ=environ)
    name, colon, pairs = text.partition(":")
    name = name.strip()
    if name not in registry.available():
        raise ChoiceError(
            f"{spec!r} is neither a profile nor a backend",
            f"Give {SPEC_SYNTAX}. {_profiles_hint(settings)} Backends: {', '.join(sorted(registry.available()))}.",
        )
    declared = {option.name: option for option in registry.load(name).options}
    values: dict[str, Any] = {}
    shown: list[str] = []
    for pair in pairs.split(",") if colon else []:
        if not pair.strip():
            continue
        key, equals, raw = (part.strip() for part in pair.partition("="))
        if not equals or not key:
            raise ChoiceError(f"{spec!r}: {pair.strip()!r} is not key=value", f"Give {SPEC_SYNTAX}.")
        option = declared.get(key)
        if option is None:
            raise ChoiceError(
                f"{spec!r}: the {name} backend has no option {key!r}",
                f"Its options: {', '.join(declared)} (`thinkpane backends` describes them).",
            )
        values[key] = _parse_pair(spec, option, raw)
        shown.append(f"{key}=***" if option.is_secret else f"{key}={raw}")
    options = backend_options(settings, name, values, environ=environ, check=True)
    label = name + (":" + ",".join(shown) if shown else "")
    return BackendChoice(name, options, label=label)


def _parse_pair(spec: str, option: Option, raw: str) -> Any:
    if not raw:
        raise ChoiceError(f"{spec!r}: {option.name} has no value", f"Give {option.name}=VALUE, or leave it out.")
    try:
        return option.parse(raw)
    except InvalidValueError as error:
        raise ChoiceError(f"{spec!r}: invalid value for {option.name}", f"Expected {error.expected}.") from None


def _profiles_hint(settings: Settings) -> str:
    names = profile_names(settings)
    if names:
        return "Profiles: " + ", ".join(names) + "."
    return "There are no profiles yet: add a [profiles.NAME] table with backend = \"...\" to config.toml."


async def build_backend(
    name: str, options: Mapping[str, Any], preparing: Callable[[str], object] = lambda text: None,
) -> Backend:
    """Build backend ``name`` off the event loop's thread (its SDK's imports are slow), then
    prepare it (the local model loads), telling ``preparing`` what it waits for. Raises
    BackendError; anything else escaping a backend (a plugin's bug) as an InternalError."""
    try:
        backend = await asyncio.to_thread(registry.create, name, options)
        if text := backend.preparing():
            preparing(text)
        await backend.prepare()
    except BackendError:
        raise
    except Exception as exc:
        raise InternalError(
            f"Could not start the {name} backend",
            "This is a bug; please report it.",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc
    return backend


def describe(label: str, backend: Backend | None) -> str:
    """ "deep · deepseek-v4-pro · thinking on · effort high": a column's name, then the
    model and the thinking setting it runs with (as the chat labels an answer)."""
    if backend is None:
        return label
    record = TurnRecord.for_backend(backend, 0.0)
    parts = [label]
    if record.model and record.model not in label:
        parts.append(record.model)
    if setting := record.setting_label():
        parts.append(setting)
    return " · ".join(parts)
