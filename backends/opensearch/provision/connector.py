"""The ``connector`` step: ML Commons' HTTP connector to DeepSeek, holding the API key.

The body is ml-commons' DeepSeek chat blueprint (:func:`connector_body`) with two more
template fields, DeepSeek's thinking switch and effort, filled from predict parameters
``thinking`` and ``reasoning_effort`` (the connector's own parameters hold DeepSeek's defaults,
``enabled`` and ``high``, so a predict that sends neither asks for what DeepSeek would do).

A saved connector is reused only for the same model and endpoint (otherwise the user is
told to tear down first); it is updated with the key given now and the current template:
re-running setup is how a wrong key gets fixed. ML Commons refuses to update a connector
that a deployed model uses (400 "… models are still using this connector, please undeploy
the models first"), so then our model is undeployed first and the ``deploy`` step deploys it
again. This update and the create are the only requests that carry the key.

``client_config.max_retry_times`` is 0: ML Commons 3.8+ retries 429s and every 5xx, read
timeouts included, which would send (and bill) a long reasoning answer again after the
client gave up.

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

# The predict request DeepSeek receives: the blueprint's model and messages, plus the
# thinking switch and effort (api-docs.deepseek.com/guides/thinking_mode).
REQUEST_BODY = (
    '{ "model": "${parameters.model}", "messages": ${parameters.messages}, '
    '"thinking": { "type": "${parameters.thinking}" }, '
    '"reasoning_effort": "${parameters.reasoning_effort}" }'
)
# DeepSeek's own defaults, used when a turn sends no thinking parameters.
DEFAULT_THINKING = {"thinking": "enabled", "reasoning_effort": "high"}
IN_USE_MARK = "models are still using this connector"


def connector_body(endpoint: Endpoint, model: str, api_key: str, name: str) -> dict[str, Any]:
    """ml-commons' DeepSeek chat blueprint with the thinking fields, a read timeout a reasoner
    can live with, and no retries."""
    return {
        "name": name,
        "description": "Created by Thinkpane: DeepSeek chat completions",
        "version": "1",
        "protocol": "http",
        "parameters": {"endpoint": endpoint.netloc, "model": model, **DEFAULT_THINKING},
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
                "request_body": REQUEST_BODY,
            }
        ],
        # Seconds. A reasoner can think for minutes; ML Commons' default of 30 s cuts it off.
        "client_config": {
            "max_connection": 30,
            "connection_timeout": 30,
            "read_timeout": 300,
            # ML Commons 3.8+ retries 429 and every 5xx, read timeouts included: a retry would
            # send (and bill) the whole reasoning answer again while the client gave up.
            "max_retry_times": 0,
            "retry_backoff_policy": "constant",
            "retry_backoff_millis": 200,
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
            async for update in _refresh(s, state.connector_id):
                yield update
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
        async for update in _refresh(s, usable[0]["_id"]):
            yield update
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


async def _refresh(s: Session, connector_id: str) -> AsyncIterator[Update]:
    """PUT the key given now and the current template into a reused connector. If our
    deployed model holds it (ML Commons refuses: "… please undeploy the models first"), the
    model is undeployed first; ``connector_updated`` makes the ``deploy`` step deploy it again."""
    endpoint = s.endpoint
    assert endpoint is not None  # parsed by the connect step
    full = connector_body(endpoint, s.deepseek_model, s.api_key, s.connector_name())
    body = {key: full[key] for key in ("parameters", "credential", "actions", "client_config")}
    url = f"/_plugins/_ml/connectors/{connector_id}"
    _, error = await s.attempt(s.client.transport.perform_request, method="PUT", url=url, body=body)
    if error is not None:
        message = str(getattr(error, "info", "") or error)
        model_id = s.state.model_id
        if error.status_code != 400 or IN_USE_MARK not in message or not model_id or model_id not in message:
            raise error  # not ours to undeploy (another model holds it), or another failure
        yield Update("info", f"Undeploying model {model_id} first: ML Commons does not update a "
                             "connector that a deployed model uses")
        await s.call(s.client.plugins.ml.undeploy_model, model_id=model_id)
        await s.call(s.client.transport.perform_request, method="PUT", url=url, body=body)
    s.connector_updated = True


def resolved_url(connector: dict[str, Any]) -> str:
    """Where a connector (as ``_search`` or GET returns it) sends its predict action."""
    actions = connector.get("actions") or [{}]
    url = str((actions[0] if isinstance(actions[0], dict) else {}).get("url") or "")
    for name, value in (connector.get("parameters") or {}).items():
        url = url.replace("${parameters." + str(name) + "}", str(value))
    return url


CONNECTOR = Step("connector", lambda s: f"DeepSeek connector ({s.deepseek_model})", _connector)
