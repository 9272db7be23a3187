"""OpenSearch chat: real opensearch-py (_predict) and httpx (_predict/stream) over HTTP(S) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from tests.servers.mlcommons import (
    DEFAULT_SETTINGS,
    ML,
    TEST_API_KEY,
    MLCommonsServer,
    StandInConfig,
    make_self_signed_cert,
    provision_settings,
)
from thinkpane.backends.base import guarded
from thinkpane.backends.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    IncompleteStreamError,
    ModelNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
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
from thinkpane.backends.opensearch import OpenSearchBackend, OpenSearchProvisioner
from thinkpane.backends.opensearch.backend import REASONER_NOTICE
from thinkpane.backends.opensearch.memory import MEMORY_EXTRA_KEY
from thinkpane.backends.opensearch.provision import REGEX_KEY
from thinkpane.backends.secrets import MASK, Secret

HELLO = Conversation([Message("user", "Hello!")])


@pytest.fixture
def standin():
    servers: list[MLCommonsServer] = []

    def start(tls=None, **config) -> MLCommonsServer:
        server = MLCommonsServer(StandInConfig(**config), tls=tls).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


async def provisioned(server: MLCommonsServer, tmp_path, **overrides) -> dict:
    """Settings of a backend whose model the provisioner just deployed on ``server``."""
    settings = provision_settings(server, **overrides)
    provisioner = OpenSearchProvisioner(settings, tmp_path / "state.json")
    events = [e async for e in provisioner.provision()]
    assert events[-1].step == "test" and events[-1].status == "ok", events[-1]
    return {**settings, **provisioner.saved_settings()}


async def chat(backend: OpenSearchBackend, conversation: Conversation = HELLO) -> list:
    return [event async for event in guarded(backend, conversation)]


def text(events, kind) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def errors(events) -> list:
    return [e.error for e in events if isinstance(e, ErrorEvent)]


def stream_requests(server) -> list:
    return [r for r in server.requests if r.path.endswith("/_predict/stream")]


# --------------------------------------------------------------------------- _predict


async def test_reasoner_uses_predict_and_shows_reasoning_then_answer(standin, tmp_path):
    server = standin(initial_settings={ML + "stream_enabled": "true"})
    backend = OpenSearchBackend(await provisioned(server, tmp_path))
    events = await chat(backend)
    kinds = [type(e) for e in events]
    assert kinds == [Notice, ReasoningDelta, ContentDelta, Usage, Stop]
    assert events[0].text == REASONER_NOTICE
    assert text(events, ReasoningDelta) == "The user greets me; I should greet back."
    assert text(events, ContentDelta) == "Hello from the stand-in."
    usage = events[3]
    # dataAsMap numbers are doubles (12.0): they become ints.
    assert (usage.input_tokens, usage.output_tokens) == (12, 34)
    assert type(usage.input_tokens) is int
    # DeepSeek's usage details come through ML Commons too (as doubles).
    assert (usage.reasoning_tokens, usage.cached_input_tokens) == (20, 0)
    assert events[-1] == Stop("end_turn", "stop")
    assert stream_requests(server) == []  # reasoning matters more than streaming
    # The notice is said once.
    assert not any(isinstance(e, Notice) for e in await chat(backend))
    await backend.aclose()


async def test_history_is_sent_without_reasoning(standin, tmp_path):
    server = standin()
    backend = OpenSearchBackend(await provisioned(server, tmp_path, mode="predict"))
    conversation = Conversation(
        [Message("user", "Hi"), Message("assistant", "Hello!", reasoning="They said hi."),
         Message("user", "And now?")],
        system="Be brief.",
    )
    events = await chat(backend, conversation)
    assert errors(events) == []
    sent = server.state.provider_calls[-1]["messages"]
    assert sent == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "And now?"},
    ]


async def test_predict_request_carries_messages_parameter(standin, tmp_path):
    server = standin()
    backend = OpenSearchBackend(await provisioned(server, tmp_path, mode="predict"))
    await chat(backend)
    request = [r for r in server.requests if r.path.endswith("/_predict")][-1]
    # thinking auto (the default) sends no thinking parameters: the connector's defaults apply.
    assert json.loads(request.body) == {"parameters": {"messages": [{"role": "user", "content": "Hello!"}]}}


@pytest.mark.parametrize(
    ("failure", "error_type", "title_part"),
    [
        ((402, json.dumps({"error": {"message": "Insufficient Balance", "type": "unknown_error"}})),
         PermissionDeniedError, "insufficient balance"),
        ((429, json.dumps({"error": {"message": "Rate limit reached", "type": "rate_limit"}})),
         RateLimitedError, "rate limiting"),
        ((503, json.dumps({"error": {"message": "Server overloaded", "type": "server_error"}})),
         ServerError, "server error"),
    ],
)
async def test_provider_errors_passed_through_become_typed_errors(standin, tmp_path, failure, error_type, title_part):
    server = standin()
    settings = await provisioned(server, tmp_path, mode="predict")
    server.config.provider_failure = failure
    [error] = errors(await chat(OpenSearchBackend(settings)))
    assert isinstance(error, error_type)
    assert title_part in error.title
    assert error.status == failure[0]


async def test_wrong_deepseek_key_says_rerun_setup_and_hides_the_key(standin, tmp_path):
    server = standin()
    settings = await provisioned(server, tmp_path, mode="predict")
    server.config.valid_api_key = "sk-rotated000000000000"  # the key in the connector is now wrong
    [error] = errors(await chat(OpenSearchBackend(settings)))
    assert isinstance(error, AuthenticationError)
    assert "DeepSeek rejected the API key" in error.title
    assert "thinkpane setup opensearch" in error.hint
    assert TEST_API_KEY not in str(error.to_dict()) and MASK in error.detail


async def test_throttled_model_is_a_rate_limit(standin, tmp_path):
    server = standin()
    settings = await provisioned(server, tmp_path, mode="predict")
    server.config.throttled = True
    [error] = errors(await chat(OpenSearchBackend(settings)))
    assert isinstance(error, RateLimitedError) and "throttling this model" in error.title
    assert "Request is throttled at model level." in error.detail


async def test_undeployed_model_without_auto_deploy_says_not_deployed(standin, tmp_path):
    server = standin(initial_settings={ML + "model_auto_deploy.enable": "false"})
    settings = await provisioned(server, tmp_path, mode="predict")
    OpenSearch(hosts=[server.url]).plugins.ml.undeploy_model(model_id=settings["model_id"])
    [error] = errors(await chat(OpenSearchBackend(settings)))
    assert "not deployed" in error.title and "thinkpane setup opensearch" in error.hint
    assert "Model not ready yet" in error.detail


async def test_unknown_model_id_is_model_not_found(standin):
    server = standin()
    backend = OpenSearchBackend(provision_settings(server, model_id="nope123", mode="predict"))
    [error] = errors(await chat(backend))
    assert isinstance(error, ModelNotFoundError) and "nope123" in error.title


async def test_removed_trusted_regex_is_explained(standin, tmp_path):
    server = standin()
    settings = await provisioned(server, tmp_path, mode="predict")
    server.state.persistent[REGEX_KEY] = [r"^https://api\.openai\.com/.*$"]
    [error] = errors(await chat(OpenSearchBackend(settings)))
    assert isinstance(error, ConfigurationError)
    assert "trusted_connector_endpoints_regex" in error.hint


def test_missing_model_id_is_a_configuration_error(standin):
    server = standin()
    with pytest.raises(ConfigurationError) as caught:
        OpenSearchBackend(provision_settings(server))
    assert "thinkpane setup opensearch" in caught.value.hint


async def test_memory_mirrors_each_turn_into_one_ml_commons_memory(standin, tmp_path):
    server = standin()
    backend = OpenSearchBackend(await provisioned(server, tmp_path, memory=True, mode="predict"))
    first = await chat(backend, Conversation([Message("user", "What is 2+2?")]))
    assert isinstance(first[-1], Stop)  # Stop stays last
    [extra] = [e for e in first if isinstance(e, MessageExtra)]
    memory_id = extra.data[MEMORY_EXTRA_KEY]

    # The store keeps the extra on the answer; the next turn finds it there.
    history = Conversation([
        Message("user", "What is 2+2?"),
        Message("assistant", "Hello from the stand-in.", reasoning="r", extra=dict(extra.data)),
        Message("user", "And 3+3?"),
    ])
    second = await chat(backend, history)
    assert not any(isinstance(e, MessageExtra) for e in second)
    assert list(server.state.memories) == [memory_id]
    assert server.state.memories[memory_id]["name"] == "What is 2+2?"  # the chat's title in Thinkpane
    messages = OpenSearch(hosts=[server.url]).plugins.ml.get_all_messages(memory_id=memory_id)["messages"]
    assert [m["input"] for m in messages] == ["What is 2+2?", "And 3+3?"]
    assert messages[0]["response"] == "Hello from the stand-in."
    assert messages[0]["additional_info"]["reasoning"] == "The user greets me; I should greet back."
    assert messages[0]["origin"] == "thinkpane"


async def test_memory_failure_is_a_warning_not_an_error(standin, tmp_path):
    server = standin()
    settings = await provisioned(server, tmp_path, memory=True, mode="predict")
    server.state.persistent[ML + "memory_feature_enabled"] = "false"
    events = await chat(OpenSearchBackend(settings))
    assert errors(events) == []
    [warning] = [e for e in events if isinstance(e, Notice) and e.level == "warning"]
    assert "not saved to conversation memory" in warning.text
    assert "conversation memory is disabled on the cluster" in warning.text
    assert isinstance(events[-1], Stop) and text(events, ContentDelta) == "Hello from the stand-in."


# --------------------------------------------------------------------------- _predict/stream


async def test_streaming_chat_model_streams_the_answer(standin, tmp_path):
    server = standin(initial_settings={ML + "stream_enabled": "true"},
                     reply_content="One two three four five.")
    backend = OpenSearchBackend(await provisioned(server, tmp_path, deepseek_model="deepseek-v4-flash", thinking="off"))
    events = await chat(backend)
    assert isinstance(events[0], Notice) and "_predict/stream" in events[0].text
    deltas = [e.text for e in events if isinstance(e, ContentDelta)]
    assert len(deltas) == 5 and "".join(deltas) == "One two three four five."
    assert events[-1] == Stop("end_turn", "is_last")
    [request] = stream_requests(server)
    assert json.loads(request.body)["parameters"]["_llm_interface"] == "openai/v1/chat/completions"
    assert request.headers["accept"] == "text/event-stream"
    # Second turn streams too, silently.
    again = await chat(backend)
    assert not any(isinstance(e, Notice) for e in again) and len(stream_requests(server)) == 2
    await backend.aclose()


async def test_streaming_disabled_falls_back_to_predict_once_and_says_so(standin, tmp_path):
    server = standin()  # stream_enabled defaults to false
    backend = OpenSearchBackend(await provisioned(server, tmp_path, deepseek_model="deepseek-v4-flash", thinking="off"))
    events = await chat(backend)
    assert isinstance(events[0], Notice)
    assert "streaming is unavailable" in events[0].text and "_predict" in events[0].text
    assert text(events, ContentDelta) == "Hello from the stand-in."
    assert isinstance(events[-1], Stop)
    again = await chat(backend)
    assert text(again, ContentDelta) == "Hello from the stand-in."
    assert not any(isinstance(e, Notice) for e in again)
    assert len(stream_requests(server)) == 1  # the choice is remembered


async def test_a_stock_cluster_that_cannot_stream_http_falls_back_to_predict(standin, tmp_path):
    # No reactor-netty4: OpenSearch core refuses _predict/stream before ML Commons sees it,
    # whatever stream_enabled says.
    server = standin(initial_settings={ML + "stream_enabled": "true"}, http_streaming=False)
    backend = OpenSearchBackend(await provisioned(server, tmp_path, thinking="off"))
    events = await chat(backend)
    [notice] = [e for e in events if isinstance(e, Notice)]
    assert "streaming is unavailable" in notice.text and "HTTP layer does not stream" in notice.text
    assert text(events, ContentDelta) == "Hello from the stand-in." and isinstance(events[-1], Stop)
    again = await chat(backend)
    assert not any(isinstance(e, Notice) for e in again)
    assert len(stream_requests(server)) == 1  # the refusal will not change: remembered


async def test_auto_mode_is_fixed_only_by_a_first_streamed_answer(standin, tmp_path):
    server = standin(initial_settings={ML + "stream_enabled": "true"})
    backend = OpenSearchBackend(await provisioned(server, tmp_path, thinking="off"))
    server.config.provider_failure = (503, json.dumps({"error": {"message": "Server busy"}}))
    failed = await chat(backend)
    assert errors(failed) and not any(isinstance(e, Notice) and "_predict/stream" in e.text for e in failed)
    server.config.provider_failure = None
    events = await chat(backend)  # auto again: streams, and now says so
    assert any(isinstance(e, Notice) and "streaming with _predict/stream" in e.text for e in events)
    assert len(stream_requests(server)) == 2 and text(events, ContentDelta) == "Hello from the stand-in."


@pytest.mark.parametrize(
    ("given", "parameters", "reasoning"),
    [
        ({"thinking": "off"}, {"thinking": "disabled"}, False),
        ({"thinking": "on", "reasoning_effort": "max"}, {"thinking": "enabled", "reasoning_effort": "max"}, True),
        ({}, {}, True),  # auto: the connector's defaults (DeepSeek's own), thinking on
    ],
)
async def test_thinking_and_effort_travel_as_predict_parameters_into_the_template(standin, tmp_path, given,
                                                                                 parameters, reasoning):
    server = standin()
    backend = OpenSearchBackend(await provisioned(server, tmp_path, mode="predict", **given))
    events = await chat(backend)
    call = server.state.provider_calls[-1]
    sent = {k: v for k, v in call["parameters"].items() if k in ("thinking", "reasoning_effort")}
    assert sent == parameters
    body = call["body"]  # what DeepSeek received, the template filled in
    assert body["thinking"] == {"type": parameters.get("thinking", "enabled")}
    assert body["reasoning_effort"] == parameters.get("reasoning_effort", "high")
    assert bool(text(events, ReasoningDelta)) is reasoning


async def test_a_retired_model_name_is_replaced_per_turn_with_a_notice(standin, tmp_path):
    server = standin()
    settings = await provisioned(server, tmp_path, mode="predict")
    backend = OpenSearchBackend({**settings, "deepseek_model": "deepseek-chat"})
    assert backend.model == "deepseek-v4-flash"
    events = await chat(backend)
    [notice] = [e for e in events if isinstance(e, Notice) and "retired" in e.text]
    assert "deepseek-chat" in notice.text and "deepseek-v4-flash with thinking off" in notice.text
    call = server.state.provider_calls[-1]
    assert call["model"] == "deepseek-v4-flash" and call["body"]["thinking"] == {"type": "disabled"}


async def test_stream_mode_on_a_cluster_without_streaming_is_an_error(standin, tmp_path):
    server = standin()
    backend = OpenSearchBackend(await provisioned(server, tmp_path, deepseek_model="deepseek-v4-flash", thinking="off", mode="stream"))
    [error] = errors(await chat(backend))
    assert isinstance(error, ConfigurationError) and "streaming is disabled" in error.title
    assert "plugins.ml_commons.stream_enabled" in error.hint


async def test_stream_provider_error_is_typed(standin, tmp_path):
    server = standin(initial_settings={ML + "stream_enabled": "true"})
    settings = await provisioned(server, tmp_path, deepseek_model="deepseek-v4-flash", thinking="off", mode="stream")
    server.config.provider_failure = (402, json.dumps({"error": {"message": "Insufficient Balance"}}))
    [error] = errors(await chat(OpenSearchBackend(settings)))
    assert isinstance(error, PermissionDeniedError) and error.status == 402


async def test_error_event_mid_stream_keeps_the_partial_answer(standin, tmp_path):
    server = standin(initial_settings={ML + "stream_enabled": "true"}, reply_content="One two three.",
                     stream_error="Error from remote service: {\"error\":{\"message\":\"Rate limit reached\"}}")
    settings = await provisioned(server, tmp_path, deepseek_model="deepseek-v4-flash", thinking="off", mode="stream")
    events = await chat(OpenSearchBackend(settings))
    assert text(events, ContentDelta) == "One "
    [error] = errors(events)
    assert isinstance(error, RateLimitedError) and "mid-stream" in error.title
    assert not any(isinstance(e, Stop) for e in events)


async def test_stream_without_a_last_event_is_incomplete(standin, tmp_path):
    server = standin(initial_settings={ML + "stream_enabled": "true"}, stream_truncate=True)
    settings = await provisioned(server, tmp_path, deepseek_model="deepseek-v4-flash", thinking="off", mode="stream")
    events = await chat(OpenSearchBackend(settings))
    assert text(events, ContentDelta) == "Hello from the stand-in."
    [error] = errors(events)
    assert isinstance(error, IncompleteStreamError)


async def test_closing_the_stream_hangs_up_the_connection(standin, tmp_path):
    server = standin(initial_settings={ML + "stream_enabled": "true"},
                     reply_content=" ".join(f"w{i}" for i in range(200)))
    settings = await provisioned(server, tmp_path, deepseek_model="deepseek-v4-flash", thinking="off", mode="stream")
    server.config.hold_action = "stream"
    backend = OpenSearchBackend(settings)
    agen = guarded(backend, HELLO)
    async for event in agen:
        if isinstance(event, ContentDelta):
            break
    await agen.aclose()  # what the UI does on Esc
    server.config.release.set()
    assert await asyncio.to_thread(server.state.stream_aborted.wait, 10)
    await backend.aclose()


# --------------------------------------------------------------------------- auth and TLS


async def test_basic_auth_for_predict_and_stream_and_a_wrong_password(standin, tmp_path):
    server = standin(username="admin", password="Right-Password-1",
                     initial_settings={ML + "stream_enabled": "true"})
    settings = await provisioned(server, tmp_path, auth="basic", username="admin",
                                 password=Secret("Right-Password-1"), deepseek_model="deepseek-v4-flash", thinking="off")
    assert text(await chat(OpenSearchBackend(settings)), ContentDelta) == "Hello from the stand-in."
    assert text(await chat(OpenSearchBackend({**settings, "mode": "predict"})), ContentDelta)

    for mode in ("stream", "predict"):
        wrong = OpenSearchBackend({**settings, "mode": mode, "password": Secret("Wrong-Password-9")})
        [error] = errors(await chat(wrong))
        assert isinstance(error, AuthenticationError), mode
        assert "Wrong-Password-9" not in str(error.to_dict())


async def test_sigv4_signs_predict_and_stream(standin, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTHINKPANETEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret-key-0000000000000000000")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    server = standin(sigv4_access_key="AKIDTHINKPANETEST", initial_settings={ML + "stream_enabled": "true"})
    settings = await provisioned(server, tmp_path, auth="sigv4", region="us-east-1", deepseek_model="deepseek-v4-flash", thinking="off")
    for mode in ("stream", "predict"):
        events = await chat(OpenSearchBackend({**settings, "mode": mode}))
        assert text(events, ContentDelta) == "Hello from the stand-in.", mode
    assert all(r.headers["authorization"].startswith("AWS4-HMAC-SHA256") for r in server.requests)


async def test_tls_with_a_ca_bundle_and_failure_without_it(standin, tmp_path):
    cert, key = make_self_signed_cert(tmp_path / "tls")
    server = standin(tls=(str(cert), str(key)), initial_settings={ML + "stream_enabled": "true"})
    assert server.url.startswith("https://")
    settings = await provisioned(server, tmp_path, ca_bundle=str(cert), deepseek_model="deepseek-v4-flash", thinking="off")
    for mode in ("stream", "predict"):
        events = await chat(OpenSearchBackend({**settings, "mode": mode}))
        assert text(events, ContentDelta) == "Hello from the stand-in.", mode

    # Without the CA bundle the self-signed certificate is refused, with the ca_bundle hint.
    for mode in ("stream", "predict"):
        backend = OpenSearchBackend({**settings, "mode": mode, "ca_bundle": None})
        [error] = errors(await chat(backend))
        assert isinstance(error, ConnectionFailedError), mode
        assert "TLS certificate verification failed" in error.title and "--ca-bundle" in error.hint
        assert "--no-verify-tls" in error.hint, mode
    events = [e async for e in OpenSearchProvisioner({**settings, "ca_bundle": None}, tmp_path / "s2.json").provision()]
    assert events[-1].step == "connect" and events[-1].status == "fail"
    assert "--ca-bundle" in events[-1].hint
    assert "--no-verify-tls" in events[-1].hint and "--verify-tls false" not in events[-1].hint

    # Turning verification off works, and says so.
    insecure = OpenSearchBackend({**settings, "mode": "predict", "ca_bundle": None, "verify_tls": False})
    events = await chat(insecure)
    assert isinstance(events[0], Notice) and events[0].level == "warning" and "verify_tls" in events[0].text
    assert text(events, ContentDelta) == "Hello from the stand-in."


async def test_https_to_a_plain_http_cluster_says_it_does_not_speak_tls(standin, tmp_path):
    server = standin(initial_settings={ML + "stream_enabled": "true"})
    settings = await provisioned(server, tmp_path, deepseek_model="deepseek-chat")
    url = server.url.replace("http://", "https://")
    for mode in ("stream", "predict"):
        [error] = errors(await chat(OpenSearchBackend({**settings, "url": url, "mode": mode})))
        assert isinstance(error, ConnectionFailedError), mode
        assert error.title == f"{url} does not speak TLS", mode
        assert "http://" in error.hint and "certificate" not in error.hint, mode
    events = [e async for e in OpenSearchProvisioner({**settings, "url": url}, tmp_path / "s2.json").provision()]
    assert (events[-1].step, events[-1].status) == ("connect", "fail")
    assert events[-1].message == f"{url} does not speak TLS"


async def test_predict_timeout_says_what_timed_out_and_which_option_raises_it(standin, tmp_path):
    server = standin()
    settings = await provisioned(server, tmp_path)
    server.config.hold_action = "predict"  # the cluster takes longer than the request timeout
    try:
        [error] = errors(await chat(OpenSearchBackend({**settings, "mode": "predict", "request_timeout_s": 0.3})))
    finally:
        server.config.release.set()
    assert error.title == "No answer from OpenSearch within 0.3 s (request timeout)"
    assert "--request-timeout-s" in error.hint
    assert error.detail == ""  # not urllib3's "HTTPConnectionPool(host=…): Read timed out"


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:0"])
def test_a_cluster_url_with_a_port_out_of_range_is_a_configuration_error(url):
    with pytest.raises(ConfigurationError) as caught:
        OpenSearchBackend({"url": url, "auth": "none", "model_id": "m"})
    assert caught.value.title == f"Invalid cluster URL {url!r}"
    assert caught.value.hint.startswith("Expected a port from 1 to 65535 in the URL")


# --------------------------------------------------------------------------- the stand-in's CLI


def test_standin_cli_prints_ready_and_serves():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.mlcommons", "--port", "0", "--scenario", "streaming",
         "--provisioned", "deepseek-chat"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("READY port=")
        fields = dict(part.split("=") for part in line.split()[1:])
        port = int(fields["port"])
        client = OpenSearch(hosts=[f"http://127.0.0.1:{port}"])
        assert client.info()["version"]["distribution"] == "opensearch"
        settings = client.cluster.get_settings(include_defaults=True, flat_settings=True)
        assert settings["persistent"][ML + "stream_enabled"] == "true"
        assert settings["defaults"][REGEX_KEY] == DEFAULT_SETTINGS[REGEX_KEY]
        model = client.plugins.ml.get_model(model_id=fields["model_id"])
        assert model["model_state"] == "DEPLOYED"
    finally:
        process.terminate()
        process.wait(timeout=10)
