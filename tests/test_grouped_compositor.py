"""The chat screen's compositor paints far-apart changes as separate areas; what reaches the
terminal must be exactly what Textual's own full render of the screen shows.

Every update the app sends is applied to a virtual terminal (cursor moves and text, cell by
cell); after each frame that terminal must equal a full render of the screen. A missed or
mis-cut region would leave a stale or wrong cell behind.
"""
from __future__ import annotations

import pytest
from rich.cells import cell_len
from textual._compositor import Compositor
from textual.geometry import Region

from backends.base import ContentDelta, ReasoningDelta, Stop
from tests.tui_helpers import GatedBackend, wait_until
from tui.app import ThinkpaneApp
from tui.config import Settings
from tui.grouped_compositor import GroupedCompositor, row_groups
from tui.store import ConversationStore


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


def test_row_groups_keep_far_apart_changes_apart_and_never_share_a_row():
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
    """What a cell looks like: a blank's text colour and weight do not show (nor does the
    meta Textual keeps for mouse offsets)."""
    if style is None:
        return (char,)
    if char == " ":
        return (char, style.bgcolor, style.reverse, style.underline, style.strike)
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
    """Every partial update, painted as separate areas, against Textual's single rectangle
    for the same changes at the same moment; and, once settled, the terminal against a
    full render of the screen."""
    checked = {"frames": 0, "grouped": 0}
    mismatches: list[str] = []
    console_holder = {}
    grouped_update = GroupedCompositor.render_partial_update

    def both(self):
        regions = set(self._dirty_regions)
        if len(row_groups(list(regions))) >= 2:
            checked["grouped"] += 1
        ours = grouped_update(self)
        self._dirty_regions.update(regions)
        textuals = Compositor.render_partial_update(self)
        checked["frames"] += 1
        console = console_holder["console"]
        mine = cells_of(ours, console) if ours else {}
        theirs = cells_of(textuals, console) if textuals else {}
        if mine != theirs:
            differ = sorted(set(mine.items()) ^ set(theirs.items()))[:3]
            mismatches.append(f"frame {checked['frames']}: {differ}")
        return ours

    monkeypatch.setattr(GroupedCompositor, "render_partial_update", both, raising=True)
    backend = GatedBackend()
    app = ThinkpaneApp(Settings(), store, backend=backend)
    console_holder["console"] = app.console
    terminal: dict[tuple[int, int], tuple] = {}
    original_display = app._display

    def display(screen, update) -> None:
        original_display(screen, update)
        if update is not None and not app._batch_count and screen is app.screen:
            terminal.update(cells_of(update, app.console))

    app._display = display
    async with app.run_test(size=(100, 30)) as pilot:
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
        await pilot.pause(0.5)
        screen_now = {}
        for y, strip in enumerate(app.screen._compositor.render_strips()):
            x = 0
            for segment in strip:
                for char in segment.text:
                    screen_now[(x, y)] = looks(char, segment.style)
                    x += cell_len(char)
    assert checked["frames"] > 20
    assert checked["grouped"] > 5, "no frame was painted as separate areas"
    assert mismatches == []
    stale = [(cell, terminal.get(cell), look) for cell, look in screen_now.items() if terminal.get(cell) != look]
    assert stale == []
