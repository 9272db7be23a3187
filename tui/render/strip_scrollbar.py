"""A vertical scrollbar that draws from a handful of cached strips.

A pane that grows while it streams moves its scrollbar's thumb on every render. Textual's
``ScrollBar`` then renders a Rich renderable through a console and re-styles each of its
rows: about 1 ms per frame for a 36-row bar, a tenth of a streaming frame's cost
(tests/bench/bench_render.py). The bar's rows are only ever four or five distinct
segments (track above, thumb, track below, the two fractional ends), so here each distinct
segment becomes one ``Strip`` and the rows share them. The glyphs, colours, click targets
and thumb geometry are Textual's own (``ScrollBarRender.render_bar``).

A container gets this bar by taking over Textual's private ``Widget._vertical_scrollbar``
and ``App._start_widget`` (gate.py): with the render gate closed it keeps Textual's own
``ScrollBar``.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.geometry import Region
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip

from thinkpane.tui.render import gate
from thinkpane.tui.render.laid_out_once import SizedByLayout


class StripScrollBar(SizedByLayout, ScrollBar):
    """Textual's vertical ``ScrollBar``, drawn without a console or per-row styling."""

    def __init__(self, vertical: bool = True, name: str | None = None, *, thickness: int = 1) -> None:
        super().__init__(vertical=vertical, name=name, thickness=thickness)
        self._rows_key: tuple | None = None
        self._rows: list[Strip] = []

    def render_lines(self, crop: Region) -> list[Strip]:
        renderable = self.render()
        if not self.vertical or type(renderable) is not ScrollBarRender:
            return super().render_lines(crop)  # a custom renderer draws itself
        width, height = self.size
        style = renderable.style
        filters = tuple(self.get_line_filters())
        _, background = self.background_colors
        under = self.rich_style  # the widget's own colours under every row, as Textual draws it
        key = (width, height, renderable.virtual_size, renderable.window_size,
               renderable.position, style, filters, background, under)
        if key != self._rows_key:
            self._rows = self._draw_rows(renderable, width, height, filters, background, under)
            self._rows_key = key
        rows = self._rows[crop.y:crop.bottom]
        if crop.column_span != (0, width):
            rows = [row.crop(crop.x, crop.right) for row in rows]
        return rows

    def _draw_rows(
        self, bar: ScrollBarRender, width: int, height: int, filters, background, under
    ) -> list[Strip]:
        segments = bar.render_bar(
            size=height,
            virtual_size=bar.virtual_size,
            window_size=bar.window_size,
            position=bar.position,
            thickness=width,
            vertical=True,
            back_color=bar.style.bgcolor,  # type: ignore[union-attr,arg-type]  # a scrollbar's Style has both
            bar_color=bar.style.color,  # type: ignore[union-attr,arg-type]
        ).segments
        shared: dict[int, Strip] = {}
        rows: list[Strip] = []
        for segment in segments[:height]:
            row = shared.get(id(segment))
            if row is None:
                row = Strip([Segment(segment.text, under + segment.style)], width)
                for line_filter in filters:
                    row = row.apply_filter(line_filter, background)
                shared[id(segment)] = row
            rows.append(row)
        return rows


class StripScrollbars:
    """Mixin for a scroll container: its vertical scrollbar is a ``StripScrollBar``."""

    _vertical_scrollbar: ScrollBar | None  # Widget's, set in its __init__

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        if not gate.enabled("strip_scrollbar") or self._vertical_scrollbar is not None:
            return super().vertical_scrollbar  # type: ignore[misc]
        # As Widget.vertical_scrollbar does it, with our class.
        bar = StripScrollBar(vertical=True, name="vertical", thickness=self.scrollbar_size_vertical)  # type: ignore[attr-defined]
        bar.display = False
        self._vertical_scrollbar = bar
        self.app._start_widget(self, bar)  # type: ignore[attr-defined]
        return bar

    def on_mount(self) -> None:
        # Textual calls each class's handler, so a container's own on_mount runs as well.
        # Made now rather than when the text first overflows: a scrollbar started mid-stream
        # is composed and mounted after the frame that laid it out, which then costs one more
        # frame (a layout) one screen tick later, ~30 ms after the text it belongs to.
        if gate.enabled("strip_scrollbar"):
            _ = self.vertical_scrollbar
