"""Where Thinkpane keeps its files. Each can be moved by an environment variable (tests do)."""

from __future__ import annotations

import os
from pathlib import Path

from thinkpane.backends import files

APP_NAME = "thinkpane"


def config_dir() -> Path:
    if override := os.environ.get("THINKPANE_CONFIG_DIR"):
        return Path(override)
    from platformdirs import user_config_path

    return user_config_path(APP_NAME)


def config_path() -> Path:
    """The TOML config file; THINKPANE_CONFIG points at another file."""
    if override := os.environ.get("THINKPANE_CONFIG"):
        return Path(override)
    return config_dir() / "config.toml"


def data_dir() -> Path:
    """Conversations (SQLite) and provisioning state files."""
    if override := os.environ.get("THINKPANE_DATA_DIR"):
        return Path(override)
    from platformdirs import user_data_path

    return user_data_path(APP_NAME)


def database_path() -> Path:
    return data_dir() / "conversations.sqlite3"


def state_dir() -> Path:
    """Provisioning state files (created resource ids), one per backend profile."""
    return data_dir() / "state"


# Re-exported: callers in tui/ name it paths.ensure_private_dir, next to the folders it makes.
ensure_private_dir = files.ensure_private_dir
