"""Reproduction for docs/upstream.md: a one-shot ``set_timer`` whose task runs late never fires.

Runs against plain Textual (no Thinkpane import): ``python tests/bench/upstream_timer_skip.py``.

``Timer._run`` (textual/timer.py, 8.2.8) computes the first due time from ``start``, reads
the clock again, and with ``skip=True`` (the default) jumps ``count`` past every due time
already gone. For a one-shot timer (``repeat=0``, what ``set_timer`` makes) that jump ends
the loop before the only tick: if the task is held up between the two clock reads for
longer than the delay, the callback is never called. Thinkpane's streaming pane throttled
its renders with ``set_timer``; the pane froze until the stream ended, and it now uses
``loop.call_later`` (tui/widgets/live_markdown.py).

Two parts:

1. Natural: many short one-shot timers while the event loop and another thread are busy.
   On the 2-CPU VM this was measured on, every one fired: being held up exactly between the
   two reads is rare, which is why the freeze was intermittent.
2. Forced: the clock reads ``delay`` later on the task's second read than on its first,
   as if the task had been descheduled between them (a GIL hand-off to another thread, a
   signal handler, a slow tracer). The timer never fires; with ``skip=False`` it does.

The fix that belongs upstream: a one-shot timer (or the first tick of any timer) must not be
skipped; ``skip`` should only drop *repeats* that fell behind.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

from textual import _time
from textual.app import App
from textual.timer import Timer


class TimerApp(App):
    fired = 0

    def fire(self) -> None:
        self.fired += 1


async def natural(trials: int = 200) -> tuple[int, int]:
    app = TimerApp()
    stop = threading.Event()

    def spin() -> None:  # another thread holding the GIL in turns
        while not stop.is_set():
            sum(range(1000))

    async with app.run_test() as pilot:
        await pilot.pause()
        thread = threading.Thread(target=spin)
        thread.start()
        try:
            for _ in range(trials):
                app.set_timer(0.002, app.fire)
                time.sleep(0.004)  # the loop is busy past the due time, as during a frame
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            thread.join()
        return app.fired, trials


async def forced(skip: bool) -> int:
    app = TimerApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        real = _time.get_time
        reads = {"n": 0}
        delay = 0.01

        def late_clock() -> float:
            # The second read inside Timer._run comes `delay` x 2 later, as if the task had
            # been descheduled between the two; every other caller sees the real clock.
            if sys._getframe(1).f_code is Timer._run.__code__:
                reads["n"] += 1
                if reads["n"] == 2:
                    return real() + delay * 2
            return real()

        _time.get_time = late_clock
        try:
            timer = app.set_timer(delay, app.fire)
            timer._skip = skip  # the public API has no way to ask for skip=False here
            await asyncio.sleep(0.3)
        finally:
            _time.get_time = real
        return app.fired


async def main() -> None:
    fired, trials = await natural()
    print(f"natural: {fired} of {trials} one-shot timers fired (loop busy past the due time, a busy thread)")
    print(f"forced, skip=True (set_timer's default): fired {await forced(True)} time(s)  <- expected 1")
    print(f"forced, skip=False:                      fired {await forced(False)} time(s)")


if __name__ == "__main__":
    asyncio.run(main())
