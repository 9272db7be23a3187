"""Thinkpane's settings: one TOML file, overridable from the environment and the command line.

Where a value comes from, highest precedence first:

1. command-line flags (``--backend``, ``--model``, ``--base-url``...; applied by ``thinkpane.tui.cli.main``);
2. ``THINKPANE_*`` environment variables, nested keys joined with ``__``
   (``THINKPANE_BACKEND=openai``, ``THINKPANE_BACKENDS__OPENAI__BASE_URL=...``; names are
   case-insensitive, a whole table may be given as JSON: ``THINKPANE_KEYMAP='{"chat.new": "f5"}'``);
3. the same ``THINKPANE_*`` names in a ``.env`` file in the current directory;
4. a backend option's own environment variables (``DEEPSEEK_API_KEY``, ``OPENAI_BASE_URL``,
   ``AWS_REGION``...; ``thinkpane backends`` lists them), from the environment, then ``.env``;
5. the config file: ``config.toml`` in the platform config dir (``thinkpane backends`` prints
   the path; ``THINKPANE_CONFIG`` names another file, ``THINKPANE_CONFIG_DIR`` another dir —
   these two are read from the real environment only);
6. the defaults (``DEFAULTS``) and each backend option's declared default.

Modelled on posting's ``config.py`` (an env prefix, a nested delimiter, a pydantic model,
``SecretStr``). Differences that matter:

* Loading is two steps, so that launching the app does not wait for pydantic (importing it
  with pydantic-settings took ~60 ms of the 0.32 s to the first frame): :func:`read_layers` reads the file
  (tomllib), ``.env`` and the environment into plain values, merged by precedence; the
  ``Settings`` model (settings_model.py, pydantic) validates them. :func:`load_settings` does
  both. :func:`read_settings`, which ``thinkpane`` uses to launch the app, skips the second
  step when every value already has the plain type the model gives it (what a well-formed
  file and no ``THINKPANE_*`` variables give): it returns :class:`DeferredSettings`, which
  answers from the plain values and validates when first changed, or when the app asks after
  its first frame. Anything else is validated at once, with the same errors.
* :func:`save_settings` writes what the program *changed* since loading, on top of what the
  file holds now. A value that only came from the environment, ``.env`` or a flag
  (:func:`apply_session_overrides`) therefore never lands in the file, and neither does a
  secret the caller did not put into the settings; ``keep_secrets=False`` (the user said
  "don't keep the key") leaves out even those.
* Secret-looking backend options (``api_key``, ``password``, ``*_token``...) are held as
  ``SecretStr`` once validated, and as :class:`~thinkpane.backends.secrets.Secret` before: their
  repr shows stars; the file holds the plain value (mode 0600).
* A corrupt file raises :class:`ConfigFileError` naming the file, the line and the fix.
  Unknown keys are not errors: they are ignored (and kept in the file on save) and listed
  in ``Settings.load_warnings`` with their file and line, which the CLI prints and the app
  shows. :func:`setting_location` finds that line (tomllib keeps no positions).
* A backend option's value is checked by its :class:`~thinkpane.backends.options.Option`
  when the backend is built (``backend_options(..., check=True)``); one that does not fit is
  a :class:`ConfigFileError` naming where it was set (file and line, or the variable).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thinkpane.backends.errors import ConfigurationError, ThinkpaneError
from thinkpane.backends.options import InvalidValueError, Option
from thinkpane.backends.secrets import Secret
from thinkpane.tui.core import paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from pydantic import ValidationError

    from thinkpane.tui.core.settings_model import Settings

log = logging.getLogger("thinkpane.config")
# Warnings reach the user through Settings.load_warnings (the CLI prints them, the app shows
# them); without this, logging's last-resort handler would write them over the TUI.
log.addHandler(logging.NullHandler())

ENV_PREFIX = "THINKPANE_"
ENV_NESTED_DELIMITER = "__"

# Every setting and its default; settings_model.Settings declares their types.
DEFAULTS: dict[str, Any] = {
    "backend": "local",  # which backend chats use
    "system_prompt": None,
    "show_reasoning": True,
    "theme": "textual-dark",
    "keymap": {},  # binding id -> keys, applied with App.set_keymap
    # Seconds a stream may stay silent before the chat's status line points it out (> 0).
    "stall_notice_s": 30.0,
    # Per-backend option values, e.g. backends["openai"]["base_url"]. Secrets are kept here
    # only when the user chose to (see save_settings).
    "backends": {},
    # Named backend settings: profiles["fast"] = {"backend": "openai", "model": ...,
    # "reasoning_effort": ...}, layered over that backend's section (profiles.py reads them).
    "profiles": {},
}
_TABLES = frozenset({"keymap", "backends", "profiles"})  # settings that are tables (dicts)

# Option names whose values are credentials. Matched at load time, before we know which
# backend declared them, so that a Settings repr or a log line never shows one.
_SECRET_NAME = re.compile(r"(^|_)(key|password|passwd|token|secret)$")


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name.lower()))


def __getattr__(name: str) -> Any:
    # ``from thinkpane.tui.core.config import Settings`` keeps working; pydantic is imported
    # when the model is first asked for, not with this module.
    if name == "Settings":
        from thinkpane.tui.core.settings_model import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ConfigFileError(ThinkpaneError):
    """The config file exists but cannot be used (not TOML, wrong types, unreadable).

    Not a backend error: it stops every command before a backend is chosen (exit 2)."""

    kind = "config_file"


def wrap_secrets(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with every secret-looking value as a pydantic ``SecretStr``."""
    from pydantic import SecretStr

    wrapped: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, Secret):
            value = SecretStr(value.get())
        elif isinstance(value, str) and is_secret_name(key):
            value = SecretStr(value)
        wrapped[key] = value
    return wrapped


def flatten_keymap(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"chat": {"toggle_reasoning": "f2"}}`` -> ``{"chat.toggle_reasoning": "f2"}``.

    Binding ids contain dots ("chat.toggle_reasoning"): written unquoted under [keymap], as
    TOML users do, they arrive as nested tables."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(flatten_keymap(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# --------------------------------------------------------------------------- loading


def config_exists(path: Path | None = None) -> bool:
    """False on first launch: the app then opens the setup screen."""
    return (path or paths.config_path()).is_file()


@dataclass
class Layers:
    """Every layer read, not validated: ``values`` is file < .env < environment, merged."""

    path: Path
    values: dict[str, Any]
    file_data: dict[str, Any]  # the file's known settings, as written
    key_lines: dict[str, int]  # dotted key -> its line in the file
    warnings: list[str] = field(default_factory=list)


def read_layers(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Layers:
    """The file, ``.env`` and the environment as plain values; a corrupt file is a
    ConfigFileError, an unknown key in it a warning."""
    path = path or paths.config_path()
    file_data, text = _parse_config_file(path)
    key_lines = _key_lines(text)
    warnings = []
    for key in sorted(set(file_data) - set(DEFAULTS)):
        warnings.append(f"{_at(path, key_lines, (key,))}: unknown setting {key!r} ignored")
        del file_data[key]
    values = copy.deepcopy(file_data)
    dotenv = env_file_values()
    for layer, where in ((dotenv, "in .env"), (os.environ if environ is None else environ, "in the environment")):
        _merge(values, _environment_values(layer, where))
    for warning in warnings:
        log.warning(warning)
    return Layers(path, values, file_data, key_lines, warnings)


def _environment_values(environ: Mapping[str, str], where: str) -> dict[str, Any]:
    """The ``THINKPANE_*`` variables among ``environ`` as settings (module docstring, item 2)."""
    whole: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    prefix = ENV_PREFIX.lower()
    for name, value in environ.items():
        lowered = name.lower()
        if not lowered.startswith(prefix) or value is None:
            continue
        setting, *keys = lowered[len(prefix):].split(ENV_NESTED_DELIMITER)
        if setting not in DEFAULTS or (keys and setting not in _TABLES) or not all(keys):
            continue  # THINKPANE_CONFIG, THINKPANE_DATA_DIR... are not settings
        if keys:
            table: Any = value
            for key in reversed(keys):
                table = {key: table}
            _merge(nested, {setting: table})
        elif setting in _TABLES:
            try:
                whole[setting] = json.loads(value)
            except ValueError:
                raise ConfigFileError(
                    f"Invalid setting {setting!r}",
                    f"{name} ({where}) must be a JSON object, or set one key at a time: "
                    f"{ENV_PREFIX}{setting.upper()}{ENV_NESTED_DELIMITER}NAME=value.",
                ) from None
        else:
            whole[setting] = value
    return _merge(whole, nested)  # single keys go over a whole table given as JSON


def _merge(target: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into ``target``: tables merge key by key, other values replace."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _plain_settings(values: dict[str, Any]) -> dict[str, Any] | None:
    """Every setting (defaults filled in) if each value already has the plain type Settings
    gives it, so that validating it would change nothing but secrets' wrapping; else None."""
    plain = copy.deepcopy(DEFAULTS)
    for key, value in values.items():
        if key == "keymap" and isinstance(value, dict):
            value = flatten_keymap(value)
        plain[key] = value
    checks = (
        isinstance(plain["backend"], str),
        isinstance(plain["theme"], str),
        plain["system_prompt"] is None or isinstance(plain["system_prompt"], str),
        isinstance(plain["show_reasoning"], bool),
        isinstance(plain["keymap"], dict) and all(isinstance(v, str) for v in plain["keymap"].values()),
        # A number (an int behaves as the float it becomes), within the model's bound: a value
        # deferred must not fail validation later.
        isinstance(plain["stall_notice_s"], (int, float)) and not isinstance(plain["stall_notice_s"], bool)
        and plain["stall_notice_s"] > 0,
        isinstance(plain["backends"], dict) and all(isinstance(v, dict) for v in plain["backends"].values()),
        isinstance(plain["profiles"], dict) and all(isinstance(v, dict) for v in plain["profiles"].values()),
    )
    return plain if all(checks) else None


def validate(layers: Layers) -> Settings:
    """The Settings for ``layers``; ConfigFileError naming the file and line if a value does not fit."""
    from pydantic import ValidationError

    from thinkpane.tui.core.settings_model import Settings

    try:
        settings = Settings.model_validate(layers.values)
    except ValidationError as exc:
        raise _validation_error(exc, layers.path, layers.key_lines) from None
    settings._file_data = layers.file_data
    settings._snapshot = _dump(settings)
    settings._load_warnings = layers.warnings
    settings._path = layers.path
    settings._key_lines = layers.key_lines
    return settings


def load_settings(*, path: Path | None = None) -> Settings:
    """Settings from every layer. A missing file is fine; a corrupt one is a ConfigFileError."""
    return validate(read_layers(path))


def read_settings(*, path: Path | None = None) -> Settings | DeferredSettings:
    """As :func:`load_settings`, but validated later when the values read need no conversion
    (see the module docstring): what launching the app uses."""
    layers = read_layers(path)
    plain = _plain_settings(layers.values)
    return DeferredSettings(layers, plain) if plain is not None else validate(layers)


class DeferredSettings:
    """Settings read but not validated yet, standing in for them.

    Until :meth:`validated` runs, reading a setting (or what save_settings, backend_options and
    setting_location read) answers from the plain values read (each already of its type);
    setting one validates first. Afterwards every attribute is the validated Settings' own, so
    code holding this object sees one set of settings throughout. The app validates after its
    first frame (in its warm-up thread, hence the lock). Secret-looking backend options are
    held as :class:`~thinkpane.backends.secrets.Secret` until then (a masked repr, as
    ``SecretStr``'s once validated; no pydantic needed)."""

    def __init__(self, layers: Layers, plain: dict[str, Any]) -> None:
        plain = dict(plain, **{table: {name: _hide_plain_secrets(options) for name, options in plain[table].items()}
                               for table in ("backends", "profiles")})
        early = dict(plain)
        early.update(_file_data=layers.file_data, _snapshot=copy.deepcopy(plain), _load_warnings=layers.warnings,
                     _path=layers.path, _key_lines=layers.key_lines)
        object.__setattr__(self, "_deferred_layers", layers)
        object.__setattr__(self, "_deferred_early", early)
        object.__setattr__(self, "_deferred_settings", None)
        object.__setattr__(self, "_deferred_lock", threading.Lock())

    @property
    def is_validated(self) -> bool:
        return self._deferred_settings is not None

    def validated(self) -> Settings:
        """The Settings (validated once; pydantic is imported here)."""
        with self._deferred_lock:
            if self._deferred_settings is None:
                layers = self._deferred_layers
                # What was changed in the plain tables before (nothing today) is kept.
                layers.values = {key: self._deferred_early[key] for key in DEFAULTS}
                object.__setattr__(self, "_deferred_settings", validate(layers))
        settings: Settings = self._deferred_settings
        return settings

    @property
    def load_warnings(self) -> list[str]:
        return list(self._load_warnings)

    def warn(self, warning: str) -> bool:
        """As Settings.warn (before validation, into the same list)."""
        if self._deferred_settings is not None:
            settings: Settings = self._deferred_settings
            return settings.warn(warning)
        return add_warning(self._load_warnings, warning)

    def __getattr__(self, name: str) -> Any:
        if self._deferred_settings is None and name in self._deferred_early:
            return self._deferred_early[name]
        return getattr(self.validated(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.validated(), name, value)

    def __repr__(self) -> str:
        return repr(self.validated())


def _hide_plain_secrets(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with every secret-looking text as a Secret (wrap_secrets without pydantic)."""
    return {key: Secret(value) if isinstance(value, str) and is_secret_name(key) else value
            for key, value in options.items()}


def settings_of(settings: Settings | DeferredSettings) -> Settings:
    """The validated Settings behind ``settings``."""
    return settings.validated() if isinstance(settings, DeferredSettings) else settings


def setting_location(settings: Settings, *key_path: str) -> str:
    """Where a setting was written: ``FILE:LINE`` when the config file has it, else its variable.

    ``key_path`` is the setting's keys, e.g. ``("keymap", "chat.new")`` or
    ``("backends", "openai", "temperature")``. A key inside an inline table points at the
    table's line.
    """
    if settings._path is not None:
        where = _at(settings._path, settings._key_lines, key_path)
        if where != str(settings._path):
            return where
    return _env_location(key_path)


def _env_location(key_path: tuple[str, ...]) -> str:
    """The THINKPANE_* variable that sets ``key_path``, as a location for messages."""
    names = []
    for part in key_path:
        if "." in part:  # a binding id: only the whole table can be set from the environment
            break
        names.append(part.upper())
    return f"{ENV_PREFIX}{'__'.join(names)} (in the environment or .env)"


def _at(path: Path, key_lines: dict[str, int], key_path: tuple[str, ...]) -> str:
    """``path:line`` of the key, or of the nearest table that holds it; ``path`` if neither."""
    for end in range(len(key_path), 0, -1):
        line = key_lines.get(".".join(key_path[:end]))
        if line is not None:
            return f"{path}:{line}"
    return str(path)


def _key_lines(text: str) -> dict[str, int]:
    """Dotted key -> the line (1-based) that sets it, for every key and table in TOML ``text``.

    A plain line scanner (the file has already parsed): it follows ``[table]`` headers,
    dotted and quoted keys, and skips multi-line strings. ``[keymap]`` + ``chat.new = ...`` and
    ``"chat.new" = ...`` both give ``keymap.chat.new``.
    """
    lines: dict[str, int] = {}
    table: list[str] = []
    open_string: str | None = None  # the delimiter of a multi-line string being skipped
    for number, line in enumerate(text.splitlines(), 1):
        if open_string is not None:
            if line.count(open_string) % 2:
                open_string = None
            continue
        stripped = line.strip()
        if stripped.startswith("["):
            header = _dotted_key(stripped.lstrip("["), stop="]")
            if header:
                table = header
                lines.setdefault(".".join(table), number)
            continue
        key = _dotted_key(stripped, stop="=")
        if not key:
            continue
        lines.setdefault(".".join(table + key), number)
        value = stripped.split("=", 1)[1] if "=" in stripped else ""
        open_string = next((quote for quote in ('"""', "'''") if value.count(quote) % 2), None)
    return lines


def _dotted_key(text: str, *, stop: str) -> list[str]:
    """The parts of the dotted key at the start of ``text``, which ends at ``stop``; [] if none."""
    parts: list[str] = []
    current = ""
    quote: str | None = None
    for char in text:
        if quote:
            if char == quote:
                quote = None
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        elif char == stop:
            parts.append(current.strip())
            return parts if all(parts) else []
        elif char == "#":
            return []
        else:
            current += char
    return []


def _parse_config_file(path: Path) -> tuple[dict[str, Any], str]:
    """Everything in the file ({} when there is none) and its text; ConfigFileError when unusable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, ""
    except IsADirectoryError:
        raise ConfigFileError(
            f"Config path {path} is a directory", "Point THINKPANE_CONFIG at a file."
        ) from None
    except OSError as exc:
        raise ConfigFileError(
            f"Cannot read config file {path}",
            "Check its permissions, or delete it; `thinkpane` recreates it.",
            detail=exc.strerror or str(exc),
        ) from None
    try:
        text = raw.decode("utf-8")
        return tomllib.loads(text), text
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"Config file {path} is not UTF-8 text",
            "Fix or delete it; `thinkpane` recreates it.",
            detail=f"byte {exc.start}",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(
            f"Config file {path} is not valid TOML",
            f"Fix {_where(exc)} or delete the file; `thinkpane` recreates it.",
            detail=str(exc),
        ) from None


def _where(exc: Exception) -> str:
    """'line 3, column 7' from a TOMLDecodeError (3.11-3.13 only put it in the message)."""
    lineno, colno = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if lineno is None:
        match = re.search(r"line (\d+), column (\d+)", str(exc))
        if match:
            lineno, colno = int(match[1]), int(match[2])
    return f"line {lineno}, column {colno}" if lineno else "the file"


def _validation_error(exc: ValidationError, path: Path, key_lines: dict[str, int]) -> ConfigFileError:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        problems.append(f"{key}: {error['msg']}")
    loc = tuple(str(part) for part in exc.errors()[0]["loc"]) if exc.errors() else ("",)
    env_name = ENV_PREFIX + loc[0].upper()
    return ConfigFileError(
        f"Invalid setting {loc[0]!r}",
        f"Fix it in {_at(path, key_lines, loc)} (or in {env_name}* in your environment or .env).",
        detail="; ".join(problems),
    )


# --------------------------------------------------------------------------- saving


def save_settings(settings: Settings, *, path: Path | None = None, keep_secrets: bool = True) -> Path:
    """Write the settings the program changed since loading into the TOML file, atomically.

    The changes are applied to the file as it is now on disk (comments are not kept).

    Values that came from the environment or ``.env`` are not written unless the program
    changed them. A changed secret is written only with ``keep_secrets=True`` (the setup
    screen's "keep the key in config?"); with False, it stays in memory and any older copy
    of that secret is removed from the file. The file is mode 0600, its new dir 0700.
    """
    from thinkpane.tui.core.settings_model import Settings

    settings = settings_of(settings)
    path = path or paths.config_path()
    current = _dump(settings)
    snapshot = settings._snapshot if settings._snapshot is not None else _dump(Settings.model_construct())
    # Re-read the file: edits made in an editor while the app ran are kept, and so are keys
    # this version does not know. A file broken meanwhile is reported, not overwritten.
    data, _ = _parse_config_file(path)
    _apply_changes(data, snapshot, current, keep_secrets=keep_secrets, key_path=())
    import tomli_w

    from thinkpane.backends.files import write_private

    text = tomli_w.dumps(_to_toml(data))
    write_private(path, text)
    # The file now matches: later saves compare against this state.
    settings._file_data = {k: v for k, v in data.items() if k in DEFAULTS}
    settings._snapshot = current
    settings._path = path
    settings._key_lines = _key_lines(text)
    return path


def _dump(settings: Settings) -> dict[str, Any]:
    return copy.deepcopy(settings.model_dump())


def _apply_changes(
    data: dict[str, Any],
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    keep_secrets: bool,
    key_path: tuple[str, ...],
) -> None:
    for key, value in after.items():
        old = before.get(key, _MISSING)
        if isinstance(value, dict):
            # Recurse even into a new table, so each secret in it is judged on its own.
            target = data.get(key)
            if not isinstance(target, dict):
                target = data[key] = {}
            _apply_changes(
                target, old if isinstance(old, dict) else {}, value,
                keep_secrets=keep_secrets, key_path=(*key_path, key),
            )
            continue
        if _same(old, value):
            continue
        if _is_secret(key, value) and not keep_secrets:
            data.pop(key, None)
            continue
        data[key] = copy.deepcopy(value)
    for key in set(before) - set(after):
        data.pop(key, None)


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    """Equal values, comparing secrets by their value (a SecretStr and a str can be equal)."""
    return bool(_plain(a) == _plain(b))


def _is_secret(key: str, value: Any) -> bool:
    return _is_secret_str(value) or isinstance(value, Secret) or (isinstance(value, str) and is_secret_name(key))


def _is_secret_str(value: Any) -> bool:
    """A pydantic ``SecretStr`` (told without importing pydantic: before validation there is none)."""
    return hasattr(value, "get_secret_value")


def _plain(value: Any) -> Any:
    if _is_secret_str(value):
        return value.get_secret_value()
    if isinstance(value, Secret):
        return value.get()
    return value


def _to_toml(value: Any) -> Any:
    """TOML-serialisable copy: secrets as their value, paths as text, None dropped."""
    if isinstance(value, dict):
        converted = {str(k): _to_toml(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in converted.items() if v != {}}  # no empty [tables]
    if isinstance(value, (list, tuple)):
        return [_to_toml(v) for v in value if v is not None]
    if _is_secret_str(value) or isinstance(value, Secret):
        return _plain(value)
    if isinstance(value, Path):
        return str(value)
    return value


# --------------------------------------------------------------------------- session overrides


def apply_session_overrides(
    settings: Settings,
    *,
    backend: str | None = None,
    options: dict[str, Any] | None = None,
    stall_notice_s: float | None = None,
) -> Settings:
    """Use ``backend`` / option values / ``stall_notice_s`` for this run only (CLI flags): a
    later save skips them."""
    settings = settings_of(settings)
    if backend:
        settings.backend = backend
    if stall_notice_s is not None:
        settings.stall_notice_s = stall_notice_s
    if options:
        name = settings.backend
        merged = dict(settings.backends.get(name, {}))
        merged.update({k: v for k, v in options.items() if v is not None and v != ""})
        settings.backends[name] = wrap_secrets(merged)
    # Counting them as "loaded" means save_settings sees no change to write.
    settings._snapshot = _dump(settings)
    return settings


# --------------------------------------------------------------------------- backend options


def backend_options(
    settings: Settings,
    name: str,
    overrides: dict[str, Any] | None = None,
    *,
    environ: dict[str, str] | None = None,
    check: bool = False,
) -> dict[str, Any]:
    """Raw option values for ``thinkpane.backends.registry.create(name, ...)``, layered by precedence.

    ``overrides`` (CLI flags) win; then the settings (THINKPANE_* env, .env, config file).
    A value that came from the config file gives way to the option's own environment
    variable (``DEEPSEEK_API_KEY``...), read from the real environment first, then ``.env``.
    Secrets come back as ``thinkpane.backends.secrets.Secret``.

    With ``check``, every value not given in ``overrides`` (those are parsed where they are
    typed) is parsed by its Option first: one that does not fit, or an empty value in the
    file, raises :class:`ConfigFileError` naming the file and line or the variable. The setup
    screen leaves it off: it shows such a value in its form, with the error, to be fixed.
    """
    environ = dict(os.environ) if environ is None else environ
    values = dict(settings.backends.get(name, {}))
    options = _declared_options(name)
    # Each value not given in overrides: (value, where it was set, whether that is the file).
    sources: dict[str, tuple[Any, str, bool]] = {}
    if options is not None:
        file_values = settings._file_data.get("backends", {}).get(name, {})
        loaded_values = (settings._snapshot or {}).get("backends", {}).get(name, {})
        dotenv = env_file_values()
        declared = {option.name for option in options}
        for key in sorted(set(values) - declared):
            where = setting_location(settings, "backends", name, key)
            settings.warn(f"{where}: backend {name}: unknown option {key!r} ignored")
        for option in options:
            came_from_file = (
                option.name in file_values
                and _same(values.get(option.name), file_values[option.name])
                and _same(values.get(option.name), loaded_values.get(option.name, _MISSING))
            )
            if option.name in values:
                sources[option.name] = (
                    (values[option.name], setting_location(settings, "backends", name, option.name), True)
                    if came_from_file
                    else (values[option.name], _env_location(("backends", name, option.name)), False)
                )
            own_env = [var for var in option.env if environ.get(var) or dotenv.get(var)]
            if not own_env or (option.name in values and not came_from_file):
                continue
            values.pop(option.name, None)
            # The real environment is read by resolve_options; .env values are passed in.
            real = next((var for var in option.env if environ.get(var)), None)
            if real is None:
                var = next(var for var in option.env if dotenv.get(var))
                values[option.name] = dotenv[var]
                sources[option.name] = (dotenv[var], f"{var} (in .env)", False)
            else:
                sources[option.name] = (environ[real], f"the environment variable {real}", False)
    for key, value in (overrides or {}).items():
        if value is not None and value != "":
            values[key] = value
            sources.pop(key, None)
    if check and options is not None:
        for option in options:
            if option.name in sources:
                value, where, in_file = sources[option.name]
                check_value(option, value, where, in_file=in_file, subject=f"the {name} option {option.name!r}")
    secret_names = {o.name for o in options if o.is_secret} if options is not None else set()
    return {key: _for_backend(key, value, secret_names) for key, value in values.items()}


def check_value(option: Option, value: Any, where: str, *, in_file: bool, subject: str) -> Any:
    """``value`` parsed by ``option``; a ConfigFileError naming ``where`` (``FILE:LINE`` or a
    variable) when it does not fit. ``subject``: what holds it, e.g. "the openai option
    'max_tokens'" or "'max_tokens' of profile 'fast'"."""
    value = _plain(value) if _is_secret_str(value) else value
    if value == "" and in_file:
        raise ConfigFileError(
            f"{where}: {subject} is empty",
            "Remove the line to use the default, or give it a value.",
        )
    try:
        return option.parse(value)
    except InvalidValueError as error:
        fix = "or remove the line to use the default" if in_file else "or unset it"
        raise ConfigFileError(
            f"{where}: invalid value for {subject}",
            f"Expected {error.expected}. Fix it there, {fix}.",
        ) from None


def add_warning(warnings: list[str], warning: str) -> bool:
    """Append ``warning`` (and log it) unless it is already there; False when it was."""
    if warning in warnings:
        return False
    warnings.append(warning)
    log.warning(warning)
    return True


def _for_backend(key: str, value: Any, secret_names: set[str]) -> Any:
    if _is_secret_str(value):
        value = value.get_secret_value()
        return Secret(value) if (key in secret_names or not secret_names) else value
    if key in secret_names and isinstance(value, str):
        return Secret(value)
    return value


def _declared_options(name: str) -> tuple[Option, ...] | None:
    """The backend's Option declarations, or None when it cannot be loaded (create() says why)."""
    from thinkpane.backends import registry

    try:
        return tuple(registry.load(name).options)
    except ConfigurationError:
        return None


def env_file_values() -> dict[str, str]:
    """The variables set in ``.env`` in the current directory ({} without one)."""
    env_file = Path(".env")
    if not env_file.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(env_file).items() if v is not None}
