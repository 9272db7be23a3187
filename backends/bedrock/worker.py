"""Run boto3's blocking ConverseStream in a thread and hand its events to asyncio.

boto3 is synchronous: the request and every ``next()`` on the EventStream block on a
socket. One daemon thread per call does that work and feeds an ``asyncio.Queue`` through
``loop.call_soon_threadsafe``, so the event loop never blocks.

Cancelling must hang up at once. ``EventStream.close()`` alone does not do it: a thread
blocked in ``recv()`` keeps the socket open until the read timeout (minutes), and calling
``close()`` from the event loop would even block the loop on the reader's buffer lock
until the next frame arrives. So :meth:`ConverseCall.hang_up` ``shutdown()``s the socket
(never blocks), which wakes the blocked read with EOF and sends the FIN the server sees;
the woken worker thread then calls ``EventStream.close()`` itself. If the socket cannot
be reached, ``close()`` runs in a helper thread instead, never on the loop. Reaching the
socket, and reading the raw event frames, takes botocore's private names: those live in
stream_internals.py, with their fallbacks.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from thinkpane.backends.bedrock.stream_internals import iter_converse_events, stream_socket

_EVENT, _END, _ERROR = "event", "end", "error"


class ConverseCall:
    """One ``converse_stream`` call. ``start_call`` returns the response's EventStream."""

    def __init__(self, start_call: Callable[[], Any]) -> None:
        self._start_call = start_call
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._done = asyncio.Event()
        self._lock = threading.Lock()
        self._stream: Any = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._work, name="bedrock-converse-stream", daemon=True)

    def start(self) -> ConverseCall:
        self._thread.start()
        return self

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Parsed Converse events; raises what boto3 raised, in order, after earlier events."""
        while True:
            kind, payload = await self._queue.get()
            if kind == _EVENT:
                yield payload
            elif kind == _ERROR:
                raise payload
            else:
                return

    async def close(self, wait_s: float = 1.0) -> None:
        """Hang up and wait (bounded) for the thread to finish.

        Before the response headers arrive there is no socket we can reach (it is inside
        urllib3's pool), so we do not wait: the daemon thread sees the cancel as soon as
        boto3 returns (or times out) and closes the stream then.
        """
        self.hang_up()
        with self._lock:
            responded = self._stream is not None
        if responded and not self._done.is_set():
            try:
                await asyncio.wait_for(self._done.wait(), wait_s)
            except asyncio.TimeoutError:
                pass

    def hang_up(self) -> None:
        with self._lock:
            self._cancelled = True
            stream = self._stream
        if stream is not None and not _shutdown_socket(stream):
            threading.Thread(target=_quietly, args=(stream.close,), daemon=True).start()

    # ------------------------------------------------------------------ worker thread

    def _work(self) -> None:
        try:
            stream = self._start_call()
            with self._lock:
                self._stream = stream
                cancelled = self._cancelled
            if cancelled:
                return  # closed in finally
            for event in iter_converse_events(stream):
                if self._cancelled:
                    return
                self._put((_EVENT, event))
            self._put((_END, None))
        except BaseException as exc:
            if not self._cancelled:
                self._put((_ERROR, exc))
        finally:
            with self._lock:
                stream = self._stream
            if stream is not None:
                _quietly(stream.close)
            self._call_in_loop(self._done.set)

    def _put(self, item: tuple[str, Any]) -> None:
        self._call_in_loop(self._queue.put_nowait, item)

    def _call_in_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # the loop is closed: nobody is listening any more


def _shutdown_socket(stream: Any) -> bool:
    """shutdown() the socket under the EventStream's response; False if unreachable."""
    sock = stream_socket(stream)
    if sock is None:
        return False
    _quietly(sock.shutdown, socket.SHUT_RDWR)
    return True


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        pass
