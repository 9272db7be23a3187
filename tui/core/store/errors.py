"""What the store raises: :class:`StoreError`, and how a SQLite or OS failure becomes one.

Every ``sqlite3`` failure becomes one typed :class:`StoreError` (a ``ThinkpaneError``: title +
hint naming the file), chosen from SQLite's error code or the errno, never from the path
(a folder called "full" must not read as a full disk). Callers (the store and its answer
writers) wrap their SQL in :meth:`ConversationStore._guard`, which calls :func:`_describe`.
"""

from __future__ import annotations

import errno

from thinkpane.backends.errors import ThinkpaneError

# The path that opens a throwaway database in memory (SQLite's own name for it).
MEMORY = ":memory:"


class StoreError(ThinkpaneError):
    """The conversation history could not be read or written. ``title`` + ``hint`` say why."""

    kind = "store"


def _classify(exc: BaseException) -> str:
    """readonly | locked | full | ioerr | corrupt | cantopen | other, from the error code.

    Only SQLite's own words or the errno are looked at, never the path (a folder called
    "full" must not read as a full disk).
    """
    if isinstance(exc, OSError):
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "readonly"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return "full"
        return "cantopen"
    name = getattr(exc, "sqlite_errorname", "") or ""
    for prefix, kind in (
        ("SQLITE_READONLY", "readonly"), ("SQLITE_PERM", "readonly"), ("SQLITE_AUTH", "readonly"),
        ("SQLITE_BUSY", "locked"), ("SQLITE_LOCKED", "locked"), ("SQLITE_FULL", "full"),
        ("SQLITE_IOERR", "ioerr"), ("SQLITE_NOTADB", "corrupt"), ("SQLITE_CORRUPT", "corrupt"),
        ("SQLITE_CANTOPEN", "cantopen"),
    ):
        if name.startswith(prefix):
            return kind
    lowered = str(exc).lower()
    for needle, kind in (
        ("readonly", "readonly"), ("locked", "locked"), ("disk is full", "full"),
        ("disk i/o error", "ioerr"), ("not a database", "corrupt"), ("malformed", "corrupt"),
        ("unable to open", "cantopen"),
    ):
        if needle in lowered:
            return kind
    return "other"


def _describe(exc: BaseException, path: str, action: str) -> StoreError:
    """One StoreError with a hint that fits what went wrong."""
    detail = str(exc)
    where = "in memory" if path == MEMORY else f"({path})"
    kind = _classify(exc)
    if kind == "readonly":
        return StoreError(
            f"{action}: the database is read-only {where}",
            "Check the permissions of the file and its folder, or set THINKPANE_DATA_DIR "
            "to a writable folder.",
            detail=detail,
        )
    if kind == "locked":
        return StoreError(
            f"{action}: the database is locked by another program {where}",
            "Another Thinkpane (or a tool holding the file open) is writing to it. "
            "Close it and try again; nothing typed here is lost.",
            detail=detail,
            retryable=True,
        )
    if kind == "full":
        return StoreError(
            f"{action}: the disk is full {where}",
            "Free some disk space, or set THINKPANE_DATA_DIR to a folder on another disk. "
            "The text on screen is kept and will be saved when there is room.",
            detail=detail,
            retryable=True,
        )
    if kind == "ioerr":
        return StoreError(
            f"{action}: the disk reported an error {where}",
            "Check that the disk is still mounted and has free space. The text on screen "
            "is kept and will be saved on the next try.",
            detail=detail,
            retryable=True,
        )
    if kind == "corrupt":
        return StoreError(
            f"{action}: the database file is damaged {where}",
            f"Move it aside (e.g. `mv '{path}' '{path}.corrupt'`) and start Thinkpane "
            "again; a new, empty history will be created.",
            detail=detail,
        )
    if kind == "cantopen":
        return StoreError(
            f"{action}: the database file cannot be opened {where}",
            "Check that its folder exists and is writable, or set THINKPANE_DATA_DIR.",
            detail=detail,
        )
    return StoreError(f"{action} {where}", "See the detail for what SQLite reported.", detail=detail)
