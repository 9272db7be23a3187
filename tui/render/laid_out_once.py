"""Widgets whose new size needs no second layout pass, nor a second frame.

Textual sets a resized widget's ``virtual_size`` reactive with ``layout=True`` after the
layout pass that gave it the size, so every render of a growing live view cost a second
full layout of the screen, and so did each container around it; a widget shown by a layout
(a scrollbar appearing, a link revealed at the end of a turn) cost one more frame, a screen
tick after the one that drew it. The size is already final; Textual's own scroll-only
reflow passes ``layout=False``. A scroll container stays correct: showing or hiding a
scrollbar is a layout reactive.

Built on ``Widget._size_updated`` and the other internals gate.py lists: with the render
gate closed these classes add nothing and Textual's own path runs (whatever arguments it
passes are handed on as they came).
"""
from __future__ import annotations

from textual.geometry import Region, Size

from thinkpane.tui.render import gate


class SizedByLayout:
    """A widget whose size, given by a layout pass, does not ask for another one."""

    def _size_updated(self, *args, **kwargs) -> bool:
        if not gate.enabled("laid_out_once"):
            return super()._size_updated(*args, **kwargs)  # type: ignore[misc]
        size, virtual_size, container_size = args[:3]  # as gate.py checked Textual passes them
        return super()._size_updated(size, virtual_size, container_size, layout=False)  # type: ignore[misc]


class LaidOutOnce(SizedByLayout):
    """A growing widget (the live view, the containers around it) that is laid out once and
    repaints only the rows that changed.

    A scroll container that grew also redraws its scrollbar (a new thumb size), which
    Textual paints in a frame of its own after the one that painted the text; here it
    joins the frame being drawn.
    """

    def _size_updated(self, *args, **kwargs) -> bool:
        if not gate.enabled("laid_out_once"):
            return super()._size_updated(*args, **kwargs)
        size, virtual_size, container_size = args[:3]
        old: Size = self._size  # type: ignore[has-type]  # the size before this update
        # Textual marks a widget whose size changed dirty from top to bottom; at the same
        # width the rows above ``keep`` draw as before, so only the rest is marked.
        keep = self._rows_drawn_as_before(old, size) if old.width == size.width and old.height else None
        if keep is not None:
            self._size = size  # so Textual does not mark every row
            if size.height > keep:
                self._styles_cache.set_dirty(Region(0, keep, size.width, size.height - keep))  # type: ignore[attr-defined]
        changed = super()._size_updated(size, virtual_size, container_size)
        changed = changed or old != size
        if changed and getattr(self, "show_vertical_scrollbar", False):
            _paint_in_this_frame(self, self.vertical_scrollbar)  # type: ignore[attr-defined]
        return changed

    def _rows_drawn_as_before(self, old: Size, size: Size) -> int | None:
        """At an unchanged width, how many rows from the top draw as before (None: all may
        differ). Taller or shorter, a container's rows above its bottom padding and border
        do: a growing answer's turn re-styled every visible row of itself per frame."""
        if size.height == old.height:
            return None
        return max(0, min(old.height, size.height) - self.styles.gutter.bottom)  # type: ignore[attr-defined]


def _paint_in_this_frame(widget, part) -> None:
    """Hand ``part``'s pending repaint to the compositor of the frame being drawn."""
    if part._repaint_regions:
        widget.screen._compositor.update_widgets({part})
        # Painted: its pending refresh would only ask for a frame of its own that draws
        # nothing new (one after every text frame, about as many as the text's own).
        part._repaint_required = False
