"""The render gate (tui/render/gate.py): every private Textual name the render layer uses is
listed and checked once; with one missing, or THINKPANE_RENDER_GATE=off, the app keeps to
public Textual and a turn still streams and shows exactly as it should."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from textual._compositor import Compositor
from textual.app import App
from textual.screen import Screen
from textual.scrollbar import ScrollBar
from textual.widget import Widget

from tests.test_crop_compositor import cells_of, looks
from tests.test_live_markdown import render_rich, shown_lines
from tests.tui_helpers import GatedBackend, rendered_text, wait_until
from thinkpane.backends.events import ContentDelta, ReasoningDelta, Stop
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.config import Settings
from thinkpane.tui.core.store import ConversationStore
from thinkpane.tui.render import gate
from thinkpane.tui.widgets.live_markdown import LiveMarkdown

REPO = Path(__file__).resolve().parent.parent
RENDER = REPO / "tui" / "render"


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


@pytest.fixture
def fresh_gate():
    """The gate decides again for this test, and again after it (monkeypatch undone by then)."""
    gate.reset()
    yield gate
    gate.reset()


@pytest.fixture
def gate_off(monkeypatch, fresh_gate):
    monkeypatch.setenv(gate.ENV_VAR, "off")
    assert not gate.enabled() and gate.decision().forced_off
    return gate


class Terminal:
    """The cells the app has sent to the terminal, frame after frame."""

    def __init__(self, app: ThinkpaneApp) -> None:
        self.cells: dict[tuple[int, int], tuple] = {}
        original = app._display

        def display(screen, update) -> None:
            original(screen, update)
            if update is not None and not app._batch_count and screen is app.screen:
                self.cells.update(cells_of(update, app.console))

        app._display = display
        self.app = app

    def text(self) -> str:
        rows: dict[int, dict[int, str]] = {}
        for (x, y), look in self.cells.items():
            rows.setdefault(y, {})[x] = look[0]
        return "\n".join("".join(row[x] for x in sorted(row)) for _, row in sorted(rows.items()))

    def stale_cells(self) -> list:
        """Cells where the terminal differs from a full render of the screen now."""
        stale = []
        for y, strip in enumerate(self.app.screen._compositor.render_strips()):
            x = 0
            for segment in strip:
                for char in segment.text:
                    if self.cells.get((x, y)) != looks(char, segment.style):
                        stale.append(((x, y), self.cells.get((x, y)), char))
                    x += cell_len(char)
        return stale


REASONING = [
    "The user wants to print a value. ",
    "Python's **print** writes to stdout.\n\n",
    "I should show a short example ",
    "and mention `end=`.",
]
ANSWER_LINES = "".join(f"- point {n}: keep it simple\n" for n in range(30))
ANSWER = [
    "Use `print`:\n\n",
    ANSWER_LINES,
    "\n```python\nname = 'world'\n",  # the fence is cut across deltas
    "print(f'hello {name}')\n``",
    "`\n\nThat is all.",
]


async def test_with_the_gate_off_a_turn_streams_into_both_panes_and_is_stored(store, gate_off):
    backend = ScriptedBackend({"model": "scripted-r1", "delay_s": 0.01})
    backend.enqueue_turn(REASONING, ANSWER)
    app = ThinkpaneApp(Settings(), store, backend=backend)
    terminal = Terminal(app)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = app.chat
        # Public Textual only: its own compositor and scrollbars.
        assert type(chat._compositor) is Compositor
        assert type(chat.transcript.vertical_scrollbar) is ScrollBar
        assert type(chat.reasoning_pane.body.vertical_scrollbar) is ScrollBar
        await pilot.press(*"How do I print?", "enter")
        await wait_until(pilot, lambda: chat.live is None and chat.transcript.answers(), "turn ended")
        await wait_until(pilot, lambda: "That is all." in terminal.text(), "the answer's end on screen")

        reasoning, answer = "".join(REASONING), "".join(ANSWER)
        live_reasoning = chat.reasoning_pane.live
        live_answer = chat.transcript.answers()[-1].query_one(LiveMarkdown)  # the finished body
        # Each pane draws what a one-shot render of the whole text draws (the answer one
        # column in, its left padding).
        assert shown_lines(live_reasoning) == render_rich(reasoning, live_reasoning.content_size.width)
        assert shown_lines(live_answer) == [
            f" {line}" if line else line for line in render_rich(answer, live_answer.content_size.width)]
        shown = terminal.text()
        assert "Python's print writes to stdout." in shown  # Markdown rendered, not raw
        assert "print(f'hello {name}')" in shown and "```" not in shown
        # Following: the pane shows the end of the long answer, its start scrolled away.
        assert "Use print:" not in shown
        assert chat.transcript.scroll_y == chat.transcript.max_scroll_y > 0
        assert "Thought for " in rendered_text(chat.transcript.answers()[-1].link)
        assert "idle" in chat.status.line_text().plain
        # What reached the terminal becomes the screen as it is now: nothing stale is left
        # behind (polled: a counter or scrollbar change may still be on its way to a frame).
        await wait_until(pilot, lambda: terminal.stale_cells() == [], "no stale cell on the terminal")

    user, stored = store.load_messages(store.list_conversations()[0].id)
    assert user.content == "How do I print?"
    assert (stored.status, stored.content, stored.reasoning) == ("complete", answer, reasoning)


async def test_with_the_gate_off_text_reaches_the_screen_while_the_turn_streams(store, gate_off):
    backend = GatedBackend()
    app = ThinkpaneApp(Settings(), store, backend=backend)
    terminal = Terminal(app)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = app.chat
        await pilot.press(*"hi", "enter")
        backend.put(ReasoningDelta("A first **thought**."))
        await wait_until(pilot, lambda: "A first thought." in terminal.text(), "reasoning on screen")
        backend.put(ContentDelta("A first answer."))
        await wait_until(pilot, lambda: "A first answer." in terminal.text(), "answer on screen")
        assert chat.live is not None  # both shown while the turn still streams
        # Short text starts at the top of its pane (the public half of following.py).
        for pane in (chat.transcript, chat.reasoning_pane.body):
            top = pane.children[0]
            assert top.region.y == pane.content_region.y + top.styles.margin.top
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: chat.live is None, "turn ended")


def test_this_textual_has_every_name_the_render_layer_uses(fresh_gate):
    # A Textual release that renames one closes the gate (slower, same text); this test
    # says so rather than letting the app quietly take the slow path.
    assert gate.decision() == gate.Decision(enabled=True, forced_off=False, missing=())


def test_the_gate_names_what_it_checks_and_closes_when_one_is_missing(monkeypatch, fresh_gate):
    names = gate.checked_names()
    assert len(names) == len(set(names)) > 15
    for expected in ("textual._compositor:Compositor._render_chops(crop, is_rendered_line)",
                     "textual.widget:Widget._size_updated(size, virtual_size, container_size, layout)",
                     "textual.widget:Widget._check_refresh()",
                     "textual.app:App._start_widget(parent, widget)"):
        assert expected in names

    monkeypatch.delattr(Compositor, "_render_chops")
    gate.reset()
    assert not gate.enabled()
    assert gate.decision().missing == (
        "crop_compositor: textual._compositor:Compositor._render_chops(crop, is_rendered_line)",)


def test_a_changed_signature_or_a_missing_module_closes_the_gate(monkeypatch, fresh_gate):
    def _size_updated(self, size, virtual_size, container_size, layout=True, reason=None):
        return False

    monkeypatch.setattr(Widget, "_size_updated", _size_updated)
    assert [name.split(":")[0] for name in gate.decision().missing] == [
        "laid_out_once", "following", "strip_scrollbar"]
    monkeypatch.undo()

    gate.reset()
    monkeypatch.setitem(sys.modules, "textual._compositor", None)  # import fails
    missing = gate.decision().missing
    assert not gate.enabled()
    assert "crop_compositor: textual._compositor:Compositor._get_renders(crop)" in missing
    assert "laid_out_once: textual._compositor:Compositor.update_widgets(widgets)" in missing


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no"])
def test_the_environment_turns_the_gate_off_without_checking(monkeypatch, fresh_gate, value):
    monkeypatch.setenv(gate.ENV_VAR, value)
    assert gate.decision() == gate.Decision(enabled=False, forced_off=True, missing=())


def _private_steps(name: str) -> set[str]:
    """The underscore names in a gate entry: "mod:Cls()._a.b(x)" -> {"_a"}."""
    _, _, path = name.partition(":")
    return {step.partition("(")[0] for step in path.split(".") if step.startswith("_")}


def _textual_private_names() -> set[str]:
    """Every underscore name of the Textual classes the render layer builds on."""
    names: set[str] = set()
    for thing in (Widget(), Screen(), Compositor(), ScrollBar(), App):
        names |= {name for name in dir(thing) if name.startswith("_") and not name.startswith("__")}
    return names


def _names_used(source: str) -> set[str]:
    """Underscore names a module reads, writes, looks up by string or overrides."""
    return (set(re.findall(r"\.(_[a-z]\w*)", source)) | set(re.findall(r"[\"'](_[a-z]\w*)[\"']", source))
            | set(re.findall(r"def (_[a-z]\w*)", source)))


def test_the_gate_lists_every_private_textual_name_the_render_layer_uses():
    listed = set().union(*(_private_steps(name) for name in gate.checked_names()))
    textual = _textual_private_names()
    unlisted = {
        path.name: sorted((_names_used(path.read_text()) & textual) - listed)
        for path in RENDER.glob("*.py") if path.name != "gate.py"
    }
    assert {name: used for name, used in unlisted.items() if used} == {}
    # And the scan does see them: the compositor's own, for one.
    assert {"_get_renders", "_render_chops"} <= _names_used((RENDER / "crop_compositor.py").read_text())


def test_no_private_textual_name_is_used_outside_the_render_layer():
    private = set().union(*(_private_steps(name) for name in gate.checked_names()))
    pattern = re.compile(r"from textual\._|import textual\._|\b(" + "|".join(sorted(private)) + r")\b")
    files = [p for folder in ("tui", "backends") for p in (REPO / folder).rglob("*.py")
             if RENDER not in p.parents]
    assert len(files) > 30
    offenders = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in files for m in pattern.finditer(p.read_text())]
    assert offenders == []



def test_one_mechanism_can_be_kept_to_public_textual_for_benchmarks(monkeypatch, fresh_gate):
    # bench_render.py --ab measures what each mechanism buys by switching it off alone.
    monkeypatch.setenv(gate.MECHANISMS_OFF_VAR, "paint_soon, crop_compositor")
    assert gate.enabled() and gate.enabled("following")
    assert not gate.enabled("paint_soon") and not gate.enabled("crop_compositor")
    gate.reset()
    monkeypatch.setenv(gate.MECHANISMS_OFF_VAR, "paint_son")
    with pytest.raises(ValueError, match="paint_son"):
        gate.enabled()
