"""A compositor that paints far-apart changes of one frame as separate areas.

Textual paints a frame's changes by rendering every widget that overlaps the rectangle
around *all* of them. While an answer streams, a frame changes the pane that grows and, four
times a second, the status line at the bottom of the screen: the rectangle around the two is
the whole screen, so every widget of the other pane, the prompt and the footer were cut into
that frame too (about a fifth of a streaming frame's cost, tests/bench/bench_render.py).

Here the changed regions are gathered into groups that share no screen row, each group
rendered within its own rectangle. A row belongs to exactly one group, and that group's
rectangle holds all of the row's changes, so every part of the row that is sent to the
terminal is cut exactly as Textual would cut it. Groups are only split off where that saves
area; otherwise (or if Textual's internals differ) Textual's own single rectangle is used.
"""
from __future__ import annotations

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region

# Two groups are painted as one when the rectangle around both is at most this much larger
# than the two apart: a header row right above its pane is no reason for a second pass.
MERGE_SLACK = 1.25


def row_groups(regions: list[Region]) -> list[list[Region]]:
    """``regions`` gathered into groups whose rows do not overlap, far-apart ones kept apart."""
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


class GroupedCompositor(Compositor):
    def render_partial_update(self) -> ChopsUpdate | None:
        regions = list(self._dirty_regions)
        groups = row_groups(regions) if len(regions) > 1 else []
        if len(groups) < 2:
            return super().render_partial_update()
        self._dirty_regions.clear()
        screen_region = self.size.region
        spans = list(self._regions_to_spans(regions))
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
                    chops[y] = part[y]
        if chops is None:
            return None
        chop_ends = [cut_set[1:] for cut_set in self.cuts]
        return ChopsUpdate(chops, spans, chop_ends)
