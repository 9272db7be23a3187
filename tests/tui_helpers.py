"""Shared pieces for the TUI tests: a backend the test drives event by event, and waiters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from textual.geometry import Region
from textual.widget import Widget

from thinkpane.backends.base import Backend
from thinkpane.backends.events import Conversation, StreamEvent
from thinkpane.backends.options import Option


class GatedBackend(Backend):
    """Yields exactly the events the test puts, when it puts them; ``end()`` finishes.

    Also buildable by the registry (``registry.BUILTIN["gated"] = "tests.tui_helpers:GatedBackend"``),
    for screens that build their own backends (the compare screen's columns)."""

    name = "gated"
    label = "Gated"
    options = (Option("model", "Model", default="gated-r1"),)
    NEEDS_NETWORK = False

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        # "model" given as well as declared: a subclass that declares other options keeps it.
        super().__init__({"model": "gated-r1", **(settings or {})})
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


def palette_options(app) -> list[str]:
    """The command palette's hits, top first ([] when it is not open)."""
    command_list = app.screen.query("CommandList")
    if not command_list:
        return []
    options = command_list.first()
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def run_palette_command(pilot, query: str, expected: str) -> None:
    """Ctrl+P, type ``query``, wait until the top hit shows ``expected``, run it."""
    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: bool(pilot.app.screen.query("CommandInput")), "command palette")
    await pilot.press(*query)
    await wait_until(pilot, lambda: palette_options(pilot.app)[:1] and expected in palette_options(pilot.app)[0],
                     f"palette hit {expected!r}")
    await pilot.press("enter")
