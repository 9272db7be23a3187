"""A backend that replays a script of events: for tests, benchmarks, screenshots and demos.

Like llm's ``MockModel.enqueue()``: queue a list of events per turn; each ``stream()`` call
pops the next script. ``delay_s`` paces deltas so the UI can be watched (or measured) mid-stream.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any

from thinkpane.backends.base import Backend
from thinkpane.backends.events import (
    ContentDelta,
    Conversation,
    ReasoningDelta,
    Stop,
    StreamEvent,
    Usage,
)
from thinkpane.backends.options import Option


class ScriptedBackend(Backend):
    name = "scripted"
    label = "Scripted"
    description = "Replays queued events (tests and demos)."
    options = (
        Option("model", "Model", default="scripted-r1"),
        Option("delay_s", "Delay between events (s)", kind="float", default=0.0, min=0),
    )
    STREAMS_REASONING = True
    IMPLEMENTS_CANCEL = True
    NEEDS_NETWORK = False

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        self.scripts: deque[list[StreamEvent]] = deque()
        self.received: list[Conversation] = []

    def enqueue(self, events: Iterable[StreamEvent]) -> None:
        self.scripts.append(list(events))

    def enqueue_turn(self, reasoning: Iterable[str], content: Iterable[str]) -> None:
        """Queue a normal turn: reasoning chunks, answer chunks, usage, stop."""
        events: list[StreamEvent] = [ReasoningDelta(t) for t in reasoning]
        events += [ContentDelta(t) for t in content]
        events += [Usage(input_tokens=10, output_tokens=len(events)), Stop("end_turn", "stop")]
        self.enqueue(events)

    async def stream(self, conversation: Conversation) -> AsyncGenerator[StreamEvent, None]:
        self.received.append(conversation)
        if self.scripts:
            script = self.scripts.popleft()
        else:
            last = conversation.messages[-1].content if conversation.messages else ""
            script = [
                ReasoningDelta("The user said something; I will echo it."),
                ContentDelta(f"You said: {last}"),
                Usage(input_tokens=len(last.split()), output_tokens=4),
                Stop("end_turn", "stop"),
            ]
        delay = self.settings.get("delay_s")  # None: a subclass with options of its own
        for event in script:
            if delay:
                await asyncio.sleep(delay)
            yield event
