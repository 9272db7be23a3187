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

And changes far apart on screen are painted as separate areas. Textual paints the rectangle
around all of a frame's changes: the pane's new lines, the Reasoning header at the top and the
status line at the bottom made that the whole screen, four times a second, every widget in
it cut into the frame. Here changes that share no screen row form separate groups, each
painted within its own rectangle; a row belongs to exactly one group, whose rectangle holds
all of that row's changes, so the row is cut exactly as Textual would cut it.

Within that rectangle, a widget renders only the rows being painted (Textual renders every
row it shows, forty for a pane, and keeps the two that changed), and not at all when widgets
in front of it cover every cell of those rows (a container under its children: Textual
renders it, and the first widget to fill a cell wins).

Built on Textual's private ``textual._compositor`` (listed in gate.py): with the render gate
closed the chat screen keeps Textual's own compositor and every frame renders every widget
in its rectangle, as above.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from textual.geometry import Region
from textual.screen import Screen
from textual.strip import Strip

from thinkpane.tui.render import gate

try:
    from textual._compositor import ChopsUpdate, Compositor
except ImportError:
    # So this module still imports: the gate finds the module missing, and the screen keeps
    # its own compositor (install_crop_compositor never makes a CropCompositor).
    ChopsUpdate = Compositor = object  # type: ignore[assignment,misc]


def install_crop_compositor(screen: Screen) -> bool:
    """Give ``screen`` a ``CropCompositor`` if the render gate is open (True if it did);
    otherwise the screen keeps Textual's own. Call it from the screen's ``__init__``,
    before anything is laid out."""
    if not gate.enabled("crop_compositor"):
        return False
    screen._compositor = CropCompositor()
    return True


# Two groups are painted as one when the rectangle around both is at most this much larger
# than the two apart: a header row right above its pane is no reason for a second pass.
MERGE_SLACK = 1.25


def row_groups(regions: list[Region]) -> list[list[Region]]:
    """``regions`` gathered into groups that share no screen row, far-apart ones kept apart."""
    groups = [[region] for region in regions]
    boxes = list(regions)
    merged = True
    while merged and len(groups) > 1:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = boxes[i], boxes[j]
                union = a.union(b)
                share_rows = a.y < b.bottom and b.y < a.bottom
                if share_rows or union.area <= MERGE_SLACK * (a.area + b.area):
                    groups[i] += groups.pop(j)
                    boxes[i] = union
                    boxes.pop(j)
                    merged = True
                    break
            if merged:
                break
    return groups


class CropCompositor(Compositor):
    """Textual's compositor, rendering only what shows where a frame changed (see above)."""

    def render_partial_update(self) -> ChopsUpdate | None:
        regions = [region for region in self._dirty_regions if region]
        groups = row_groups(regions) if len(regions) > 1 else []
        if len(groups) < 2:
            return super().render_partial_update()
        self._dirty_regions.clear()
        screen_region = self.size.region
        chops: list | None = None
        for group in groups:
            crop = Region.from_union(group).intersection(screen_region)
            if not crop:
                continue
            rows = {y for region in group for y in range(region.y, region.bottom)}
            part = self._render_chops(crop, rows.__contains__)
            if chops is None:
                chops = list(part)
            else:
                for y in rows:
                    if y < len(chops):
                        chops[y] = part[y]
        if chops is None:
            return None
        spans = list(self._regions_to_spans(regions))
        chop_ends = [cut_set[1:] for cut_set in self.cuts]
        return ChopsUpdate(chops, spans, chop_ends)

    def _render_chops(self, crop: Region, is_rendered_line: Callable[[int], bool]) -> Sequence[Mapping[int, Strip]]:
        chops = super()._render_chops(crop, is_rendered_line)
        # Strip.divide keeps what it returns in the strip it divides, and a row cut at its own
        # end is returned as itself: every row painted became a reference cycle, which only a
        # full collection frees, and those are held back while an answer streams
        # (tui/core/collector.py). Such rows were nearly all of a stream's cyclic garbage:
        # 11,197 objects (875 rows with their caches) in a 6,400-token stream, and 170 without
        # them (bench_render.py --long at a tenth of its length, gc.DEBUG_SAVEALL). Nothing is
        # lost: a row in one piece divides into a list of itself.
        for line in chops:
            for strip in line.values():
                cache = getattr(strip, "_divide_cache", None)  # Textual's; absent, nothing to break
                if cache is not None:
                    cache.clear()
        return chops

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if not crop:
            yield from super()._get_renders(crop)
            return
        overlaps = crop.overlaps
        # Only the rows being painted: Textual renders every row a widget shows and then
        # keeps the rows painted, a few of a pane's forty in most frames.
        rows = Region(0, crop.y, self.size.width, crop.height)
        covered = _Covered()
        for widget, (region, clip) in self.visible_widgets.items():  # front to back
            shown = region.intersection(clip)
            if not overlaps(shown):
                continue
            shown = shown.intersection(rows)
            if covered.covers(shown):
                # Every cell of it is drawn by widgets in front (a container under its
                # children): Textual renders it, then keeps none of it.
                continue
            covered.add(shown)
            # ``shown`` as the clip: _render_chops pairs the strips with its rows.
            yield region, shown, widget.render_lines(
                Region(shown.x - region.x, shown.y - region.y, shown.width, shown.height))


class _Covered:
    """The cells drawn so far in a frame: per row, the column spans, merged."""

    def __init__(self) -> None:
        self._rows: dict[int, list[list[int]]] = {}

    def covers(self, region: Region) -> bool:
        start, end = region.x, region.right
        for y in range(region.y, region.bottom):
            if not any(left <= start and end <= right for left, right in self._rows.get(y, ())):
                return False
        return True

    def add(self, region: Region) -> None:
        for y in range(region.y, region.bottom):
            spans = self._rows.setdefault(y, [])
            spans.append([region.x, region.right])
            spans.sort()
            merged = [spans[0]]
            for left, right in spans[1:]:
                if left <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], right)
                else:
                    merged.append([left, right])
            self._rows[y] = merged
