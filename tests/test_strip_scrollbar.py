"""StripScrollBar must look and click exactly like Textual's ScrollBar, only cheaper."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.scrollbar import ScrollBar
from textual.widgets import Static

from thinkpane.tui.render.strip_scrollbar import StripScrollBar, StripScrollbars


class CheapScroll(StripScrollbars, VerticalScroll):
    pass


class TwoScrolls(App):
    CSS = "VerticalScroll { width: 1fr; height: 1fr; } Horizontal { height: 1fr; }"

    def compose(self) -> ComposeResult:
        from textual.containers import Horizontal

        with Horizontal():
            with CheapScroll(id="cheap"):
                yield Static("\n".join(f"line {n}" for n in range(200)))
            with VerticalScroll(id="textual"):
                yield Static("\n".join(f"line {n}" for n in range(200)))


def rows(bar: ScrollBar) -> list[list[tuple[str, object]]]:
    strips = bar.render_lines(bar.region.reset_offset)
    return [[(segment.text, segment.style) for segment in strip] for strip in strips]


async def test_rows_match_textual_scrollbar_at_every_position():
    app = TwoScrolls()
    async with app.run_test(size=(80, 30)) as pilot:
        cheap, textual = app.query_one("#cheap"), app.query_one("#textual")
        assert type(cheap.vertical_scrollbar) is StripScrollBar
        assert type(textual.vertical_scrollbar) is ScrollBar
        for y in (0, 1, 7, 50, 120, 10_000):
            cheap.scroll_to(y=y, animate=False, immediate=True)
            textual.scroll_to(y=y, animate=False, immediate=True)
            await pilot.pause()
            assert cheap.scroll_y == textual.scroll_y
            mine, theirs = rows(cheap.vertical_scrollbar), rows(textual.vertical_scrollbar)
            assert len(mine) == cheap.vertical_scrollbar.size.height > 0
            assert mine == theirs, f"differs at scroll_y={y}"


async def test_clicking_the_track_scrolls_like_textual():
    app = TwoScrolls()
    async with app.run_test(size=(80, 30)) as pilot:
        cheap = app.query_one("#cheap")
        bar = cheap.vertical_scrollbar
        await pilot.click(bar, offset=(0, bar.size.height - 2))  # below the thumb: page down
        await pilot.pause()
        assert cheap.scroll_y > 0
