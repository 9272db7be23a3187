"""Reproduction for docs/upstream.md: a frame renders far more rows than it paints.

Runs against plain Textual (no Thinkpane import): ``python tests/bench/upstream_crop_render.py``.

The app: two scrolling panes of 200 lines side by side and a status line, the layout of a
chat app. Each frame changes one row: a line-API widget at the end of the left pane
refreshes a one-row region (``refresh(Region)``), as text streaming into a pane does. For
60 frames it counts, per frame, the rows Textual asks widgets to render
(``Widget.render_lines``, by widget) against the rows that changed, and the time of
``Compositor.render_update``.

What it shows on 8.2.8 (``_compositor.py``: ``render_partial_update`` -> ``_render_chops`` ->
``_get_renders``):

* every widget whose *clip* overlaps the changed rectangle is rendered, and for its whole
  visible region, not the rows that changed: the Screen and the pane containers render all
  their rows, and a widget clipped by the screen (the status line) is rendered for a change
  nowhere near it;
* containers are rendered under children that cover every cell of the changed rows; the
  first widget to fill a cell wins, so their rows are thrown away.

What belongs upstream (Thinkpane does both in tui/render/crop_compositor.py, behind its
render gate): render a widget only where what *shows* of it (region within clip) overlaps
the changed rows, only those rows, and not at all where widgets in front cover them. The
cells sent to the terminal are the same (Thinkpane's tests/test_crop_compositor.py checks
every frame of a stream against Textual's own compositor).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from rich.segment import Segment
from textual._compositor import Compositor
from textual.app import App, ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

FRAMES = 60
LONG = "\n".join(f"line {n}: some words to fill the pane" for n in range(200))


class Ticker(Widget):
    """One row that changes every frame."""

    DEFAULT_CSS = "Ticker { height: 1; }"
    count = 0

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        return Strip([Segment(f"tick {self.count}".ljust(width)[:width])], width)


class CropApp(App):
    CSS = "Horizontal { height: 1fr; } VerticalScroll { width: 1fr; } #status { height: 1; }"

    def compose(self) -> ComposeResult:
        with Horizontal():
            with VerticalScroll(id="left"):
                yield Static(LONG)
                yield Ticker()
            with VerticalScroll(id="right"):
                yield Static(LONG)
        yield Static("status line", id="status")


rendered: Counter[str] = Counter()
counting = False
original_render_lines = Widget.render_lines


def counted_render_lines(self: Widget, crop: Region) -> list[Strip]:
    if counting:
        rendered[f"{type(self).__name__}#{self.id}" if self.id else type(self).__name__] += crop.height
    return original_render_lines(self, crop)


async def main() -> None:
    global counting
    Widget.render_lines = counted_render_lines  # type: ignore[method-assign]
    timings: list[float] = []
    original_update = Compositor.render_update

    def timed_update(self: Compositor, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original_update(self, *args, **kwargs)
        finally:
            if counting:
                timings.append(time.perf_counter() - started)

    Compositor.render_update = timed_update  # type: ignore[method-assign]
    app = CropApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.query_one("#left", VerticalScroll).scroll_end(animate=False)
        await pilot.pause()
        ticker = app.query_one(Ticker)
        counting = True
        for _ in range(FRAMES):
            ticker.count += 1
            ticker.refresh(Region(0, 0, ticker.size.width, 1))
            await pilot.pause()
        counting = False
    total = sum(rendered.values())
    print(f"{FRAMES} frames, each changing 1 row of 40 ({Size(120, 40)} screen):")
    print(f"  rows rendered per frame: {total / FRAMES:.0f} (1 needed)")
    for name, rows in rendered.most_common():
        print(f"    {name:<24} {rows / FRAMES:6.1f} rows per frame")
    print(f"  Compositor.render_update: {sum(timings) / max(len(timings), 1) * 1000:.2f} ms per frame")


if __name__ == "__main__":
    asyncio.run(main())
