"""Thinking on/off and reasoning effort reach every backend in its provider's own words.

Request bodies are asserted as the stand-ins received them over real HTTP (the OpenAI SSE
stand-in, the Bedrock event-stream stand-in through boto3, the ML Commons stand-in through
opensearch-py); the local backend through a stand-in for llama-cpp-python's Llama. Also: the
current DeepSeek models as defaults, retired names replaced with a notice, usage details.
"""

from __future__ import annotations

import json

import pytest

from tests import backend_fixtures
from tests.servers.openai_sse import DONE, Respond, chunk, error_body, serve
from tests.test_openai_backend import HELLO, make
from thinkpane.backends import registry
from thinkpane.backends.base import guarded
from thinkpane.backends.errors import ModelNotFoundError
from thinkpane.backends.events import (
    ContentDelta,
    Conversation,
    ErrorEvent,
    Heartbeat,
    Message,
    Notice,
    ReasoningDelta,
    Stop,
    Usage,
    event_to_json,
)
from thinkpane.backends.thinking import Reasoning, detect_dialect

KEY = "sk-thinkpane-test-0123456789abcdef"


@pytest.fixture
def server():
    with serve() as running:
        yield running


# Every request field a dialect may use for thinking or effort.
REASONING_FIELDS = ("thinking", "reasoning_effort", "reasoning", "chat_template_kwargs", "reasoning_format")


async def collect(backend, conversation: Conversation = HELLO) -> list:
    try:
        return [event async for event in guarded(backend, conversation)]
    finally:
        await backend.aclose()


def sent_fields(server) -> dict:
    body = server.chat_requests[-1].body
    return {name: body[name] for name in REASONING_FIELDS if name in body}


# --------------------------------------------------------------------------- OpenAI-compatible


@pytest.mark.parametrize(
    ("url", "dialect"),
    [
        ("https://api.deepseek.com/v1", "deepseek"),
        ("https://api.deepseek.com", "deepseek"),
        ("https://api.openai.com/v1", "openai"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("http://127.0.0.1:11434/v1", "ollama"),
        ("http://localhost:8000/v1", "vllm"),
        ("http://10.0.0.5:30000/v1", "vllm"),  # SGLang's default port
        ("http://127.0.0.1:8080/v1", "llamacpp"),
        ("https://gateway.example.com/v1", "generic"),
    ],
)
def test_the_dialect_is_detected_from_the_base_url(url, dialect):
    assert detect_dialect(url) == dialect


@pytest.mark.parametrize(
    ("dialect", "thinking", "effort", "expected"),
    [
        # DeepSeek: the thinking object and a top-level effort of low, high or max.
        ("deepseek", "on", None, {"thinking": {"type": "enabled"}}),
        ("deepseek", "off", None, {"thinking": {"type": "disabled"}}),
        ("deepseek", "auto", None, {}),
        ("deepseek", "on", "max", {"thinking": {"type": "enabled"}, "reasoning_effort": "max"}),
        ("deepseek", "on", "medium", {"thinking": {"type": "enabled"}, "reasoning_effort": "high"}),
        ("deepseek", "auto", "low", {"reasoning_effort": "low"}),
        ("deepseek", "auto", "none", {"thinking": {"type": "disabled"}}),
        ("deepseek", "off", "high", {"thinking": {"type": "disabled"}}),  # off wins
        # OpenAI: reasoning_effort only; none turns reasoning off; max is xhigh.
        ("openai", "on", None, {}),
        ("openai", "off", None, {"reasoning_effort": "none"}),
        ("openai", "on", "medium", {"reasoning_effort": "medium"}),
        ("openai", "on", "max", {"reasoning_effort": "xhigh"}),
        # OpenRouter: the reasoning object.
        ("openrouter", "on", None, {"reasoning": {"enabled": True}}),
        ("openrouter", "off", None, {"reasoning": {"enabled": False}}),
        ("openrouter", "on", "low", {"reasoning": {"effort": "low"}}),
        ("openrouter", "auto", None, {}),
        # vLLM / SGLang: the chat template's switch.
        ("vllm", "on", None, {"chat_template_kwargs": {"enable_thinking": True}}),
        ("vllm", "off", None, {"chat_template_kwargs": {"enable_thinking": False}}),
        ("vllm", "auto", "none", {"chat_template_kwargs": {"enable_thinking": False}}),
        # Ollama: reasoning_effort, "none" for off; max is its high.
        ("ollama", "off", None, {"reasoning_effort": "none"}),
        ("ollama", "on", None, {}),
        ("ollama", "on", "max", {"reasoning_effort": "high"}),
        # llama.cpp's server: the template switch, and reasoning in reasoning_content.
        ("llamacpp", "on", None, {"chat_template_kwargs": {"enable_thinking": True}, "reasoning_format": "deepseek"}),
        ("llamacpp", "off", None, {"chat_template_kwargs": {"enable_thinking": False}}),
        # An unknown server gets nothing it might refuse.
        ("generic", "on", "high", {}),
        ("generic", "off", None, {}),
    ],
)
async def test_thinking_and_effort_in_each_dialect(server, dialect, thinking, effort, expected):
    given = {"dialect": dialect, "thinking": thinking}
    if effort:
        given["reasoning_effort"] = effort
    events = await collect(make(server.base_url, **given))
    assert isinstance(events[-1], Stop)
    assert sent_fields(server) == expected


async def test_the_default_is_deepseek_v4_flash_with_thinking_on(server):
    backend = make(server.base_url, dialect="deepseek")
    assert backend.model == "deepseek-v4-flash"
    await collect(backend)
    body = server.chat_requests[-1].body
    assert body["model"] == "deepseek-v4-flash"
    assert body["thinking"] == {"type": "enabled"}
    assert "reasoning_effort" not in body  # the server's default effort


def test_the_deepseek_host_is_the_deepseek_dialect_by_default():
    backend = registry.create("openai", {"api_key": KEY}, environ={})
    assert backend.base_url == "https://api.deepseek.com/v1" and backend.dialect == "deepseek"
    assert backend.request_body(HELLO)["thinking"] == {"type": "enabled"}


@pytest.mark.parametrize(("retired", "thinking"), [("deepseek-chat", "disabled"), ("deepseek-reasoner", "enabled")])
async def test_a_retired_deepseek_model_is_replaced_with_a_notice_naming_the_replacement(server, retired, thinking):
    backend = make(server.base_url, dialect="deepseek", model=retired)
    assert backend.model == "deepseek-v4-flash"
    first = [event async for event in guarded(backend, HELLO)]
    notice = first[0]
    assert isinstance(notice, Notice)
    assert retired in notice.text and "retired" in notice.text and "deepseek-v4-flash" in notice.text
    assert f"thinking {'off' if thinking == 'disabled' else 'on'}" in notice.text
    body = server.chat_requests[-1].body
    assert body["model"] == "deepseek-v4-flash" and body["thinking"] == {"type": thinking}
    again = await collect(backend)
    assert not any(isinstance(event, Notice) for event in again)  # said once


async def test_a_retired_name_is_left_alone_on_other_servers(server):
    backend = make(server.base_url, model="deepseek-reasoner")  # a gateway may still serve it
    events = await collect(backend)
    assert not any(isinstance(event, Notice) for event in events)
    assert server.chat_requests[-1].body["model"] == "deepseek-reasoner"


async def test_deepseek_model_not_exist_names_the_current_models(server):
    server.enqueue([Respond(400, error_body("Model Not Exist"))])
    events = await collect(make(server.base_url, dialect="deepseek", model="deepseek-v3"))
    [error] = [event.error for event in events if isinstance(event, ErrorEvent)]
    assert isinstance(error, ModelNotFoundError) and "deepseek-v3" in error.title
    assert "deepseek-v4-flash" in error.hint and "deepseek-v4-pro" in error.hint and "--model" in error.hint


async def test_a_setting_the_server_cannot_honour_is_told_once(server):
    backend = make(server.base_url, dialect="vllm", reasoning_effort="high")
    events = [event async for event in guarded(backend, HELLO)]
    [notice] = [event for event in events if isinstance(event, Notice)]
    assert "no reasoning-effort control" in notice.text
    assert not any(isinstance(event, Notice) for event in await collect(backend))


async def test_an_unknown_dialect_says_how_to_name_it_only_when_the_user_chose(server):
    chose = await collect(make(server.base_url, thinking="off"))
    [notice] = [event for event in chose if isinstance(event, Notice)]
    assert "--dialect" in notice.text and "not sent" in notice.text
    default = await collect(make(server.base_url))  # thinking "on" by default: nothing to say
    assert not any(isinstance(event, Notice) for event in default)


async def test_usage_details_deepseek_and_openai_spellings(server):
    server.enqueue(
        [chunk(content="ok", finish="stop", usage={
            "prompt_tokens": 2000, "completion_tokens": 500, "total_tokens": 2500,
            "prompt_cache_hit_tokens": 1536, "prompt_cache_miss_tokens": 464,
            "completion_tokens_details": {"reasoning_tokens": 420}}), DONE],
        [chunk(content="ok", finish="stop", usage={
            "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 30}}), DONE],
        [chunk(content="ok", finish="stop", usage={"prompt_tokens": 5, "completion_tokens": 6}), DONE],
    )
    backend = make(server.base_url)
    deepseek = [e for e in await collect(backend) if isinstance(e, Usage)]
    openai = [e for e in await collect(backend) if isinstance(e, Usage)]
    bare = [e for e in await collect(backend) if isinstance(e, Usage)]
    assert deepseek == [Usage(2000, 500, reasoning_tokens=420, cached_input_tokens=1536)]
    assert openai == [Usage(100, 50, reasoning_tokens=30, cached_input_tokens=64)]
    assert bare == [Usage(5, 6)]
    # ask --json prints the details only when reported.
    assert event_to_json(deepseek[0])["reasoning_tokens"] == 420
    assert "reasoning_tokens" not in event_to_json(bare[0]) and "cached_input_tokens" not in event_to_json(bare[0])


async def test_keep_alive_comments_before_the_answer_are_heartbeats():
    with serve("keepalive", delay=0.01) as server:
        events = await collect(make(server.base_url))
    heartbeats = [event for event in events if isinstance(event, Heartbeat)]
    assert heartbeats, "the keep-alive comments show the server is alive"
    first_text = next(i for i, event in enumerate(events) if isinstance(event, (ReasoningDelta, ContentDelta)))
    assert all(isinstance(event, Heartbeat) for event in events[:first_text])
    assert isinstance(events[-1], Stop)


# --------------------------------------------------------------------------- Bedrock

aws_env = backend_fixtures.aws_env
aws = backend_fixtures.bedrock_server  # the Bedrock stand-in, with dummy keys in the environment


def bedrock_backend(server, **settings):
    from thinkpane.backends.bedrock import BedrockBackend

    return BedrockBackend({"endpoint_url": server.url, "region": "us-east-1", "retry_delays_s": (0.01,), **settings})


CLAUDE = "us.anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.mark.parametrize(
    ("model", "thinking", "effort", "max_tokens", "fields", "sampling"),
    [
        (CLAUDE, "on", "low", 8192, {"thinking": {"type": "enabled", "budget_tokens": 1024}}, False),
        (CLAUDE, "on", None, 8192, {"thinking": {"type": "enabled", "budget_tokens": 4096}}, False),
        # The budget stays below max_tokens.
        (CLAUDE, "on", "max", 8192, {"thinking": {"type": "enabled", "budget_tokens": 8191}}, False),
        (CLAUDE, "off", None, 8192, {"thinking": {"type": "disabled"}}, True),
        (CLAUDE, "auto", None, 8192, None, True),
        ("us.deepseek.v3-v1:0", "on", None, 8192, {"reasoning_effort": "high"}, True),
        ("us.deepseek.v3-v1:0", "auto", "low", 8192, {"reasoning_effort": "low"}, True),
        ("us.deepseek.v3-v1:0", "off", None, 8192, None, True),  # off is V3.x's default
        ("us.deepseek.r1-v1:0", "on", None, 8192, None, True),
    ],
)
async def test_bedrock_thinking_fields_per_model_family(aws, model, thinking, effort, max_tokens, fields, sampling):
    settings = {"model": model, "thinking": thinking, "max_tokens": max_tokens}
    if effort:
        settings["reasoning_effort"] = effort
    events = await collect(bedrock_backend(aws, **settings))
    assert isinstance(events[-1], Stop)
    body = aws.requests[-1].body
    assert body.get("additionalModelRequestFields") == fields
    # Claude refuses temperature and top_p while it thinks.
    assert ("temperature" in body["inferenceConfig"]) is sampling


async def test_bedrock_r1_cannot_turn_thinking_off_and_says_so(aws):
    events = await collect(bedrock_backend(aws, thinking="off"))
    [notice] = [event for event in events if isinstance(event, Notice)]
    assert "always thinks" in notice.text
    assert "additionalModelRequestFields" not in aws.requests[-1].body


async def test_bedrock_claude_without_room_to_think_says_how_to_make_room(aws):
    events = await collect(bedrock_backend(aws, model=CLAUDE, thinking="on", max_tokens=1000))
    [notice] = [event for event in events if isinstance(event, Notice)]
    assert "--max-tokens" in notice.text
    assert "additionalModelRequestFields" not in aws.requests[-1].body


async def test_bedrock_cache_tokens_are_read_from_the_metadata(aws):
    aws.enqueue("cached_usage")
    events = await collect(bedrock_backend(aws))
    [usage] = [event for event in events if isinstance(event, Usage)]
    assert (usage.cached_input_tokens, usage.cache_write_tokens) == (1024, 256)
    assert event_to_json(usage)["cached_input_tokens"] == 1024


# --------------------------------------------------------------------------- local


class _Qwen3Llama:
    """Enough of llama_cpp.Llama: records the request, answers with an empty think block."""

    def __init__(self) -> None:
        self.n_tokens = 9
        self.requests: list[dict] = []

    def create_chat_completion(self, **request):
        self.requests.append(request)

        def chunks():
            for piece in ["<think>\n\n</think>\n\n", "Hi", "!"]:
                yield {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}

        return chunks()

    def close(self) -> None:
        pass


def local_backend(**settings):
    pytest.importorskip("llama_cpp")
    from thinkpane.backends.local import LocalBackend

    try:
        return LocalBackend({"max_tokens": 32, **settings})
    except Exception as exc:  # no bundled model in this environment
        pytest.skip(f"local backend unavailable: {exc}")


@pytest.mark.parametrize(("thinking", "sent"), [("off", "Hello /no_think"), ("on", "Hello"), ("auto", "Hello")])
async def test_local_qwen3_is_told_no_think_when_thinking_is_off(thinking, sent):
    backend = local_backend(thinking=thinking)
    fake = _Qwen3Llama()
    backend._llm, backend._think_mode, backend._thinking_switch = fake, "auto", "qwen3"
    events = [event async for event in backend.stream(Conversation([Message("user", "Hello")]))]
    assert fake.requests[0]["messages"][-1] == {"role": "user", "content": sent}
    assert "".join(e.text for e in events if isinstance(e, ContentDelta)) == "Hi!"
    assert not any(isinstance(e, Notice) for e in events)


async def test_local_model_without_a_switch_says_it_always_thinks():
    backend = local_backend(thinking="off")
    fake = _Qwen3Llama()
    backend._llm, backend._think_mode, backend._thinking_switch = fake, "open", ""
    events = [event async for event in backend.stream(Conversation([Message("user", "Hello")]))]
    [notice] = [event for event in events if isinstance(event, Notice)]
    assert "always thinks" in notice.text
    assert fake.requests[0]["messages"][-1]["content"] == "Hello"


# --------------------------------------------------------------------------- the setting itself


def test_reasoning_labels_and_what_is_sent():
    assert Reasoning("on", "high").label() == "thinking on · effort high"
    assert Reasoning("auto", "low").label() == "thinking on · effort low"
    assert Reasoning("off", "high").label() == "thinking off"
    assert Reasoning("auto", "none").label() == "thinking off"
    assert Reasoning().label() == "thinking auto"
    assert Reasoning("on", "max").as_extra() == {"thinkpane_thinking": "on", "thinkpane_effort": "max"}


def test_the_options_are_declared_once_and_are_flags_and_form_fields():
    from thinkpane.tui.cli.main import build_parser

    for name in ("openai", "bedrock", "opensearch"):
        backend_class = registry.load(name)
        names = {option.name for option in backend_class.options}
        assert {"thinking", "reasoning_effort"} <= names, name
        parser = build_parser("ask", backend_class)
        args = parser.parse_args(["ask", "--thinking", "off", "--reasoning-effort", "max", "hi"])
        assert (args.opt__thinking, args.opt__reasoning_effort) == ("off", "max")
    with pytest.raises(SystemExit):
        build_parser("ask", registry.load("openai")).parse_args(["ask", "--thinking", "maybe", "hi"])
    dialect = next(option for option in registry.load("openai").options if option.name == "dialect")
    assert dialect.choices == ("auto", "deepseek", "openai", "openrouter", "vllm", "ollama", "llamacpp", "generic")


def test_thinking_and_effort_come_from_config_keys(monkeypatch, tmp_path):
    from thinkpane.tui.core.config import backend_options, load_settings

    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[backends.openai]\nthinking = "off"\nreasoning_effort = "low"\napi_key = "sk-x-0123456789"\n')
    settings = load_settings()
    backend = registry.create("openai", backend_options(settings, "openai", check=True), environ={})
    assert backend.reasoning == Reasoning("off", "low")
    config.write_text('[backends.openai]\nreasoning_effort = "extreme"\n')
    from thinkpane.tui.core.config import ConfigFileError

    with pytest.raises(ConfigFileError, match="reasoning_effort"):
        backend_options(load_settings(), "openai", check=True)


def test_reasoning_effort_json_shape_of_a_stop_is_unchanged_by_the_backend():
    # The stop event itself carries no timing: ask adds it (tests/test_cli_ask.py).
    assert json.loads(json.dumps(event_to_json(Stop("end_turn", "stop")))) == {
        "type": "stop", "reason": "end_turn", "raw_reason": "stop"}
