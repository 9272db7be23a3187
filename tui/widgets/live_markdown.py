"""Streaming Markdown whose cost per update does not grow with the text already shown.

Textual's ``Markdown`` re-parses and re-lays-out a tree of block widgets as text streams in
(measured on a 2-core machine: 12-13 s of CPU for a 10 KB answer at 150 tokens/s; a 20 KB
reasoning is worse).
Here finished blocks are rendered once with Rich Markdown, the same renderer finished turns
use, into "chunks" of cached lines; only the block still being written (the tail) is
rendered again on each update, and of a paragraph only the lines that can still change
(``_render_tail``). A block is finished when a blank line outside a code fence is followed
by an unindented line that does not start a list item (so a fence, a list or a table is
never cut in two), as soon as that line's first letter arrives. Cuts inside a chunk heal
when the chunk is rendered again. The cost of an update does not grow with the text
either: ``bench_render.py --long`` streams 64,000 tokens.

The widget draws its lines itself (Textual's Line API), one blank line between parts: a
container of Statics re-rendered the container's own rows, every Static's content and
measured each one on every update, about half of a frame's cost (bench_render.py).

Updates are throttled: the first text is shown at once (time to first token), later text
at most ``MIN_INTERVAL_S`` apart, at moments on a grid of that interval shared by every live
view, so views streaming at once (the two panes, the compare screen's columns) render in
the same frames: three compare columns drew 337 frames for 14 s of streams, 127 on the grid
(tests/bench/bench_compare.py); a timer shows a trailing burst. ``append``/``update`` and
``source`` match ``textual.widgets.Markdown``, so ``Markdown.get_stream(widget)`` drives it;
``source`` is the text handed to the screen so far (a throttled burst joins it when shown).

It lives among the widgets because it uses public Textual only (the Line API, ``visualize``);
what it gains from Textual internals comes through tui/render, behind the render gate:
``LaidOutOnce`` (a taller widget repaints only the rows from ``_rows_drawn_as_before`` down,
with no second layout pass) and ``paint_soon`` (the first token in the next frame). With the
gate closed it draws the same lines, repainted whole whenever it grows.
"""
from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from textual.geometry import Region, Size
from textual.selection import Selection
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

from thinkpane.tui.core.fences import closes_fence, opening_fence
from thinkpane.tui.render.laid_out_once import LaidOutOnce
from thinkpane.tui.render.paint_soon import paint_soon
from thinkpane.tui.render.rich_markdown import rich_code_block, rich_markdown
from thinkpane.tui.widgets.code_tail import CodeRenderer, CodeTail

# A render due this fraction of an interval after a grid point joins that grid point (see
# LiveMarkdown._schedule): one that ran a few ms late does not wait a whole interval more.
GRID_SLACK = 0.25
# A list item: Rich draws a loose list tight, so a cut between two items would add a gap.
_LIST_ITEM = re.compile(r"(?:[-*+]|\d{1,9}[.)])(?:\s|$)")
# What may begin a block other than a paragraph (or an indented one), now or once more text
# comes ("2" may become "2. "): a tail starting so is never split, nor is a paragraph at a
# place where the rest would start so.
_BLOCK_START = re.compile(r"[\s\-+*#>=|`~_<\d]")
# Inline Markdown besides single-backtick code spans: emphasis, links, images, HTML,
# entities, escapes, table pipes. Lines made of none of it show their words as written.
_INLINE = re.compile(r"[*_~\[\]<>!\\&|]")


def default_renderer(text: str) -> RenderableType:
    return rich_markdown(text)


def default_code_renderer(code: str, lexer: str, first_line: int) -> RenderableType:
    return rich_code_block(code, lexer, first_line=first_line)


class RenderedOnce:
    """A renderable that renders what it wraps once per width and replays the segments.

    Textual renders a Static's content once to measure its height and again to draw it, and
    again after each layout pass; Rich Markdown (with syntax highlighting) is the costly
    part. The same object can also be shown by another Static of the same width for free,
    which is how a finished answer reuses what the live view already rendered.
    """

    def __init__(self, renderable: RenderableType) -> None:
        # A renderer that already returns one (turn.rendered_markdown) is not wrapped twice.
        self.renderable: RenderableType = renderable.renderable if isinstance(renderable, RenderedOnce) else renderable
        self._key: tuple | None = None
        self._segments: list[Segment] = []

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Not the height: Textual measures with none and draws with one; Markdown ignores it.
        key = (id(console), options.max_width, options.justify, options.overflow, options.no_wrap)
        if key != self._key:
            # The segments exactly as rendering would give them, so the result is identical.
            self._segments = list(console.render(self.renderable, options))
            self._key = key
        yield from self._segments

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.renderable)


def next_render_at(last_render: float, now: float, interval: float) -> float:
    """When a view last rendered at ``last_render`` may render next: ``now`` once an
    interval has passed, else the next point of the interval's grid (the monotonic clock's)
    from an interval after the last render. Every live view with text waiting renders at the
    same moments, so two panes or three compare columns streaming at once share their frames
    instead of each taking its own; a render that ran a little late (a busy loop) keeps the
    next grid point, not the one after (GRID_SLACK)."""
    if last_render + interval <= now:
        return now
    due = last_render + interval - interval * GRID_SLACK
    return max(now, math.ceil(due / interval) * interval)


def _code_block(source: str, start: int) -> bool:
    """Whether the block at ``start`` is a fenced code block."""
    end = source.find("\n", start)
    line = source[start:end if end >= 0 else len(source)]
    return opening_fence(line) is not None


class LiveMarkdown(LaidOutOnce, Widget):
    DEFAULT_CSS = """
    LiveMarkdown { height: auto; }
    """
    # A block joining a chunk re-renders that chunk, so chunks stay small (a new one starts
    # past this size); a misjudged cut heals when its chunk is rendered again.
    CHUNK_CHARS = 800
    # Each render is one frame. 8 renders a second read as fluid typing; each costs ~2 ms of
    # compositing and Markdown (more when the pane scrolls, see grow_rows), so at 150 tokens/s
    # the stream costs about 2x what consuming it without a UI does (tests/bench/bench_render.py).
    MIN_INTERVAL_S = 1 / 8
    # Except in a burst (a fast backend, a gateway flushing its buffer): once this much text
    # waits it is rendered at once, so a burst arriving over several messages is rendered
    # as it comes rather than all at once after its last token.
    BURST_CHARS = 2000
    # Blank lines between two parts (chunks, tail): the gap Markdown leaves between blocks.
    GAP = 1

    def __init__(
        self,
        markdown: str = "",
        *,
        renderer: Callable[[str], RenderableType] = default_renderer,
        code_renderer: CodeRenderer | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        # Textual's hover styling of links made with @click meta: Rich Markdown's links are
        # terminal hyperlinks, which it leaves alone, and it cost a copy of every line rendered.
        self.set_reactive(Widget.auto_links, False)
        self._renderer = renderer
        # Draws a code block being written from a given line, as ``renderer`` draws it whole
        # (see code_tail.py); None: such a block is drawn whole on every update.
        self._code_renderer = code_renderer or (default_code_renderer if renderer is default_renderer else None)
        self._code_tail = CodeTail()
        self._source = markdown  # everything appended
        self._shown = 0  # source[:_shown] has been handed to the renderer
        self._settled = 0  # source[:_settled] is shown by the chunks
        self._chunk_start = 0  # source[_chunk_start:_settled] is the last chunk
        self._chunk_starts: list[int] = []  # where each chunk's text starts in the source
        # Rendered lines, for ``_lines_key`` (width, style); None = to be rendered.
        self._chunk_lines: list[list[Strip] | None] = []
        self._tail_lines: list[Strip] | None = []
        # The tail's first lines that can no longer change: (tail start, source length they
        # show, lines). See _render_tail.
        self._frozen: tuple[int, int, list[Strip]] = (-1, 0, [])
        self._lines_key: tuple | None = None
        self._closed_end = 0  # the lines of every chunk but the last lead _lines: this many, gaps included
        self._closed_count = 0  # how many chunks those are
        self._lines: list[Strip] = []  # everything drawn, top to bottom
        self._stale = True  # _lines must be rebuilt from the parts
        # Lines from here on changed since the last paint; earlier ones are drawn as before.
        self._first_changed = 0
        self._scan = 0  # the block scanner has read complete lines up to here
        self._fence: str | None = None  # the open code fence ("```", "~~~~"...), if any
        self._after_blank = False
        self._early = -1  # a boundary found at the start of the line being written
        self._last_render = 0.0
        # The pending render of a throttled burst (an asyncio timer; see _schedule).
        self._timer: asyncio.TimerHandle | None = None
        self._ready = False  # mounted: renders can happen
        # Called after each render, e.g. to update counters in step with the text shown.
        self.on_render: Callable[[], None] | None = None
        # The height grows in steps of this many rows (see grow_rows).
        self._grow_rows = 1
        self._repainted_whole_at = 0  # the height when render_now last repainted it whole

    @property
    def grow_rows(self) -> int:
        """While text streams, the widget grows this many rows at a time (blank rows wait
        below the text). A pane that follows the text then scrolls once every few lines
        instead of with every line: the text stands still while it is written, and a frame
        that only adds words repaints the changed rows rather than the whole pane (with no
        layout pass). The first step is there before any text: the first token then lands
        in rows already laid out (a layout pass of the whole screen made that frame 7 ms,
        most of the time to the first painted token). 1 = exactly as tall as the text."""
        return self._grow_rows

    @grow_rows.setter
    def grow_rows(self, rows: int) -> None:
        rows = max(1, rows)
        if rows != self._grow_rows:
            self._grow_rows = rows
            self.refresh(layout=True)

    def _height_for(self, lines: int) -> int:
        step = self._grow_rows
        return max(1, -(-lines // step)) * step if step > 1 else lines

    @property
    def source(self) -> str:
        return self._source[: self._shown]

    @property
    def chunk_count(self) -> int:
        """How many chunks of finished blocks the text is cut into (tests check the cuts)."""
        return len(self._chunk_starts)

    def on_mount(self) -> None:
        self._ready = True
        if self._source:
            self.render_now()

    # ------------------------------------------------------------------ Markdown's API

    async def append(self, markdown: str) -> None:
        if not markdown:
            return
        self._source += markdown
        self._schedule()

    async def update(self, markdown: str) -> None:
        """Show ``markdown``: appended if it extends the text, otherwise a fresh render."""
        if not markdown.startswith(self._source):
            self._reset()
        self._source = markdown
        self.render_now()

    # ------------------------------------------------------------------ taking in text

    def _schedule(self) -> None:
        burst = len(self._source) - self._shown >= self.BURST_CHARS
        if self._timer is not None and not burst:
            return  # a render is already due
        now = time.monotonic()
        wait = next_render_at(self._last_render, now, self.MIN_INTERVAL_S) - now
        if wait <= 0 or not self._ready or burst:
            self.render_now()
        else:
            # Not Textual's set_timer: a one-shot Timer whose task starts after its due time
            # (the loop was busy for a few ms) skips its only tick and never fires, which
            # froze the pane until the stream ended. The handle keeps this context (app).
            self._timer = asyncio.get_running_loop().call_later(wait, self._render_due)

    def _render_due(self) -> None:
        self._timer = None
        if self.is_attached:
            self.render_now()

    def on_unmount(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def render_now(self) -> None:
        """Show everything appended so far (the stream's end calls this via ``update``)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        first_text = self._shown == 0 and bool(self._source)
        self._last_render = time.monotonic()
        if not self._ready:
            return
        boundaries = self._find_settled_boundaries()
        if boundaries:
            self._settle(boundaries)
        self._shown = len(self._source)
        self._tail_lines = None
        self._stale = True
        count = len(self._lines)
        height = self._height_for(count)
        width = self.size.width
        rendered = bool(width) and self._ensure_lines(width)
        # Only lines from the first changed one are repainted (a bare refresh would re-style
        # every visible line).
        first = min(self._first_changed, height)
        new_height = self._height_for(len(self._lines))
        if rendered and new_height == height:
            # Same height: no layout pass.
            self._first_changed = len(self._lines)
            end = max(count, len(self._lines))  # rows below stay blank
            if first < end:
                self.refresh(Region(0, first, width, end - first))
        elif new_height - self._repainted_whole_at > 2 * self.screen.size.height:
            # A new height needs a layout pass; and Textual keeps each row it styled (and what
            # each frame made of that row) until the widget is repainted whole, which a tall
            # one never was: a long reasoning kept ~10 KB for every line it had shown, slowing
            # every garbage collection. Repainted whole every two screens of growth, it keeps
            # about that many (bench_render.py --long), for one more styling of the rows on
            # screen each time.
            self._repainted_whole_at = new_height
            self.refresh(layout=True)
        else:
            # A new height needs a layout pass (_rows_drawn_as_before takes it from there).
            self.refresh(Region(0, first, width, max(new_height, height) - first), layout=True)
        if self.on_render is not None:
            self.on_render()
        if first_text:
            paint_soon(self.screen, self)  # time to first token: the next frame, not a tick later

    def _settle(self, boundaries: list[int]) -> None:
        """Move finished blocks into chunks; a chunk is closed once it holds CHUNK_CHARS, and
        a fenced code block starts a chunk: joined to the blocks before it, it was drawn again
        (Pygments and all) with each of them, and a chunk's text is drawn again whenever a
        block joins it. (A block after it may join it: most code blocks fill a chunk alone,
        and a cut after a list that ends in code can change Rich's spacing, see the tests.)"""
        for boundary in boundaries:
            if not self._chunk_starts or (self._settled > self._chunk_start and (
                    boundary - self._chunk_start > self.CHUNK_CHARS or _code_block(self._source, self._settled))):
                self._chunk_start = self._settled
                self._chunk_starts.append(self._settled)
                self._chunk_lines.append(None)
            else:
                self._chunk_lines[-1] = None  # the last chunk grows: render it again
            self._settled = boundary

    # ------------------------------------------------------------------ drawing

    def _part_text(self, index: int) -> str:
        """The source of chunk ``index``, or of the tail for ``index == len(chunks)``."""
        starts = self._chunk_starts
        if index == len(starts):
            return self._source[self._settled:self._shown]
        end = starts[index + 1] if index + 1 < len(starts) else self._settled
        return self._source[starts[index]:end].rstrip("\n")

    def _render_part(self, text: str, width: int) -> list[Strip]:
        if not text.strip():
            return []
        return self._strips(self._renderer(text), width)

    def _strips(self, renderable: RenderableType, width: int) -> list[Strip]:
        # As a Static draws it: the widget's style under the renderable, no padding.
        visual = visualize(self, renderable, markup=False)
        return Visual.to_strips(self, visual, width, None, self.visual_style)

    def _ensure_lines(self, width: int) -> bool:
        """Render what is stale for ``width`` and rebuild the line list; False if ``width`` is 0."""
        if width <= 0:
            return False
        key = (width, self.visual_style)
        if key != self._lines_key:  # a resize or a style change: everything again
            self._lines_key = key
            self._chunk_lines = [None] * len(self._chunk_starts)
            self._tail_lines = None
            self._closed_end, self._closed_count = 0, 0
            self._frozen = (-1, 0, [])
            self._code_tail.reset()
            self._stale = True
            self._first_changed = 0
        if not self._stale:
            return True
        chunks = self._chunk_lines
        for index, lines in enumerate(chunks):
            if lines is None:
                # A paragraph the tail was writing, now finished, keeps the lines it froze
                # there (before, each paragraph of a reasoning was rendered whole once more).
                chunks[index] = self._render_growing(self._chunk_starts[index], self._part_text(index), width)
        if self._tail_lines is None:
            self._tail_lines = self._render_tail(width)
        # Chunks before the last never change: their lines stay at the top of _lines, joined
        # once, and only the lines after them are replaced. (Building the list anew copied
        # every line of the text on every render: bench_render.py --long.)
        lines = self._lines
        kept = self._closed_end
        old = lines[kept:]
        del lines[kept:]
        while self._closed_count < len(chunks) - 1:
            closed = chunks[self._closed_count]
            assert closed is not None  # every chunk was rendered just above
            lines.extend(self._with_gap(lines, closed))
            self._closed_count += 1
        self._closed_end = len(lines)
        for part in (*chunks[self._closed_count:], self._tail_lines):
            assert part is not None  # rendered just above
            lines.extend(self._with_gap(lines, part))
        # Lines above the first that differs are drawn as before (see _rows_drawn_as_before).
        same = kept
        limit = min(kept + len(old), len(lines))
        while same < limit and lines[same] is old[same - kept]:
            same += 1
        # The tail (and a growing last chunk) is rendered again as new Strips, but most of
        # its lines read as before: keep those objects, so their rows are not re-styled.
        while same < limit and lines[same] == old[same - kept]:
            lines[same] = old[same - kept]
            same += 1
        self._first_changed = min(self._first_changed, same)
        self._stale = False
        return True

    def _render_tail(self, width: int) -> list[Strip]:
        """The tail's lines. A paragraph being written is not rendered whole every time: the
        lines above its last are kept (frozen) once nothing after them can change them, and
        only the rest is rendered, as a paragraph of its own.

        Rich wraps a paragraph greedily, so text added at its end changes its last line and
        the lines after, never the ones above; they can change only through Markdown, and are
        frozen only where none can reach them: plain words (code spans aside) on one source
        line, the rest not starting a block of its own. A second line in the tail (it may make
        the paragraph a heading or a table) renders it whole again. Each freeze is checked
        against what Rich drew; tests/test_live_markdown.py compares every render with a
        one-shot render of the text so far. A reasoning's tail was a whole paragraph, ~300
        characters per render; this makes it one or two lines."""
        text = self._part_text(len(self._chunk_starts))
        if self._code_renderer is not None:
            lines = self._code_tail.render(self._settled, text, lambda whole: self._render_part(whole, width),
                                           lambda code: self._strips(code, width), self._code_renderer)
            if lines is not None:  # a code block being written (code_tail.py)
                return lines
        return self._render_growing(self._settled, text, width, freeze=True)

    def _render_growing(self, start: int, text: str, width: int, *, freeze: bool = False) -> list[Strip]:
        """The lines of ``text`` (starting at ``start`` in the source), with the lines frozen
        for it, if any, kept; ``freeze``: freeze more (the tail)."""
        frozen_start, cut, kept = self._frozen
        body = text.rstrip("\n")
        plain = "\n" not in body and not _BLOCK_START.match(text)
        if frozen_start != start or not plain or cut > len(body):
            cut, kept = 0, []
        lines = self._render_part(text[cut:], width)
        if freeze:
            self._frozen = (start, cut, kept)
            if plain and len(lines) >= 2:
                self._freeze(body[cut:], lines)
        return kept + lines

    def _freeze(self, rest: str, lines: list[Strip]) -> None:
        """Freeze ``lines`` but the last, if they show ``rest``'s words up to where the last
        line starts, and nothing there can be changed by what comes (see _render_tail)."""
        last = lines[-1].text.rstrip()
        shown = rest.replace("`", "")  # how a plain line shows: code spans lose their backticks
        if not last or not shown.endswith(last):
            return
        position = len(shown) - len(last)  # where the last line starts, in ``shown``
        if position == 0 or shown[position - 1] != " ":
            return
        # The same place in ``rest``: past ``position`` characters that are not backticks.
        cut = 0
        while position:
            position -= rest[cut] != "`"
            cut += 1
        part = rest[:cut]
        if (_INLINE.search(part) or part.count("`") % 2 or "``" in part
                or _BLOCK_START.match(rest[cut:])):
            return
        frozen = lines[:-1]
        if " ".join(line.text for line in frozen).split() != part.replace("`", "").split():
            return
        start, done, kept = self._frozen
        self._frozen = (start, done + cut, kept + frozen)

    def _with_gap(self, before: list[Strip], part: list[Strip]) -> list[Strip]:
        if before and part:
            return [Strip.blank(0)] * self.GAP + part
        return part

    def _rows_drawn_as_before(self, old: Size, size: Size) -> int | None:
        """Grown or shrunk, not resized: the lines above the first that changed are the same
        Strip objects as before (re-styling every visible line was one frame's biggest cost
        after compositing)."""
        if self._lines_key is None:
            return None
        first = min(self._first_changed, old.height, size.height)
        self._first_changed = len(self._lines)
        return first

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._ensure_lines(width)
        return self._height_for(len(self._lines))

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def notify_style_update(self) -> None:
        # Colours are in the rendered lines: a new style renders them again (_ensure_lines
        # sees a new key). Any class change up the tree lands here too, e.g. when a turn ends;
        # re-rendering the whole text then cost two 30 ms frames after the last token.
        super().notify_style_update()
        if self._lines_key is not None and self._lines_key[1] != self.visual_style:
            self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._ensure_lines(self.size.width)
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        try:
            line = self._lines[y]
        except IndexError:
            return Strip.blank(self.size.width, self.visual_style.rich_style)
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(y)) is not None:
            line = self._select(line, *span)
        # Where text selection starts and ends. On a copy: Strip.apply_offsets keeps what it
        # makes in the Strip it is called on (4 a line, one per row the line was drawn at, each
        # keeping what the frame made of it): the lines of a long reasoning grew the heap by
        # ~1 MB per 1,000 tokens and slowed every garbage collection (bench_render.py --long).
        return Strip(line, line.cell_length).apply_offsets(0, y)

    def _select(self, line: Strip, start: int, end: int) -> Strip:
        text = line.text
        end = len(text) if end == -1 else end
        cut_start, cut_end = cell_len(text[:start]), cell_len(text[:end])
        before, selected, after = line.divide([cut_start, cut_end, line.cell_length])[:3]
        style = self.screen.get_component_rich_style("screen--selection")
        return Strip.join([before, selected.apply_style(style), after])

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        text = "\n".join(line.text.rstrip() for line in self._lines)
        return selection.extract(text), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

    def _find_settled_boundaries(self) -> list[int]:
        """Ends of the blocks finished since the last call: where the source can be cut."""
        source = self._source
        end = source.rfind("\n") + 1  # complete lines are judged; the line being written below
        boundaries: list[int] = []
        position = self._scan
        while position < end:
            newline = source.index("\n", position)
            line = source[position:newline]
            stripped = line.lstrip(" ")
            indent = len(line) - len(stripped)
            marker = stripped.rstrip()
            if self._fence is not None:
                if closes_fence(line, self._fence):
                    self._fence = None
            elif not marker:
                self._after_blank = True
            else:
                if self._after_blank and indent == 0 and not _LIST_ITEM.match(line) and position != self._early:
                    boundaries.append(position)
                self._after_blank = False
                opening = opening_fence(line)
                if opening is not None:
                    self._fence = opening[0]
            position = newline + 1
        self._scan = max(self._scan, end)
        # The line being written ends the block before it as soon as its first character
        # shows it can be neither indented nor a list item: a letter. Judged only once the
        # line was complete, the previous paragraph stayed in the tail, rendered again with
        # every update, for as long as the next one took to write (most of a reasoning).
        if (self._fence is None and self._after_blank and end > self._early
                and source[end:end + 1].isascii() and source[end:end + 1].isalpha()):
            self._early = end
            boundaries.append(end)
        return boundaries

    def _reset(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._chunk_starts, self._chunk_lines, self._tail_lines = [], [], None
        self._closed_end, self._closed_count, self._lines = 0, 0, []
        self._frozen = (-1, 0, [])
        self._code_tail.reset()
        self._repainted_whole_at = 0
        self._stale = True
        self._first_changed = 0
        self._source = ""
        self._shown = self._settled = self._chunk_start = self._scan = 0
        self._fence = None
        self._after_blank = False
        self._early = -1
