"""The validated settings: a pydantic model of what config.py reads.

Kept apart from config.py so that reading the settings does not import pydantic (~60 ms of
the app's start, with pydantic-settings): config.py reads and merges the layers into plain values; this model checks
their types, joins dotted key bindings and hides secrets. ``config.validate`` builds it from
the layers (and says which file line a wrong value is on); screens and tests may build one
directly (``Settings(backend="scripted")``: defaults for the rest, no file or environment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from thinkpane.tui.core.config import DEFAULTS, add_warning, flatten_keymap, wrap_secrets


class Settings(BaseModel):
    """Everything the TUI and the CLI read. See config.py for where each value comes from."""

    model_config = ConfigDict(extra="ignore")

    backend: str = DEFAULTS["backend"]
    system_prompt: str | None = DEFAULTS["system_prompt"]
    show_reasoning: bool = DEFAULTS["show_reasoning"]
    theme: str = DEFAULTS["theme"]
    keymap: dict[str, str] = DEFAULTS["keymap"]
    stall_notice_s: float = Field(default=DEFAULTS["stall_notice_s"], gt=0)
    backends: dict[str, dict[str, Any]] = DEFAULTS["backends"]
    profiles: dict[str, dict[str, Any]] = DEFAULTS["profiles"]

    # What the config file held when loaded, and the values right after loading: together
    # they tell save_settings which values the program changed.
    _file_data: dict[str, Any] = PrivateAttr(default_factory=dict)
    _snapshot: dict[str, Any] | None = PrivateAttr(default=None)
    _load_warnings: list[str] = PrivateAttr(default_factory=list)
    # The file loaded and the line of each key in it, for messages that point at a line.
    _path: Path | None = PrivateAttr(default=None)
    _key_lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @field_validator("keymap", mode="before")
    @classmethod
    def _join_dotted_binding_ids(cls, value: Any) -> Any:
        # Binding ids contain dots ("chat.toggle_reasoning"): written unquoted under [keymap],
        # as TOML users do, they arrive as nested tables and failed validation. Join them back.
        return flatten_keymap(value) if isinstance(value, dict) else value

    @field_validator("backends", "profiles", mode="after")
    @classmethod
    def _hide_secrets(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {name: wrap_secrets(options) for name, options in value.items()}

    def __repr_args__(self) -> Any:  # a ReprArgs iterable, as pydantic's
        # Secrets the program put in as plain strings are masked too.
        for name, value in super().__repr_args__():
            if name in ("backends", "profiles") and isinstance(value, dict):
                value = {backend: wrap_secrets(options) for backend, options in value.items()}
            yield name, value

    @property
    def load_warnings(self) -> list[str]:
        """Problems found while loading that did not stop it (unknown keys...)."""
        return list(self._load_warnings)

    def warn(self, warning: str) -> bool:
        """Add a problem found once a backend or profile is read (an option it does not
        declare); False when it was already there."""
        return add_warning(self._load_warnings, warning)
