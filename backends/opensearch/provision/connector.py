"""The ``connector`` step: ML Commons' HTTP connector to DeepSeek, holding the API key.

The body is ml-commons' DeepSeek chat blueprint (:func:`connector_body`). A saved connector
is reused only for the same model and endpoint (otherwise the user is told to tear down
first), and its key is replaced with the one given now: re-running setup is how a wrong
key gets fixed. This request and the create are the only ones that carry the key.

With no saved connector, one carrying this setup's name (:meth:`Session.connector_name`)
for the same endpoint is adopted before anything is created: a setup killed after the
cluster made its connector, before the id reached the state file, left it there holding the
key. Others under that name are named in a warning (teardown deletes them too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.opensearch.provision.endpoint import Endpoint
from thinkpane.backends.opensearch.provision.session import (
    SETUP,
    TEARDOWN,
    Done,
    Session,
    Step,
    Stop,
    Update,
    also_named,
)


def connector_body(endpoint: Endpoint, model: str, api_key: str, name: str) -> dict[str, Any]:
    """ml-commons' DeepSeek chat blueprint, with a read timeout a reasoner can live with."""
    return {
        "name": name,
        "description": "Created by Thinkpane: DeepSeek chat completions",
        "version": "1",
        "protocol": "http",
        "parameters": {"endpoint": endpoint.netloc, "model": model},
        "credential": {"deepSeek_key": api_key},
        "actions": [
            {
                "action_type": "predict",
                "method": "POST",
                "url": endpoint.action_url,
                "headers": {
                    "Content-Type": "application/json",
                    "Authorization": "Bearer ${credential.deepSeek_key}",
                },
                "request_body": '{ "model": "${parameters.model}", "messages": ${parameters.messages} }',
            }
        ],
        # Seconds. DeepSeek-R1 can think for minutes; ML Commons' default of 30 s cuts it off.
        "client_config": {
            "max_connection": 30,
            "connection_timeout": 30,
            "read_timeout": 300,
            "max_retry_times": 2,
            "retry_backoff_policy": "exponential_full_jitter",
            "retry_backoff_millis": 500,
            "retry_timeout_seconds": 330,
        },
    }


async def _connector(s: Session) -> AsyncIterator[Update | Done]:
    assert s.endpoint is not None  # parsed by the connect step
    ml = s.client.plugins.ml
    endpoint, state = s.endpoint, s.state
    if state.connector_id:
        if (state.connector_endpoint, state.connector_model) != (endpoint.resolved_url, s.deepseek_model):
            raise Stop(ConfigurationError(
                f"The saved connector was made for {state.connector_model} at {state.connector_endpoint}",
                f"Run `{TEARDOWN}` first to switch model or endpoint, then `{SETUP}` again.",
            ))
        _, error = await s.attempt(ml.get_connector, connector_id=state.connector_id)
        if error is None:
            # The user may be re-running setup to fix the key: always store the one given now.
            await _refresh_key(s, state.connector_id)
            yield Done("skip", f"Reusing connector {state.connector_id} (API key refreshed)",
                       data={"connector_id": state.connector_id})
            return
        if error.status_code != 404:
            raise error
        yield Update("info", f"Saved connector {state.connector_id} is gone; creating a new one")
        state.connector_id = None
        s.save()

    def record(result: Any) -> None:
        state.connector_id = result["connector_id"]
        state.connector_endpoint, state.connector_model = endpoint.resolved_url, s.deepseek_model

    found = await s.find(ml.search_connectors, {"name.keyword": s.connector_name()})
    usable = [c for c in found if resolved_url(c) == endpoint.resolved_url]
    if usable:
        record({"connector_id": usable[0]["_id"]})
        s.save()
        await _refresh_key(s, usable[0]["_id"])
        message = f"Adopted connector {state.connector_id}, left by an interrupted setup (API key refreshed)"
    else:
        body = connector_body(endpoint, s.deepseek_model, s.api_key, s.connector_name())
        await s.create(ml.create_connector, record, body=body)
        message = f"Created connector {state.connector_id} → {endpoint.resolved_url}"
    data = {"connector_id": state.connector_id, "endpoint": endpoint.resolved_url, "adopted": bool(usable)}
    others = [c["_id"] for c in found if c["_id"] != state.connector_id]
    if others:
        yield Done("warn", message, also_named("connector", others), data=data)
    else:
        yield Done("ok", message, data=data)


async def _refresh_key(s: Session, connector_id: str) -> None:
    await s.call(s.client.transport.perform_request, method="PUT",
                 url=f"/_plugins/_ml/connectors/{connector_id}",
                 body={"credential": {"deepSeek_key": s.api_key}})
    s.connector_updated = True


def resolved_url(connector: dict[str, Any]) -> str:
    """Where a connector (as ``_search`` or GET returns it) sends its predict action."""
    actions = connector.get("actions") or [{}]
    url = str((actions[0] if isinstance(actions[0], dict) else {}).get("url") or "")
    for name, value in (connector.get("parameters") or {}).items():
        url = url.replace("${parameters." + str(name) + "}", str(value))
    return url


CONNECTOR = Step("connector", lambda s: f"DeepSeek connector ({s.deepseek_model})", _connector)
