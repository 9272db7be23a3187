"""Reproduction for docs/upstream.md: a Strip divided in one piece is a reference cycle.

Runs against plain Textual (no Thinkpane import): ``python tests/bench/upstream_strip_cycles.py``.

``Strip.divide`` (textual/strip.py, 8.2.8) keeps its result in the strip's own
``_divide_cache``; when the cuts are just the strip's length the result is ``[self]``, so
the strip refers to itself. ``Compositor._render_chops`` divides every row it paints at the
widget's cuts, and a row inside one widget is cut in one piece: every row of every frame
becomes a cycle that reference counting cannot free. Young ones go with the next young
collection; rows kept a while (Textual caches each widget's styled rows until they change)
wait for a full collection, which walks every object the process holds.
``crop_extend`` does the same when the crop is the whole strip.

The script paints a stream of lines into a Static-based log for a few seconds and then
counts, with ``gc.DEBUG_SAVEALL``, the Strips a full collection found as garbage; then it
shows the cycle on one strip.

The fix that belongs upstream: do not cache a result that is the strip itself (return
``[self]`` before the cache lookup, as ``crop`` already does for a full-width crop).
Thinkpane's workaround (tui/render/crop_compositor.py, behind its render gate): its
compositor clears the divide cache of the rows a frame painted.
"""

from __future__ import annotations

import asyncio
import gc
import sys

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.strip import Strip
from textual.widgets import Static


class Log(App):
    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="log")


async def paint_lines(count: int) -> int:
    """Mount ``count`` lines one frame at a time; the Strips a full collection then finds as garbage."""
    app = Log()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one("#log", VerticalScroll)
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for n in range(count):
                await log.mount(Static(f"line {n}: " + "words " * 8))
                log.scroll_end(animate=False)
                await pilot.pause()
            gc.collect()
            return sum(isinstance(found, Strip) for found in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()


def one_strip() -> None:
    strip = Strip.blank(10)
    pieces = strip.divide([10])
    print(f"Strip.blank(10).divide([10]) is [the strip itself]: {len(pieces) == 1 and pieces[0] is strip}; "
          f"the strip now refers to itself: {_refers(strip)}")
    strip = Strip.blank(10)
    cropped = strip.crop_extend(0, 10, None)
    print(f"Strip.blank(10).crop_extend(0, 10, None) is the strip itself: {cropped is strip}; "
          f"the strip now refers to itself: {_refers(strip)}")


def _refers(strip: Strip) -> bool:
    seen, stack = set(), list(gc.get_referents(strip))
    while stack:
        found = stack.pop()
        if found is strip:
            return True
        if id(found) in seen or isinstance(found, (str, int, type)):
            continue
        seen.add(id(found))
        stack.extend(gc.get_referents(found))
    return False


def main() -> int:
    lines = 120
    garbage = asyncio.run(paint_lines(lines))
    print(f"{lines} lines painted one frame at a time: a full collection found {garbage} Strips "
          "that only it could free")
    one_strip()
    return 0


if __name__ == "__main__":
    sys.exit(main())
