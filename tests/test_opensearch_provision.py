"""OpenSearch setup/teardown through real opensearch-py against the ML Commons stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opensearchpy import OpenSearch

from tests.servers.mlcommons import (
    DEFAULT_SETTINGS,
    ML,
    TEST_API_KEY,
    MLCommonsServer,
    StandInConfig,
    outline,
    provision_settings,
)
from thinkpane.backends.events import ProgressEvent
from thinkpane.backends.opensearch import OpenSearchProvisioner
from thinkpane.backends.opensearch.provision import (
    PRIVATE_IP_KEY,
    REGEX_KEY,
    STEPS,
    parse_endpoint,
)
from thinkpane.backends.secrets import MASK, Secret

FULL_RUN = [
    ("connect", "start"), ("connect", "ok"),
    ("cluster_settings", "start"), ("cluster_settings", "skip"),
    ("model_group", "start"), ("model_group", "ok"),
    ("connector", "start"), ("connector", "ok"),
    ("model", "start"), ("model", "ok"),
    ("deploy", "start"), ("deploy", "ok"),
    ("wait_deployed", "start"), ("wait_deployed", "ok"),
    ("test", "start"), ("test", "ok"),
]


@pytest.fixture
def standin():
    servers: list[MLCommonsServer] = []

    def start(**config) -> MLCommonsServer:
        server = MLCommonsServer(StandInConfig(**config)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def state_path(tmp_path):
    return tmp_path / "data" / "state" / "opensearch.json"


async def run(agen) -> list[ProgressEvent]:
    return [event async for event in agen]


def final(events: list[ProgressEvent], step: str) -> ProgressEvent:
    return [e for e in events if e.step == step and e.status not in ("start", "info", "progress")][-1]


async def provision_until(settings: dict, state_path, step: str) -> None:
    """Run setup until ``step`` ends well, then close it (the user quit the wizard there)."""
    agen = OpenSearchProvisioner(settings, state_path).provision()
    async for event in agen:
        if event.step == step and event.status == "ok":
            break
    await agen.aclose()


def someone_elses_model_on_our_connector(server: MLCommonsServer, state_path) -> tuple[dict, OpenSearch, str]:
    """After a provision: another model registered on the connector setup made (the saved
    ids, a client, the other model's id)."""
    saved = json.loads(state_path.read_text())
    client = raw_client(server)
    other = client.plugins.ml.register_model(body={
        "name": "someone-elses", "function_name": "remote",
        "model_group_id": saved["model_group_id"], "connector_id": saved["connector_id"]})["model_id"]
    return saved, client, other


def raw_client(server: MLCommonsServer) -> OpenSearch:
    return OpenSearch(hosts=[server.url], max_retries=0)


# --------------------------------------------------------------------------- the happy path


async def test_full_provision_sequence_state_file_and_saved_settings(standin, state_path):
    server = standin()
    provisioner = OpenSearchProvisioner(provision_settings(server), state_path)
    events = await run(provisioner.provision())

    assert outline(events) == FULL_RUN
    assert [s for s, _ in outline(events)][::2] == list(STEPS)
    assert all(e.duration_s is not None for e in events if e.status in ("ok", "skip", "warn", "fail"))
    assert server.counts() == {"model_groups": 1, "connectors": 1, "models": 1, "deployed": 1}
    model_id = next(iter(server.state.models))
    assert provisioner.saved_settings() == {"model_id": model_id}
    test_ok = final(events, "test")
    assert test_ok.data["content"] == "Hello from the stand-in."
    assert test_ok.data["reasoning"] == "The user greets me; I should greet back."
    # The state file: private, JSON, every id, no key.
    assert stat.S_IMODE(os.stat(state_path).st_mode) == 0o600
    saved = json.loads(state_path.read_text())
    assert saved["model_id"] == model_id
    assert saved["connector_id"] in server.state.connectors
    assert saved["model_group_id"] in server.state.model_groups
    # The connector follows the DeepSeek blueprint, with a reasoning-friendly read timeout.
    connector = next(iter(server.state.connectors.values()))
    # DeepSeek's own thinking defaults fill the template when a turn sends none.
    assert connector["parameters"] == {"endpoint": "api.deepseek.com", "model": "deepseek-v4-flash",
                                       "thinking": "enabled", "reasoning_effort": "high"}
    assert connector["actions"][0]["url"] == "https://${parameters.endpoint}/v1/chat/completions"
    assert connector["credential"] == {"deepSeek_key": TEST_API_KEY}
    assert connector["client_config"]["read_timeout"] >= 300
    assert connector["client_config"]["max_retry_times"] == 0  # a retry would bill the answer again
    provider_body = server.state.provider_calls[-1]["body"]
    assert (provider_body["thinking"], provider_body["reasoning_effort"]) == ({"type": "enabled"}, "high")
    # The default regex list already trusts api.deepseek.com: no settings PUT at all.
    assert not [r for r in server.requests if r.method == "PUT" and r.path == "/_cluster/settings"]


async def test_deploy_answering_created_and_deploying_for_a_few_polls(standin, state_path):
    server = standin(deploy_status="CREATED", deploying_polls=3)
    events = await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    assert outline(events) == FULL_RUN
    assert "CREATED" in final(events, "deploy").message
    states = [e.data["state"] for e in events if e.step == "wait_deployed" and e.status == "progress"]
    assert states == ["DEPLOYING", "DEPLOYING", "DEPLOYING", "DEPLOYED"]
    assert all("elapsed_s" in e.data for e in events if e.status == "progress")


async def test_partially_deployed_is_a_warning_and_setup_goes_on(standin, state_path):
    server = standin(deploy_outcome="PARTIALLY_DEPLOYED")
    events = await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    assert ("wait_deployed", "warn") in outline(events)
    assert final(events, "test").status == "ok"


async def test_deploy_failed_shows_the_task_error_and_a_rerun_retries(standin, state_path):
    server = standin(deploy_outcome="DEPLOY_FAILED", deploying_polls=1,
                     deploy_error="Remote inference host unreachable")
    settings = provision_settings(server)
    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    failed = final(events, "wait_deployed")
    assert failed.status == "fail"
    assert "Remote inference host unreachable" in failed.message
    assert "run `thinkpane setup opensearch` again" in failed.hint
    assert outline(events)[-1] == ("wait_deployed", "fail")  # stops: no test step

    server.config.deploy_outcome = "DEPLOYED"
    again = await run(OpenSearchProvisioner(settings, state_path).provision())
    assert final(again, "test").status == "ok"
    assert any(e.step == "deploy" and "Undeploying first" in e.message for e in again)
    assert server.counts() == {"model_groups": 1, "connectors": 1, "models": 1, "deployed": 1}


async def test_deploy_stuck_times_out_with_the_undeploy_hint(standin, state_path):
    server = standin(deploying_polls=10_000)
    settings = provision_settings(server, deploy_timeout_s=0.05)
    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    failed = final(events, "wait_deployed")
    assert failed.status == "fail"
    assert "#2808" in failed.hint and "_undeploy" in failed.hint


# --------------------------------------------------------------------------- cluster settings


async def test_custom_private_endpoint_merges_a_narrow_regex_and_enables_private_ip(standin, state_path):
    corp = r"^https://llm\.corp\.example/.*$"
    server = standin(initial_settings={REGEX_KEY: [corp]})
    settings = provision_settings(server, endpoint="http://127.0.0.1:8000/v1")
    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    assert final(events, "cluster_settings").status == "ok"
    assert final(events, "test").status == "ok"
    regexes = server.state.persistent[REGEX_KEY]
    assert regexes == [corp, r"^http://127\.0\.0\.1:8000/.*$"]  # merged, existing entry kept
    assert not any(r in (".*", "^.*$") for r in regexes)
    assert server.state.persistent[PRIVATE_IP_KEY] == "true"
    connector = next(iter(server.state.connectors.values()))
    assert connector["actions"][0]["url"] == "http://${parameters.endpoint}/v1/chat/completions"
    # A second run changes nothing.
    puts = len([r for r in server.requests if r.method == "PUT" and r.path == "/_cluster/settings"])
    again = await run(OpenSearchProvisioner(settings, state_path).provision())
    assert final(again, "cluster_settings").status == "skip"
    assert len([r for r in server.requests if r.method == "PUT" and r.path == "/_cluster/settings"]) == puts


def test_regex_is_built_from_the_endpoint_host_and_escaped():
    assert parse_endpoint(None).trusted_regex == r"^https://api\.deepseek\.com/.*$"
    assert parse_endpoint("api.deepseek.com").resolved_url == "https://api.deepseek.com/v1/chat/completions"
    endpoint = parse_endpoint("https://my-llm.example.com:8443/v1")
    assert endpoint.trusted_regex == r"^https://my\-llm\.example\.com:8443/.*$"
    assert endpoint.resolved_url == "https://my-llm.example.com:8443/v1/chat/completions"


async def test_memory_on_sets_the_feature_flag_only_when_it_is_off(standin, state_path):
    server = standin(initial_settings={ML + "memory_feature_enabled": "false"})
    events = await run(OpenSearchProvisioner(provision_settings(server, memory=True), state_path).provision())
    assert final(events, "cluster_settings").status == "ok"
    assert server.state.persistent[ML + "memory_feature_enabled"] == "true"


async def test_setting_the_cluster_does_not_know_is_skipped_with_a_warning(standin, state_path):
    server = standin(unknown_settings={PRIVATE_IP_KEY})
    settings = provision_settings(server, endpoint="http://10.1.2.3:8000")
    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    warned = final(events, "cluster_settings")
    assert warned.status == "warn"
    assert PRIVATE_IP_KEY in warned.message
    assert final(events, "test").status == "ok"


async def test_untrusted_endpoint_fails_the_connector_step_with_the_regex_hint(standin, state_path):
    # An old cluster where the regex setting cannot be changed: the connector is refused.
    server = standin(unknown_settings={REGEX_KEY})
    settings = provision_settings(server, endpoint="https://llm.internal.example")
    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    failed = final(events, "connector")
    assert failed.status == "fail"
    assert "does not trust the connector's endpoint" in failed.message
    assert "trusted_connector_endpoints_regex" in failed.hint
    assert "Connector URL is not matching the trusted connector endpoint regex" in failed.data["detail"]
    assert outline(events)[-1] == ("connector", "fail")


# --------------------------------------------------------------------------- reuse and resume


async def test_existing_model_group_with_the_same_name_is_reused(standin, state_path):
    server = standin()
    existing = raw_client(server).plugins.ml.register_model_group(body={"name": "thinkpane"})["model_group_id"]
    events = await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    group = final(events, "model_group")
    assert group.status == "ok" and group.data == {"model_group_id": existing, "reused": True}
    assert server.counts()["model_groups"] == 1
    assert json.loads(state_path.read_text())["model_group_id"] == existing


async def test_server_error_on_register_then_rerun_neither_duplicates_nor_orphans(standin, state_path):
    server = standin(fail_next={"register_model": (500, "m_l_exception", "Node disconnected")})
    settings = provision_settings(server)
    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    assert outline(events)[-1] == ("model", "fail")
    assert server.counts() == {"model_groups": 1, "connectors": 1, "models": 0, "deployed": 0}

    again = await run(OpenSearchProvisioner(settings, state_path).provision())
    assert final(again, "model_group").status == "skip"
    assert final(again, "connector").status == "skip"
    assert final(again, "test").status == "ok"
    assert server.counts() == {"model_groups": 1, "connectors": 1, "models": 1, "deployed": 1}

    down = await run(OpenSearchProvisioner(settings, state_path).teardown())
    assert final(down, "summary").status == "ok"
    assert server.counts() == {"model_groups": 0, "connectors": 0, "models": 0, "deployed": 0}
    assert not state_path.exists()


async def test_closing_provision_after_the_connector_step_then_rerun_resumes(standin, state_path):
    server = standin()
    settings = provision_settings(server)
    await provision_until(settings, state_path, "connector")
    assert server.counts() == {"model_groups": 1, "connectors": 1, "models": 0, "deployed": 0}

    again = await run(OpenSearchProvisioner(settings, state_path).provision())
    assert final(again, "test").status == "ok"
    assert server.counts() == {"model_groups": 1, "connectors": 1, "models": 1, "deployed": 1}
    await run(OpenSearchProvisioner(settings, state_path).teardown())
    assert server.counts() == {"model_groups": 0, "connectors": 0, "models": 0, "deployed": 0}


async def test_cancelling_while_deploying_then_rerun_waits_for_the_same_model(standin, state_path):
    server = standin(deploying_polls=10_000)
    settings = provision_settings(server, poll_interval_s=0.01)
    seen_deploying = asyncio.Event()

    async def consume():
        async for event in OpenSearchProvisioner(settings, state_path).provision():
            if event.step == "wait_deployed" and event.status == "progress":
                seen_deploying.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen_deploying.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    model_id = json.loads(state_path.read_text())["model_id"]

    server.state.deploy_polls_left[model_id] = 3  # model and deploy steps each GET it once
    again = await run(OpenSearchProvisioner(settings, state_path).provision())
    assert final(again, "deploy").status == "skip"  # already deploying: no second deploy
    assert final(again, "test").status == "ok"
    assert list(server.state.models) == [model_id]


async def test_saved_ids_that_vanished_are_created_anew(standin, state_path):
    server = standin()
    settings = provision_settings(server)
    await run(OpenSearchProvisioner(settings, state_path).provision())
    old_model = json.loads(state_path.read_text())["model_id"]
    client = raw_client(server)
    client.plugins.ml.undeploy_model(model_id=old_model)
    client.plugins.ml.delete_model(model_id=old_model)

    again = await run(OpenSearchProvisioner(settings, state_path).provision())
    assert final(again, "model").status == "ok"
    assert any("is gone" in e.message for e in again if e.step == "model")
    new_model = json.loads(state_path.read_text())["model_id"]
    assert new_model != old_model and list(server.state.models) == [new_model]


async def test_rerun_with_a_new_key_updates_the_connector_and_redeploys(standin, state_path):
    server = standin(valid_api_key="sk-correct0123456789")
    settings = provision_settings(server, deepseek_api_key=Secret("sk-wrong00000000000"))
    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    failed = final(events, "test")
    assert failed.status == "fail"
    assert "DeepSeek rejected the API key" in failed.message
    assert "thinkpane setup opensearch" in failed.hint

    fixed = provision_settings(server, deepseek_api_key=Secret("sk-correct0123456789"))
    again = await run(OpenSearchProvisioner(fixed, state_path).provision())
    assert final(again, "test").status == "ok"
    assert server.counts()["connectors"] == 1


async def test_rerun_while_the_model_is_deployed_undeploys_before_updating_the_connector(standin, state_path):
    server = standin()
    await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    saved = json.loads(state_path.read_text())
    # What a real cluster answers to a PUT on the connector of a deployed model.
    with pytest.raises(Exception, match="please undeploy the models first") as refused:
        raw_client(server).transport.perform_request(
            "PUT", f"/_plugins/_ml/connectors/{saved['connector_id']}", body={"credential": {"deepSeek_key": "x"}})
    assert getattr(refused.value, "status_code", None) == 400

    new_key = "sk-rotated0123456789abc"
    events = await run(OpenSearchProvisioner(provision_settings(server, deepseek_api_key=Secret(new_key)),
                                             state_path).provision())
    connector_lines = [e.message for e in events if e.step == "connector"]
    assert any(f"Undeploying model {saved['model_id']} first" in line for line in connector_lines)
    assert final(events, "connector").status == "skip"
    assert final(events, "deploy").status == "ok"  # deployed again
    assert final(events, "test").status == "ok"
    assert server.state.connectors[saved["connector_id"]]["credential"] == {"deepSeek_key": new_key}
    assert server.state.provider_calls[-1]["authorization"] == f"Bearer {new_key}"
    assert server.counts() == {"model_groups": 1, "connectors": 1, "models": 1, "deployed": 1}


async def test_a_connector_held_by_someone_elses_deployed_model_fails_with_the_clusters_message(standin, state_path):
    server = standin()
    settings = provision_settings(server)
    await run(OpenSearchProvisioner(settings, state_path).provision())
    saved, client, other = someone_elses_model_on_our_connector(server, state_path)
    client.plugins.ml.deploy_model(model_id=other)
    client.plugins.ml.undeploy_model(model_id=saved["model_id"])  # ours is not what holds it

    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    failed = final(events, "connector")
    assert failed.status == "fail"
    # The cluster's own words, with the model that holds the connector: nothing of theirs is undeployed.
    assert "models are still using this connector, please undeploy the models first" in failed.data["detail"]
    assert other in failed.data["detail"]
    assert server.state.models[other]["model_state"] == "DEPLOYED"


async def test_an_older_connector_gains_the_thinking_template_on_rerun(standin, state_path):
    server = standin()
    await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    connector = server.state.connectors[json.loads(state_path.read_text())["connector_id"]]
    # As an earlier Thinkpane made it: the blueprint's body, retries on.
    connector["actions"][0]["request_body"] = '{ "model": "${parameters.model}", "messages": ${parameters.messages} }'
    connector["parameters"] = {"endpoint": "api.deepseek.com", "model": "deepseek-v4-flash"}
    connector["client_config"]["max_retry_times"] = 2
    events = await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    assert final(events, "test").status == "ok"
    assert "${parameters.thinking}" in connector["actions"][0]["request_body"]
    assert connector["parameters"]["thinking"] == "enabled"
    assert connector["client_config"]["max_retry_times"] == 0


# --------------------------------------------------------------------------- failures at connect


async def test_ml_commons_missing_is_named_with_the_install_command(standin, state_path):
    server = standin(ml_installed=False)
    events = await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    failed = final(events, "connect")
    assert failed.status == "fail" and "ML Commons is not installed" in failed.message
    assert "opensearch-plugin install opensearch-ml" in failed.hint


async def test_wrong_password_is_a_401_with_a_plain_hint(standin, state_path):
    server = standin(username="admin", password="Right-Password-1")
    settings = provision_settings(server, auth="basic", username="admin", password=Secret("Wrong-Password-1"))
    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    failed = final(events, "connect")
    assert failed.status == "fail"
    assert "wrong user or password" in failed.message
    assert "Wrong-Password-1" not in repr(events)
    # And the right one works.
    ok = provision_settings(server, auth="basic", username="admin", password=Secret("Right-Password-1"))
    assert final(await run(OpenSearchProvisioner(ok, state_path).provision()), "test").status == "ok"


async def test_missing_permission_is_named(standin, state_path):
    server = standin(forbidden={"register_model_group"})
    events = await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    failed = final(events, "model_group")
    assert failed.status == "fail"
    assert "cluster:admin/opensearch/ml/register_model_group" in failed.message
    assert "ml_full_access" in failed.hint


async def test_missing_api_key_fails_before_any_request(standin, state_path):
    server = standin()
    events = await run(OpenSearchProvisioner(provision_settings(server, deepseek_api_key=None), state_path).provision())
    failed = final(events, "connect")
    assert failed.status == "fail" and "DeepSeek API key is not set" in failed.message
    assert "DEEPSEEK_API_KEY" in failed.hint
    assert server.requests == []


async def test_unreachable_cluster_fails_connect(state_path):
    settings = {"url": "http://127.0.0.1:9", "auth": "none", "deepseek_api_key": Secret(TEST_API_KEY)}
    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    failed = final(events, "connect")
    assert failed.status == "fail" and "Could not connect" in failed.message


# --------------------------------------------------------------------------- teardown


async def test_teardown_of_a_deployed_model_undeploys_first_and_removes_everything(standin, state_path):
    server = standin()
    settings = provision_settings(server)
    await run(OpenSearchProvisioner(settings, state_path).provision())
    events = await run(OpenSearchProvisioner(settings, state_path).teardown())
    assert outline(events) == [
        ("connect", "start"), ("connect", "ok"),
        ("find", "start"), ("find", "skip"),
        ("undeploy", "start"), ("undeploy", "ok"),
        ("delete_model", "start"), ("delete_model", "ok"),
        ("delete_connector", "start"), ("delete_connector", "ok"),
        ("delete_model_group", "start"), ("delete_model_group", "ok"),
        ("summary", "ok"),
    ]
    assert "Undeployed" in final(events, "undeploy").message
    assert server.counts() == {"model_groups": 0, "connectors": 0, "models": 0, "deployed": 0}
    assert not state_path.exists()


async def test_teardown_retries_delete_after_undeploy_when_the_model_is_still_deployed(standin, state_path):
    server = standin()
    settings = provision_settings(server)
    await run(OpenSearchProvisioner(settings, state_path).provision())
    server.config.fail_next["undeploy_model"] = (500, "m_l_exception", "Failed to undeploy model")
    events = await run(OpenSearchProvisioner(settings, state_path).teardown())
    assert final(events, "undeploy").status == "fail"  # kept going after it
    assert final(events, "delete_model").status == "ok"
    assert any("undeploying and retrying" in e.message for e in events)
    assert final(events, "summary").status == "ok"
    assert server.counts()["models"] == 0


async def test_teardown_counts_404_as_done(standin, state_path):
    server = standin()
    settings = provision_settings(server)
    await run(OpenSearchProvisioner(settings, state_path).provision())
    client = raw_client(server)
    saved = json.loads(state_path.read_text())
    client.plugins.ml.undeploy_model(model_id=saved["model_id"])
    client.plugins.ml.delete_model(model_id=saved["model_id"])
    client.plugins.ml.delete_connector(connector_id=saved["connector_id"])
    client.plugins.ml.delete_model_group(model_group_id=saved["model_group_id"])

    events = await run(OpenSearchProvisioner(settings, state_path).teardown())
    assert [(step, status) for step, status in outline(events) if status != "start"] == [
        ("connect", "ok"), ("find", "skip"), ("undeploy", "ok"), ("delete_model", "ok"),
        ("delete_connector", "ok"), ("delete_model_group", "ok"), ("summary", "ok")]
    assert not state_path.exists()


async def test_teardown_reports_connector_in_use_and_group_with_models_then_finishes(standin, state_path):
    server = standin()
    settings = provision_settings(server)
    await run(OpenSearchProvisioner(settings, state_path).provision())
    saved, client, other = someone_elses_model_on_our_connector(server, state_path)

    events = await run(OpenSearchProvisioner(settings, state_path).teardown())
    connector = final(events, "delete_connector")
    assert connector.status == "fail" and "still used by other models" in connector.message
    assert other in connector.data["detail"]
    group = final(events, "delete_model_group")
    assert group.status == "fail" and "still has models" in group.message
    summary = final(events, "summary")
    assert summary.status == "fail"
    assert saved["connector_id"] in summary.message and saved["model_group_id"] in summary.message
    assert json.loads(state_path.read_text())["model_id"] is None  # what went is forgotten

    client.plugins.ml.delete_model(model_id=other)
    again = await run(OpenSearchProvisioner(settings, state_path).teardown())
    assert final(again, "summary").status == "ok"
    assert server.counts() == {"model_groups": 0, "connectors": 0, "models": 0, "deployed": 0}


async def test_teardown_with_nothing_saved_skips_everything(standin, state_path):
    server = standin()
    events = await run(OpenSearchProvisioner(provision_settings(server), state_path).teardown())
    assert [status for step, status in outline(events) if step not in ("connect", "summary") and status != "start"] == ["skip"] * 5
    assert final(events, "summary").status == "ok"


# --------------------------------------------------------------------------- the key stays secret


async def test_api_key_only_travels_in_the_connector_body(standin, state_path):
    wrong_key = "sk-leaky0123456789abcdef"
    server = standin(valid_api_key="sk-another0123456789abc")  # DeepSeek's 401 echoes the key back
    settings = provision_settings(server, deepseek_api_key=Secret(wrong_key))
    events = await run(OpenSearchProvisioner(settings, state_path).provision())
    events += await run(OpenSearchProvisioner(settings, state_path).provision())  # re-run refreshes the key
    events += await run(OpenSearchProvisioner(settings, state_path).teardown())
    assert final(events[: len(events) // 2], "test").status == "fail"

    assert wrong_key not in repr(events)
    assert all(wrong_key not in str(v) for e in events for v in e.data.values())
    assert MASK in repr(events) or "rejected the API key" in repr(events)
    carrying = [r for r in server.requests if wrong_key in r.body or wrong_key in str(r.headers)]
    assert carrying, "the key must reach the connector"
    assert {(r.method, r.path.rsplit("/", 1)[0]) for r in carrying} <= {
        ("POST", "/_plugins/_ml/connectors"), ("PUT", "/_plugins/_ml/connectors")}


async def test_state_file_never_holds_the_key(standin, state_path):
    server = standin(fail_next={"deploy_model": (500, "m_l_exception", f"echo {TEST_API_KEY}")})
    events = await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    failed = final(events, "deploy")
    assert failed.status == "fail"
    assert TEST_API_KEY not in repr(failed) and MASK in failed.data["detail"]
    assert TEST_API_KEY not in state_path.read_text()
    assert "deepSeek_key" not in state_path.read_text()


def test_default_settings_of_the_standin_trust_deepseek():
    assert r"^https://api\.deepseek\.com/.*$" in DEFAULT_SETTINGS[REGEX_KEY]


async def test_key_echoed_by_the_cluster_on_connector_create_is_redacted(standin, state_path):
    reason = f"Invalid connector body: credential deepSeek_key={TEST_API_KEY} rejected"
    server = standin(fail_next={"create_connector": (400, "illegal_argument_exception", reason)})
    events = await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    failed = final(events, "connector")
    assert failed.status == "fail"
    assert TEST_API_KEY not in repr(events) and MASK in failed.data["detail"]


async def test_switching_model_after_setup_asks_for_teardown_first(standin, state_path):
    server = standin()
    await run(OpenSearchProvisioner(provision_settings(server), state_path).provision())
    events = await run(OpenSearchProvisioner(provision_settings(server, deepseek_model="deepseek-v4-pro"),
                                             state_path).provision())
    failed = final(events, "connector")
    assert failed.status == "fail" and "thinkpane teardown opensearch" in failed.hint
    assert server.counts()["connectors"] == 1


async def test_state_of_another_cluster_is_not_reused(standin, state_path):
    first, second = standin(), standin()
    await run(OpenSearchProvisioner(provision_settings(first), state_path).provision())
    events = await run(OpenSearchProvisioner(provision_settings(second), state_path).provision())
    failed = final(events, "connect")
    assert failed.status == "fail" and first.url in failed.message
    assert "thinkpane teardown opensearch" in failed.hint
    assert second.counts()["model_groups"] == 0


async def test_tls_verification_off_is_a_warning_on_connect(standin, state_path, tmp_path):
    from tests.servers.mlcommons import make_self_signed_cert

    cert, key = make_self_signed_cert(tmp_path / "tls")
    server = MLCommonsServer(StandInConfig(), tls=(str(cert), str(key))).start()
    try:
        events = await run(OpenSearchProvisioner(provision_settings(server, verify_tls=False), state_path).provision())
    finally:
        server.stop()
    connect = final(events, "connect")
    assert connect.status == "warn" and "verify_tls" in connect.hint
    assert final(events, "test").status == "ok"


async def test_cancelling_while_the_connector_is_being_created_does_not_orphan_it(standin, state_path):
    server = standin(hold_action="create_connector")
    settings = provision_settings(server)
    task = asyncio.create_task(run(OpenSearchProvisioner(settings, state_path).provision()))
    await asyncio.to_thread(server.config.reached.wait, 10)  # the cluster made it; no answer yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    server.config.release.set()
    connector_id = next(iter(server.state.connectors))

    async def saved() -> None:
        while not (state_path.exists() and json.loads(state_path.read_text()).get("connector_id")):
            await asyncio.sleep(0.005)

    await asyncio.wait_for(saved(), 10)  # the worker thread records it although we cancelled
    assert json.loads(state_path.read_text())["connector_id"] == connector_id

    again = await run(OpenSearchProvisioner(settings, state_path).provision())
    assert final(again, "connector").status == "skip"
    assert server.counts() == {"model_groups": 1, "connectors": 1, "models": 1, "deployed": 1}
    await run(OpenSearchProvisioner(settings, state_path).teardown())
    assert server.counts() == {"model_groups": 0, "connectors": 0, "models": 0, "deployed": 0}


# --------------------------------------------------------------------------- a setup killed mid-create


def _kill_setup_while_the_cluster_answers(server: MLCommonsServer, action: str) -> None:
    """``thinkpane setup opensearch`` in a process killed (SIGKILL) after the cluster did
    ``action`` and before its answer arrived: the resource exists, its id is in no state file."""
    import subprocess
    import sys

    server.config.hold_action = action
    env = {**os.environ, "DEEPSEEK_API_KEY": TEST_API_KEY}
    process = subprocess.Popen(
        [sys.executable, "-m", "thinkpane.tui.cli.main", "setup", "opensearch", "--url", server.url,
         "--auth", "none", "--yes"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert server.config.reached.wait(60), "setup never reached the call"
    finally:
        process.kill()
        process.wait(10)
        server.config.release.set()


@pytest.fixture
def cli_state_path(isolated_home):
    return isolated_home / "data" / "state" / "opensearch.json"  # where `thinkpane setup` keeps it


async def test_setup_killed_after_the_connector_was_created_adopts_it_on_the_next_run(standin, cli_state_path):
    server = standin()
    _kill_setup_while_the_cluster_answers(server, "create_connector")
    [orphan] = server.state.connectors  # holds the key; the state file does not know it
    assert json.loads(cli_state_path.read_text()).get("connector_id") is None

    settings = provision_settings(server)
    again = await run(OpenSearchProvisioner(settings, cli_state_path).provision())
    connector = final(again, "connector")
    assert (connector.status, connector.message) == (
        "ok", f"Adopted connector {orphan}, left by an interrupted setup (API key refreshed)")
    assert final(again, "test").status == "ok"
    assert server.counts() == {"model_groups": 1, "connectors": 1, "models": 1, "deployed": 1}
    assert json.loads(cli_state_path.read_text())["connector_id"] == orphan

    down = await run(OpenSearchProvisioner(settings, cli_state_path).teardown())
    assert final(down, "summary").status == "ok"
    assert server.counts() == {"model_groups": 0, "connectors": 0, "models": 0, "deployed": 0}


async def test_teardown_after_a_killed_setup_deletes_the_connector_it_left(standin, cli_state_path):
    server = standin()
    _kill_setup_while_the_cluster_answers(server, "create_connector")
    [orphan] = server.state.connectors

    events = await run(OpenSearchProvisioner(provision_settings(server), cli_state_path).teardown())
    found = final(events, "find")
    assert found.status == "ok" and orphan in found.message
    summary = final(events, "summary")
    assert summary.status == "ok"
    assert f"did not list: connector {orphan}" in summary.message
    assert server.counts() == {"model_groups": 0, "connectors": 0, "models": 0, "deployed": 0}
    assert not cli_state_path.exists()


async def test_a_model_registered_but_not_recorded_is_adopted_not_duplicated(standin, state_path):
    server = standin()
    settings = provision_settings(server)
    await provision_until(settings, state_path, "connector")
    saved = json.loads(state_path.read_text())
    # What a kill right after the register call leaves: the model, not its id.
    lost = raw_client(server).plugins.ml.register_model(body={
        "name": f"thinkpane-{settings['deepseek_model']}", "function_name": "remote",
        "model_group_id": saved["model_group_id"], "connector_id": saved["connector_id"]})["model_id"]

    again = await run(OpenSearchProvisioner(settings, state_path).provision())
    model = final(again, "model")
    assert model.status == "ok" and model.message.startswith(f"Adopted model {lost}")
    assert list(server.state.models) == [lost]


async def test_teardown_lists_what_it_could_not_delete_among_unrecorded_resources(standin, state_path):
    server = standin()
    settings = provision_settings(server)
    await run(OpenSearchProvisioner(settings, state_path).provision())
    client = raw_client(server)
    # A second connector under this setup's name (an earlier killed run), used by someone's model.
    body = client.plugins.ml.get_connector(connector_id=json.loads(state_path.read_text())["connector_id"])
    stray = client.plugins.ml.create_connector(body={**body, "credential": {"deepSeek_key": "sk-x0123456789"}})
    stray_id = stray["connector_id"]
    group = client.plugins.ml.register_model_group(body={"name": "someone-else"})["model_group_id"]
    client.plugins.ml.register_model(body={"name": "theirs", "function_name": "remote",
                                           "model_group_id": group, "connector_id": stray_id})

    events = await run(OpenSearchProvisioner(settings, state_path).teardown())
    assert stray_id in final(events, "find").message
    assert final(events, "delete_connector").status == "fail"
    summary = final(events, "summary")
    assert summary.status == "fail"
    assert f"connector {stray_id} (not in the state file)" in summary.message
    assert "gone" not in summary.message
    assert state_path.exists()  # its cluster URL serves the next teardown


class _SomeJsonApi(BaseHTTPRequestHandler):
    """Any JSON API that is not OpenSearch: 200 with its own little document for everything."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        data = json.dumps({"name": "some-api", "version": "1.2.3"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(params=["200 with its own JSON", "404 with a JSON error"])
def not_opensearch(request):
    if request.param.startswith("404"):
        from tests.servers.openai_sse import serve

        with serve() as other:
            yield other.base_url.removesuffix("/v1"), "HTTP 404"
        return
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SomeJsonApi)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", '"version": "1.2.3"'
    finally:
        server.shutdown()
        server.server_close()


async def test_a_json_server_that_is_not_opensearch_is_named(not_opensearch, state_path):
    url, detail = not_opensearch
    settings = {"url": url, "auth": "none", "deepseek_api_key": Secret(TEST_API_KEY)}
    for events in (await run(OpenSearchProvisioner(settings, state_path).provision()),
                   await run(OpenSearchProvisioner(settings, state_path).teardown())):
        failed = final(events, "connect")
        assert failed.status == "fail"
        assert failed.message == f"The server at {url} is not OpenSearch"
        assert "--url" in failed.hint and "bug" not in failed.hint
        assert detail in failed.data["detail"]


def test_standin_search_is_faithful_to_the_index_mappings(standin):
    from opensearchpy import RequestError

    server = standin()
    client = raw_client(server).plugins.ml
    name = "Thinkpane DeepSeek connector (deepseek-chat, model group thinkpane)"
    body = {"name": name, "parameters": {"endpoint": "api.deepseek.com", "model": "deepseek-chat"},
            "credential": {"deepSeek_key": TEST_API_KEY},
            "actions": [{"action_type": "predict", "method": "POST",
                         "url": "https://${parameters.endpoint}/v1/chat/completions"}]}
    connector_id = client.create_connector(body=body)["connector_id"]

    def ids(query: dict) -> list[str]:
        return [hit["_id"] for hit in client.search_connectors(body={"query": query})["hits"]["hits"]]

    assert ids({"term": {"name.keyword": name}}) == [connector_id]
    assert ids({"term": {"name": name}}) == []  # "name" is analysed text: one word matches
    assert ids({"term": {"name": "deepseek"}}) == [connector_id]
    assert ids({"bool": {"filter": [{"term": {"name.keyword": name}}, {"term": {"protocol": "aws_sigv4"}}]}}) == []
    assert ids({"term": {"parameters": "x"}}) == []  # not a mapped keyword field
    hit = client.search_connectors(body={"query": {"match_all": {}}})["hits"]["hits"][0]
    assert "credential" not in hit["_source"] and hit["_index"] == ".plugins-ml-connector"
    with pytest.raises(RequestError) as caught:
        client.search_models(body={"query": {"fuzzy": {"name": "x"}}})
    assert caught.value.error == "parsing_exception"
