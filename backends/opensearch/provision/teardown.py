"""Teardown: undeploy and delete what setup created, in reverse order, then a ``summary``.

Steps: ``connect``, ``undeploy``, ``delete_model``, ``delete_connector``,
``delete_model_group``, ``summary``. A 404 counts as done (someone deleted it already).
After connecting, a failed step does not stop the others; each id leaves the state file
as soon as its resource is gone, so running teardown again retries only what is left.
The summary lists whatever is still on the cluster, and the cluster settings setup changed
(they are left alone: other connectors may rely on them). The state file is removed once
nothing is left. When the cluster cannot be reached, nothing is tried and the summary
says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from thinkpane.backends.events import ProgressEvent
from thinkpane.backends.opensearch.errors import envelope_reason
from thinkpane.backends.opensearch.provision.session import TEARDOWN, Done, Session, Step, Update, run_steps

SUMMARY = "summary"


async def _connect(s: Session) -> AsyncIterator[Update | Done]:
    warning = await s.open()
    await s.call(s.client.info)
    yield Done("warn" if warning else "ok", "Connected", warning)


async def _undeploy(s: Session) -> AsyncIterator[Update | Done]:
    model_id = s.state.model_id
    if not model_id:
        yield Done("skip", "No model to undeploy")
        return
    result, error = await s.attempt(s.client.plugins.ml.undeploy_model, model_id=model_id)
    if error is not None:
        if error.status_code == 404:
            yield Done("ok", f"Model {model_id} is already gone")
            return
        raise error
    # ML Commons answers per node; the status is lowercase in code, uppercase in its docs.
    undeployed = any(
        str(stat).lower() == "undeployed"
        for node in (result or {}).values() if isinstance(node, dict)
        for stat in (node.get("stats") or {}).values()
    )
    yield Done("ok", f"Undeployed model {model_id}" if undeployed else f"Model {model_id} was not deployed")


async def _delete(s: Session, method: Callable[..., Any], **ids: str) -> tuple[bool, Any]:
    """(done, error): 404 counts as done."""
    _, error = await s.attempt(method, **ids)
    if error is None or error.status_code == 404:
        return True, None
    return False, error


async def _delete_unless_in_use(s: Session, method: Callable[..., Any], in_use: str, hint: str,
                                **ids: str) -> Done | None:
    """None once deleted; a failed Done with ``in_use`` when the cluster refuses with 409."""
    done, error = await _delete(s, method, **ids)
    if done:
        return None
    if error.status_code == 409:
        return Done("fail", in_use, hint, data={"detail": envelope_reason(error.info)[1]})
    raise error


async def _delete_model(s: Session) -> AsyncIterator[Update | Done]:
    ml = s.client.plugins.ml
    model_id = s.state.model_id
    if not model_id:
        yield Done("skip", "No model to delete")
        return
    done, error = await _delete(s, ml.delete_model, model_id=model_id)
    if not done and error.status_code == 400 and "deploying or deployed" in envelope_reason(error.info)[1]:
        yield Update("info", "Still deployed; undeploying and retrying")
        await s.call(ml.undeploy_model, model_id=model_id)
        done, error = await _delete(s, ml.delete_model, model_id=model_id)
    if not done:
        raise error
    s.state.model_id = s.state.deploy_task_id = None
    s.save()
    yield Done("ok", f"Deleted model {model_id}")


async def _delete_connector(s: Session) -> AsyncIterator[Update | Done]:
    connector_id = s.state.connector_id
    if not connector_id:
        yield Done("skip", "No connector to delete")
        return
    refused = await _delete_unless_in_use(
        s, s.client.plugins.ml.delete_connector, f"Connector {connector_id} is still used by other models",
        "Delete or update those models first, then run the teardown again.", connector_id=connector_id,
    )
    if refused:
        yield refused
        return
    s.state.connector_id = s.state.connector_endpoint = s.state.connector_model = None
    s.save()
    yield Done("ok", f"Deleted connector {connector_id}")


async def _delete_group(s: Session) -> AsyncIterator[Update | Done]:
    group_id = s.state.model_group_id
    if not group_id:
        yield Done("skip", "No model group to delete")
        return
    refused = await _delete_unless_in_use(
        s, s.client.plugins.ml.delete_model_group, f"Model group {group_id} still has models",
        "Another model was registered in this group (not by Thinkpane's setup); delete it first, "
        "then run the teardown again.", model_group_id=group_id,
    )
    if refused:
        yield refused
        return
    s.state.model_group_id = s.state.model_group_name = None
    s.save()
    yield Done("ok", f"Deleted model group {group_id}")


CONNECT = Step("connect", "Connecting to OpenSearch", _connect)
REMOVALS = (
    Step("undeploy", "Undeploying the model", _undeploy),
    Step("delete_model", "Deleting the model", _delete_model),
    Step("delete_connector", "Deleting the connector", _delete_connector),
    Step("delete_model_group", "Deleting the model group", _delete_group),
)
TEARDOWN_STEPS = (CONNECT.id, *(step.id for step in REMOVALS), SUMMARY)


async def teardown(s: Session) -> AsyncIterator[ProgressEvent]:
    async for event in run_steps(s, (CONNECT,), stop_on_fail=True):
        yield event
        if event.status == "fail":
            left = s.load_quietly().resource_ids()
            yield s.event(SUMMARY, "fail", "Nothing was deleted" + _listing(left),
                          "Fix the connection and run the teardown again.", data={"left": left})
            return
    async for event in run_steps(s, REMOVALS, stop_on_fail=False):
        yield event
    left = s.state.resource_ids()
    settings_note = ""
    if s.state.changed_settings:
        settings_note = " Cluster settings setup changed are left as they are: " + ", ".join(
            sorted(s.state.changed_settings)) + "."
    if not left:
        s.state_file.remove()
        yield s.event(SUMMARY, "ok", "Everything setup created is gone." + settings_note, data={"left": {}})
    else:
        yield s.event(SUMMARY, "fail", "Still on the cluster" + _listing(left) + "." + settings_note,
                      f"Fix the failures above and run `{TEARDOWN}` again.", data={"left": left})


def _listing(left: Mapping[str, str]) -> str:
    if not left:
        return ""
    return ": " + ", ".join(f"{name} {value}" for name, value in left.items())
