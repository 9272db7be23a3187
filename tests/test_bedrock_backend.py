"""The bedrock backend through the REAL boto3 client, over real HTTP, against the stand-in.

The stand-in (tests/servers/bedrock_eventstream.py) answers with real binary event-stream
frames, one HTTP chunk each, so boto3's own parser, CRC checks, error factory and urllib3
timeouts are all exercised.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.servers.bedrock_eventstream import (
    ANSWER,
    REASONING,
    REDACTED,
    SIGNATURE,
    BedrockStandIn,
    encode_frame,
)
from thinkpane.backends import registry
from thinkpane.backends.base import guarded
from thinkpane.backends.bedrock import BedrockBackend
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
    MessageExtra,
    Notice,
    ReasoningDelta,
    Stop,
    Usage,
)

DUMMY_KEY_ID = "AKIDTHINKPANETEST1234"
DUMMY_SECRET = "tHiNkPaNe/DuMmY+SeCrEt0123456789abcdefXYZ"
HELLO = Conversation([Message("user", "Hello?")])


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    """Dummy keys, no real AWS config, no IMDS, no bearer token: nothing leaves 127.0.0.1."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    with BedrockStandIn() as stand_in:
        yield stand_in


def make_backend(server: BedrockStandIn, **settings) -> BedrockBackend:
    base = {"endpoint_url": server.url, "region": "us-east-1", "retry_delays_s": (0.01, 0.02)}
    return BedrockBackend({**base, **settings})


async def collect(backend: BedrockBackend, conversation: Conversation = HELLO) -> list:
    return [event async for event in guarded(backend, conversation)]


def text_of(events, kind) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def only_error(events) -> BackendError:
    errors = [e.error for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1, events
    assert events[-1] == ErrorEvent(errors[0]), "the error must be the last event"
    return errors[0]


# --------------------------------------------------------------------------- happy path


async def test_reasoning_then_answer_in_order_with_usage_then_stop(server):
    events = await collect(make_backend(server))

    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ReasoningDelta"] * 3 + ["ContentDelta"] * 3 + ["Usage", "Stop"]
    assert text_of(events, ReasoningDelta) == "".join(REASONING)
    # R1 answers start with "\n\n"; nothing of the answer may be lost (litellm #13591).
    assert text_of(events, ContentDelta) == "".join(ANSWER)
    assert events[-2] == Usage(input_tokens=12, output_tokens=34, latency_ms=321)
    assert events[-1] == Stop("end_turn", raw_reason="end_turn")

    (request,) = server.requests
    assert request.path == "/model/us.deepseek.r1-v1%3A0/converse-stream"
    assert request.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={DUMMY_KEY_ID}/")
    assert request.body["messages"] == [{"role": "user", "content": [{"text": "Hello?"}]}]
    assert request.body["inferenceConfig"] == {"maxTokens": 8192, "temperature": 0.6}
    assert "system" not in request.body


async def test_options_reach_inference_config_and_system(server):
    backend = make_backend(server, max_tokens=100, temperature=0.2, top_p=0.9, stop_sequences=["###", "END"],
                           model="eu.deepseek.r1-v1:0")
    conversation = Conversation([Message("user", "Hi")], system="Be terse.")
    events = await collect(backend, conversation)
    assert isinstance(events[-1], Stop)
    (request,) = server.requests
    assert request.model_id == "eu.deepseek.r1-v1:0"
    assert request.body["system"] == [{"text": "Be terse."}]
    assert request.body["inferenceConfig"] == {
        "maxTokens": 100, "temperature": 0.2, "topP": 0.9, "stopSequences": ["###", "END"]}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("max_tokens", "max_tokens"),
        ("stop_sequence", "stop_sequence"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("model_context_window_exceeded", "context_window"),
        ("tool_use", "tool_use"),
        ("malformed_model_output", "other"),
    ],
)
async def test_stop_reasons_map_and_keep_the_raw_reason(server, raw, reason):
    server.enqueue(f"stop_{raw}")
    events = await collect(make_backend(server))
    assert isinstance(events[-2], Usage), "usage (metadata) comes before the buffered stop"
    assert events[-1] == Stop(reason, raw_reason=raw)


# --------------------------------------------------------------------------- history


async def test_history_sends_answer_text_only_never_unsigned_reasoning(server):
    conversation = Conversation(
        [
            Message("user", "What is 2+2?"),
            Message("assistant", "\n\n4", reasoning="UNSIGNED-R1-THOUGHTS adding numbers"),
            Message("assistant", "", reasoning="a cancelled turn with reasoning only"),
            Message("user", "And 3+3?"),
        ],
        system="You add numbers.",
    )
    events = await collect(make_backend(server), conversation)
    assert isinstance(events[-1], Stop)
    body = server.requests[0].body
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "What is 2+2?"}]},
        {"role": "assistant", "content": [{"text": "\n\n4"}]},
        {"role": "user", "content": [{"text": "And 3+3?"}]},
    ]
    assert body["system"] == [{"text": "You add numbers."}]
    assert "UNSIGNED-R1-THOUGHTS" not in json.dumps(body)
    assert "reasoningContent" not in json.dumps(body)


async def test_signed_and_redacted_reasoning_is_kept_and_sent_back_unmodified(server):
    server.enqueue("signed_reasoning")
    backend = make_backend(server)
    events = await collect(backend)

    assert text_of(events, ReasoningDelta) == "Thinking carefully.[redacted reasoning]"
    assert text_of(events, ContentDelta) == "Signed answer."
    extras = [e for e in events if isinstance(e, MessageExtra)]
    assert len(extras) == 1
    blocks = extras[0].data["bedrock_reasoning"]
    assert blocks == [
        {"text": "Thinking carefully.", "signature": SIGNATURE},
        {"redacted": base64.b64encode(REDACTED).decode()},
    ]
    assert json.loads(json.dumps(dict(extras[0].data))) == dict(extras[0].data), "must survive the store"
    assert [type(e).__name__ for e in events[-3:]] == ["MessageExtra", "Usage", "Stop"]

    # Next turn: the stored message (with its extra) goes back with the blocks before the text.
    stored = Message("assistant", "Signed answer.", reasoning="Thinking carefully.", extra=extras[0].data)
    await collect(backend, Conversation([Message("user", "Hello?"), stored, Message("user", "More?")]))
    assistant = server.requests[1].body["messages"][1]
    assert assistant == {
        "role": "assistant",
        "content": [
            {"reasoningContent": {"reasoningText": {"text": "Thinking carefully.", "signature": SIGNATURE}}},
            {"reasoningContent": {"redactedContent": base64.b64encode(REDACTED).decode()}},
            {"text": "Signed answer."},
        ],
    }


# --------------------------------------------------------------------------- errors in the stream


@pytest.mark.parametrize(
    ("scenario", "error_class", "words"),
    [
        ("stream_throttling", RateLimitedError, "Throttled"),
        ("stream_model_error", ServerError, "model failed"),
        ("stream_validation", InvalidRequestError, "rejected the request"),
        ("stream_internal", ServerError, "internal error"),
        ("stream_unavailable", ServerError, "unavailable"),
    ],
)
async def test_in_stream_exception_after_tokens_keeps_partial_and_is_not_retried(
    server, scenario, error_class, words
):
    server.enqueue(scenario)
    events = await collect(make_backend(server))
    error = only_error(events)
    assert type(error) is error_class
    assert words in error.title and "mid-stream" in error.title
    assert "partial answer is kept" in error.hint
    assert text_of(events, ReasoningDelta) == "Partial thought."
    assert text_of(events, ContentDelta) == "Partial answer"
    assert not any(isinstance(e, (Notice, Stop)) for e in events)
    assert len(server.requests) == 1, "never retried after tokens were shown"
    if scenario == "stream_model_error":
        assert "424" in error.detail and "Model worker crashed" in error.detail


async def test_in_stream_throttling_before_any_token_is_retried(server):
    server.enqueue("stream_throttling_early")
    events = await collect(make_backend(server))
    assert isinstance(events[0], Notice)
    assert events[0].text == "Throttled by Bedrock; retrying in 0.01 s (attempt 2 of 3)"
    assert isinstance(events[-1], Stop)
    assert text_of(events, ContentDelta) == "".join(ANSWER)
    assert len(server.requests) == 2


# --------------------------------------------------------------------------- errors before the stream


@pytest.mark.parametrize(
    ("scenario", "error_class", "status", "hint_words"),
    [
        ("http_access_denied", PermissionDeniedError, 403, "bedrock:InvokeModelWithResponseStream"),
        ("http_not_found", ModelNotFoundError, 404, "region"),
        ("http_validation", InvalidRequestError, 400, "temperature"),
        ("http_model_timeout", TimeoutError_, 408, "Send again"),
        ("http_model_error", ServerError, 424, "send again"),
        ("http_internal", ServerError, 500, "send again"),
        ("http_unrecognized_client", AuthenticationError, 403, "aws configure"),
    ],
)
async def test_pre_stream_http_errors_are_typed_with_a_fix(server, scenario, error_class, status, hint_words):
    server.enqueue(scenario)
    events = await collect(make_backend(server))
    error = only_error(events)
    assert type(error) is error_class, error
    assert error.status == status
    assert hint_words in error.hint
    assert error.detail, "Bedrock's own message is shown"
    assert "Traceback" not in str(error)
    assert len(events) == 1 and len(server.requests) == 1


async def test_validation_error_message_is_shown(server):
    server.enqueue("http_validation")
    error = only_error(await collect(make_backend(server)))
    assert "inferenceConfig.temperature" in error.detail


async def test_bare_r1_model_id_suggests_the_inference_profile(server):
    error = only_error(await collect(make_backend(server, model="deepseek.r1-v1:0")))
    assert isinstance(error, InvalidRequestError)
    assert "inference profile" in error.title
    assert "--model us.deepseek.r1-v1:0" in error.hint
    assert "on-demand throughput" in error.detail


@pytest.mark.parametrize(
    ("scenario", "notice"),
    [
        ("http_throttling", "Throttled by Bedrock"),
        ("http_model_not_ready", "Bedrock model is not ready yet"),
        ("http_unavailable", "Bedrock is unavailable"),
    ],
)
async def test_retryable_errors_before_first_token_retry_with_visible_notices(server, scenario, notice):
    server.enqueue(scenario, scenario, "reasoning_text")
    events = await collect(make_backend(server))
    notices = [e for e in events if isinstance(e, Notice)]
    assert [n.text for n in notices] == [
        f"{notice}; retrying in 0.01 s (attempt 2 of 3)",
        f"{notice}; retrying in 0.02 s (attempt 3 of 3)",
    ]
    assert all(n.level == "warning" for n in notices)
    first_delta = next(i for i, e in enumerate(events) if isinstance(e, (ReasoningDelta, ContentDelta)))
    assert all(isinstance(e, Notice) for e in events[:first_delta])
    assert isinstance(events[-1], Stop)
    assert len(server.requests) == 3


async def test_retries_give_up_after_three_attempts(server):
    server.enqueue("http_throttling", "http_throttling", "http_throttling", "reasoning_text")
    events = await collect(make_backend(server))
    assert sum(isinstance(e, Notice) for e in events) == 2
    error = only_error(events)
    assert isinstance(error, RateLimitedError) and error.status == 429
    assert "quota" in error.hint
    assert len(server.requests) == 3


async def test_stall_mid_stream_is_a_timeout_with_the_option_to_raise(server):
    server.enqueue("stall")
    events = await collect(make_backend(server, read_timeout_s=0.3))
    error = only_error(events)
    assert isinstance(error, TimeoutError_)
    assert "0.3 s" in error.title
    assert "read_timeout_s" in error.hint and "partial answer is kept" in error.hint
    assert text_of(events, ContentDelta) == "Partial answer"
    assert len(server.requests) == 1


async def test_stall_before_headers_is_a_timeout(server):
    server.enqueue("stall_headers")
    error = only_error(await collect(make_backend(server, read_timeout_s=0.3)))
    assert isinstance(error, TimeoutError_) and "read_timeout_s" in error.hint
    assert "partial" not in error.hint


async def test_cut_connection_mid_stream_keeps_partial(server):
    server.enqueue("cut")
    events = await collect(make_backend(server))
    error = only_error(events)
    assert isinstance(error, ConnectionFailedError)
    assert "connection dropped" in error.title
    assert text_of(events, ReasoningDelta) == "Partial thought."
    assert text_of(events, ContentDelta) == "Partial answer"


async def test_stream_without_message_stop_is_incomplete(server):
    server.enqueue("no_message_stop")
    events = await collect(make_backend(server))
    error = only_error(events)
    assert isinstance(error, IncompleteStreamError)
    assert "messageStop" in error.detail
    assert text_of(events, ContentDelta) == "Partial answer"
    assert not any(isinstance(e, Stop) for e in events)


async def test_bad_crc_frame_is_a_protocol_error(server):
    server.enqueue("bad_crc")
    events = await collect(make_backend(server))
    error = only_error(events)
    assert isinstance(error, ProtocolError)
    assert "ChecksumMismatch" in error.detail
    assert text_of(events, ContentDelta) == "Partial answer"


async def test_nothing_listening_is_a_connection_error(server):
    port = server.port
    server.stop()
    error = only_error(await collect(BedrockBackend(
        {"endpoint_url": f"http://127.0.0.1:{port}", "region": "us-east-1", "connect_timeout_s": 2})))
    assert isinstance(error, ConnectionFailedError)
    assert "Could not connect" in error.title


# --------------------------------------------------------------------------- cancel


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bedrock-converse-stream"]


async def test_cancelling_the_task_hangs_up_within_100_ms(server):
    server.enqueue("stall")  # partial tokens, then the server blocks for 30 s
    backend = make_backend(server)  # default 300 s read timeout: only a hang-up can end it
    got_tokens = asyncio.Event()
    received: list = []

    async def consume():
        async for event in guarded(backend, HELLO):
            received.append(event)
            if text_of(received, ContentDelta) == "Partial answer":
                got_tokens.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_tokens.wait(), 10)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    finished_at = time.monotonic()
    assert finished_at - cancelled_at < 0.1, f"generator took {finished_at - cancelled_at:.3f} s to finish"

    assert await asyncio.to_thread(server.disconnected.wait, 2), "the server never saw the hang-up"
    assert server.disconnects[0].at - cancelled_at < 0.1
    for thread in _worker_threads():
        thread.join(timeout=1)
        assert not thread.is_alive(), "the worker thread must end"


async def test_aclose_after_break_hangs_up_within_100_ms(server):
    server.enqueue("paced")
    server.delay_s = 0.2  # slow enough that we are mid-wait when we stop
    stream = make_backend(server).stream(HELLO)
    async for event in stream:
        if isinstance(event, ReasoningDelta):
            break
    started = time.monotonic()
    await stream.aclose()
    assert time.monotonic() - started < 0.1
    assert await asyncio.to_thread(server.disconnected.wait, 2)
    assert server.disconnects[0].at - started < 0.1


# --------------------------------------------------------------------------- region, credentials


async def test_region_comes_from_aws_region_which_boto3_ignores(server, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    backend = registry.create("bedrock", {"endpoint_url": server.url})
    assert backend.settings["region"] == "eu-west-3"
    backend.retry_delays_s = ()
    events = await collect(backend)
    assert isinstance(events[-1], Stop)
    assert "/eu-west-3/bedrock/aws4_request" in server.requests[0].headers["Authorization"]


async def test_region_falls_back_to_aws_default_region(server, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    events = await collect(BedrockBackend({"endpoint_url": server.url}))
    assert isinstance(events[-1], Stop)
    assert "/ap-south-1/bedrock/" in server.requests[0].headers["Authorization"]


async def test_endpoint_url_from_environment(server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
    backend = registry.create("bedrock", {"region": "us-east-1"})
    assert isinstance((await collect(backend))[-1], Stop)
    assert len(server.requests) == 1


async def test_no_region_says_how_to_set_one(server):
    error = only_error(await collect(BedrockBackend({"endpoint_url": server.url})))
    assert isinstance(error, ConfigurationError)
    assert "--region" in error.hint and "AWS_REGION" in error.hint
    assert server.requests == []


async def test_no_credentials_says_aws_configure(server, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    error = only_error(await collect(make_backend(server)))
    assert isinstance(error, AuthenticationError)
    assert "aws configure" in error.hint and "aws sso login" in error.hint
    assert server.requests == []


async def test_unknown_profile_is_named_with_where_it_is_looked_up(server):
    error = only_error(await collect(make_backend(server, profile="nosuchprofile")))
    assert isinstance(error, ConfigurationError)
    assert "nosuchprofile" in error.title
    assert "aws-config" in error.hint and "aws-credentials" in error.hint


async def test_sso_profile_without_login_says_aws_sso_login(server, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (tmp_path / "aws-config").write_text(
        "[profile work]\nsso_session = corp\nsso_account_id = 123456789012\n"
        "sso_role_name = Dev\nregion = us-east-1\n"
        "[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n"
    )
    error = only_error(await collect(make_backend(server, profile="work")))
    assert isinstance(error, AuthenticationError)
    assert "aws sso login --profile work" in error.hint
    assert server.requests == []


def test_more_than_ten_stop_sequences_is_rejected():
    with pytest.raises(ConfigurationError) as raised:
        BedrockBackend({"region": "us-east-1", "stop_sequences": [str(i) for i in range(11)]})
    assert "stop_sequences" in raised.value.title and "at most 10" in raised.value.hint


def test_options_are_declared_without_secrets():
    names = {option.name for option in BedrockBackend.options}
    assert {"model", "region", "profile", "endpoint_url", "max_tokens", "temperature", "top_p",
            "stop_sequences", "read_timeout_s", "connect_timeout_s"} <= names
    assert not any(option.is_secret for option in BedrockBackend.options)
    region = next(o for o in BedrockBackend.options if o.name == "region")
    assert region.env[0] == "AWS_REGION"


# --------------------------------------------------------------------------- secrets


async def test_secret_key_echoed_by_the_server_is_redacted(server):
    server.enqueue("http_validation_echo")
    error = only_error(await collect(make_backend(server), Conversation([Message("user", f"key {DUMMY_SECRET}")])))
    assert "Bad input" in error.detail
    assert DUMMY_SECRET not in json.dumps(error.to_dict())
    assert "********" in error.detail


@pytest.mark.parametrize(
    "scenario",
    ["http_access_denied", "http_validation", "stream_model_error", "cut", "bad_crc", "no_message_stop",
     "http_unrecognized_client"],
)
async def test_secret_access_key_never_appears_in_errors(server, scenario):
    server.enqueue(scenario)
    events = await collect(make_backend(server))
    error = only_error(events)
    assert DUMMY_SECRET not in str(error) and DUMMY_SECRET not in json.dumps(error.to_dict())
    assert DUMMY_SECRET not in repr(events)


# --------------------------------------------------------------------------- the stand-in itself


def test_frame_encoder_round_trips_through_botocore():
    from botocore.eventstream import EventStreamBuffer

    frame = encode_frame([(":event-type", "messageStart"), (":message-type", "event")], b'{"role":"assistant"}')
    buffer = EventStreamBuffer()
    buffer.add_data(frame)
    (message,) = list(buffer)
    assert message.headers == {":event-type": "messageStart", ":message-type": "event"}
    assert message.payload == b'{"role":"assistant"}'


def test_cli_prints_ready_and_serves_a_paced_stream():
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.bedrock_eventstream", "--port", "0",
         "--scenario", "paced", "--delay-ms", "1"],
        cwd=root, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("READY port=")
        port = int(line.strip().split("=")[1])
        backend = BedrockBackend({"endpoint_url": f"http://127.0.0.1:{port}", "region": "us-east-1"})
        events = asyncio.run(collect(backend))
        assert sum(isinstance(e, ReasoningDelta) for e in events) > 10
        assert "Here is my answer" in text_of(events, ContentDelta)
        assert isinstance(events[-1], Stop)
    finally:
        process.terminate()
        process.wait(timeout=5)


async def test_cancel_before_the_response_headers_returns_at_once(server):
    server.enqueue("stall_headers")
    backend = make_backend(server)
    task = asyncio.create_task(collect(backend))
    # Wait until the request is on the server (it then withholds the status line).
    assert await asyncio.to_thread(server.request_seen.wait, 5)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 0.1


async def test_secret_from_a_credentials_file_is_redacted_too(server, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    file_secret = "FiLeSeCrEt/0123456789abcdefghijklmnopqrstu"
    (tmp_path / "aws-credentials").write_text(
        f"[filed]\naws_access_key_id = AKIDFILE0000\naws_secret_access_key = {file_secret}\n")
    server.enqueue("http_validation_echo")
    backend = make_backend(server, profile="filed")
    error = only_error(await collect(backend, Conversation([Message("user", f"echo {file_secret}")])))
    assert "AKIDFILE0000" in server.requests[0].headers["Authorization"]
    assert file_secret in backend.secrets()
    assert file_secret not in json.dumps(error.to_dict())


async def test_missing_boto3_says_how_to_install_it(server, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes `import boto3` raise ImportError
    error = only_error(await collect(make_backend(server)))
    assert isinstance(error, ConfigurationError)
    assert "pip install 'thinkpane[bedrock]'" in error.hint
