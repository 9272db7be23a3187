"""``thinkpane doctor`` against each stand-in: configuration, credentials, TLS, probe, channel.

In-process through ``main([...])``: the real backends over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import ssl

import pytest

from tests import backend_fixtures
from tests.backend_fixtures import AWS_KEY_ID, AWS_SECRET
from tests.servers.mlcommons import TEST_API_KEY, preprovision
from tests.servers.ollama import serve_ollama
from tests.servers.openai_sse import DONE, chunk, serve
from tests.servers.tls import make_self_signed_cert
from thinkpane.tui.cli.main import main

aws_env = backend_fixtures.aws_env
bedrock_server = backend_fixtures.bedrock_server
mlcommons_server = backend_fixtures.mlcommons_server

KEY = "sk-doctor-test-0123456789abcdef"


def doctor_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["doctor", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def checks(document: dict, index: int = 0) -> dict[str, dict]:
    return {check["name"]: check for check in document["backends"][index]["checks"]}


@pytest.mark.parametrize(
    ("scenario", "channel"),
    [("reasoner", "reasoning_content"), ("vllm", "reasoning"), ("think_tags", "think_tags")],
)
def test_openai_reports_the_reasoning_channel(capsys, monkeypatch, scenario, channel):
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    with serve(scenario) as server:
        code, document = doctor_json(capsys, "--backend", "openai", "--base-url", server.base_url)
    assert code == 0 and document["ok"] is True
    [backend] = document["backends"]
    assert backend["answered"] is True and backend["reasoning_channel"] == channel
    found = checks(document)
    assert [name for name in found] == ["configuration", "credentials", "reachability", "probe", "reasoning"]
    assert found["credentials"]["message"] == "API key: set (from $DEEPSEEK_API_KEY)"
    assert KEY not in json.dumps(document)  # the key is never printed


def test_a_server_that_sends_no_reasoning_gets_the_likely_fix(capsys):
    with serve() as server:
        server.enqueue([chunk(content="Hello there.", finish="stop"), DONE])
        code = main(["doctor", "--backend", "openai", "--base-url", server.base_url, "--dialect", "vllm"])
    out = capsys.readouterr().out
    assert code == 0  # it answered; the missing reasoning is a warning
    assert "the answer came without reasoning (channel: none)" in out
    assert "reasoning parser" in out and "--thinking on" in out
    assert "reasoning channel: none" in out


def test_an_unreachable_server_fails_with_exit_1(capsys):
    code, document = doctor_json(capsys, "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1")
    assert code == 1 and document["ok"] is False
    found = checks(document)
    assert found["reachability"]["status"] == "fail" and "Cannot reach 127.0.0.1:9" in found["reachability"]["message"]
    assert "probe" not in found


def test_a_configuration_error_is_the_first_and_only_check(capsys):
    code, document = doctor_json(capsys, "--backend", "openai", "--base-url", "https://api.example.com/v1")
    assert code == 1
    [check] = document["backends"][0]["checks"]
    assert check["name"] == "configuration" and check["status"] == "fail"
    assert "No API key" in check["message"] and "--api-key" in check["hint"]


def test_tls_that_is_not_trusted_names_the_flags_that_fix_it(capsys, tmp_path):
    cert, key = make_self_signed_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with serve(tls=context) as server:
        code, document = doctor_json(capsys, "--backend", "openai", "--base-url", server.base_url, "--api-key", KEY)
        assert code == 1
        reach = checks(document)["reachability"]
        assert reach["status"] == "fail" and "not trusted" in reach["message"]
        assert "--ca-bundle" in reach["hint"] and "--no-verify-tls" in reach["hint"]
        code, document = doctor_json(capsys, "--backend", "openai", "--base-url", server.base_url, "--api-key", KEY,
                                     "--ca-bundle", str(cert))
    assert code == 0
    assert "certificate verified" in checks(document)["reachability"]["message"]


def test_bedrock_reports_bedrock_reasoning_and_where_the_keys_come_from(capsys, bedrock_server):
    code, document = doctor_json(capsys, "--backend", "bedrock", "--endpoint-url", bedrock_server.url,
                                 "--region", "us-east-1")
    assert code == 0
    assert document["backends"][0]["reasoning_channel"] == "bedrock_reasoning"
    assert checks(document)["credentials"]["message"] == "AWS credentials: found by the env provider"
    text = json.dumps(document)
    assert AWS_SECRET not in text and AWS_KEY_ID not in text


def test_bedrock_without_credentials_says_aws_configure(capsys, bedrock_server, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, document = doctor_json(capsys, "--backend", "bedrock", "--endpoint-url", bedrock_server.url,
                                 "--region", "us-east-1")
    assert code == 1
    credentials = checks(document)["credentials"]
    assert credentials["status"] == "fail" and "No AWS credentials" in credentials["message"]
    assert "aws configure" in credentials["hint"]


def test_opensearch_predict_reports_reasoning_content(capsys, mlcommons_server):
    model_id = preprovision(mlcommons_server.state)
    code, document = doctor_json(capsys, "--backend", "opensearch", "--url", mlcommons_server.url,
                                 "--auth", "none", "--model-id", model_id, "--mode", "predict")
    assert code == 0 and document["backends"][0]["reasoning_channel"] == "reasoning_content"
    assert TEST_API_KEY not in json.dumps(document)


def test_ollama_reports_the_reasoning_field(capsys, monkeypatch):
    with serve_ollama() as server:
        monkeypatch.setenv("OLLAMA_HOST", server.host)
        code, document = doctor_json(capsys, "--backend", "ollama", "--model", "qwen3:0.6b", "--reasoning-effort", "low")
        [chat] = server.chats()
    assert code == 0 and document["backends"][0]["reasoning_channel"] == "reasoning"
    assert "dialect ollama" in checks(document)["configuration"]["message"]
    assert chat.body["reasoning_effort"] == "low"


def test_several_backends_are_checked_in_turn_and_any_failure_fails(capsys, monkeypatch, tmp_path):
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    with serve() as server:
        config.write_text(f'[backends.openai]\nbase_url = "{server.base_url}"\n'
                          '[backends.opensearch]\nurl = "http://127.0.0.1:9"\nauth = "none"\nmodel_id = "nope"\n')
        code, document = doctor_json(capsys, "--backend", "openai", "opensearch")
    assert code == 1 and document["ok"] is False
    assert [b["backend"] for b in document["backends"]] == ["openai", "opensearch"]
    assert [b["answered"] for b in document["backends"]] == [True, False]


def test_the_configured_backend_is_the_default(capsys, tmp_path):
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    with serve() as server:
        config.write_text(f'backend = "openai"\n[backends.openai]\nbase_url = "{server.base_url}"\n')
        code, document = doctor_json(capsys)
    assert code == 0 and [b["backend"] for b in document["backends"]] == ["openai"]
