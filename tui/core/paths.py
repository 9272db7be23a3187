"""Where Thinkpane keeps its files. Each can be moved by an environment variable (tests do)."""

from __future__ import annotations

import os
from pathlib import Path

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


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parent, each mode 0700; config and data may hold secrets or chats.

    ``mkdir(parents=True, mode=...)`` gives the mode to the last folder only (the parents get
    the umask's 0755), so the data dir was left open when its ``state`` folder came first.
    Folders that already exist are left as they are: they may be the user's own.
    """
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # created meanwhile by another process
            continue
        folder.chmod(0o700)  # the umask may have removed bits mkdir was given
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)  # raises the right error (a file is in the way)
    return path
