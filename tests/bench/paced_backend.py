"""A backend that yields a script at a fixed token rate and remembers when it yielded each token.

Pacing follows an absolute schedule (token ``i`` is due at ``start + i / rate``): when the UI
falls behind, due tokens come out back to back, as bytes pile up in a socket buffer; they
are never dropped or slowed down. ``rate=None`` is unthrottled: each token still awaits
``sleep(0)`` once, like a socket read that finds data already there.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence

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


class PacedBackend(Backend):
    name = "bench"
    label = "Bench"
    description = "Replays a token script at a fixed rate (benchmarks)."
    options = (Option("model", "Model", default="bench-r1"),)
    NEEDS_NETWORK = False

    def __init__(self, rate: float | None, *, first_token_delay: float = 0.0) -> None:
        super().__init__({"model": "bench-r1"})
        self.rate = rate
        # A server's time to first token: the request is sent, the first delta comes later.
        self.first_token_delay = first_token_delay
        self.scripts: deque[tuple[Sequence[str], Sequence[str]]] = deque()
        # Filled while a stream runs: perf_counter() right before each delta is yielded.
        self.yield_times: list[float] = []
        self.finished_at: float | None = None

    def enqueue(self, reasoning: Sequence[str], answer: Sequence[str]) -> None:
        self.scripts.append((reasoning, answer))

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        reasoning, answer = self.scripts.popleft()
        self.yield_times = []
        self.finished_at = None
        events: list[StreamEvent] = [ReasoningDelta(t) for t in reasoning]
        events += [ContentDelta(t) for t in answer]
        rate = self.rate
        if self.first_token_delay:
            await asyncio.sleep(self.first_token_delay)
        start = time.perf_counter()
        for index, event in enumerate(events):
            if rate:
                delay = start + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            self.yield_times.append(time.perf_counter())
            yield event
        self.finished_at = time.perf_counter()
        yield Usage(input_tokens=12, output_tokens=len(events))
        yield Stop("end_turn", "stop")
