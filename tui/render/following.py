"""Scroll containers that follow new text at their end (the Answer and Reasoning panes).

A pane is ``anchor()``-ed when a turn starts: it follows new text only while the user is at
the bottom; scrolling up stops following, scrolling back to the end resumes (oterm PR #82).
Textual keeps an anchored container's end in view while it lays the container out, in the
frame that draws the new text. But it also draws an anchored content shorter than the view
bottom-aligned (a negative scroll offset), which leaves a short first exchange floating at
the bottom. Anchoring only once the text overflowed avoided that, one frame late: a burst
of text (a fast backend, a gateway flushing its buffer) was first drawn from its top, and a
frame later, a screen tick after, from its end. Here the pane is anchored from the start
and a short content stays at the top.

The children are placed from the top through the public ``scroll_offset``; setting the
negative ``scroll_y`` itself back to zero hooks ``Widget._size_updated`` and so is skipped
when the render gate (gate.py) is closed: the text still shows from the top, only
``scroll_y`` reads below zero while it is short.
"""
from __future__ import annotations

from textual.geometry import Offset
from textual.widget import Widget

from thinkpane.tui.render import gate


class Following:
    """Mixin for a scroll container: short content at the top, also when anchored."""

    @property
    def scroll_offset(self) -> Offset:
        # What the compositor places children by; Textual sets scroll_y below zero directly.
        offset = super().scroll_offset  # type: ignore[misc]
        return offset if offset.y >= 0 else Offset(offset.x, 0)

    def _size_updated(self, *args, **kwargs) -> bool:
        changed = super()._size_updated(*args, **kwargs)  # type: ignore[misc]
        if self.scroll_y < 0 and gate.enabled("following"):  # type: ignore[attr-defined]
            # Set by the layout that just ran, like Textual does (no watcher, no new frame).
            self.set_reactive(Widget.scroll_y, 0)  # type: ignore[attr-defined]
            self.set_reactive(Widget.scroll_target_y, 0)  # type: ignore[attr-defined]
        return changed

    def follow_end(self, *, restart: bool = False) -> None:
        """Follow new text at the end. ``restart`` (a new turn) follows again even if the
        user had scrolled away; otherwise a pane the user scrolled away from stays put."""
        if restart:
            # Anchoring again scrolls to the end, which re-engages an anchor the user had
            # released by scrolling away.
            self.anchor(False)  # type: ignore[attr-defined]
        if not self.is_anchored:  # type: ignore[attr-defined]
            self.anchor()  # type: ignore[attr-defined]
