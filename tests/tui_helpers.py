"""Shared pieces for the TUI tests: a backend the test drives event by event, and waiters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from textual.geometry import Region
from textual.widget import Widget

from thinkpane.backends.base import Backend
from thinkpane.backends.events import Conversation, StreamEvent


class GatedBackend(Backend):
    """Yields exactly the events the test puts, when it puts them; ``end()`` finishes."""

    name = "gated"
    label = "Gated"
    NEEDS_NETWORK = False

    def __init__(self) -> None:
        super().__init__({"model": "gated-r1"})
        self.queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
        self.received: list[Conversation] = []
        self.closed_streams = 0

    def put(self, *events: StreamEvent) -> None:
        for event in events:
            self.queue.put_nowait(event)

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        self.received.append(conversation)
        try:
            while (event := await self.queue.get()) is not None:
                yield event
        finally:
            self.closed_streams += 1


async def wait_until(pilot, condition: Callable[[], bool], what: str = "condition", timeout: float = 5.0) -> None:
    """Let the app process messages until ``condition()`` holds (fails after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


def rendered_text(widget: Widget) -> str:
    """The text a widget draws, as the user sees it.

    A container (e.g. an answer turn) is its shown children top to bottom, each followed by
    its bottom margin's blank lines.
    """
    if widget.children:
        lines: list[str] = []
        for child in widget.children:
            if child.display:
                lines.extend(rendered_text(child).split("\n"))
                lines.extend([""] * child.styles.margin.bottom)
        return "\n".join(lines)
    width, height = widget.outer_size  # padding and border included, as drawn
    lines = widget.render_lines(Region(0, 0, width, height))
    return "\n".join(line.text.rstrip() for line in lines)


class SetClock:
    """A clock the test sets by hand (``clock.now = 1012.3``): the app reads it for every
    timing it shows, so thinking times and silences are exact without waiting for them."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_app(store, backend=None, **kwargs):
    """A ThinkpaneApp on ``store`` with ``backend`` (default settings unless ``settings=``)."""
    from thinkpane.tui.app import ThinkpaneApp
    from thinkpane.tui.core.config import Settings

    settings = kwargs.pop("settings", None) or Settings()
    return ThinkpaneApp(settings, store, backend=backend, **kwargs)


async def send(pilot, text: str) -> None:
    """Type ``text`` into the prompt and press Enter."""
    await pilot.press(*text)
    await pilot.press("enter")


def fixed_clock(start: float = 1000.0, step: float = 0.0) -> Callable[[], float]:
    """A clock for deterministic timings: advances by ``step`` on every read."""
    now = [start]

    def clock() -> float:
        value = now[0]
        now[0] += step
        return value

    return clock
