"""LiveMarkdown: streamed text must look exactly like the same text rendered in one go.

The widget cuts the stream into finished blocks (rendered once) and a tail (re-rendered);
a cut in the wrong place (inside a code fence, before a list item's indented continuation)
would change what the user sees, so every test compares against a one-shot Rich render.
"""

from __future__ import annotations

import asyncio

from rich.markdown import Markdown as RichMarkdown
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from thinkpane.tui.widgets.live_markdown import LiveMarkdown, next_render_at

DOC = """\
## Why it happens

The writer holds the connection while it waits, so **every** other call queues.

```python
def flush(conn, rows):

    # a blank line inside a fence must not end the block

total = 0

    with conn:
        conn.executemany("UPDATE t SET x = ?", rows)
```

1. Step one

   continued text of step one, indented under the item

2. Step two

        indented code inside the list item

| Strategy | Writes/s |
|---|---:|
| per token | 3,895 |
| timer | 1,083 |

~~~~
tilde fence

```
not a closing fence for the tilde one
~~~~

> A quote
> over two lines

Last paragraph with `code` and a [link](https://example.com).
"""


def render_rich(text: str, width: int, *, hard_breaks: bool = False) -> list[str]:
    from rich.console import Console

    from thinkpane.tui.render.rich_markdown import rich_markdown

    console = Console(width=width, color_system=None, file=None, legacy_windows=False)
    document = (rich_markdown(text, hard_breaks=True) if hard_breaks
                else RichMarkdown(text, code_theme="monokai", hyperlinks=True))
    lines = console.render_lines(document, console.options.update_width(width), pad=False)
    return [("".join(segment.text for segment in line)).rstrip() for line in lines]


def shown_lines(live: LiveMarkdown) -> list[str]:
    """What the widget draws, top to bottom, without trailing blank lines."""
    lines = [strip.text.rstrip() for strip in live.render_lines(live.region.reset_offset)]
    while lines and not lines[-1]:
        lines.pop()
    return lines


class LiveApp(App):
    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield LiveMarkdown(id="live")


async def stream_into(live: LiveMarkdown, text: str, piece: int, pause: float) -> None:
    for start in range(0, len(text), piece):
        await live.append(text[start:start + piece])
        await asyncio.sleep(pause)


async def test_streamed_text_renders_like_a_one_shot_render():
    app = LiveApp()
    async with app.run_test(size=(100, 200)) as pilot:
        live = app.query_one(LiveMarkdown)
        live.MIN_INTERVAL_S = 0.01  # many renders, so many cuts are exercised
        await stream_into(live, DOC, piece=5, pause=0.003)
        await live.update(DOC)
        await pilot.pause()
        assert live.source == DOC
        # Cuts inside a chunk heal when the chunk is rendered again: identical, spacing included.
        assert shown_lines(live) == render_rich(DOC, live.size.width)


async def test_every_cut_keeps_fences_lists_and_tables_whole():
    app = LiveApp()
    async with app.run_test(size=(100, 200)) as pilot:
        live = app.query_one(LiveMarkdown)
        live.MIN_INTERVAL_S = 0.01
        live.CHUNK_CHARS = 1  # every settled block starts a chunk of its own: every cut shows
        await stream_into(live, DOC, piece=5, pause=0.003)
        await live.update(DOC)
        await pilot.pause()
        assert live.chunk_count >= 5, "finished blocks were never settled into chunks"
        # Rich's spacing between some elements (a list ending in code, then a table) can
        # differ by a blank line at a chunk edge; every text line must be the same.
        shown = [line for line in shown_lines(live) if line.strip()]
        assert shown == [line for line in render_rich(DOC, live.size.width) if line.strip()]


async def test_source_is_what_was_shown_and_update_flushes_the_rest():
    app = LiveApp()
    async with app.run_test(size=(100, 60)) as pilot:
        live = app.query_one(LiveMarkdown)
        live.MIN_INTERVAL_S = 60.0  # nothing after the first render until flushed
        await live.append("First words")
        assert live.source == "First words"  # the first text is shown at once
        await live.append(" and more")
        assert live.source == "First words"  # throttled: not shown yet
        await live.update("First words and more, finished.")
        await pilot.pause()
        assert live.source == "First words and more, finished."
        assert shown_lines(live) == ["First words and more, finished."]


async def test_renders_are_throttled():
    app = LiveApp()
    async with app.run_test(size=(100, 60)) as pilot:
        live = app.query_one(LiveMarkdown)
        renders = 0
        original = live.render_now

        def counting() -> None:
            nonlocal renders
            renders += 1
            original()

        live.render_now = counting  # the throttle timer calls the instance attribute
        started = asyncio.get_running_loop().time()
        await stream_into(live, "word " * 300, piece=5, pause=0.001)
        elapsed = asyncio.get_running_loop().time() - started
        await pilot.pause(live.MIN_INTERVAL_S * 2)
        assert live.source == "word " * 300
        # One render per interval (plus the first and a trailing one), not one per append.
        assert renders <= elapsed / live.MIN_INTERVAL_S + 3, (renders, elapsed)
        assert renders < 300


def test_live_views_streaming_at_once_render_at_the_same_moments():
    """Views with text waiting render on one grid of the interval, so two panes (or three
    compare columns) share their frames; a render that ran a few ms late keeps the next grid
    point rather than waiting a whole interval more."""
    interval = 0.125
    # Two views that last rendered at different moments of the same interval: one due time.
    assert next_render_at(100.01, 100.05, interval) == next_render_at(100.02, 100.06, interval) == 100.125
    # A render 10% of an interval late (at 100.0125 instead of 100.0): the next point, 100.125.
    assert next_render_at(100.0125, 100.05, interval) == 100.125
    # Once an interval has passed: at once.
    assert next_render_at(100.0, 100.2, interval) == 100.2


async def test_update_with_different_text_starts_over():
    app = LiveApp()
    async with app.run_test(size=(100, 60)) as pilot:
        live = app.query_one(LiveMarkdown)
        await live.update("Para one.\n\nPara two.\n\nPara three")
        await live.update("Something else entirely.")
        await pilot.pause()
        assert live.source == "Something else entirely."
        assert shown_lines(live) == ["Something else entirely."]
        assert live.chunk_count == 0


async def test_static_next_to_it_is_unaffected():
    """A LiveMarkdown can sit in a container with other widgets (the answer turn does)."""

    class TwoApp(App):
        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield Static("above", id="above")
                yield LiveMarkdown("Initial **text**.\n\nSecond.", id="live")
                yield Static("below", id="below")

    app = TwoApp()
    async with app.run_test(size=(60, 30)) as pilot:
        await pilot.pause()
        live = app.query_one(LiveMarkdown)
        assert shown_lines(live) == render_rich("Initial **text**.\n\nSecond.", live.size.width)
        assert app.query_one("#below").region.y > live.region.y


async def test_a_burst_is_rendered_at_once_not_at_the_next_interval():
    """A fast backend's burst renders when it arrives, so little is left when it ends."""
    app = LiveApp()
    async with app.run_test(size=(100, 60)) as pilot:
        live = app.query_one(LiveMarkdown)
        live.MIN_INTERVAL_S = 60.0
        await live.append("First words")  # shown at once; the next render would wait 60 s
        small = " and a few more"
        await live.append(small)
        assert live.source == "First words"
        burst = "\n\n" + "A long paragraph of reasoning. " * (live.BURST_CHARS // 31 + 1)
        await live.append(burst)
        assert live.source == "First words" + small + burst
        await pilot.pause()
        assert shown_lines(live) == render_rich(live.source, live.size.width)


async def test_a_style_change_elsewhere_keeps_the_lines_and_a_new_colour_redraws_them():
    """A class toggled up the tree (a turn ending) must not re-render the whole text; a
    theme whose colours differ must."""
    app = LiveApp()
    async with app.run_test(size=(100, 60)) as pilot:
        live = app.query_one(LiveMarkdown)
        await live.update(DOC)
        await pilot.pause()
        lines_before = list(live._lines)
        app.screen.add_class("-unrelated")
        await pilot.pause()
        live.render_lines(live.region.reset_offset)
        assert all(a is b for a, b in zip(live._lines, lines_before)), "unchanged style re-rendered"
        colours_before = {segment.style for line in lines_before for segment in line if segment.style}
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        shown = live.render_lines(live.region.reset_offset)
        colours_after = {segment.style for line in shown for segment in line if segment.style}
        assert colours_after != colours_before
        assert shown_lines(live) == render_rich(DOC, live.size.width)


async def test_grow_rows_reserves_rows_so_words_repaint_only_their_rows():
    """While streaming the widget grows a few rows at a time: a render that only adds words
    (or lines within the reserve) needs no layout pass and marks only the changed rows."""
    app = LiveApp()
    async with app.run_test(size=(60, 40)) as pilot:
        live = app.query_one(LiveMarkdown)
        live.MIN_INTERVAL_S = 0.0
        live.grow_rows = 5
        await live.append("One line of text.\n")
        await pilot.pause()
        assert len(live._lines) == 1 and live.size.height == 5  # one line, five rows
        layout_passes = []
        original = live.refresh

        def spy(*regions, layout=False, **kwargs):
            layout_passes.append(layout)
            return original(*regions, layout=layout, **kwargs)

        live.refresh = spy
        await live.append("More words on it.\n\nA second paragraph.\n")
        await pilot.pause()
        assert len(live._lines) == 3 and live.size.height == 5
        assert layout_passes and not any(layout_passes), "a render inside the reserve laid out the screen"
        layout_passes.clear()
        await live.append("\n".join(f"\nParagraph {n}." for n in range(4)) + "\n")
        await pilot.pause()
        assert len(live._lines) > 5 and live.size.height % 5 == 0 and live.size.height >= len(live._lines)
        assert any(layout_passes)  # past the reserve: a new height
        live.refresh = original
        live.grow_rows = 1  # the stream ended: as tall as the text
        await pilot.pause()
        assert live.size.height == len(live._lines)
        assert shown_lines(live)[-1] == "Paragraph 3."


async def test_every_render_of_a_stream_matches_a_one_shot_render_of_the_text_so_far():
    # The tail's first lines are kept once they cannot change (_render_tail): each render,
    # not only the last, must be what rendering the text shown so far in one go gives, in
    # words (Rich) and in styles (a second widget rendering it whole each time).
    paragraphs = [
        "Okay, so the user wants to know how the retry loop behaves when the input grows. "
        "Maybe I can use a `dict` keyed by id, so a lookup is O(1) instead of scanning 12 rows. "
        "The error message mentions line 42, which is inside the `finally` block, step 2. Then "
        "I should check `a b` and `x`, 3. Hmm.",
        "Hmm, wait. Some **bold** words and a [link](https://example.com) and snake_case names "
        "and *emphasis that spans a long stretch of text across several wrapped lines before "
        "it ends* here, then plain words again for a while so the wrap has room to move.",
        "A line with a hard break that goes on for a while, more than one line, and becomes "
        "a title\n===\n",
        "- a list item that is long enough to wrap over more than one line of the pane\n"
        "- and a second one\n",
        # Markup that opens below lines already kept, and words that would start a list if
        # a line were rendered on its own from there.
        "Plain words " * 8 + "and *an emphasis opened below the kept lines that runs on over "
        "the wrap* to its end, then `code` and more plain words to finish the paragraph.",
        "one - two - three - four - five - six - " * 6 + "and 1. or 22. or 3. or 4. or 5. " * 5,
        "Last plain paragraph " + "with many plain words " * 12,
    ]
    text = "\n\n".join(paragraphs)

    def styled(widget: LiveMarkdown) -> list[list[tuple[str, object]]]:
        lines = [[(segment.text, segment.style) for segment in strip]
                 for strip in widget.render_lines(widget.region.reset_offset)]
        while lines and not "".join(text for text, _ in lines[-1]).strip():
            lines.pop()
        return lines

    for hard_breaks in (False, True):
        app = TwoLiveApp()
        async with app.run_test(size=(44, 400)) as pilot:
            live, whole = app.query(LiveMarkdown)
            if hard_breaks:
                from thinkpane.tui.widgets.reasoning_pane import rendered_reasoning

                live._renderer = whole._renderer = rendered_reasoning
            live.MIN_INTERVAL_S = 0.0  # a render for every piece
            frozen_seen = False
            for start in range(0, len(text), 7):
                await live.append(text[start:start + 7])
                await whole.update("")
                await whole.update(live.source)
                await pilot.pause()
                frozen_seen = frozen_seen or bool(live._frozen[2])
                expected = render_rich(live.source, live.size.width, hard_breaks=hard_breaks)
                while expected and not expected[-1]:  # as shown_lines has them
                    expected.pop()
                assert shown_lines(live) == expected, (hard_breaks, live.source[-60:])
                assert styled(live) == styled(whole), (hard_breaks, live.source[-60:])
            assert frozen_seen, "no line was ever frozen"


class TwoLiveApp(App):
    CSS = "LiveMarkdown { height: auto; }"

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield LiveMarkdown(id="streamed")
            yield LiveMarkdown(id="whole")


CODE_DOC = (
    "Here is the writer, then how to run it.\n\n"
    "```python\n"
    + "".join(
        f"def step_{n}(rows, factor={n}):\n"
        f'    """Scale the rows of step {n}, a docstring long enough to wrap in a narrow pane.\n\n'
        f'    It spans lines, so a lexer must carry its state across them."""\n'
        f"    return [row * factor for row in rows]  # {n} of 12\n\n"
        for n in range(12)
    )
    + "```\n\n"
    "And in the shell:\n\n"
    "~~~bash\n"
    + "".join(f'echo "line {n}" | tee -a out.log  # appends line {n}\n' for n in range(20))
    + "~~~\n\n"
    "Done.\n"
)


async def test_a_code_block_being_written_matches_a_one_shot_render_without_being_drawn_whole_each_time():
    # A fenced block stays in the tail until its fence closes; its finished lines are drawn
    # once (code_tail.py), not again with every update: every render must still be what
    # rendering the text so far in one go gives, in words and in colours.
    from thinkpane.tui.widgets.turn import rendered_code, rendered_markdown

    whole_block_renders = []

    def counting(text: str):
        if text.startswith(("```", "~~~")) and text.count("\n") > 20:
            whole_block_renders.append(len(text))
        return rendered_markdown(text)

    def cells(widget: LiveMarkdown) -> list[list[tuple]]:
        # Each cell's character, style and place (what selecting text reads): a token
        # Pygments reads as one once the docstring has closed was two before, drawn alike.
        lines = []
        for strip in widget.render_lines(widget.region.reset_offset):
            line = []
            for segment in strip:
                style = segment.style
                x, y = style.meta.get("offset", (None, None)) if style else (None, None)
                for index, char in enumerate(segment.text):
                    line.append((char, style and style.clear_meta_and_links(), x is not None and (x + index, y)))
            lines.append(line)
        while lines and not "".join(cell[0] for cell in lines[-1]).strip():
            lines.pop()
        return lines

    app = TwoLiveApp()
    async with app.run_test(size=(48, 600)) as pilot:
        live, whole = app.query(LiveMarkdown)
        live._renderer, live._code_renderer = counting, rendered_code  # as the Answer pane's
        whole._renderer, whole._code_renderer = rendered_markdown, None  # drawn whole every time
        live.MIN_INTERVAL_S = 0.0  # a render for every piece
        updates = 0
        for start in range(0, len(CODE_DOC), 23):
            await live.append(CODE_DOC[start:start + 23])
            await whole.update("")
            await whole.update(live.source)
            await pilot.pause()
            updates += 1
            expected = render_rich(live.source, live.size.width)
            while expected and not expected[-1]:
                expected.pop()
            assert shown_lines(live) == expected, live.source[-60:]
            assert cells(live) == cells(whole), live.source[-60:]
        assert live.source == CODE_DOC
    # Most updates came while a block of more than 20 lines was being written; it was drawn
    # whole only now and then (to check a freeze, and once its fence closed).
    assert updates > 100
    assert 0 < len(whole_block_renders) < 12, whole_block_renders


async def test_a_finished_code_block_is_not_drawn_again_with_the_text_before_it():
    # A chunk's text is drawn again whenever a block joins it; a code block joining the
    # paragraph before it was drawn again (Pygments and all) each time, the slowest frames
    # of an answer. It starts a chunk of its own, and the whole text still reads the same.
    from thinkpane.tui.widgets.live_markdown import default_renderer

    drawn: list[str] = []

    def renderer(text: str):
        drawn.append(text)
        return default_renderer(text)

    class App_(App):
        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield LiveMarkdown(id="live", renderer=renderer)

    intro = "Here is the writer, short enough to share a chunk with what follows.\n\n"
    code = "```python\n" + "".join(f"value_{n} = compute({n})\n" for n in range(12)) + "```\n\n"
    text = intro + code + "It flushes every quarter second.\n\nThat is all.\n"
    app = App_()
    async with app.run_test(size=(100, 60)) as pilot:
        live = app.query_one(LiveMarkdown)
        live.MIN_INTERVAL_S = 0.01
        await stream_into(live, text, piece=4, pause=0.003)
        await live.update(text)
        await pilot.pause()
        assert shown_lines(live) == render_rich(text, live.size.width)
    assert not [part for part in drawn if "Here is the writer" in part and "value_0" in part]
