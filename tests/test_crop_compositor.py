"""The chat screen renders only the widgets that show where a frame changed, far-apart changes
as separate areas; what reaches the terminal must be exactly what Textual's own compositor
would send.

Every partial update is rendered both ways for the same changes at the same moment and the
cells each writes are compared; the updates are also applied to a virtual terminal, which
must equal a full render of the screen once the turn has ended.
"""
from __future__ import annotations

import types
from collections import Counter

import pytest
from rich.cells import cell_len
from textual._compositor import Compositor
from textual.widget import Widget

from tests.tui_helpers import GatedBackend, wait_until
from thinkpane.backends.events import ContentDelta, ReasoningDelta, Stop
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.config import Settings
from thinkpane.tui.core.store import ConversationStore
from thinkpane.tui.render.crop_compositor import CropCompositor, row_groups


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


def test_row_groups_keep_far_apart_changes_apart_and_never_share_a_row():
    from textual.geometry import Region

    pane = Region(0, 2, 45, 35)
    header = Region(0, 1, 45, 1)
    status = Region(0, 38, 120, 1)
    groups = row_groups([pane, status, header])
    assert sorted(sorted(group) for group in groups) == sorted([sorted([header, pane]), [status]])
    # Regions sharing a row always end up in one group, however far apart they are.
    left, right = Region(0, 5, 2, 2), Region(100, 6, 2, 2)
    assert len(row_groups([left, right])) == 1
    # Close regions are painted as one area.
    assert len(row_groups([Region(0, 0, 10, 1), Region(0, 1, 10, 1)])) == 1


def looks(char: str, style) -> tuple:
    """What a cell looks like (Textual's mouse-offset meta does not show)."""
    if style is None:
        return (char,)
    return (char, style.color, style.bgcolor, style.bold, style.dim, style.italic, style.reverse,
            style.underline, style.strike)


def cells_of(update, console) -> dict[tuple[int, int], tuple]:
    """The cells an update writes, and how each looks."""
    cells: dict[tuple[int, int], tuple] = {}
    x = y = 0
    for segment in update.__rich_console__(console, console.options):
        if segment.control:
            for code in segment.control:
                if code[0].name == "CURSOR_MOVE_TO":
                    x, y = code[1], code[2]
            continue
        if segment.text == "\n":
            continue
        for char in segment.text:
            cells[(x, y)] = looks(char, segment.style)
            x += cell_len(char)
    return cells


async def test_each_frame_writes_what_textuals_own_compositor_would(store, monkeypatch):
    frames = Counter()
    mismatches: list[str] = []
    rendered = Counter()
    holder = {}
    ours_update = CropCompositor.render_partial_update

    def both(self):
        regions = set(self._dirty_regions)
        if len(row_groups([region for region in regions if region])) >= 2:
            frames["grouped"] += 1
        ours = ours_update(self)
        # The same changes through Textual's own choice of widgets to render.
        self._dirty_regions.update(regions)
        self._get_renders = types.MethodType(Compositor._get_renders, self)
        holder["path"] = "textual"
        try:
            textuals = Compositor.render_partial_update(self)
        finally:
            del self._get_renders
            holder["path"] = "ours"
        frames["partial"] += 1
        console = holder["console"]
        mine = cells_of(ours, console) if ours else {}
        theirs = cells_of(textuals, console) if textuals else {}
        if mine != theirs:
            differ = sorted(set(mine.items()) ^ set(theirs.items()), key=repr)[:3]
            mismatches.append(f"frame {frames['partial']}: {differ}")
        return ours

    original_render_lines = Widget.render_lines

    def counting_render_lines(self, crop):
        if holder.get("counting") or holder.get("path") == "textual":
            rendered[(holder.get("path", "ours"), type(self).__name__)] += 1
        return original_render_lines(self, crop)

    def counting_get_renders(self, crop=None):
        holder["counting"] = True
        try:
            yield from original_get_renders(self, crop)
        finally:
            holder["counting"] = False

    original_get_renders = CropCompositor._get_renders
    monkeypatch.setattr(CropCompositor, "render_partial_update", both, raising=True)
    monkeypatch.setattr(CropCompositor, "_get_renders", counting_get_renders, raising=True)
    monkeypatch.setattr(Widget, "render_lines", counting_render_lines, raising=True)

    backend = GatedBackend()
    app = ThinkpaneApp(Settings(), store, backend=backend)
    holder["console"] = app.console
    terminal: dict[tuple[int, int], tuple] = {}
    original_display = app._display

    def display(screen, update) -> None:
        original_display(screen, update)
        if update is not None and not app._batch_count and screen is app.screen:
            terminal.update(cells_of(update, app.console))

    app._display = display
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.chat._compositor, CropCompositor)
        await pilot.press(*"explain", "enter")
        for n in range(40):  # reasoning grows past the pane while the counters tick
            backend.put(ReasoningDelta(f"Step {n}: thinking about **part {n}** of it.\n\n"))
            await pilot.pause(0.03)
        for n in range(30):
            backend.put(ContentDelta(f"- point {n} with `code {n}`\n"))
            await pilot.pause(0.03)
        backend.put(ContentDelta("\n```python\nprint('done')\n```\n"), Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "turn ended")
        await pilot.press("ctrl+t")  # hide and show the reasoning pane: a layout change
        await pilot.pause(0.2)
        await pilot.press("ctrl+t")
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.5)
        screen_now = {}
        for y, strip in enumerate(app.screen._compositor.render_strips()):
            x = 0
            for segment in strip:
                for char in segment.text:
                    screen_now[(x, y)] = looks(char, segment.style)
                    x += cell_len(char)
    assert frames["partial"] > 20
    assert frames["grouped"] > 5, "no frame was painted as separate areas"
    assert mismatches == []
    # The prompt and the footer sit below the panes: frames that only changed a pane did not
    # render them, where Textual renders them for every frame.
    for below in ("PromptInput", "Footer"):
        assert rendered[("textual", below)] >= frames["partial"] * 0.8, rendered
        assert rendered[("ours", below)] < rendered[("textual", below)] * 0.8, rendered
    stale = [(cell, terminal.get(cell), look) for cell, look in screen_now.items()
             if terminal.get(cell) != look]
    assert stale == []



async def test_the_rows_a_stream_paints_leave_no_reference_cycles(store):
    # Textual's Strip.divide keeps a row cut in one piece inside the row itself; every row a
    # frame painted was a cycle only a full collection frees, and those wait while an answer
    # streams (tui/core/collector.py). Strips must die by reference counting alone.
    import gc

    from textual.strip import Strip

    backend = GatedBackend()
    app = ThinkpaneApp(Settings(), store, backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"explain", "enter")
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept in gc.garbage, to look at
        try:
            for n in range(60):  # past the pane's height: the pane scrolls, rows are painted anew
                backend.put(ReasoningDelta(f"Step {n}: thinking about **part {n}** of it.\n\n"))
                await pilot.pause(0.02)
            backend.put(ContentDelta("The answer."), Stop())
            backend.end()
            await wait_until(pilot, lambda: app.chat.live is None, "turn ended")
            await pilot.pause(0.2)
            gc.collect()
            cyclic_rows = sum(isinstance(found, Strip) for found in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert cyclic_rows == 0
