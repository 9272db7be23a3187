"""Private files: the one writer for every file Thinkpane writes that may hold a secret or a chat.

The config file (it may keep an API key), the provisioning state files and exports all go
through :func:`write_private`: readable by the owner only (0600) from the first byte, and
replaced atomically, so a crash or a full disk mid-write leaves the old file whole, never
half of a config. Folders Thinkpane creates for them are 0700 (:func:`ensure_private_dir`).
It lives in ``backends`` because that is the lower layer: the OpenSearch state file is
written from here, the config and exports from ``tui/core``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


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


def write_private(path: str | os.PathLike[str], text: str, *, make_folder: bool = True) -> Path:
    """Replace ``path`` with ``text`` (UTF-8), mode 0600, atomically; returns ``path``.

    The text goes to a temporary file beside the target (``mkstemp`` creates it 0600, so
    no other user can open it even for a moment), is flushed to disk, then renamed over
    the target. A symlink is followed, so a config file linked from a dotfiles folder stays
    a link. ``make_folder``: create a missing folder (0700); without it a missing folder is
    an OSError (an export path with a typo should fail, not grow folders). Raises OSError.
    """
    target = Path(os.path.realpath(path))
    if make_folder and not target.parent.exists():
        ensure_private_dir(target.parent)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return Path(path)
