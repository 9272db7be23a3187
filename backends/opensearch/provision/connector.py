"""The ``connector`` step: ML Commons' HTTP connector to DeepSeek, holding the API key.

The body is ml-commons' DeepSeek chat blueprint (:func:`connector_body`) with two more
template fields, DeepSeek's thinking switch and effort, filled from predict parameters
``thinking`` and ``reasoning_effort`` (the connector's own parameters hold DeepSeek's defaults,
``enabled`` and ``high``, so a predict that sends neither asks for what DeepSeek would do).

A saved connector is reused only for the same model and endpoint (otherwise the user is
told to tear down first); it is updated with the key given now and the current template:
re-running setup is how a wrong key gets fixed. ML Commons refuses to update a connector
that a deployed model uses (400 "… models are still using this connector, please undeploy
the models first"), so then the model is undeployed first and the ``deploy`` step deploys it
again. This update and the create are the only requests that carry the key.

``client_config.max_retry_times`` is 0: ML Commons 3.8+ retries 429s and every 5xx, read
timeouts included, which would send (and bill) a long reasoning answer again after the
client gave up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.opensearch.provision.endpoint import Endpoint
from thinkpane.backends.opensearch.provision.session import SETUP, TEARDOWN, Done, Session, Step, Stop, Update


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


def connector_body(endpoint: Endpoint, model: str, api_key: str) -> dict[str, Any]:
    """ml-commons' DeepSeek chat blueprint with the thinking fields, a read timeout a reasoner
    can live with, and no retries."""
    return {
        "name": f"Thinkpane DeepSeek connector ({model})",
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


def connector_update(endpoint: Endpoint, model: str, api_key: str) -> dict[str, Any]:
    """What re-running setup writes into a reused connector: the key given now, and the
    current template, parameters and client config (a connector made by an older version
    gains the thinking fields)."""
    body = connector_body(endpoint, model, api_key)
    return {key: body[key] for key in ("parameters", "credential", "actions", "client_config")}


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
            async for update in _update_connector(s, state.connector_id, endpoint):
                yield update
            s.connector_updated = True
            yield Done("skip", f"Reusing connector {state.connector_id} (API key refreshed)",
                       data={"connector_id": state.connector_id})
            return
        if error.status_code != 404:
            raise error
        yield Update("info", f"Saved connector {state.connector_id} is gone; creating a new one")
        state.connector_id = None
        s.save()
    body = connector_body(endpoint, s.deepseek_model, s.api_key)

    def record(result: Any) -> None:
        state.connector_id = result["connector_id"]
        state.connector_endpoint, state.connector_model = endpoint.resolved_url, s.deepseek_model

    await s.create(ml.create_connector, record, body=body)
    yield Done("ok", f"Created connector {state.connector_id} → {endpoint.resolved_url}",
               data={"connector_id": state.connector_id, "endpoint": endpoint.resolved_url})


async def _update_connector(s: Session, connector_id: str, endpoint: Endpoint) -> AsyncIterator[Update]:
    """PUT the key and template; if a deployed model holds the connector, undeploy it first
    (the ``deploy`` step deploys it again, since ``connector_updated`` is set)."""
    ml = s.client.plugins.ml
    body = connector_update(endpoint, s.deepseek_model, s.api_key)
    url = f"/_plugins/_ml/connectors/{connector_id}"
    _, error = await s.attempt(s.client.transport.perform_request, method="PUT", url=url, body=body)
    if error is None:
        return
    message = str(getattr(error, "info", "") or error)
    model_id = s.state.model_id
    if error.status_code != 400 or IN_USE_MARK not in message or not model_id or model_id not in message:
        raise error  # not ours to undeploy (another model uses the connector), or another failure
    yield Update("info", f"Undeploying model {model_id} first: ML Commons does not update a "
                         "connector that a deployed model uses")
    await s.call(ml.undeploy_model, model_id=model_id)
    await s.call(s.client.transport.perform_request, method="PUT", url=url, body=body)


CONNECTOR = Step("connector", lambda s: f"DeepSeek connector ({s.deepseek_model})", _connector)
