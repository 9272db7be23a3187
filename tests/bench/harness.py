"""Measuring tools shared by the benchmarks: timer lag, frames on screen, CPU, RSS, children.

How "on screen" is decided: every frame Textual produces goes through ``App._display``
(screen.py calls it after each compositor update). Headless, Textual skips turning the
update into terminal bytes; :class:`FrameProbe` wraps ``_display`` and does that step itself
(``update.render_segments(console)``, what a real terminal run pays for every frame), then
searches the bytes for the markers it waits for. A marker is "painted" at the end of the
first frame whose bytes contain it: the moment a terminal would receive it.

Timer lag: an asyncio task asks to wake every 5 ms and records how late it woke. Textual's
own ``set_interval`` callbacks run the same way (a sleeping task), and a key press waits
for the same event loop, so the lag is a stand-in for keystroke latency. A second probe
posts a callback into the chat screen's message queue every 20 ms (where key events and
the stream's text messages queue up) and records how long it waited there.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

perf = time.perf_counter


def percentiles(samples: Iterable[float], scale: float = 1000.0) -> dict[str, float]:
    """p50/p95/p99/max of ``samples`` (seconds) in milliseconds."""
    data = sorted(samples)
    if not data:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}

    def pick(q: float) -> float:
        return round(data[min(len(data) - 1, int(q * len(data)))] * scale, 2)

    return {"n": len(data), "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99),
            "max": round(data[-1] * scale, 2)}


def rss_mb() -> float:
    """Resident set size of this process (VmRSS), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    """CPU seconds used by every thread of this process so far."""
    return time.process_time()


class _Probe:
    """A background sampler: ``start()`` it, switch ``record()`` on around the part measured."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._task: asyncio.Task | None = None
        self._recording = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def record(self, on: bool) -> None:
        self._recording = on

    async def _run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class LagProbe(_Probe):
    """How late a 5 ms timer fires: the event loop's responsiveness. ``times[i]`` is when
    ``samples[i]`` was due (for figures over a part of a run)."""

    def __init__(self, interval: float = 0.005) -> None:
        super().__init__(interval)
        self.times: list[float] = []

    async def _run(self) -> None:
        while True:
            due = perf() + self.interval
            await asyncio.sleep(self.interval)
            if self._recording:
                self.samples.append(max(0.0, perf() - due))
                self.times.append(due)


class QueueProbe(_Probe):
    """How long a callback waits in a widget's message queue (where key events wait too)."""

    def __init__(self, target_getter: Callable[[], object], interval: float = 0.02) -> None:
        super().__init__(interval)
        self.target_getter = target_getter

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self._recording:
                continue
            posted = perf()
            done = asyncio.Event()

            def arrived(posted: float = posted, done: asyncio.Event = done) -> None:
                if self._recording:
                    self.samples.append(perf() - posted)
                done.set()

            try:
                self.target_getter().call_later(arrived)
            except Exception:
                continue
            try:
                await asyncio.wait_for(done.wait(), 5)
            except asyncio.TimeoutError:
                self.samples.append(5.0)


class FrameProbe:
    """Timestamps every frame and tells when watched strings first reach the 'terminal'."""

    def __init__(self, app) -> None:
        self.app = app
        self.frames: list[float] = []
        self.bytes_out = 0
        self.render_s = 0.0
        self._watch: dict[str, list] = {}  # marker -> [after_time, found_time | None, event]
        original = app._display

        def display(screen, renderable) -> None:
            original(screen, renderable)
            if renderable is None or app._batch_count:
                return
            started = perf()
            try:
                output = renderable.render_segments(app.console)
            except AttributeError:  # a plain Rich renderable (not used by screens today)
                output = str(renderable)
            now = perf()
            self.render_s += now - started
            self.bytes_out += len(output)
            self.frames.append(now)
            for marker, slot in self._watch.items():
                if slot[1] is None and marker in output and now >= slot[0]:
                    slot[1] = now
                    slot[2].set()

        app._display = display

    def watch(self, marker: str, after: float = 0.0) -> None:
        """Start looking for ``marker`` in frames painted after ``after``."""
        self._watch[marker] = [after, None, asyncio.Event()]

    def seen_at(self, marker: str) -> float | None:
        slot = self._watch.get(marker)
        return None if slot is None else slot[1]

    async def wait_for(self, marker: str, timeout: float) -> float | None:
        slot = self._watch[marker]
        try:
            await asyncio.wait_for(slot[2].wait(), timeout)
        except asyncio.TimeoutError:
            return None
        return slot[1]

    async def settle(self, quiet: float = 0.5, timeout: float = 30.0) -> float | None:
        """Wait until no frame arrived for ``quiet`` seconds; the time of the last frame."""
        deadline = perf() + timeout
        while perf() < deadline:
            last = self.frames[-1] if self.frames else 0.0
            wait = quiet - (perf() - last)
            if wait <= 0:
                return last or None
            await asyncio.sleep(min(wait, 0.05))
        return None


class Measured:
    """The probes around one measured stretch of an app under ``run_test``: CPU and wall
    time, timer lag, the wait in ``screen``'s message queue, and the frames (``frames``).

    Build it before ``run_test`` (FrameProbe wraps the app's output), ``await begin(...)``
    right before the work starts, ``end()`` once it is done (CPU s, wall s)."""

    def __init__(self, app) -> None:
        self.frames = FrameProbe(app)
        self.lag = LagProbe()
        self.queue: QueueProbe | None = None
        self.cpu_start = self.wall_start = 0.0

    async def begin(self, screen, marker: str) -> None:
        """Once the screen is still: start the probes and watch for ``marker`` in a frame."""
        await self.frames.settle(quiet=0.3)
        self.queue = QueueProbe(lambda: screen)
        self.lag.start()
        self.queue.start()
        self.frames.watch(marker)
        self.cpu_start, self.wall_start = cpu_s(), perf()
        self.lag.record(True)
        self.queue.record(True)

    def end(self) -> tuple[float, float]:
        assert self.queue is not None, "begin() first"
        self.lag.record(False)
        self.queue.record(False)
        used = (cpu_s() - self.cpu_start, perf() - self.wall_start)
        self.lag.stop()
        self.queue.stop()
        return used


async def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    deadline = perf() + timeout
    while not condition():
        if perf() > deadline:
            return False
        await asyncio.sleep(step)
    return True


# --------------------------------------------------------------------------- environment


def bench_env(tmp: Path) -> dict[str, str]:
    """Env vars that point Thinkpane at a private config and data dir."""
    return {
        "THINKPANE_CONFIG_DIR": str(tmp / "config"),
        "THINKPANE_DATA_DIR": str(tmp / "data"),
        "THINKPANE_CONFIG": str(tmp / "config" / "config.toml"),
    }


def use_private_dirs(tmp: Path) -> None:
    for key, value in bench_env(tmp).items():
        os.environ[key] = value
    (tmp / "config").mkdir(parents=True, exist_ok=True)
    (tmp / "data").mkdir(parents=True, exist_ok=True)


def bench_settings():
    """Default settings (no config file), as the app sees them after first setup."""
    from thinkpane.tui.core.config import load_settings

    return load_settings()


# --------------------------------------------------------------------------- child runs


def run_child(script: Path, args: list[str], timeout: float = 900, env: dict[str, str] | None = None) -> dict:
    """Run a scenario in a fresh interpreter (CPU and RSS of one scenario only); ``env``
    adds to this process's environment."""
    completed = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), check=False,
        env={**os.environ, **env} if env else None,
    )
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(
        f"{script.name} {' '.join(args)} printed no JSON (exit {completed.returncode}):\n"
        + completed.stderr[-3000:]
    )


def print_table(title: str, columns: list[str], rows: list[list[object]]) -> None:
    """A plain fixed-width table."""
    cells = [[str(c) for c in columns]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    print(title)
    for n, row in enumerate(cells):
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if value is None:
        return "-"
    return str(value)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
