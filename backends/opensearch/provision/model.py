"""The remote model: ``model`` (register), ``deploy`` (request) and ``wait_deployed`` (poll).

* ``model``: a saved model that exists and uses the saved connector is reused; else one named
  like this setup's model, in its group and on its connector, is adopted (a setup killed
  before the id reached the state file left it); otherwise a new one is registered in the
  model group, pointing at the connector.
* ``deploy``: skipped when already deployed (unless the connector's key was just refreshed,
  which needs a redeploy) or deploying; a failed or stuck deploy is undeployed first
  (ml-commons #2808).
* ``wait_deployed``: polls the model state every ``poll_interval_s`` until it is deployed,
  failed, or ``deploy_timeout_s`` is up; a failure quotes the deploy task's error.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from thinkpane.backends.opensearch.provision.session import SETUP, Done, Session, Step, Update, also_named

DEPLOYED_STATES = ("DEPLOYED", "PARTIALLY_DEPLOYED")
# States on the way to DEPLOYED: keep polling.
PENDING_STATES = ("DEPLOYING", "REGISTERED", "UNDEPLOYED", "DEPLOY_PENDING")


async def _register(s: Session) -> AsyncIterator[Update | Done]:
    ml = s.client.plugins.ml
    state = s.state
    if state.model_id:
        model, error = await s.attempt(ml.get_model, model_id=state.model_id)
        if error is None and model.get("connector_id") == state.connector_id:
            yield Done("skip", f"Reusing model {state.model_id} ({model.get('model_state')})",
                       data={"model_id": state.model_id})
            return
        if error is not None and error.status_code != 404:
            raise error
        yield Update("info", f"Saved model {state.model_id} is gone or stale; registering a new one")
        state.model_id = state.deploy_task_id = None
        s.save()
    def record(result: Any) -> None:
        state.model_id = result["model_id"]

    found = await s.find(ml.search_models, {"name.keyword": s.model_name()},
                         {"model_group_id": str(state.model_group_id)})
    usable = [m for m in found if m.get("connector_id") == state.connector_id]
    if usable:
        record({"model_id": usable[0]["_id"]})
        s.save()
        message = (f"Adopted model {state.model_id}, left by an interrupted setup "
                   f"({usable[0].get('model_state') or 'state unknown'})")
    else:
        body = {
            "name": s.model_name(),
            "function_name": "remote",
            "model_group_id": state.model_group_id,
            "description": f"DeepSeek {s.deepseek_model} for Thinkpane",
            "connector_id": state.connector_id,
        }
        await s.create(ml.register_model, record, body=body)
        message = f"Registered model {state.model_id}"
    data = {"model_id": state.model_id, "adopted": bool(usable)}
    others = [m["_id"] for m in found if m["_id"] != state.model_id]
    if others:
        yield Done("warn", message, also_named("model", others), data=data)
    else:
        yield Done("ok", message, data=data)


async def _deploy(s: Session) -> AsyncIterator[Update | Done]:
    ml = s.client.plugins.ml
    state = s.state
    model = await s.call(ml.get_model, model_id=state.model_id)
    current = model.get("model_state")
    if current in DEPLOYED_STATES and not s.connector_updated:
        yield Done("skip", f"Already {current}", data={"state": current})
        return
    if current == "DEPLOYING":
        yield Done("skip", "Already deploying", data={"state": current})
        return
    if current in (*DEPLOYED_STATES, "DEPLOY_FAILED"):
        # A stuck or failed deploy (ml-commons #2808) and a refreshed connector both need it.
        yield Update("info", f"Undeploying first (state {current})")
        await s.call(ml.undeploy_model, model_id=state.model_id)

    def record(result: Any) -> None:
        state.deploy_task_id = result.get("task_id")

    result = await s.create(ml.deploy_model, record, model_id=state.model_id)
    status = str(result.get("status") or "")
    if status.upper() not in ("COMPLETED", "CREATED", "RUNNING"):
        error = await _task_error(s, state.deploy_task_id)
        yield Done("fail", f"Deploy request answered {status or 'nothing'}",
                   "Run setup again; if it keeps failing, check the cluster's ML node logs.",
                   data={"detail": error})
        return
    yield Done("ok", f"Deploy requested (task {state.deploy_task_id}: {status})",
               data={"task_id": state.deploy_task_id, "status": status})


async def _task_error(s: Session, task_id: str | None) -> str:
    """The deploy task's error, per node when ML Commons gives a JSON map; '' when there is none."""
    if not task_id:
        return ""
    task, error = await s.attempt(s.client.plugins.ml.get_task, task_id=task_id)
    if error is not None or not isinstance(task, dict):
        return ""
    text = str(task.get("error") or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if isinstance(parsed, dict):
        return "; ".join(f"{node}: {msg}" for node, msg in parsed.items())
    return text


async def _wait_deployed(s: Session) -> AsyncIterator[Update | Done]:
    ml = s.client.plugins.ml
    state = s.state
    started = time.monotonic()
    while True:
        model = await s.call(ml.get_model, model_id=state.model_id)
        current = str(model.get("model_state") or "?")
        elapsed = time.monotonic() - started
        yield Update("progress", f"Model state: {current} ({elapsed:.0f} s)",
                     data={"state": current, "elapsed_s": round(elapsed, 2)})
        if current == "DEPLOYED":
            yield Done("ok", "Model deployed", data={"state": current})
            return
        if current == "PARTIALLY_DEPLOYED":
            nodes = f"{model.get('current_worker_node_count', '?')} of {model.get('planning_worker_node_count', '?')}"
            yield Done("warn", f"Model partially deployed (on {nodes} nodes)",
                       "It answers, but some ML nodes could not load it; check their logs.",
                       data={"state": current})
            return
        if current == "DEPLOY_FAILED":
            detail = await _task_error(s, state.deploy_task_id)
            yield Done("fail", "Deployment failed" + (f": {detail}" if detail else ""),
                       f"Fix the cause above and run `{SETUP}` again (it undeploys and retries).",
                       data={"state": current, "detail": detail})
            return
        if current not in PENDING_STATES:
            yield Done("fail", f"Unexpected model state {current}", f"Run `{SETUP}` again.",
                       data={"state": current})
            return
        if elapsed >= s.deploy_timeout_s:
            yield Done(
                "fail", f"Still {current} after {s.deploy_timeout_s:g} s",
                "Deploys can get stuck (ml-commons #2808): undeploy with POST "
                f"/_plugins/_ml/models/{state.model_id}/_undeploy, then run `{SETUP}` again.",
                data={"state": current},
            )
            return
        await asyncio.sleep(s.poll_interval_s)


REGISTER = Step("model", "Registering the remote model", _register)
DEPLOY = Step("deploy", "Deploying the model", _deploy)
WAIT_DEPLOYED = Step("wait_deployed", "Waiting for the model to be deployed", _wait_deployed)
