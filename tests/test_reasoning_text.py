"""How model text is drawn: the Reasoning pane keeps the model's line breaks, live and
reopened (Markdown would join two lines of a paragraph into one) while the Answer pane
keeps Markdown's rules; emoji sequences are as wide on screen as the app measures them
(tests/test_terminal_tmux.py checks the same in a real terminal)."""

from __future__ import annotations

import pytest

from tests.servers.openai_sse import GRAPHEME_LINES
from tests.tui_helpers import GatedBackend, rendered_text, wait_until
from thinkpane.backends.events import ContentDelta, ReasoningDelta, Stop
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.config import Settings

THOUGHTS = ["First, check the units.", "Then convert them to metres.", "Finally add them up."]
CODE = "```\nx = 1\ny = 2\n```"


def shown_lines(widget) -> list[str]:
    return [line.strip() for line in rendered_text(widget).split("\n") if line.strip()]


async def test_reasoning_keeps_its_line_breaks_live_and_reopened(store):
    backend = GatedBackend()
    app = ThinkpaneApp(Settings(), store, backend=backend)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.chat.reasoning_pane
        await pilot.press(*"sum these", "enter")
        await wait_until(pilot, lambda: app.chat.live is not None, "the stream")
        backend.put(ReasoningDelta("\n".join(THOUGHTS) + "\n\n" + CODE + "\n"))
        await wait_until(pilot, lambda: pane.live is not None and "y = 2" in rendered_text(pane.live),
                         "the reasoning shown")
        live = shown_lines(pane.live)
        assert live[:3] == THOUGHTS, live
        assert "x = 1" in live and "y = 2" in live  # a code block is as it was

        backend.put(ContentDelta("One line\nand the next."), Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "the end of the answer")
        answer = app.chat.transcript.answers()[-1]
        assert "One line and the next." in rendered_text(answer), "the answer keeps Markdown's rules"

        await pilot.press("ctrl+up")  # reopen the (only) answer's reasoning from the store's record
        await wait_until(pilot, lambda: pane.live is None and pane.body.children, "the reopened reasoning")
        reopened = shown_lines(pane.body.children[0])
        assert reopened[:3] == THOUGHTS, reopened


def test_hard_breaks_render_as_markdown_with_explicit_breaks():
    """Every single newline outside code becomes what Markdown's own hard break (two
    trailing spaces) renders: the same output as Rich for that source, nothing else changed."""
    import io

    from rich.console import Console
    from rich.markdown import Markdown

    from thinkpane.tui.render.rich_markdown import rich_markdown

    def render(renderable) -> str:
        console = Console(width=50, record=True, file=io.StringIO(), color_system="truecolor")
        console.print(renderable)
        return console.export_text(styles=True)

    source = "A *thought*\nanother\n\n- item\n  more\n\n> quoted\n> lines\n\n" + CODE + "\n"
    explicit = source.replace("thought*\n", "thought*  \n").replace("item\n", "item  \n").replace(
        "quoted\n", "quoted  \n")
    expected = render(Markdown(explicit, code_theme="monokai", hyperlinks=True))
    assert render(rich_markdown(source, hard_breaks=True)) == expected
    assert render(rich_markdown(source)) == render(Markdown(source, code_theme="monokai", hyperlinks=True))


@pytest.mark.parametrize("line", GRAPHEME_LINES, ids=[line.split(":")[0] for line in GRAPHEME_LINES])
def test_clusters_left_for_display_are_as_wide_as_their_code_points(line):
    """A terminal that measures code point by code point draws what Rich measures per
    grapheme cluster; the emoji themselves are still there, taken apart."""
    from rich.cells import cell_len, get_character_cell_size

    from thinkpane.tui.core.cell_width import drop_width_modifiers

    shown = drop_width_modifiers(line)
    assert cell_len(shown) == sum(get_character_cell_size(character) for character in shown)
    wide = [c for c in line if get_character_cell_size(c) == 2 and not 0x1F3FB <= ord(c) <= 0x1F3FF]
    assert [c for c in shown if get_character_cell_size(c) == 2] == wide
