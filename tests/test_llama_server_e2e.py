"""The ``openai`` backend against the REAL llama.cpp server (``python -m llama_cpp.server``).

No stand-in: llama-cpp-python's own OpenAI-compatible server serves the SmolLM2 GGUF on
127.0.0.1, and the backend talks to it over real HTTP + SSE, exactly as a user pointing
Thinkpane at ``http://127.0.0.1:8000/v1`` would.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.servers.llama_server import MODEL_ALIAS, running_llama_server, server_missing_reason
from thinkpane.backends import registry
from thinkpane.backends.base import guarded
from thinkpane.backends.events import (
    ContentDelta,
    Conversation,
    ErrorEvent,
    Message,
    ReasoningDelta,
    Stop,
    Usage,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(server_missing_reason() is not None, reason=str(server_missing_reason())),
]


@pytest.fixture(scope="module")
def llama_base_url():
    with running_llama_server() as base_url:
        yield base_url


def openai_backend(base_url: str, **settings):
    given = {"base_url": base_url, "model": MODEL_ALIAS, "temperature": 0.0, **settings}
    return registry.create("openai", given, environ={})


def ask(text: str) -> Conversation:
    return Conversation([Message("user", text)])


async def collect(backend, conversation: Conversation) -> list:
    try:
        return [event async for event in guarded(backend, conversation)]
    finally:
        await backend.aclose()


async def test_answer_streams_from_llama_cpp_server(llama_base_url):
    backend = openai_backend(llama_base_url, max_tokens=32, think_tags="off")
    events = await collect(backend, ask("Name three colours."))

    errors = [event for event in events if isinstance(event, ErrorEvent)]
    assert errors == [], errors[0].error if errors else None
    deltas = [event for event in events if isinstance(event, ContentDelta)]
    assert len(deltas) >= 2, "the answer should arrive in several streamed pieces"
    assert "".join(delta.text for delta in deltas).strip()
    assert not any(isinstance(event, ReasoningDelta) for event in events)
    stops = [event for event in events if isinstance(event, Stop)]
    assert len(stops) == 1 and events[-1] is stops[0], events
    assert stops[0].reason in ("end_turn", "max_tokens")


async def test_max_tokens_reaches_the_server(llama_base_url):
    backend = openai_backend(llama_base_url, max_tokens=4, think_tags="off")
    events = await collect(backend, ask("Write a long story about a lighthouse keeper."))

    assert not any(isinstance(event, ErrorEvent) for event in events), events
    stop = next(event for event in events if isinstance(event, Stop))
    assert (stop.reason, stop.raw_reason) == ("max_tokens", "length")
    usages = [event for event in events if isinstance(event, Usage)]
    if usages:  # the server may or may not honour stream_options.include_usage
        assert usages[-1].output_tokens == 4


async def test_cancel_hangs_up_and_the_server_keeps_serving(llama_base_url):
    backend = openai_backend(llama_base_url, max_tokens=1500, think_tags="off")
    agen = guarded(backend, ask("Write a very long story about a dragon who learns to cook."))
    seen = 0
    async for event in agen:
        if isinstance(event, ContentDelta):
            seen += 1
            if seen == 3:
                break
    started = time.monotonic()
    await agen.aclose()
    assert time.monotonic() - started < 1.0
    await backend.aclose()

    # The server serves one request at a time. Had it not noticed the hang-up, the next
    # answer would queue behind the remaining ~1,500 tokens (about 15 s on 2 cores).
    started = time.monotonic()
    again = openai_backend(llama_base_url, max_tokens=8, think_tags="off")
    events = await asyncio.wait_for(collect(again, ask("Say hi.")), timeout=60)
    assert any(isinstance(event, Stop) for event in events), events
    assert time.monotonic() - started < 5.0, "the server kept generating for the cancelled request"
