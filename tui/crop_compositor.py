"""A compositor that renders only the widgets that show inside the area being painted.

Textual paints a frame by rendering every widget whose *clip* (the area of its container)
overlaps the rectangle around the frame's changes. A widget placed directly on the screen is
clipped by the whole screen, so the status line, the prompt, the footer and the row of panes
were rendered for every frame of a stream, even when only the reasoning pane had changed
(tests/bench/bench_render.py: every one of 120 frames rendered all of them).

Here a widget is rendered only when what shows of it (its region within its clip) overlaps
that rectangle. What reaches the terminal is unchanged: a widget that shows nowhere in the
rectangle has no cell there, and cells outside it are not sent (``ChopsUpdate`` writes only
the changed spans, which lie inside it). tests/test_crop_compositor.py checks every frame of
a stream against Textual's own compositor.
"""
from __future__ import annotations

from collections.abc import Iterable

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip


class CropCompositor(Compositor):
    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if not crop:
            yield from super()._get_renders(crop)
            return
        overlaps = crop.overlaps
        for widget, (region, clip) in self.visible_widgets.items():
            shown = region.intersection(clip)
            if not overlaps(shown):
                continue
            yield region, clip, widget.render_lines(
                Region(shown.x - region.x, shown.y - region.y, shown.width, shown.height))
