"""Run a stand-in ``socketserver`` server in a daemon thread for the length of a ``with`` block."""

from __future__ import annotations

import contextlib
import socketserver
import threading
from collections.abc import Iterator
from typing import TypeVar

ServerT = TypeVar("ServerT", bound=socketserver.BaseServer)


@contextlib.contextmanager
def in_background(server: ServerT, name: str) -> Iterator[ServerT]:
    """Serve until the block ends, then stop, close the socket and wait for the thread."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
