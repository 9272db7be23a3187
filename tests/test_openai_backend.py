"""The OpenAI-compatible backend through real httpx over real HTTP against the stand-in server."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.hypothesis_or_skip import given, settings, st
from tests.servers.openai_sse import (
    DONE,
    REASONER_REASONING,
    Chunk,
    Close,
    HoldOpen,
    Raw,
    Respond,
    Sleep,
    chunk,
    deepseek_usage,
    error_body,
    serve,
)
from tests.servers.tls import make_self_signed_cert
from thinkpane.backends import registry
from thinkpane.backends.base import guarded
from thinkpane.backends.errors import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    ConnectionFailedError,
    IncompleteStreamError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TimeoutError_,
)
from thinkpane.backends.events import (
    ContentDelta,
    Conversation,
    ErrorEvent,
    Message,
    Notice,
    ReasoningDelta,
    Stop,
    Usage,
    event_to_json,
)
from thinkpane.backends.openai_compat import OpenAIBackend, is_loopback_url
from thinkpane.backends.sse import SSEEvent, SSELineTooLong, SSEParser

KEY = "sk-thinkpane-test-0123456789abcdef"
HELLO = Conversation([Message("user", "hello")])


@pytest.fixture
def server():
    with serve() as running:
        yield running


def make(base_url: str, **given) -> OpenAIBackend:
    backend = registry.create("openai", {"base_url": base_url, "api_key": KEY, **given}, environ={})
    assert isinstance(backend, OpenAIBackend)
    return backend


async def collect(backend: OpenAIBackend, conversation: Conversation = HELLO) -> list:
    try:
        return [event async for event in backend.stream(conversation)]
    finally:
        await backend.aclose()


def text_of(events: list, kind: type) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def the_error(events: list) -> BackendError:
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1, events
    assert events[-1] is errors[0], "the error is the last event"
    assert not any(isinstance(e, Stop) for e in events), "no Stop after a failure"
    return errors[0].error


def assert_no_key(error: BackendError) -> None:
    dumped = json.dumps(error.to_dict()) + str(error)
    assert KEY not in dumped
    assert "sk-thinkpane" not in dumped


# --------------------------------------------------------------------------- happy paths


async def test_reasoning_then_content_then_usage_then_one_stop(server) -> None:
    events = await collect(make(server.base_url))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ReasoningDelta"] * len(REASONER_REASONING) + ["ContentDelta"] * 2 + ["Usage", "Stop"]
    assert text_of(events, ReasoningDelta) == "".join(REASONER_REASONING)
    assert text_of(events, ContentDelta) == "You said: hello"
    assert events[-2] == Usage(input_tokens=12, output_tokens=40, reasoning_tokens=25, cached_input_tokens=0)
    assert events[-1] == Stop("end_turn", "stop")


async def test_request_carries_key_model_stream_options_and_no_reasoning(server) -> None:
    conversation = Conversation(
        [
            Message("user", "What is 2+2?"),
            Message("assistant", "4", reasoning="SECRET-CHAIN-OF-THOUGHT adding numbers"),
            Message("user", "And 3+3?"),
        ],
        system="Be brief.",
    )
    await collect(make(server.base_url, temperature="0.2", max_tokens="64"), conversation)
    (request,) = server.chat_requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert "text/event-stream" in request.headers["accept"]
    body = request.body
    assert body["model"] == "deepseek-v4-flash"  # the default
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.2 and body["max_tokens"] == 64
    assert "top_p" not in body  # unset options are left to the server
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ]
    assert "SECRET-CHAIN-OF-THOUGHT" not in json.dumps(body)
    assert "reasoning_content" not in json.dumps(body)


async def test_vllm_delta_reasoning_field() -> None:
    with serve("vllm") as server:
        events = await collect(make(server.base_url))
    assert text_of(events, ReasoningDelta) == "Thinking hard."
    assert text_of(events, ContentDelta) == "Answer."
    # finish_reason came before the usage-only chunk: Stop still comes last, after Usage.
    assert events[-2:] == [Usage(input_tokens=5, output_tokens=7), Stop("end_turn", "stop")]


async def test_think_tags_in_content_cut_across_chunks_go_to_reasoning() -> None:
    with serve("think_tags") as server:
        events = await collect(make(server.base_url))
    assert text_of(events, ReasoningDelta) == "Let me think about it.\n"
    assert text_of(events, ContentDelta) == "Hello there!"
    first_content = next(i for i, e in enumerate(events) if isinstance(e, ContentDelta))
    assert all(not isinstance(e, ReasoningDelta) for e in events[first_content:])


async def test_think_tags_left_alone_when_server_sends_native_reasoning(server) -> None:
    server.enqueue([
        chunk(reasoning="native"),
        chunk(content="<think>literal</think> text", finish="stop"),
        DONE,
    ])
    events = await collect(make(server.base_url))
    assert text_of(events, ReasoningDelta) == "native"
    assert text_of(events, ContentDelta) == "<think>literal</think> text"


async def test_think_tags_open_mode_for_templates_that_open_the_block(server) -> None:
    server.enqueue([chunk(content="x" * 300), chunk(content="</think>\n\nDone.", finish="stop"), DONE])
    events = await collect(make(server.base_url, think_tags="open"))
    assert text_of(events, ReasoningDelta) == "x" * 300
    assert text_of(events, ContentDelta) == "Done."


async def test_finish_reason_length_maps_to_max_tokens(server) -> None:
    server.enqueue([chunk(content="cut"), chunk(content="", finish="length", usage=deepseek_usage()), DONE])
    events = await collect(make(server.base_url))
    assert events[-1] == Stop("max_tokens", "length")
    assert events[-1].explanation and "max_tokens" in events[-1].explanation


async def test_unknown_finish_reason_is_other_and_keeps_raw(server) -> None:
    server.enqueue([chunk(content="hm", finish="insufficient_system_resource"), DONE])
    events = await collect(make(server.base_url))
    assert events[-1] == Stop("other", "insufficient_system_resource")


async def test_finish_reason_then_eof_without_done_still_stops(server) -> None:
    server.enqueue([chunk(content="ok", finish="stop"), chunk(choices=False, usage=deepseek_usage(3, 4))])
    events = await collect(make(server.base_url))
    assert [type(e) for e in events] == [ContentDelta, Usage, Stop]
    assert events[1] == Usage(3, 4, reasoning_tokens=25, cached_input_tokens=0)


async def test_sse_framing_crlf_comments_event_lines_and_no_space(server) -> None:
    c1 = json.dumps(chunk(reasoning="r1").data)
    c2 = json.dumps(chunk(content="c1").data)
    c3 = json.dumps(chunk(content="c2", finish="stop").data)
    server.enqueue([
        Raw(": keep-alive\r\n\r\n"),
        Raw(f"event: message\r\ndata: {c1}\r\n\r\n"),
        Raw(f"data:{c2}\r"),  # a lone CR ends a line too; the rest comes in the next chunk
        Raw("\r\nid: 7\r\nretry: 1000\r\n\r\n"),
        Raw(f"data: {c3}\n\n: done soon\n\n"),
        Raw("data: [DONE]\n\n"),
    ])
    events = await collect(make(server.base_url))
    assert [(type(e).__name__, getattr(e, "text", None)) for e in events] == [
        ("Heartbeat", None),  # the keep-alive comment alone in its chunk: the server is alive
        ("ReasoningDelta", "r1"), ("ContentDelta", "c1"), ("ContentDelta", "c2"), ("Stop", None)
    ]


async def test_utf8_character_cut_between_network_chunks(server) -> None:
    data = ("data: " + json.dumps(chunk(content="思考", finish="stop").data, ensure_ascii=False) + "\n\n").encode()
    cut = data.index("思".encode()) + 1
    server.enqueue([Raw(data[:cut]), Sleep(0.05), Raw(data[cut:]), DONE])
    events = await collect(make(server.base_url))
    assert text_of(events, ContentDelta) == "思考"


async def test_server_that_ignores_stream_true_and_answers_json(server) -> None:
    server.enqueue([Respond(200, {
        "id": "x", "object": "chat.completion", "model": "deepseek-reasoner",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Fine.", "reasoning_content": "Easy."}}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 3},
    })])
    events = await collect(make(server.base_url))
    assert events == [ReasoningDelta("Easy."), ContentDelta("Fine."), Usage(2, 3), Stop("end_turn", "stop")]


async def test_local_server_needs_no_key(server) -> None:
    backend = registry.create("openai", {"base_url": server.base_url}, environ={})
    events = await collect(backend)
    assert isinstance(events[-1], Stop)
    assert "authorization" not in server.chat_requests[0].headers


async def test_key_and_base_url_come_from_the_environment(server) -> None:
    backend = registry.create(
        "openai", {}, environ={"OPENAI_BASE_URL": server.base_url, "DEEPSEEK_API_KEY": KEY}
    )
    events = await collect(backend)
    assert isinstance(events[-1], Stop)
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_full_endpoint_pasted_as_base_url_is_accepted(server) -> None:
    events = await collect(make(server.base_url + "/chat/completions"))
    assert isinstance(events[-1], Stop)
    assert server.chat_requests[0].path == "/v1/chat/completions"


# --------------------------------------------------------------------------- stream_options retry


async def test_retries_once_without_stream_options_and_remembers(server) -> None:
    server.enqueue([Respond(400, error_body("Unrecognized request argument supplied: stream_options"))])
    backend = make(server.base_url)
    try:
        first = [e async for e in backend.stream(HELLO)]
        second = [e async for e in backend.stream(HELLO)]
    finally:
        await backend.aclose()
    assert any(isinstance(e, Notice) and "stream_options" in e.text for e in first)
    assert isinstance(first[-1], Stop) and isinstance(second[-1], Stop)
    assert text_of(first, ContentDelta) == "You said: hello"
    bodies = [r.body for r in server.chat_requests]
    assert len(bodies) == 3
    assert "stream_options" in bodies[0]
    assert "stream_options" not in bodies[1]
    assert "stream_options" not in bodies[2]  # later turns don't ask again


async def test_other_400s_are_not_retried(server) -> None:
    server.enqueue([Respond(400, error_body("temperature must be at most 2"))])
    events = await collect(make(server.base_url))
    error = the_error(events)
    assert isinstance(error, InvalidRequestError)
    assert "temperature must be at most 2" in error.detail
    assert len(server.chat_requests) == 1


@pytest.mark.parametrize(
    "body", ["plain text error from proxy", error_body("x" * 3000 + " the end")])
async def test_the_whole_provider_message_is_the_detail_and_the_hint_does_not_point_below(server, body) -> None:
    server.enqueue([Respond(400, body)])
    error = the_error(await collect(make(server.base_url)))
    assert isinstance(error, InvalidRequestError)
    expected = body if isinstance(body, str) else body["error"]["message"]
    assert error.detail == expected  # whole: front ends cap what they show
    assert "below" not in error.hint


async def test_a_conversation_too_long_for_the_context_is_a_context_window_error(server) -> None:
    from thinkpane.backends.errors import ContextWindowError

    server.enqueue([Respond(400, error_body(
        "This model's maximum context length is 65536 tokens. However, you requested 70123 tokens."))])
    error = the_error(await collect(make(server.base_url)))
    assert isinstance(error, ContextWindowError), error  # the chat screen offers to leave old turns out
    assert "context" in error.title and error.status == 400


# --------------------------------------------------------------------------- configuration errors


def test_no_key_for_a_remote_url_names_every_way_to_set_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry.create("openai", {}, environ={})  # default base URL: api.deepseek.com
    text = str(caught.value)
    for needle in ("DEEPSEEK_API_KEY", "OPENAI_API_KEY", "--api-key", "thinkpane setup openai"):
        assert needle in text


@pytest.mark.parametrize(
    "url", ["ftp://example.com/v1", "not a url", "http://", "example.com/v1", "http://127.0.0.1:99999/v1"])
def test_invalid_base_url(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registry.create("openai", {"base_url": url, "api_key": KEY}, environ={})
    assert "base URL" in caught.value.title
    assert "/v1" in caught.value.hint


def test_port_out_of_range_is_named_before_any_connection() -> None:
    for url in ("http://127.0.0.1:99999/v1", "http://127.0.0.1:0/v1"):
        with pytest.raises(ConfigurationError) as caught:
            registry.create("openai", {"base_url": url}, environ={})
        assert caught.value.title == f"Invalid base URL {url!r}"
        assert caught.value.hint.startswith("Expected a port from 1 to 65535 in the URL")


async def test_a_real_out_of_range_connect_failure_is_a_plain_configuration_error() -> None:
    """What httpx raises for port 99999 (anyio's TaskGroup wraps an OverflowError in an
    ExceptionGroup): mapped to the URL problem, not passed on as a bug."""
    from thinkpane.backends.http_errors import HttpContext, error_from_exception, is_transport_failure

    async with httpx.AsyncClient() as client:
        with pytest.raises(BaseException) as caught:
            await client.get("http://127.0.0.1:99999/v1/models")
    assert caught.value.exceptions  # an exception group: what used to escape as "a bug"
    assert is_transport_failure(caught.value)
    error = error_from_exception(caught.value, HttpContext("The server", "http://127.0.0.1:99999/v1"))
    assert isinstance(error, ConfigurationError)
    assert error.title == "The server: invalid URL http://127.0.0.1:99999/v1"
    assert "65535" in error.hint and "port" in error.detail


async def test_missing_ca_bundle_file_is_a_configuration_error(tmp_path) -> None:
    backend = make("https://127.0.0.1:9/v1", ca_bundle=str(tmp_path / "nope.pem"))
    error = the_error(await collect(backend))
    assert isinstance(error, ConfigurationError)
    assert "--ca-bundle" in error.hint


# --------------------------------------------------------------------------- transport errors


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused() -> None:
    port = _free_port()
    error = the_error(await collect(make(f"http://127.0.0.1:{port}/v1")))
    assert isinstance(error, ConnectionFailedError)
    assert error.title == f"Could not connect to http://127.0.0.1:{port}/v1"
    assert "server running" in error.hint


@pytest.fixture
def tls_server(tmp_path):
    import ssl

    cert, key = make_self_signed_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with serve(tls=context) as running:
        running.cert_path = cert  # type: ignore[attr-defined]
        yield running


async def test_tls_verification_failure_explains_ca_bundle_and_opt_out(tls_server) -> None:
    error = the_error(await collect(make(tls_server.base_url)))
    assert isinstance(error, ConnectionFailedError)
    assert "certificate" in error.title.lower()
    assert "--ca-bundle" in error.hint and "--no-verify-tls" in error.hint


async def test_https_to_a_plain_http_server_says_it_does_not_speak_tls(server) -> None:
    url = server.base_url.replace("http://", "https://")
    error = the_error(await collect(make(url)))
    assert isinstance(error, ConnectionFailedError)
    assert error.title == f"{url.removesuffix('/v1')} does not speak TLS"
    assert "http://" in error.hint and "server running" not in error.hint


async def test_tls_with_ca_bundle_works(tls_server) -> None:
    events = await collect(make(tls_server.base_url, ca_bundle=str(tls_server.cert_path)))
    assert isinstance(events[-1], Stop), events


async def test_tls_verification_can_be_turned_off_explicitly(tls_server) -> None:
    events = await collect(make(tls_server.base_url, verify_tls="false"))
    assert isinstance(events[-1], Stop), events


# --------------------------------------------------------------------------- HTTP status errors


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_class", "needles"),
    [
        (401, error_body(f"Authentication Fails, Your api key: {KEY} is invalid", "authentication_error"), {},
         AuthenticationError, ["API key", "DEEPSEEK_API_KEY", "thinkpane setup openai"]),
        (403, error_body(f"key {KEY} may not use this model"), {}, AuthenticationError, ["API key"]),
        (402, error_body("Insufficient Balance", "unknown_error"), {}, PermissionDeniedError, ["balance", "Top"]),
        (404, "<html><body>404 Not Found</body></html>", {"Content-Type": "text/html"},
         ConfigurationError, ["/v1", "base URL"]),
        (404, error_body("The model `deepseek-reasoner` does not exist", code="model_not_found"), {},
         ModelNotFoundError, ["--model"]),
        (400, error_body("Model Not Exist"), {}, ModelNotFoundError, ["model"]),
        (429, error_body("Rate limit reached"), {"Retry-After": "7"}, RateLimitedError, ["7 s"]),
        (500, error_body("Internal error"), {}, ServerError, ["again"]),
        (503, error_body("Server overloaded, please retry shortly."), {}, ServerError, ["overloaded"]),
    ],
)
async def test_http_status_errors(server, status, body, headers, error_class, needles) -> None:
    server.enqueue([Respond(status, body, headers)])
    error = the_error(await collect(make(server.base_url)))
    assert type(error) is error_class, error
    assert error.status == status
    text = error.title + " " + error.hint
    for needle in needles:
        assert needle in text, (needle, text)
    assert_no_key(error)
    if isinstance(body, dict):  # the provider's own words are kept (redacted)
        assert body["error"]["message"].replace(KEY, "********") in error.detail


async def test_429_is_marked_retryable(server) -> None:
    server.enqueue([Respond(429, error_body("slow down"), {"Retry-After": "3"})])
    error = the_error(await collect(make(server.base_url)))
    assert error.retryable


async def test_key_echoed_by_server_is_redacted_even_through_guarded(server) -> None:
    server.enqueue([Respond(401, {"error": {"message": f"Incorrect API key provided: {KEY}", "key": KEY}})])
    backend = make(server.base_url)
    try:
        events = [e async for e in guarded(backend, HELLO)]
    finally:
        await backend.aclose()
    error = the_error(events)
    assert "Incorrect API key provided" in error.detail
    assert_no_key(error)
    assert KEY not in json.dumps([event_to_json(e) for e in events])


async def test_html_instead_of_a_stream(server) -> None:
    server.enqueue([Respond(200, "<!DOCTYPE html><html><body>Welcome to nginx!</body></html>",
                            {"Content-Type": "text/html"})])
    error = the_error(await collect(make(server.base_url)))
    assert isinstance(error, ProtocolError)
    assert "HTML" in error.title and "base URL" in error.hint


async def test_html_without_content_type_is_sniffed(server) -> None:
    server.enqueue([Raw("<html><head><title>Login</title></head></html>")])
    error = the_error(await collect(make(server.base_url)))
    assert isinstance(error, ProtocolError)
    assert "HTML" in error.title


async def test_text_that_is_not_an_event_stream(server) -> None:
    server.enqueue([Raw("hello from a plain web server\n")])
    error = the_error(await collect(make(server.base_url)))
    assert isinstance(error, ProtocolError)
    assert "event stream" in error.title
    assert "hello from a plain web server" in error.detail


# --------------------------------------------------------------------------- mid-stream failures


async def test_malformed_json_keeps_earlier_deltas(server) -> None:
    server.enqueue([chunk(reasoning="thinking"), chunk(content="partial"), Raw("data: {not json\n\n")])
    events = await collect(make(server.base_url))
    assert text_of(events, ReasoningDelta) == "thinking"
    assert text_of(events, ContentDelta) == "partial"
    error = the_error(events)
    assert isinstance(error, ProtocolError)
    assert "{not json" in error.detail


async def test_error_object_sent_mid_stream(server) -> None:
    server.enqueue([
        chunk(content="so far"),
        Chunk({"error": {"message": f"upstream model crashed ({KEY})", "type": "server_error", "code": None}}),
    ])
    events = await collect(make(server.base_url))
    assert text_of(events, ContentDelta) == "so far"
    error = the_error(events)
    assert isinstance(error, ServerError)
    assert "upstream model crashed" in error.detail
    assert_no_key(error)


async def test_rate_limit_error_object_mid_stream_keeps_its_status(server) -> None:
    server.enqueue([chunk(content="a"), Chunk({"error": {"message": "Too many requests", "code": 429}})])
    error = the_error(await collect(make(server.base_url)))
    assert isinstance(error, RateLimitedError)


async def test_read_timeout_when_the_server_stalls(server) -> None:
    server.enqueue([chunk(reasoning="started"), HoldOpen(10)])
    started = time.monotonic()
    events = await collect(make(server.base_url, timeout_s="0.4"))
    elapsed = time.monotonic() - started
    assert text_of(events, ReasoningDelta) == "started"
    error = the_error(events)
    assert isinstance(error, TimeoutError_)
    assert "0.4 s" in error.title and "--timeout-s" in error.hint
    assert "partial answer is kept" in error.hint
    assert "Cancelled" not in str(error) and "cancel scope" not in str(error)
    assert elapsed < 3


async def test_read_timeout_before_any_text_says_what_timed_out_and_keeps_nothing(server) -> None:
    server.enqueue([HoldOpen(10)])  # headers, then silence
    error = the_error(await collect(make(server.base_url, timeout_s="0.3")))
    assert isinstance(error, TimeoutError_)
    assert error.title == "No answer from The server at " + server.base_url + " within 0.3 s (read timeout)"
    assert "--timeout-s" in error.hint
    assert "kept" not in error.hint
    assert "Cancelled" not in str(error) and "cancel scope" not in str(error)


async def test_server_closing_mid_stream_chunked(server) -> None:
    server.enqueue([chunk(reasoning="r"), chunk(content="half an ans"), Close()])
    events = await collect(make(server.base_url))
    assert text_of(events, ContentDelta) == "half an ans"
    error = the_error(events)
    assert isinstance(error, IncompleteStreamError)
    assert "kept" in error.hint


async def test_stream_ending_without_finish_or_done() -> None:
    with serve(chunked=False) as server:  # Connection: close framing: a close is a clean EOF
        server.enqueue([chunk(reasoning="r"), chunk(content="half"), Close()])
        events = await collect(make(server.base_url))
    assert text_of(events, ContentDelta) == "half"
    error = the_error(events)
    assert isinstance(error, IncompleteStreamError)
    assert "partial answer is kept" in error.hint


async def test_connection_closed_before_any_text_does_not_promise_a_partial_answer(server) -> None:
    server.enqueue([Raw(": keep-alive\n\n"), Close()])
    error = the_error(await collect(make(server.base_url)))
    assert isinstance(error, IncompleteStreamError)
    assert "kept" not in error.hint


async def test_text_held_by_the_think_splitter_is_not_lost_on_error(server) -> None:
    server.enqueue([chunk(content="<think>deep thought </thi"), Close()])
    events = await collect(make(server.base_url))
    assert text_of(events, ReasoningDelta) == "deep thought </thi"
    assert isinstance(the_error(events), IncompleteStreamError)


async def test_oversized_line_is_refused_without_buffering_it_all(server) -> None:
    server.enqueue([chunk(content="ok"), Raw(b"data: " + b"x" * (3 * 1024 * 1024) + b"\n\n"), DONE])
    events = await collect(make(server.base_url))
    assert text_of(events, ContentDelta) == "ok"
    error = the_error(events)
    assert isinstance(error, ProtocolError)
    assert "oversized" in error.title


# --------------------------------------------------------------------------- cancel


async def test_aclose_hangs_up_promptly(server) -> None:
    server.enqueue([chunk(reasoning="first"), HoldOpen(20)])
    backend = make(server.base_url)
    agen = backend.stream(HELLO)
    first = await agen.__anext__()
    assert first == ReasoningDelta("first")
    closed_at = time.monotonic()
    await agen.aclose()
    request = server.chat_requests[0]
    # Wait *blocking the event loop*: the hang-up must be done by aclose() itself, not by a
    # finalizer task the loop would run later.
    assert request.disconnected.wait(2)
    print(f"hang-up seen after {(request.disconnected_at - closed_at) * 1000:.1f} ms")
    assert request.disconnected_at - closed_at < 1.0
    await backend.aclose()


async def test_cancelling_the_task_hangs_up_promptly(server) -> None:
    server.enqueue([chunk(reasoning="first"), HoldOpen(20)])
    backend = make(server.base_url)
    got_first = asyncio.Event()

    async def consume() -> None:
        async for event in backend.stream(HELLO):
            if isinstance(event, ReasoningDelta):
                got_first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_first.wait(), 5)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    request = server.chat_requests[0]
    assert await asyncio.to_thread(request.disconnected.wait, 5)
    print(f"hang-up seen after {(request.disconnected_at - cancelled_at) * 1000:.1f} ms")
    assert request.disconnected_at - cancelled_at < 1.0
    await backend.aclose()


async def test_backend_aclose_closes_the_client(server) -> None:
    backend = make(server.base_url)
    await collect(backend)  # collect() closes it
    assert backend._client is None
    events = await collect(backend)  # a later turn makes a fresh client
    assert isinstance(events[-1], Stop)


# --------------------------------------------------------------------------- plumbing


def test_registered_as_openai_and_flags() -> None:
    assert registry.load("openai") is OpenAIBackend
    assert OpenAIBackend.IMPLEMENTS_CANCEL and OpenAIBackend.STREAMS_REASONING
    secret_options = [o.name for o in OpenAIBackend.options if o.is_secret]
    assert secret_options == ["api_key"]


def test_stand_in_cli_prints_ready_and_serves() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "tests.servers.openai_sse", "--port", "0", "--script", "think_tags"],
        cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True,
    ) as process:
        try:
            line = process.stdout.readline().strip()
            assert line.startswith("READY port=")
            port = int(line.split("=")[1])
            backend = registry.create("openai", {"base_url": f"http://127.0.0.1:{port}/v1"}, environ={})
            events = asyncio.run(collect(backend))
            assert text_of(events, ContentDelta) == "Hello there!"
        finally:
            process.terminate()
            process.wait(timeout=5)


# --------------------------------------------------------------------------- the SSE parser


def parse(chunks: list[bytes], limit: int = 1 << 20) -> list[SSEEvent]:
    parser = SSEParser(limit)
    events: list[SSEEvent] = []
    for piece in chunks:
        events += parser.feed(piece)
    return events + parser.close()


def test_sse_multi_line_data_event_names_and_final_event_without_blank_line() -> None:
    stream = b"event: error\ndata: a\ndata:b\n\n: note\ndata: last"
    assert parse([stream]) == [SSEEvent("a\nb", "error"), SSEEvent("last")]


def test_sse_line_limit() -> None:
    with pytest.raises(SSELineTooLong):
        parse([b"data: " + b"x" * 100], limit=50)
    with pytest.raises(SSELineTooLong):  # many short data lines of one event add up too
        parse([b"data: xxxxxxxxxx\n" * 10], limit=50)


_sse_streams = st.lists(
    st.sampled_from([
        b"data: {\"a\": 1}\n\n", b"data: x\r\n\r\n", b": keep-alive\n\n", b"event: e\n",
        b"data: \xe6\x80\x9d\xe8\x80\x83\r\r", b"data:[DONE]\n\n", b"id: 3\n", b"data: y\n",
    ]),
    max_size=20,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_sse_events_do_not_depend_on_network_chunking(data) -> None:
    stream = data.draw(_sse_streams)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    assert parse(pieces) == parse([stream])


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080/v1", True), ("http://localhost:11434/v1", True),
        ("http://[::1]:8000/v1", True), ("http://0.0.0.0:8000/v1", True),
        ("https://api.deepseek.com/v1", False), ("http://192.168.1.5:8000/v1", False),
        ("http://127.0.0.1.example.com/v1", False),
    ],
)
def test_which_urls_need_no_key(url: str, local: bool) -> None:
    assert is_loopback_url(url) is local


async def test_extra_headers_are_sent_and_their_values_redacted(server) -> None:
    token = "gw-token-abcdefgh12345"
    server.enqueue([Respond(403, error_body(f"gateway token {token} revoked"))])
    backend = make(server.base_url, extra_headers=f"X-Title: Thinkpane, X-Gateway-Token: {token}")
    error = the_error(await collect(backend))
    headers = server.chat_requests[0].headers
    assert headers["x-title"] == "Thinkpane"
    assert headers["x-gateway-token"] == token
    assert token not in str(error) and "gateway token" in error.detail


def test_auto_think_mode_is_off_for_providers_that_never_tag() -> None:
    assert make("https://api.deepseek.com/v1").think_mode() == "off"
    assert make("http://127.0.0.1:8080/v1").think_mode() == "auto"
    assert make("https://api.deepseek.com/v1", think_tags="open").think_mode() == "open"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "bad key", "type": "authentication_error"}}', "bad key"),  # OpenAI, DeepSeek
        (b'{"error": "model \\"x\\" not found, try pulling it first"}', 'model "x" not found, try pulling it first'),  # Ollama
        (b'{"object": "error", "message": "max_tokens too large", "code": 400}', "max_tokens too large"),  # vLLM
        (b'{"error": {"root_cause": [{"type": "x", "reason": "no such index"}], "type": "x", "reason": "no such index"}, "status": 404}',
         "no such index"),  # OpenSearch
        (b'{"detail": "Not Found"}', "Not Found"),  # FastAPI
        (b"upstream connect error", "upstream connect error"),
    ],
)
def test_provider_error_messages_are_found(body: bytes, message: str) -> None:
    from thinkpane.backends.http_errors import error_message

    assert error_message(body) == message


async def test_empty_200_body(server) -> None:
    server.enqueue([])
    error = the_error(await collect(make(server.base_url)))
    assert isinstance(error, ProtocolError)
    assert "empty" in error.title
