"""A model download as a person follows it: bytes, rate and time left, and a pull that can be stopped.

Shared by ``thinkpane models pull`` (text lines) and the setup screen (a progress bar):

* :class:`DownloadMeter`: from ``(done, total)`` callbacks to the rate since this download
  started (bytes already on disk from an earlier, interrupted pull do not count as speed)
  and the time left, and the one line both front ends show ("12.3 MB of 98.4 MB  12%  5.1 MB/s
  ETA 0:17").
* :class:`ModelDownload`: :func:`thinkpane.backends.local.hub.pull` run in a daemon thread
  (huggingface_hub's download is blocking), its progress handed to ``on_progress`` on the
  event loop, and :meth:`ModelDownload.run` awaitable and cancellable. Cancelling raises
  :class:`DownloadStopped` from the next progress callback inside the library's write loop,
  so the partial file is closed with whole chunks in it and the next pull resumes it; a
  connection that sends nothing at all stops being waited for at once (the thread is a
  daemon and ends with the library's own read timeout). Nothing is ever installed where
  the local backend would load it unless it was complete and verified (``pull`` does that).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from thinkpane.backends.errors import BackendError

DOWNLOAD_THREAD_NAME = "thinkpane-download"
Phase = Literal["connecting", "downloading", "verifying"]


def format_duration(seconds: float) -> str:
    """75 -> '1:15', 3725 -> '1:02:05'."""
    whole = int(seconds)
    if whole >= 3600:
        return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    return f"{whole // 60}:{whole % 60:02d}"


@dataclass(frozen=True)
class DownloadProgress:
    """One moment of a download, ready to show."""

    phase: Phase
    done: int = 0
    total: int | None = None
    rate: float = 0.0  # bytes/s since this download started
    eta_s: float | None = None
    resumed_from: int = 0

    @property
    def text(self) -> str:
        from thinkpane.backends.local.hub import human_bytes

        if self.phase == "connecting":
            return "connecting to the Hub"
        if self.phase == "verifying":
            percent = f" {100 * self.done // max(self.total or 1, 1)}%" if self.total else ""
            return f"checking SHA-256{percent}"
        parts = [f"{human_bytes(self.done)} of {human_bytes(self.total)}" if self.total else human_bytes(self.done)]
        if self.total:
            parts.append(f"{100 * self.done // max(self.total, 1)}%")
        if self.rate > 0:
            parts.append(f"{human_bytes(int(self.rate))}/s")
            if self.eta_s is not None:
                parts.append("ETA " + format_duration(self.eta_s))
        return "  ".join(parts)


class DownloadMeter:
    """Turns ``(done, total)`` callbacks into :class:`DownloadProgress` (rate and ETA)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.resumed_from = 0
        self.done = 0
        self.total: int | None = None

    def start(self, total: int | None, resumed_from: int) -> None:
        self.started = self.clock()
        self.resumed_from = self.done = resumed_from
        self.total = total

    def update(self, done: int, total: int | None) -> DownloadProgress:
        self.done, self.total = done, total
        elapsed = self.clock() - self.started
        fresh = done - self.resumed_from
        rate = fresh / elapsed if elapsed > 0 and fresh > 0 else 0.0
        eta = (total - done) / rate if rate > 0 and total else None
        return DownloadProgress("downloading", done, total, rate, eta, self.resumed_from)


def call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any) -> None:
    """``loop.call_soon_threadsafe`` from a daemon thread that may outlive the app's loop."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the loop is closed: the app has quit, nobody is waiting any more
        pass


async def in_daemon_thread(function: Callable[[], Any], *, name: str = "thinkpane-hub-info") -> Any:
    """``function()`` in a daemon thread called ``name``, awaited. Unlike ``asyncio.to_thread``
    (the loop's executor, joined when the interpreter exits) a Hub that does not answer never
    delays quitting. Cancelling stops the waiting, not the thread; what the thread returns or
    raises after that is dropped."""
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if finished.done():
            return
        if error is not None:
            finished.set_exception(error)
        else:
            finished.set_result(result)

    def work() -> None:
        try:
            result = function()
        except Exception as exc:
            call_soon(loop, settle, None, exc)
            return
        call_soon(loop, settle, result, None)

    threading.Thread(target=work, name=name, daemon=True).start()
    return await finished


class DownloadStopped(Exception):
    """Raised inside the download thread when the download was cancelled (never shown)."""


@dataclass(frozen=True)
class DownloadOutcome:
    """How a download ended: the installed file, or the error to show (never both)."""

    path: Any = None  # pathlib.Path of the model file
    error: BackendError | None = None
    downloaded: bool = False  # False: it was already there
    verified: bool = False  # the Hub's SHA-256 was checked


class ModelDownload:
    """One ``pull`` of ``spec`` (a catalogue name or hf: spec) in a daemon thread."""

    def __init__(self, spec: str, on_progress: Callable[[DownloadProgress], object]) -> None:
        self.spec = spec
        self.on_progress = on_progress
        self._stop = threading.Event()
        self._started = False
        self._ended = threading.Event()

    @property
    def running(self) -> bool:
        """The thread is still alive (after a cancel, until the library lets go of the file)."""
        return self._started and not self._ended.is_set()

    def stop(self) -> None:
        self._stop.set()

    async def wait_ended(self) -> None:
        """Until the thread has let go of the partial file (it stops at the next chunk)."""
        if self._started:
            await asyncio.to_thread(self._ended.wait)

    async def run(self) -> DownloadOutcome:
        """Download (or find) the model. Cancelling stops the thread at its next chunk."""
        loop = asyncio.get_running_loop()
        meter = DownloadMeter()

        def post(progress: DownloadProgress) -> None:
            if not self._stop.is_set():
                call_soon(loop, self.on_progress, progress)

        def check() -> None:
            if self._stop.is_set():
                raise DownloadStopped

        def on_start(remote: Any, resume_from: int) -> None:
            check()
            meter.start(remote.size, resume_from)
            post(meter.update(resume_from, remote.size))

        def on_bytes(done: int, total: int | None) -> None:
            check()
            post(meter.update(done, total))

        def on_verify(done: int, total: int | None) -> None:
            check()
            post(DownloadProgress("verifying", done, total))

        def work() -> DownloadOutcome:
            # DownloadStopped goes up to in_daemon_thread, whose waiting was cancelled: dropped.
            try:
                return self._pull(on_start, on_bytes, on_verify)
            except DownloadStopped:
                raise
            except BaseException as exc:  # a bug: shown as a failed download, never a traceback
                return DownloadOutcome(error=BackendError(
                    "The download failed unexpectedly",
                    "This is a bug in Thinkpane; please report it with the steps that led here.",
                    detail=f"{type(exc).__name__}: {exc}",
                ))
            finally:
                self._ended.set()

        post(DownloadProgress("connecting"))
        self._started = True
        try:
            outcome: DownloadOutcome = await in_daemon_thread(work, name=DOWNLOAD_THREAD_NAME)
        except asyncio.CancelledError:
            self.stop()
            raise
        return outcome

    def _pull(self, on_start: Callable[[Any, int], None], on_bytes: Callable[[int, int | None], None],
              on_verify: Callable[[int, int | None], None]) -> DownloadOutcome:
        from thinkpane.backends.local import catalog
        from thinkpane.backends.local.hub import pull, token_secrets
        from thinkpane.backends.local.store import current_store
        from thinkpane.backends.secrets import redact

        try:
            target = catalog.parse_spec(self.spec)
            result = pull(target, current_store(), on_progress=on_bytes, on_verify=on_verify, on_start=on_start)
        except BackendError as error:
            secrets = token_secrets()
            error.title, error.hint, error.detail = (redact(text, secrets) for text in (error.title, error.hint, error.detail))
            return DownloadOutcome(error=error)
        return DownloadOutcome(result.path, downloaded=result.downloaded, verified=result.sha256 is not None)
