"""Put pending changes on screen in the next frame, all in one.

A widget's refresh normally reaches the screen when that widget next goes idle, and the
screen then paints on a 60 Hz grid: a change waits up to two ticks, and changes made in one
handler can land in two or three frames (text first, then the header and status line a tick
later, then a scrollbar). For the moments a user waits on, the first token and the end of a
turn, ``paint_soon`` hands the pending refreshes to the screen at once and has the screen
paint as soon as it has taken them. It uses Textual internals (listed in gate.py): with the
render gate closed it does nothing, and the change still lands, on Textual's own schedule.
"""
from __future__ import annotations

from textual.screen import Screen
from textual.widget import Widget

from thinkpane.tui.render import gate

_DUE = "_thinkpane_paint_due"  # the screen's pending request (a _Due), if any


class _All:
    """Every widget on the screen (the end of a turn touches many)."""


ALL = _All()


def paint_soon(screen: Screen, *widgets: Widget) -> None:
    """Paint ``widgets``' pending changes (every widget's, if none are named) in one frame soon.

    Calls made before that frame joins it: a first token rendered inside the handler that
    ends the turn is painted together with the turn's end, not a frame earlier. When every
    widget is asked for, what that frame's layout changes in turn (a scrollbar it showed, a
    pane that now overflows) is painted right after it too, not a screen tick later.
    """
    if not gate.enabled("paint_soon"):
        return  # the refreshes already asked for reach the screen on Textual's schedule
    _request(screen, ALL if not widgets else set(widgets), settle=not widgets)


def _request(screen: Screen, widgets: set[Widget] | _All, *, settle: bool) -> None:
    due = getattr(screen, _DUE, None)
    if due is None:
        due = _Due()
        setattr(screen, _DUE, due)
        # After the handler running now: what it changes afterwards is in the frame too.
        screen.call_later(_take_refreshes, screen)
    due.add(widgets, settle)


class _Due:
    """What the next ``paint_soon`` frame takes: some widgets or all, settling or not."""

    def __init__(self) -> None:
        self.widgets: set[Widget] | _All = set()
        self.settle = False

    def add(self, widgets: set[Widget] | _All, settle: bool) -> None:
        self.settle = self.settle or settle
        if widgets is ALL or self.widgets is ALL:
            self.widgets = ALL
        else:
            self.widgets |= widgets  # type: ignore[operator]


def _take_refreshes(screen: Screen) -> None:
    due: _Due | None = getattr(screen, _DUE, None)
    setattr(screen, _DUE, None)  # a change made from here on asks for a frame of its own
    if due is None:
        return
    _check_refreshes(screen, due.widgets)
    # Queued behind the messages just posted, so the screen has taken them when it paints.
    screen.call_later(_paint, screen, due.settle)


def _check_refreshes(screen: Screen, widgets: set[Widget] | _All) -> bool:
    """Post the pending refreshes of ``widgets`` to the screen now; True if there were any."""
    found = False
    for widget in _every_widget(screen) if isinstance(widgets, _All) else list(widgets):
        pending = widget._repaint_required or widget._layout_required or widget._scroll_required
        if pending and widget.is_attached:
            widget._check_refresh()
            found = True
    return found


def _every_widget(screen: Screen) -> list[Widget]:
    """The screen's widgets and their scrollbars (kept outside the DOM by Textual)."""
    widgets = screen.walk_children(Widget)
    for widget in list(widgets):
        widgets.extend(widget._get_virtual_dom())
    return widgets


def _paint(screen: Screen, settle: bool) -> None:
    if not screen.is_attached:
        return
    screen._on_timer_update()
    # Once, not until nothing changes: a frame that keeps causing changes is Textual's pace.
    if settle and _check_refreshes(screen, ALL):
        screen.call_later(_paint, screen, False)
