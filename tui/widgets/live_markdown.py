"""Streaming Markdown whose cost per update does not grow with the text already shown.

Textual's ``Markdown`` re-parses and re-lays-out a tree of block widgets as text streams in
(anchors.md: 12-13 s of CPU for a 10 KB answer at 150 tokens/s; a 20 KB reasoning is worse).
Here finished blocks are rendered once with Rich Markdown, the same renderer finished turns
use, into a few "chunk" Statics; only the block still being written (the tail) is rendered
again on each update. A block is finished when a blank line outside a code fence is
followed by an unindented line that does not start a list item (so a fence, a list or a
table is never cut in two). Cuts inside a chunk heal when the chunk is rendered again.

Updates are throttled: the first text is shown at once (time to first token), later text
at most ``MIN_INTERVAL_S`` apart; a timer shows a trailing burst. ``append``/``update`` and
``source`` match ``textual.widgets.Markdown``, so ``Markdown.get_stream(widget)`` drives it;
``source`` is the text handed to the screen so far (a throttled burst joins it when shown).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.markdown import Markdown as RichMarkdown
from rich.measure import Measurement
from rich.segment import Segment
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Static

CHUNK_CLASS = "live-markdown--chunk"
TAIL_CLASS = "live-markdown--tail"
# A list item: Rich draws a loose list tight, so a cut between two items would add a gap.
_LIST_ITEM = re.compile(r"(?:[-*+]|\d{1,9}[.)])(?:\s|$)")


def default_renderer(text: str) -> RenderableType:
    return RichMarkdown(text, code_theme="monokai", hyperlinks=True)


class RenderedOnce:
    """A renderable that renders what it wraps once per width and replays the segments.

    Textual renders a Static's content once to measure its height and again to draw it, and
    again after each layout pass; Rich Markdown (with syntax highlighting) is the costly
    part. The same object can also be shown by another Static of the same width for free,
    which is how a finished answer reuses what the live view already rendered.
    """

    def __init__(self, renderable: RenderableType) -> None:
        # A renderer that already returns one (turn.rendered_markdown) is not wrapped twice.
        self.renderable = renderable.renderable if isinstance(renderable, RenderedOnce) else renderable
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


class LaidOutOnce:
    """A widget whose new size needs no second layout pass.

    Textual sets a resized widget's ``virtual_size`` reactive with ``layout=True`` after
    the layout pass that gave it the size, so every render of a growing chunk, tail or
    live view cost a second full layout of the screen, and so did each container around
    it. The size is already final; Textual's own scroll-only reflow passes ``layout=False``.
    A scroll container stays correct: showing or hiding a scrollbar is a layout reactive.
    """

    def _size_updated(self, size, virtual_size, container_size, layout: bool = True) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)  # type: ignore[misc]


class _Part(LaidOutOnce, Static):
    """A chunk or the tail of a LiveMarkdown."""


class LiveMarkdown(LaidOutOnce, Vertical):
    DEFAULT_CSS = f"""
    LiveMarkdown {{ height: auto; }}
    LiveMarkdown > .{CHUNK_CLASS} {{ height: auto; margin-bottom: 1; }}
    LiveMarkdown > .{TAIL_CLASS} {{ height: auto; }}
    """
    # A block joining a chunk re-renders that chunk, so chunks stay small; a new one starts
    # past this size. Few chunks keep the layout cheap, small ones keep each render cheap.
    CHUNK_CHARS = 2_500
    # Every render costs Textual about two full layout passes of the screen (the resized
    # Static is laid out again), 3-6 ms each on a 2-core machine. 10 renders a second read
    # as fluid typing and keep CPU within a few times a non-rendering consumer's.
    MIN_INTERVAL_S = 1 / 10

    def __init__(
        self,
        markdown: str = "",
        *,
        renderer: Callable[[str], RenderableType] = default_renderer,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._renderer = renderer
        self._source = markdown  # everything appended
        self._shown = 0  # source[:_shown] has been handed to the Statics
        self._settled = 0  # source[:_settled] is shown by the chunks
        self._chunk_start = 0  # source[_chunk_start:_settled] is the last chunk
        self._chunks: list[Static] = []
        self._chunk_starts: list[int] = []  # where each chunk's text starts in the source
        self._chunk_content: list[RenderedOnce] = []
        self._tail_content: RenderedOnce | None = None
        self._tail = _Part("", classes=TAIL_CLASS)
        self._scan = 0  # the block scanner has read complete lines up to here
        self._fence: str | None = None  # the open code fence ("```", "~~~~"...), if any
        self._after_blank = False
        self._last_render = 0.0
        self._timer: Timer | None = None
        self._ready = False  # mounted, with the tail composed: renders can happen
        # Called after each render, e.g. to update counters in step with the text shown.
        self.on_render: Callable[[], None] | None = None

    @property
    def source(self) -> str:
        return self._source[: self._shown]

    def compose(self):
        yield self._tail

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
            await self._reset()
        self._source = markdown
        self.render_now()

    # ------------------------------------------------------------------ rendering

    def _schedule(self) -> None:
        if self._timer is not None:
            return  # a render is already due
        wait = self._last_render + self.MIN_INTERVAL_S - time.monotonic()
        if wait <= 0 or not self._ready:
            self.render_now()
        else:
            self._timer = self.set_timer(wait, self.render_now)

    def render_now(self) -> None:
        """Show everything appended so far (the stream's end calls this via ``update``)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        first_text = self._shown == 0 and bool(self._source)
        self._last_render = time.monotonic()
        if not self._ready:
            return
        boundaries = self._find_settled_boundaries()
        if boundaries:
            self._settle(boundaries)
        self._shown = len(self._source)
        tail = self._source[self._settled:]
        self._tail_content = RenderedOnce(self._renderer(tail)) if tail.strip() else None
        self._tail.update(self._tail_content or "")
        self._tail.display = self._tail_content is not None
        if self.on_render is not None:
            self.on_render()
        if first_text:
            self._paint_soon()

    def _paint_soon(self) -> None:
        """Put the first text on screen in the next frame, not one or two frames later.

        A refresh normally reaches the screen when the widget next goes idle, and the screen
        paints on a 60 Hz grid; the first token then waited 20-40 ms, often missing a frame
        already triggered by the status line. Here the refresh is handed to the screen now
        and the screen paints as soon as it has taken it (Textual internals, hence guarded).
        """
        check_refresh = getattr(self._tail, "_check_refresh", None)
        paint = getattr(self.screen, "_on_timer_update", None)
        if check_refresh is None or paint is None:
            return
        for widget in (*self._chunks[-1:], self._tail):
            widget._check_refresh()
        self.screen.call_later(paint)

    def _settle(self, boundaries: list[int]) -> None:
        """Move finished blocks into chunks; a chunk is closed once it holds CHUNK_CHARS."""
        first_changed = max(0, len(self._chunks) - 1)
        for boundary in boundaries:
            if not self._chunks or (boundary - self._chunk_start > self.CHUNK_CHARS
                                    and self._settled > self._chunk_start):
                self._chunk_start = self._settled
                chunk = _Part("", classes=CHUNK_CLASS)
                self._chunks.append(chunk)
                self._chunk_starts.append(self._settled)
                self._chunk_content.append(RenderedOnce(""))
                self.mount(chunk, before=self._tail)
            self._settled = boundary
        for index in range(first_changed, len(self._chunks)):
            start = self._chunk_starts[index]
            end = self._chunk_starts[index + 1] if index + 1 < len(self._chunks) else self._settled
            content = RenderedOnce(self._renderer(self._source[start:end].rstrip("\n")))
            self._chunk_content[index] = content
            self._chunks[index].update(content)

    def _find_settled_boundaries(self) -> list[int]:
        """Ends of the blocks finished since the last call: where the source can be cut."""
        source = self._source
        end = source.rfind("\n") + 1  # only complete lines are judged
        boundaries: list[int] = []
        position = self._scan
        while position < end:
            newline = source.index("\n", position)
            line = source[position:newline]
            stripped = line.lstrip(" ")
            indent = len(line) - len(stripped)
            marker = stripped.rstrip()
            if self._fence is not None:
                if indent < 4 and marker and set(marker) == {self._fence[0]} and len(marker) >= len(self._fence):
                    self._fence = None
            elif not marker:
                self._after_blank = True
            else:
                if self._after_blank and indent == 0 and not _LIST_ITEM.match(line):
                    boundaries.append(position)
                self._after_blank = False
                if indent < 4 and stripped[:3] in ("```", "~~~"):
                    fence_char = stripped[0]
                    self._fence = stripped[: len(stripped) - len(stripped.lstrip(fence_char))]
            position = newline + 1
        self._scan = max(self._scan, end)
        return boundaries

    async def _reset(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        chunks, self._chunks = self._chunks, []
        self._chunk_starts, self._chunk_content, self._tail_content = [], [], None
        if chunks:
            await self.remove_children(chunks)
        self._source = ""
        self._shown = self._settled = self._chunk_start = self._scan = 0
        self._fence = None
        self._after_blank = False
