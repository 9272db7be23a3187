"""The lock that keeps two pulls of one model from writing the same partial file.

One ``flock`` on a ``.lock`` file beside the partial file, taken without waiting, held by one
open file object and let go by closing it: the descriptor is owned by that object alone, so
it is closed exactly once, in the thread that took it. (We used the ``filelock`` package
before; its 4.x releases track descriptors across threads and finalizers, and while a pull's
daemon thread outlived a cancelled download, a socket of the next download failed with
"Bad file descriptor" or stopped mid-transfer; filelock's own tracker has fixed such
double closes, e.g. tox-dev/filelock#633. A partial-file lock needs none of that.)

``flock`` locks are released by the kernel when the process dies, so a killed pull never
leaves the model locked. On Windows ``msvcrt.locking`` does the same on the file's first byte.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


class AlreadyLocked(Exception):
    """Another process (or thread) holds the lock."""


@contextlib.contextmanager
def held_exclusively(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block, or raise
    :class:`AlreadyLocked` at once. The lock file is removed after, if still there."""
    handle = open(path, "a+b")  # noqa: SIM115 - closed in the finally below, which is what releases the lock
    try:
        try:
            _lock(handle.fileno())
        except OSError:
            raise AlreadyLocked(str(path)) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()  # before closing: a waiting pull never locks a file about to vanish
    finally:
        handle.close()  # releases the lock


if sys.platform == "win32":  # pragma: no cover - tested on POSIX only here

    def _lock(fd: int) -> None:
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:

    def _lock(fd: int) -> None:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
