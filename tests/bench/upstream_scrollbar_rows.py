"""Reproduction for docs/upstream.md: a vertical scrollbar re-renders every row for a new thumb.

Runs against plain Textual (no Thinkpane import): ``python tests/bench/upstream_scrollbar_rows.py``.

A pane that grows while text streams into it moves its scrollbar's thumb on every frame that
adds a line. ``ScrollBar.render`` returns a ``ScrollBarRender``; Textual renders that Rich
renderable through a console and styles each row (``Widget.render_lines`` ->
``_styles_cache``), every row of the bar, every time. Yet a vertical bar's rows are only a
handful of distinct segments: track above, thumb, track below, and the two fractional ends.

The script grows a 36-row scroll container's content one line at a time (the thumb shrinks
and moves), and times ``ScrollBar.render_lines`` for the whole bar, counting the distinct
rows in each result.

What belongs upstream (Thinkpane's tui/render/strip_scrollbar.py does it behind its render
gate): draw the bar from one ``Strip`` per distinct segment (``ScrollBarRender.render_bar``
already yields them) and share them between rows, cached by (size, window, position, style);
the glyphs, colours and click targets stay Textual's.
"""

from __future__ import annotations

import asyncio
import time

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.widgets import Static

STEPS = 120


class BarApp(App):
    CSS = "VerticalScroll { height: 36; }"

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("")


async def main() -> None:
    app = BarApp()
    async with app.run_test(size=(80, 40)) as pilot:
        pane = app.query_one(VerticalScroll)
        text = app.query_one(Static)
        timings, distinct = [], []
        for step in range(40, 40 + STEPS):
            text.update("\n".join(f"line {n}" for n in range(step)))
            pane.scroll_end(animate=False)
            await pilot.pause()
            bar = pane.vertical_scrollbar
            bar.refresh()  # what a new thumb size or position does
            started = time.perf_counter()
            rows = bar.render_lines(Region(0, 0, bar.size.width, bar.size.height))
            timings.append(time.perf_counter() - started)
            distinct.append(len({tuple(row) for row in rows}))
        print(f"{STEPS} thumb changes of a {bar.size.height}-row scrollbar:")
        print(f"  ScrollBar.render_lines: {sum(timings) / len(timings) * 1000:.3f} ms per render, "
              f"median {sorted(timings)[len(timings) // 2] * 1000:.3f} ms")
        print(f"  distinct rows per render: at most {max(distinct)} of {bar.size.height}")


if __name__ == "__main__":
    asyncio.run(main())
