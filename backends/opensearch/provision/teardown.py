"""Teardown: undeploy and delete what setup created, in reverse order, then a ``summary``.

Steps: ``connect``, ``find``, ``undeploy``, ``delete_model``, ``delete_connector``,
``delete_model_group``, ``summary``.

* ``connect`` uses the cluster the state file names when no URL is given (the credentials
  still come from flags or the environment), and checks it is OpenSearch with ML Commons.
* ``find`` looks up, through ML Commons' ``_search`` APIs, resources under this setup's names
  that the state file does not list: a setup killed between a create call's answer and the
  state write leaves one (a connector holding the DeepSeek key, say). They are deleted with
  the rest, and the summary names them.

A 404 counts as done. After connecting, a failed step does not stop the others; each id
leaves the state file as soon as its resource is gone, so running teardown again retries
only what is left. The summary lists whatever is still on the cluster, says so when it
could not search for unlisted resources, and names the cluster settings setup changed
(they are left alone: other connectors may rely on them). The state file is removed once
nothing it lists is left. When the cluster cannot be reached, nothing is tried and the
summary says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from thinkpane.backends.events import ProgressEvent
from thinkpane.backends.opensearch.errors import envelope_reason
from thinkpane.backends.opensearch.provision.cluster import cluster_info
from thinkpane.backends.opensearch.provision.session import (
    MODEL_PREFIX,
    TEARDOWN,
    Done,
    Session,
    Step,
    Update,
    run_steps,
)

SUMMARY = "summary"
KINDS = {"model_id": "model", "connector_id": "connector", "model_group_id": "model group"}


async def _connect(s: Session) -> AsyncIterator[Update | Done]:
    warning = await s.open(saved_url=True)
    version, has_ml = await cluster_info(s)
    url = s.cs.url if s.cs else ""
    if not has_ml:
        yield Done("fail", f"ML Commons is not installed on the cluster at {url} (OpenSearch {version})",
                   "Setup cannot have created anything there; check --url.")
        return
    yield Done("warn" if warning else "ok", f"Connected to OpenSearch {version} at {url}", warning)


async def _find(s: Session) -> AsyncIterator[Update | Done]:
    """Resources under this setup's names that the state file does not list, into ``s.found``."""
    ml = s.client.plugins.ml
    state = s.state
    if not state.model_group_id:
        groups = await s.find(ml.search_model_group, {"name.keyword": s.group_name})
        s.found["model_group_id"] = [group["_id"] for group in groups]
    models = {s.deepseek_model, *([state.connector_model] if state.connector_model else [])}
    for group_id in [state.model_group_id, *s.found["model_group_id"]]:
        if not group_id:
            continue
        for model in await s.find(ml.search_models, {"model_group_id": group_id}):
            name = str(model.get("name") or "")
            if not name.startswith(MODEL_PREFIX):
                continue  # someone else's model in this group: the group's deletion names it
            models.add(name[len(MODEL_PREFIX):])
            if model["_id"] != state.model_id:
                s.found["model_id"].append(model["_id"])
    for model_name in sorted(models):
        for connector in await s.find(ml.search_connectors, {"name.keyword": s.connector_name(model_name)}):
            if connector["_id"] not in (state.connector_id, *s.found["connector_id"]):
                s.found["connector_id"].append(connector["_id"])
    s.searched = True
    found = _pairs(s.found)
    if found:
        yield Done("ok", "Not in the state file, found under this setup's names (deleted with the rest): "
                   + _listing(found), data={"found": s.found})
    else:
        yield Done("skip", "Nothing on the cluster under this setup's names beyond the state file")


def _ids(s: Session, key: str) -> list[str]:
    """The recorded id of this kind (if any), then the ones ``find`` turned up."""
    recorded = getattr(s.state, key)
    return [*([recorded] if recorded else []), *s.found[key]]


def _forget(s: Session, key: str, resource_id: str) -> None:
    """``resource_id`` is gone: out of the state file (saved at once) or the found list."""
    if getattr(s.state, key) == resource_id:
        cleared = {
            "model_id": ("model_id", "deploy_task_id"),
            "connector_id": ("connector_id", "connector_endpoint", "connector_model"),
            "model_group_id": ("model_group_id", "model_group_name"),
        }[key]
        for name in cleared:
            setattr(s.state, name, None)
        s.save()
    elif resource_id in s.found[key]:
        s.found[key].remove(resource_id)


async def _undeploy(s: Session) -> AsyncIterator[Update | Done]:
    model_ids = _ids(s, "model_id")
    if not model_ids:
        yield Done("skip", "No model to undeploy")
        return
    lines = []
    for model_id in model_ids:
        result, error = await s.attempt(s.client.plugins.ml.undeploy_model, model_id=model_id)
        if error is not None:
            if error.status_code == 404:
                lines.append(f"Model {model_id} is already gone")
                continue
            raise error
        # ML Commons answers per node; the status is lowercase in code, uppercase in its docs.
        undeployed = any(
            str(stat).lower() == "undeployed"
            for node in (result or {}).values() if isinstance(node, dict)
            for stat in (node.get("stats") or {}).values()
        )
        lines.append(f"Undeployed model {model_id}" if undeployed else f"Model {model_id} was not deployed")
    yield Done("ok", "; ".join(lines))


async def _delete(s: Session, method: Callable[..., Any], **ids: str) -> tuple[bool, Any]:
    """(done, error): 404 counts as done."""
    _, error = await s.attempt(method, **ids)
    if error is None or error.status_code == 404:
        return True, None
    return False, error


async def _delete_model(s: Session) -> AsyncIterator[Update | Done]:
    ml = s.client.plugins.ml
    model_ids = _ids(s, "model_id")
    if not model_ids:
        yield Done("skip", "No model to delete")
        return
    first_error = None
    for model_id in model_ids:
        done, error = await _delete(s, ml.delete_model, model_id=model_id)
        if not done and error.status_code == 400 and "deploying or deployed" in envelope_reason(error.info)[1]:
            yield Update("info", f"Model {model_id} is still deployed; undeploying and retrying")
            await s.call(ml.undeploy_model, model_id=model_id)
            done, error = await _delete(s, ml.delete_model, model_id=model_id)
        if not done:
            first_error = first_error or error
            continue
        _forget(s, "model_id", model_id)
        yield Update("info", f"Deleted model {model_id}")
    if first_error is not None:
        raise first_error
    yield Done("ok", "Deleted " + _names(_pairs({"model_id": model_ids})))


async def _delete_in_use(s: Session, key: str, method: Callable[..., Any], argument: str,
                         in_use: str, hint: str) -> AsyncIterator[Update | Done]:
    """Delete every id of ``key``; a 409 ("still used") is a failed step naming what uses it."""
    resource_ids = _ids(s, key)
    kind = KINDS[key]
    if not resource_ids:
        yield Done("skip", f"No {kind} to delete")
        return
    refused: list[tuple[str, str]] = []
    first_error = None
    for resource_id in resource_ids:
        done, error = await _delete(s, method, **{argument: resource_id})
        if done:
            _forget(s, key, resource_id)
            yield Update("info", f"Deleted {kind} {resource_id}")
        elif error.status_code == 409:
            refused.append((resource_id, envelope_reason(error.info)[1]))
        else:
            first_error = first_error or error
    if refused:
        yield Done("fail", "; ".join(in_use.format(id=resource_id) for resource_id, _ in refused), hint,
                   data={"detail": "; ".join(reason for _, reason in refused)})
        return
    if first_error is not None:
        raise first_error
    yield Done("ok", "Deleted " + _names(_pairs({key: resource_ids})))


async def _delete_connector(s: Session) -> AsyncIterator[Update | Done]:
    async for item in _delete_in_use(
        s, "connector_id", s.client.plugins.ml.delete_connector, "connector_id",
        "Connector {id} is still used by other models",
        "Delete or update those models first, then run the teardown again.",
    ):
        yield item


async def _delete_group(s: Session) -> AsyncIterator[Update | Done]:
    async for item in _delete_in_use(
        s, "model_group_id", s.client.plugins.ml.delete_model_group, "model_group_id",
        "Model group {id} still has models",
        "Another model was registered in this group (not by Thinkpane's setup); delete it first, "
        "then run the teardown again.",
    ):
        yield item


CONNECT = Step("connect", "Connecting to OpenSearch", _connect)
REMOVALS = (
    Step("find", "Looking for resources under this setup's names", _find),
    Step("undeploy", "Undeploying the model", _undeploy),
    Step("delete_model", "Deleting the model", _delete_model),
    Step("delete_connector", "Deleting the connector", _delete_connector),
    Step("delete_model_group", "Deleting the model group", _delete_group),
)
TEARDOWN_STEPS = (CONNECT.id, *(step.id for step in REMOVALS), SUMMARY)


async def teardown(s: Session) -> AsyncIterator[ProgressEvent]:
    found_at_start: list[tuple[str, str]] = []
    async for event in run_steps(s, (CONNECT,), stop_on_fail=True):
        yield event
        if event.status == "fail":
            left = s.load_quietly().resource_ids()
            yield s.event(SUMMARY, "fail", "Nothing was deleted" + _listing(list(left.items())),
                          "Fix the connection and run the teardown again.", data={"left": left})
            return
    async for event in run_steps(s, REMOVALS, stop_on_fail=False):
        if event.step == "find" and event.status == "ok":
            found_at_start = _pairs(s.found)
        yield event
    left = s.state.resource_ids()
    unlisted = _pairs(s.found)
    settings_note = ""
    if s.state.changed_settings:
        settings_note = " Cluster settings setup changed are left as they are: " + ", ".join(
            sorted(s.state.changed_settings)) + "."
    if not left and not unlisted:
        s.state_file.remove()  # kept otherwise: its cluster URL serves the next teardown
    data = {"left": left, "unlisted": {key: ids for key, ids in s.found.items() if ids}}
    if left or unlisted:
        still = _listing([*left.items(), *[(key, f"{value} (not in the state file)") for key, value in unlisted]])
        yield s.event(SUMMARY, "fail", "Still on the cluster" + still + "." + settings_note,
                      f"Fix the failures above and run `{TEARDOWN}` again.", data=data)
    elif not s.searched:
        yield s.event(SUMMARY, "fail", "Deleted what the state file lists, but could not look for resources "
                      "an interrupted setup may have left under this setup's names." + settings_note,
                      f"Fix the failure of the find step and run `{TEARDOWN}` again.", data=data)
    else:
        extra = ""
        if found_at_start:
            extra = " That includes what the state file did not list" + _listing(found_at_start) + "."
        yield s.event(SUMMARY, "ok", "Everything setup created is gone." + extra + settings_note, data=data)


def _pairs(ids: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    return [(key, value) for key, values in ids.items() for value in values]


def _names(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{KINDS.get(name, name)} {value}" for name, value in pairs)


def _listing(pairs: list[tuple[str, str]]) -> str:
    return ": " + _names(pairs) if pairs else ""
