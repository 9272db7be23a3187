"""The ``model_group`` step: the ML Commons model group the remote model is registered in.

A saved group that still exists is reused; one that is gone (404) is created anew. When
the name is taken already (another run, or a group made by hand), that group is adopted:
its id comes from the cluster's error message, or from a search by name.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.opensearch.errors import envelope_reason
from thinkpane.backends.opensearch.provision.session import Done, Session, Step, Stop, Update


async def _model_group(s: Session) -> AsyncIterator[Update | Done]:
    ml = s.client.plugins.ml
    if s.state.model_group_id:
        _, error = await s.attempt(ml.get_model_group, model_group_id=s.state.model_group_id)
        if error is None:
            yield Done("skip", f"Reusing model group {s.state.model_group_id}",
                       data={"model_group_id": s.state.model_group_id})
            return
        if error.status_code != 404:
            raise error
        yield Update("info", f"Saved model group {s.state.model_group_id} is gone; creating a new one")
        s.state.model_group_id = None
        s.save()
    body = {"name": s.group_name, "description": "Created by Thinkpane for DeepSeek via ML Commons"}

    def record(result: Any) -> None:
        s.state.model_group_id = result["model_group_id"]
        s.state.model_group_name = s.group_name

    from opensearchpy import RequestError

    reused = False
    try:
        result = await s.create(ml.register_model_group, record, body=body)
        group_id = result["model_group_id"]
    except RequestError as error:
        _, reason = envelope_reason(error.info)
        if "already being used" not in reason:
            raise
        group_id = await _find_group_id(s, reason)
        reused = True
        record({"model_group_id": group_id})
        s.save()
    message = f"Reusing existing model group {group_id}" if reused else f"Created model group {group_id}"
    yield Done("ok", message, data={"model_group_id": group_id, "reused": reused})


async def _find_group_id(s: Session, reason: str) -> str:
    """The id of the group whose name is taken: from the error message, else a search by name."""
    match = re.search(r"model group with ID: ([^\s.]+)", reason)
    if match:
        return match.group(1)
    found = await s.find(s.client.plugins.ml.search_model_group, {"name.keyword": s.group_name})
    if not found:
        raise Stop(ConfigurationError(
            f"A model group named {s.group_name!r} exists but could not be found",
            "Choose another --model-group-name.", detail=reason,
        ))
    return str(found[0]["_id"])


MODEL_GROUP = Step("model_group", lambda s: f"Model group {s.group_name!r}", _model_group)
