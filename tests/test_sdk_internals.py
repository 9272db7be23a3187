"""The SDKs' private names (botocore's EventStream in backends/bedrock/stream_internals.py,
llama-cpp-python's redirect in backends/local/llama_internals.py): each has a public
fallback, and it works when the private name is not there.

The private paths themselves are covered where they matter: tests/test_bedrock_backend.py
(an in-stream error's full payload, a hang-up within 100 ms) and tests/test_local_backend.py
(fd 2 stays in place while a model loads).
"""

from __future__ import annotations

import sys
import threading
import types

import pytest

from tests import test_bedrock_backend as bedrock
from tests.test_bedrock_backend import ANSWER, HELLO, REASONING, collect, make_backend, only_error, text_of
from thinkpane.backends.bedrock import BedrockBackend
from thinkpane.backends.bedrock.stream_internals import stream_socket
from thinkpane.backends.errors import ServerError
from thinkpane.backends.events import ContentDelta, ReasoningDelta, Stop
from thinkpane.backends.local import llama_internals

# The Bedrock tests' fixtures: dummy AWS settings for every test here, and the stand-in.
aws_env = bedrock.aws_env
server = bedrock.server


class PublicOnly:
    """A botocore EventStream seen through its public API only: what a botocore without
    the private names the backend reaches for would offer."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.closed_from: list[threading.Thread] = []

    def __iter__(self):
        return iter(self.stream)

    def close(self) -> None:
        self.closed_from.append(threading.current_thread())
        self.stream.close()


@pytest.fixture
def public_only(monkeypatch) -> list[PublicOnly]:
    """Every EventStream the backend starts is wrapped in ``PublicOnly``."""
    made: list[PublicOnly] = []
    start_call = BedrockBackend._start_call

    def wrapped(self, request):
        made.append(PublicOnly(start_call(self, request)))
        return made[-1]

    monkeypatch.setattr(BedrockBackend, "_start_call", wrapped)
    return made


async def test_without_botocores_private_names_a_stream_arrives_whole(server, public_only):
    events = await collect(make_backend(server))
    assert stream_socket(public_only[0]) is None  # the fallbacks are what ran
    assert text_of(events, ReasoningDelta) == "".join(REASONING)
    assert text_of(events, ContentDelta) == "".join(ANSWER)
    assert isinstance(events[-1], Stop)


async def test_without_them_an_in_stream_error_is_still_mapped_after_the_partial_text(server, public_only):
    server.enqueue("stream_model_error")
    events = await collect(make_backend(server))
    error = only_error(events)
    assert type(error) is ServerError and "model failed" in error.title
    assert text_of(events, ContentDelta) == "Partial answer"


async def test_without_them_stopping_a_stream_ends_it_without_blocking_the_loop(server, public_only):
    server.enqueue("stall")  # partial tokens, then the server sends nothing for stall_s
    server.stall_s = 20
    stream = make_backend(server).stream(HELLO)
    received: list = []
    async for event in stream:
        received.append(event)
        if text_of(received, ContentDelta) == "Partial answer":
            break
    await stream.aclose()
    # No socket to shut down: close() ran in a helper thread, never on the event loop (where
    # it could wait the whole 20 s for the stalled read); the wait for the worker is bounded.
    closed_from = public_only[0].closed_from
    assert closed_from and threading.main_thread() not in closed_from


def _fake_module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def test_llama_cpps_redirect_is_replaced_where_it_exists(monkeypatch):
    class Redirect:
        pass

    llama = _fake_module("llama_cpp.llama", suppress_stdout_stderr=Redirect)
    monkeypatch.setitem(sys.modules, "llama_cpp.llama", llama)
    monkeypatch.setitem(sys.modules, "llama_cpp._internals", None)  # gone: the import fails
    assert llama_internals.keep_std_streams_in_place() == ["llama_cpp.llama"]
    assert llama.suppress_stdout_stderr is llama_internals.LeaveStdStreamsAlone
    with llama.suppress_stdout_stderr(disable=False):  # as llama-cpp-python calls it
        pass


def test_without_llama_cpps_redirect_nothing_is_replaced_and_nothing_fails(monkeypatch):
    llama = _fake_module("llama_cpp.llama")
    internals = _fake_module("llama_cpp._internals", renamed_redirect=object)
    monkeypatch.setitem(sys.modules, "llama_cpp.llama", llama)
    monkeypatch.setitem(sys.modules, "llama_cpp._internals", internals)
    assert llama_internals.keep_std_streams_in_place() == []
    assert not hasattr(llama, "suppress_stdout_stderr")
    assert internals.renamed_redirect is object
