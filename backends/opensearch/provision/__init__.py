"""Setting up (and tearing down) a DeepSeek remote model in OpenSearch ML Commons.

Public API (all a front end needs)::

    provisioner = OpenSearchProvisioner(settings, state_path)
    async for event in provisioner.provision():   # ProgressEvent, see STEPS
        ...
    provisioner.saved_settings()                   # {"model_id": ...} once a model exists
    async for event in provisioner.teardown():     # see TEARDOWN_STEPS
        ...

``settings`` are the resolved options of :class:`thinkpane.backends.opensearch.OpenSearchBackend`
(url, auth, username, password, verify_tls, ca_bundle, deepseek_api_key, deepseek_model,
endpoint, model_group_name, memory; optionally poll_interval_s and deploy_timeout_s).

Events: each step yields ``start``, maybe ``info``/``progress``, then exactly one of
``ok``/``skip``/``warn``/``fail`` with ``duration_s``. A ``fail`` carries a title and a hint
and ends the run (nothing is raised). Every created id is written to the state file
(JSON, 0600, atomic) the moment the cluster returns it, so running ``provision()`` again
resumes: saved ids are checked (404 -> created anew) and reused, never duplicated.
``teardown()`` undeploys and deletes in reverse order, counts 404 as done, keeps going
after a failure and ends with a ``summary`` step listing whatever is left; the state file
is removed once nothing is left.

The DeepSeek API key travels in one request only (the connector's ``credential``); it is
redacted from every event, never stored, and never put in an exception.

opensearch-py is synchronous: every call runs in a worker thread (``asyncio.to_thread``)
so a UI's event loop never blocks.

One module per resource, each step a small unit naming the step id it reports:
``cluster`` (connect, cluster_settings), ``model_group``, ``connector``, ``model``
(model, deploy, wait_deployed), ``predict_check`` (test) and ``teardown``; ``session``
holds what they share (client, state file, redaction, the step runner) and ``endpoint``
the parsed DeepSeek endpoint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from thinkpane.backends.base import Provisioner
from thinkpane.backends.events import ProgressEvent
from thinkpane.backends.opensearch.provision.cluster import (
    CLUSTER_SETTINGS,
    CONNECT,
    MEMORY_KEY,
    ML,
    PRIVATE_IP_KEY,
    REGEX_KEY,
)
from thinkpane.backends.opensearch.provision.connector import CONNECTOR, connector_body
from thinkpane.backends.opensearch.provision.endpoint import DEFAULT_ENDPOINT, Endpoint, parse_endpoint
from thinkpane.backends.opensearch.provision.model import DEPLOY, DEPLOYED_STATES, REGISTER, WAIT_DEPLOYED
from thinkpane.backends.opensearch.provision.model_group import MODEL_GROUP
from thinkpane.backends.opensearch.provision.predict_check import TEST, TEST_PROMPT
from thinkpane.backends.opensearch.provision.session import DEFAULT_GROUP, SETUP, TEARDOWN, Session, run_steps
from thinkpane.backends.opensearch.provision.teardown import TEARDOWN_STEPS, teardown

PROVISION = (CONNECT, CLUSTER_SETTINGS, MODEL_GROUP, CONNECTOR, REGISTER, DEPLOY, WAIT_DEPLOYED, TEST)
STEPS = tuple(step.id for step in PROVISION)

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_GROUP",
    "DEPLOYED_STATES",
    "MEMORY_KEY",
    "ML",
    "PRIVATE_IP_KEY",
    "REGEX_KEY",
    "SETUP",
    "STEPS",
    "TEARDOWN",
    "TEARDOWN_STEPS",
    "TEST_PROMPT",
    "Endpoint",
    "OpenSearchProvisioner",
    "connector_body",
    "parse_endpoint",
]


class OpenSearchProvisioner(Provisioner):
    """Creates the model group, connector and remote model; deploys and tests it. See the module doc."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        state_path: str | Path,
        *,
        poll_interval_s: float | None = None,
        deploy_timeout_s: float | None = None,
    ) -> None:
        self._session = Session(
            settings, state_path, poll_interval_s=poll_interval_s, deploy_timeout_s=deploy_timeout_s
        )

    def saved_settings(self) -> dict[str, Any]:
        """What to write to config after a successful provision()."""
        session = self._session
        state = session.state if session.state.model_id else session.load_quietly()
        if not state.model_id:
            return {}
        return {"model_id": state.model_id}

    async def provision(self) -> AsyncIterator[ProgressEvent]:
        async for event in run_steps(self._session, PROVISION, stop_on_fail=True):
            yield event

    async def teardown(self) -> AsyncIterator[ProgressEvent]:
        async for event in teardown(self._session):
            yield event
