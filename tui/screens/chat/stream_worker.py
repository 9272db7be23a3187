"""Consume one backend stream: record every event, post what happened to the chat screen.

Each event goes to the turn's TurnRecorder (thinkpane.tui.core.turn_recorder) as it arrives:
the text, timings, usage, backend data and the store live there, shared with ``thinkpane
ask``. What the screen needs to show is posted, the text coalesced.

Posting one message per token starves keyboard input when a fast backend floods the UI
(anchors.md: deepagents). We post the first text at once (time to first painted token),
then at most once per ``interval`` seconds; a timer flushes a trailing burst so text never
waits for the next token to show up. The panes paint at most 8 times a second, so 20
messages a second lose nothing on screen; 60 were a tenth of a stream's CPU
(tests/bench/bench_render.py).

This is where backend text enters the chat screen, so it is sanitised here, once, before
the recorder sees it (thinkpane.tui.core.sanitize.EventSanitizer): the panes, the store and
exports all get the same text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.message import Message

from thinkpane.backends.base import Backend, guarded
from thinkpane.backends.events import (
    ContentDelta,
    Conversation,
    ErrorEvent,
    Notice,
    ReasoningDelta,
)
from thinkpane.tui.core.sanitize import EventSanitizer
from thinkpane.tui.core.turn_recorder import TurnRecorder
from thinkpane.tui.screens.chat.messages import (
    NoticeReceived,
    StreamCancelled,
    StreamFailed,
    StreamFinished,
    TextReceived,
)

DEFAULT_INTERVAL_S = 1 / 20


class _Coalescer:
    """Collects reasoning/answer deltas and posts them as few ``TextReceived`` as possible."""

    def __init__(self, turn: int, post: Callable[[Message], object], interval: float) -> None:
        self.turn = turn
        self.post = post
        self.interval = interval
        self.reasoning: list[str] = []
        self.content: list[str] = []
        self.last_post = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def add(self, reasoning: str = "", content: str = "") -> bool:
        """Buffer text; returns True when it was posted right away."""
        if reasoning:
            self.reasoning.append(reasoning)
        if content:
            self.content.append(content)
        now = time.monotonic()
        if now - self.last_post >= self.interval:
            self.flush()
            return True
        if self.timer is None:
            delay = self.interval - (now - self.last_post)
            self.timer = asyncio.get_running_loop().call_later(delay, self.flush)
        return False

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not (self.reasoning or self.content):
            return
        self.post(TextReceived(self.turn, "".join(self.reasoning), "".join(self.content)))
        self.reasoning.clear()
        self.content.clear()
        self.last_post = time.monotonic()


async def pump_stream(
    backend: Backend,
    conversation: Conversation,
    turn: int,
    post: Callable[[Message], object],
    *,
    recorder: TurnRecorder | None = None,
    interval: float = DEFAULT_INTERVAL_S,
) -> None:
    """Run one turn; always ends by posting exactly one of Finished / Failed / Cancelled.

    ``recorder`` keeps the turn (the screen passes the one of its live turn, which ends it);
    the posted text is what the recorder kept."""
    if recorder is None:
        recorder = TurnRecorder(label=backend.label)
    text = _Coalescer(turn, post, interval)
    clean = EventSanitizer()
    try:
        async for raw in guarded(backend, conversation):
            event = clean(raw)
            kept = recorder.feed(event)
            if isinstance(event, ReasoningDelta):
                if text.add(reasoning=kept):
                    await asyncio.sleep(0)  # let the UI paint before the next burst
            elif isinstance(event, ContentDelta):
                if text.add(content=kept):
                    await asyncio.sleep(0)
            elif isinstance(event, Notice):
                post(NoticeReceived(turn, event.text, event.level))
            elif isinstance(event, ErrorEvent):
                text.flush()
                post(StreamFailed(turn, event.error))
                return
    except asyncio.CancelledError:
        text.flush()
        post(StreamCancelled(turn))
        raise
    text.flush()
    missing_stop = recorder.end_of_stream()
    if missing_stop is not None:
        post(StreamFailed(turn, missing_stop.error))
        return
    post(StreamFinished(turn, recorder.stop))
