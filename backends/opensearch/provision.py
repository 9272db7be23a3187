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
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from thinkpane.backends.base import Provisioner
from thinkpane.backends.errors import BackendError, ConfigurationError, InternalError
from thinkpane.backends.events import ProgressEvent, ProgressStatus
from thinkpane.backends.opensearch.client import (
    ConnectionSettings,
    build_client,
    connection_settings,
    tls_warning,
)
from thinkpane.backends.opensearch.errors import (
    ErrorContext,
    classify,
    envelope_reason,
    from_exception,
)
from thinkpane.backends.opensearch.replies import parse_predict
from thinkpane.backends.opensearch.state import ProvisionState, StateFile
from thinkpane.backends.secrets import Secret, redact

STEPS = ("connect", "cluster_settings", "model_group", "connector", "model", "deploy", "wait_deployed", "test")
TEARDOWN_STEPS = ("connect", "undeploy", "delete_model", "delete_connector", "delete_model_group", "summary")

ML = "plugins.ml_commons."
REGEX_KEY = ML + "trusted_connector_endpoints_regex"
PRIVATE_IP_KEY = ML + "connector.private_ip_enabled"
MEMORY_KEY = ML + "memory_feature_enabled"
DEFAULT_ENDPOINT = "https://api.deepseek.com"
DEFAULT_GROUP = "thinkpane"
TEST_PROMPT = "Say hello in five words."
SETUP = "thinkpane setup opensearch"
TEARDOWN = "thinkpane teardown opensearch"
DEPLOYED_STATES = ("DEPLOYED", "PARTIALLY_DEPLOYED")


# --------------------------------------------------------------------------- the endpoint


@dataclass(frozen=True)
class Endpoint:
    """Where the connector sends chat completions, in the blueprint's terms."""

    scheme: str
    netloc: str  # host[:port] -> parameters.endpoint
    path: str  # e.g. /v1/chat/completions

    @property
    def action_url(self) -> str:
        return f"{self.scheme}://${{parameters.endpoint}}{self.path}"

    @property
    def resolved_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"

    @property
    def trusted_regex(self) -> str:
        """The narrowest regex ML Commons accepts for it, e.g. ``^https://api\\.deepseek\\.com/.*$``."""
        return "^" + re.escape(f"{self.scheme}://{self.netloc}") + "/.*$"

    @property
    def is_private(self) -> bool:
        host = urlsplit(self.resolved_url).hostname or ""
        if host == "localhost":
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return address.is_private or address.is_loopback


def parse_endpoint(raw: str | None) -> Endpoint:
    """``api.deepseek.com``, ``https://api.deepseek.com`` or ``http://10.0.0.5:8000/v1``."""
    text = (raw or DEFAULT_ENDPOINT).strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or "${" in text:
        raise ConfigurationError(
            f"OpenSearch: invalid DeepSeek endpoint {raw!r}",
            "Give a URL like https://api.deepseek.com (the default) or http://10.0.0.5:8000/v1.",
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
    return Endpoint(parts.scheme, parts.netloc, path)


def connector_body(endpoint: Endpoint, model: str, api_key: str) -> dict[str, Any]:
    """ml-commons' DeepSeek chat blueprint, with a read timeout a reasoner can live with."""
    return {
        "name": f"Thinkpane DeepSeek connector ({model})",
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


# --------------------------------------------------------------------------- step plumbing


@dataclass
class _Done:
    status: ProgressStatus
    message: str
    hint: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class _Stop(Exception):
    """Raised inside a step to end it with a ``fail`` built from a BackendError."""

    def __init__(self, error: BackendError) -> None:
        super().__init__(error.title)
        self.error = error


StepBody = Callable[[], AsyncIterator["ProgressEvent | _Done"]]


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
        self.settings = dict(settings)
        self.state_file = StateFile(state_path)
        self.poll_interval_s = float(poll_interval_s or settings.get("poll_interval_s") or 1.0)
        self.deploy_timeout_s = float(deploy_timeout_s or settings.get("deploy_timeout_s") or 240.0)
        self.deepseek_model = str(settings.get("deepseek_model") or "deepseek-reasoner")
        self.group_name = str(settings.get("model_group_name") or DEFAULT_GROUP)
        key = settings.get("deepseek_api_key")
        self._api_key = key.get() if isinstance(key, Secret) else str(key or "")
        password = settings.get("password")
        self._secrets = [s for s in (self._api_key, password.get() if isinstance(password, Secret) else password) if s]
        self._client: Any = None
        self._cs: ConnectionSettings | None = None
        self._state = ProvisionState()
        self._connector_updated = False
        self._done = False

    # ------------------------------------------------------------------ public

    def saved_settings(self) -> dict[str, Any]:
        """What to write to config after a successful provision()."""
        state = self._state if self._state.model_id else self._load_quietly()
        if not state.model_id:
            return {}
        return {"model_id": state.model_id}

    async def provision(self) -> AsyncIterator[ProgressEvent]:
        steps: list[tuple[str, str, StepBody]] = [
            ("connect", "Connecting to OpenSearch", self._connect_for_provision),
            ("cluster_settings", "Checking ML Commons cluster settings", self._cluster_settings),
            ("model_group", f"Model group {self.group_name!r}", self._model_group),
            ("connector", f"DeepSeek connector ({self.deepseek_model})", self._connector),
            ("model", "Registering the remote model", self._model),
            ("deploy", "Deploying the model", self._deploy),
            ("wait_deployed", "Waiting for the model to be deployed", self._wait_deployed),
            ("test", "Testing the model with a short prompt", self._test),
        ]
        async for event in self._run(steps, stop_on_fail=True):
            yield event

    async def teardown(self) -> AsyncIterator[ProgressEvent]:
        async for event in self._teardown():
            yield event

    # ------------------------------------------------------------------ machinery

    def _event(self, step: str, status: ProgressStatus, message: str, hint: str = "", *,
               duration_s: float | None = None, data: Mapping[str, Any] | None = None) -> ProgressEvent:
        clean_data = {
            k: redact(v, self._secrets) if isinstance(v, str) else v for k, v in (data or {}).items()
        }
        return ProgressEvent(step, status, redact(message, self._secrets), redact(hint, self._secrets),
                             duration_s=duration_s, data=clean_data)

    def _error(self, exc: BaseException) -> BackendError:
        url = self._cs.url if self._cs else str(self.settings.get("url") or "")
        ctx = ErrorContext(url, self._secrets, self._state.model_id or "")
        if isinstance(exc, BackendError):
            error = exc
        elif type(exc).__module__.startswith("opensearchpy"):
            error = from_exception(exc, ctx)
        else:
            error = InternalError(
                "Setup failed unexpectedly",
                "This is a bug in Thinkpane; please report it with the steps that led here.",
                detail=f"{type(exc).__name__}: {exc}",
            )
        error.title = redact(error.title, self._secrets)
        error.hint = redact(error.hint, self._secrets)
        error.detail = redact(error.detail, self._secrets)
        return error

    async def _run(self, steps: list[tuple[str, str, StepBody]], *, stop_on_fail: bool) -> AsyncIterator[ProgressEvent]:
        for step, title, body in steps:
            started = time.monotonic()
            yield self._event(step, "start", title)
            try:
                async for item in body():
                    if isinstance(item, _Done):
                        yield self._event(step, item.status, item.message, item.hint,
                                          duration_s=time.monotonic() - started, data=item.data)
                        if item.status == "fail" and stop_on_fail:
                            return
                    else:
                        yield item
            except (_Stop, Exception) as exc:  # noqa: BLE001 - every failure becomes a fail event
                error = self._error(exc.error if isinstance(exc, _Stop) else exc)
                yield self._event(step, "fail", error.title, error.hint,
                                  duration_s=time.monotonic() - started,
                                  data={"detail": error.detail, "kind": error.kind, "status": error.status})
                if stop_on_fail:
                    return

    async def _call(self, method: Callable[..., Any], /, **kwargs: Any) -> Any:
        return await asyncio.to_thread(method, **kwargs)

    async def _create(self, method: Callable[..., Any], record: Callable[[Any], None], /, **kwargs: Any) -> Any:
        """Call a creating API and record its id in the state file *in the same worker thread*.

        If the user cancels while the call is in flight, the thread still finishes: the
        resource the cluster made is saved, so the next run reuses it instead of orphaning it.
        """

        def create_and_save() -> Any:
            result = method(**kwargs)
            record(result)
            self._save()
            return result

        return await asyncio.to_thread(create_and_save)

    async def _try(self, method: Callable[..., Any], /, **kwargs: Any) -> tuple[Any, Any]:
        """(result, None) or (None, opensearch-py TransportError) for status handling."""
        from opensearchpy import TransportError
        from opensearchpy.exceptions import ConnectionError as OSConnectionError

        try:
            return await self._call(method, **kwargs), None
        except OSConnectionError:
            raise
        except TransportError as exc:
            return None, exc

    def _save(self) -> None:
        self.state_file.save(self._state)

    def _load_quietly(self) -> ProvisionState:
        try:
            return self.state_file.load()
        except (OSError, ValueError):
            return ProvisionState()

    def _load_state(self) -> None:
        try:
            self._state = self.state_file.load()
        except (OSError, ValueError) as exc:
            raise _Stop(ConfigurationError(
                f"The setup state file {self.state_file.path} is unreadable",
                "Move it away and run setup again (resources it listed may need deleting by hand).",
                detail=str(exc),
            )) from None

    async def _open(self) -> str:
        """Validate connection settings, build the client, load state; returns a TLS warning or ''."""
        self._cs = connection_settings(self.settings)
        self._client = await asyncio.to_thread(build_client, self._cs)
        self._load_state()
        if self._state.url and self._state.url != self._cs.url and not self._state.is_empty():
            raise _Stop(ConfigurationError(
                f"The saved setup belongs to another cluster ({self._state.url})",
                f"Run `{TEARDOWN}` with --url {self._state.url} first, or use another profile.",
            ))
        return tls_warning(self._cs) or ""

    async def _cluster_info(self) -> tuple[str, bool]:
        info = await self._call(self._client.info)
        version = str((info.get("version") or {}).get("number") or "?")
        plugins = await self._call(self._client.cat.plugins, params={"format": "json"})
        if isinstance(plugins, str):
            plugins = json.loads(plugins or "[]")
        has_ml = any(p.get("component") == "opensearch-ml" for p in plugins or [])
        return version, has_ml

    # ------------------------------------------------------------------ provision steps

    async def _connect_for_provision(self) -> AsyncIterator[ProgressEvent | _Done]:
        if not self._api_key:
            raise _Stop(ConfigurationError(
                "OpenSearch setup: the DeepSeek API key is not set",
                "Pass --deepseek-api-key or set DEEPSEEK_API_KEY; it is stored only inside the "
                "cluster's connector (encrypted by ML Commons), never by Thinkpane.",
            ))
        self._endpoint = parse_endpoint(self.settings.get("endpoint"))
        warning = await self._open()
        if warning:
            yield self._event("connect", "info", warning)
        version, has_ml = await self._cluster_info()
        if not has_ml:
            yield _Done(
                "fail", f"ML Commons is not installed on this cluster (OpenSearch {version})",
                "Install the plugin on every node: `bin/opensearch-plugin install opensearch-ml` and "
                "restart (the full OpenSearch distribution and the Docker image include it).",
            )
            return
        self._state.url = self._cs.url if self._cs else ""
        yield _Done("warn" if warning else "ok", f"OpenSearch {version} with ML Commons",
                    warning, data={"version": version})

    async def _cluster_settings(self) -> AsyncIterator[ProgressEvent | _Done]:
        current = await self._call(self._client.cluster.get_settings,
                                   params={"include_defaults": "true", "flat_settings": "true"})

        def effective(key: str) -> Any:
            for section in ("transient", "persistent", "defaults"):
                if key in (current.get(section) or {}):
                    return current[section][key]
            return None

        regex = self._endpoint.trusted_regex
        if len(regex) > 256:
            raise _Stop(ConfigurationError(
                "The endpoint is too long for ML Commons' trusted endpoint regex (256 characters)",
                "Use a shorter host name for --endpoint.",
            ))
        changed, skipped, kept = [], [], []

        existing = effective(REGEX_KEY) or []
        if isinstance(existing, str):
            existing = [existing]
        if regex in existing:
            kept.append(f"{regex} already trusted")
        else:
            merged = [*existing, regex]  # a PUT replaces the list: keep every existing entry
            if await self._put_setting(REGEX_KEY, merged, skipped):
                changed.append(f"trusted {regex}")
                self._state.changed_settings[REGEX_KEY] = {"added": regex}
                self._save()
        wanted: list[tuple[str, str]] = []
        if self._endpoint.is_private:
            wanted.append((PRIVATE_IP_KEY, "the endpoint is a private address"))
        if self.settings.get("memory"):
            wanted.append((MEMORY_KEY, "conversation memory is on"))
        for key, why in wanted:
            if str(effective(key)).lower() == "true":
                kept.append(f"{key} already true")
            elif await self._put_setting(key, "true", skipped):
                changed.append(f"{key}=true ({why})")
                self._state.changed_settings[key] = {"set": "true"}
                self._save()
        data = {"changed": changed, "skipped": skipped, "regex": regex}
        if skipped:
            yield _Done("warn", "This cluster does not know: " + ", ".join(skipped) + " (skipped)",
                        "An older ML Commons; the setting does not apply there.", data=data)
        elif changed:
            yield _Done("ok", "Updated: " + "; ".join(changed), data=data)
        else:
            yield _Done("skip", "Already set: " + "; ".join(kept), data=data)

    async def _put_setting(self, key: str, value: Any, skipped: list[str]) -> bool:
        _, error = await self._try(self._client.cluster.put_settings, body={"persistent": {key: value}})
        if error is None:
            return True
        _, reason = envelope_reason(error.info)
        if error.status_code == 400 and "not recognized" in reason:
            skipped.append(key)
            return False
        raise error

    async def _model_group(self) -> AsyncIterator[ProgressEvent | _Done]:
        ml = self._client.plugins.ml
        if self._state.model_group_id:
            _, error = await self._try(ml.get_model_group, model_group_id=self._state.model_group_id)
            if error is None:
                yield _Done("skip", f"Reusing model group {self._state.model_group_id}",
                            data={"model_group_id": self._state.model_group_id})
                return
            if error.status_code != 404:
                raise error
            yield self._event("model_group", "info",
                              f"Saved model group {self._state.model_group_id} is gone; creating a new one")
            self._state.model_group_id = None
            self._save()
        body = {"name": self.group_name, "description": "Created by Thinkpane for DeepSeek via ML Commons"}
        def record(result: Any) -> None:
            self._state.model_group_id = result["model_group_id"]
            self._state.model_group_name = self.group_name

        from opensearchpy import RequestError

        reused = False
        try:
            result = await self._create(ml.register_model_group, record, body=body)
            group_id = result["model_group_id"]
        except RequestError as error:
            _, reason = envelope_reason(error.info)
            if "already being used" not in reason:
                raise
            group_id = await self._find_group_id(reason)
            reused = True
            record({"model_group_id": group_id})
            self._save()
        message = f"Reusing existing model group {group_id}" if reused else f"Created model group {group_id}"
        yield _Done("ok", message, data={"model_group_id": group_id, "reused": reused})

    async def _find_group_id(self, reason: str) -> str:
        match = re.search(r"model group with ID: ([^\s.]+)", reason)
        if match:
            return match.group(1)
        found = await self._call(self._client.plugins.ml.search_model_group,
                                 body={"query": {"term": {"name.keyword": self.group_name}}})
        hits = (found.get("hits") or {}).get("hits") or []
        if not hits:
            raise _Stop(ConfigurationError(
                f"A model group named {self.group_name!r} exists but could not be found",
                "Choose another --model-group-name.", detail=reason,
            ))
        return hits[0]["_id"]

    async def _connector(self) -> AsyncIterator[ProgressEvent | _Done]:
        ml = self._client.plugins.ml
        endpoint, state = self._endpoint, self._state
        if state.connector_id:
            if (state.connector_endpoint, state.connector_model) != (endpoint.resolved_url, self.deepseek_model):
                raise _Stop(ConfigurationError(
                    f"The saved connector was made for {state.connector_model} at {state.connector_endpoint}",
                    f"Run `{TEARDOWN}` first to switch model or endpoint, then `{SETUP}` again.",
                ))
            _, error = await self._try(ml.get_connector, connector_id=state.connector_id)
            if error is None:
                # The user may be re-running setup to fix the key: always store the one given now.
                await self._call(self._client.transport.perform_request, method="PUT",
                                 url=f"/_plugins/_ml/connectors/{state.connector_id}",
                                 body={"credential": {"deepSeek_key": self._api_key}})
                self._connector_updated = True
                yield _Done("skip", f"Reusing connector {state.connector_id} (API key refreshed)",
                            data={"connector_id": state.connector_id})
                return
            if error.status_code != 404:
                raise error
            yield self._event("connector", "info", f"Saved connector {state.connector_id} is gone; creating a new one")
            state.connector_id = None
            self._save()
        body = connector_body(endpoint, self.deepseek_model, self._api_key)
        def record(result: Any) -> None:
            state.connector_id = result["connector_id"]
            state.connector_endpoint, state.connector_model = endpoint.resolved_url, self.deepseek_model

        await self._create(ml.create_connector, record, body=body)
        yield _Done("ok", f"Created connector {state.connector_id} → {endpoint.resolved_url}",
                    data={"connector_id": state.connector_id, "endpoint": endpoint.resolved_url})

    async def _model(self) -> AsyncIterator[ProgressEvent | _Done]:
        ml = self._client.plugins.ml
        state = self._state
        if state.model_id:
            model, error = await self._try(ml.get_model, model_id=state.model_id)
            if error is None and model.get("connector_id") == state.connector_id:
                yield _Done("skip", f"Reusing model {state.model_id} ({model.get('model_state')})",
                            data={"model_id": state.model_id})
                return
            if error is not None and error.status_code != 404:
                raise error
            yield self._event("model", "info", f"Saved model {state.model_id} is gone or stale; registering a new one")
            state.model_id = state.deploy_task_id = None
            self._save()
        body = {
            "name": f"thinkpane-{self.deepseek_model}",
            "function_name": "remote",
            "model_group_id": state.model_group_id,
            "description": f"DeepSeek {self.deepseek_model} for Thinkpane",
            "connector_id": state.connector_id,
        }
        def record(result: Any) -> None:
            state.model_id = result["model_id"]

        await self._create(ml.register_model, record, body=body)
        yield _Done("ok", f"Registered model {state.model_id}", data={"model_id": state.model_id})

    async def _deploy(self) -> AsyncIterator[ProgressEvent | _Done]:
        ml = self._client.plugins.ml
        state = self._state
        model = await self._call(ml.get_model, model_id=state.model_id)
        current = model.get("model_state")
        if current in DEPLOYED_STATES and not self._connector_updated:
            yield _Done("skip", f"Already {current}", data={"state": current})
            return
        if current == "DEPLOYING":
            yield _Done("skip", "Already deploying", data={"state": current})
            return
        if current in (*DEPLOYED_STATES, "DEPLOY_FAILED"):
            # A stuck or failed deploy (ml-commons #2808) and a refreshed connector both need it.
            yield self._event("deploy", "info", f"Undeploying first (state {current})")
            await self._call(ml.undeploy_model, model_id=state.model_id)
        def record(result: Any) -> None:
            state.deploy_task_id = result.get("task_id")

        result = await self._create(ml.deploy_model, record, model_id=state.model_id)
        status = str(result.get("status") or "")
        if status.upper() not in ("COMPLETED", "CREATED", "RUNNING"):
            error = await self._task_error(state.deploy_task_id)
            yield _Done("fail", f"Deploy request answered {status or 'nothing'}",
                        "Run setup again; if it keeps failing, check the cluster's ML node logs.",
                        data={"detail": error})
            return
        yield _Done("ok", f"Deploy requested (task {state.deploy_task_id}: {status})",
                    data={"task_id": state.deploy_task_id, "status": status})

    async def _task_error(self, task_id: str | None) -> str:
        if not task_id:
            return ""
        task, error = await self._try(self._client.plugins.ml.get_task, task_id=task_id)
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

    async def _wait_deployed(self) -> AsyncIterator[ProgressEvent | _Done]:
        ml = self._client.plugins.ml
        state = self._state
        started = time.monotonic()
        while True:
            model = await self._call(ml.get_model, model_id=state.model_id)
            current = str(model.get("model_state") or "?")
            elapsed = time.monotonic() - started
            yield self._event("wait_deployed", "progress", f"Model state: {current} ({elapsed:.0f} s)",
                              data={"state": current, "elapsed_s": round(elapsed, 2)})
            if current == "DEPLOYED":
                yield _Done("ok", "Model deployed", data={"state": current})
                return
            if current == "PARTIALLY_DEPLOYED":
                nodes = f"{model.get('current_worker_node_count', '?')} of {model.get('planning_worker_node_count', '?')}"
                yield _Done("warn", f"Model partially deployed (on {nodes} nodes)",
                            "It answers, but some ML nodes could not load it; check their logs.",
                            data={"state": current})
                return
            if current == "DEPLOY_FAILED":
                detail = await self._task_error(state.deploy_task_id)
                yield _Done("fail", "Deployment failed" + (f": {detail}" if detail else ""),
                            f"Fix the cause above and run `{SETUP}` again (it undeploys and retries).",
                            data={"state": current, "detail": detail})
                return
            if current not in ("DEPLOYING", "REGISTERED", "UNDEPLOYED", "DEPLOY_PENDING"):
                yield _Done("fail", f"Unexpected model state {current}", f"Run `{SETUP}` again.",
                            data={"state": current})
                return
            if elapsed >= self.deploy_timeout_s:
                yield _Done(
                    "fail", f"Still {current} after {self.deploy_timeout_s:g} s",
                    "Deploys can get stuck (ml-commons #2808): undeploy with POST "
                    f"/_plugins/_ml/models/{state.model_id}/_undeploy, then run `{SETUP}` again.",
                    data={"state": current},
                )
                return
            await asyncio.sleep(self.poll_interval_s)

    async def _test(self) -> AsyncIterator[ProgressEvent | _Done]:
        timeout = self._cs.request_timeout_s if self._cs else 330.0
        body = {"parameters": {"messages": [{"role": "user", "content": TEST_PROMPT}]}}
        result, error = await self._try(self._client.plugins.ml.predict_model, model_id=self._state.model_id,
                                        body=body, params={"request_timeout": timeout})
        if error is not None:
            ctx = ErrorContext(self._cs.url if self._cs else "", self._secrets, self._state.model_id or "")
            status = error.status_code if isinstance(error.status_code, int) else None
            raise _Stop(classify(status, error.info, ctx))
        reply = parse_predict(result)
        if reply.reasoning:
            yield self._event("test", "info", "Thinking: " + reply.reasoning[:300])
        self._done = True
        yield _Done("ok", "Reply: " + (reply.content.strip()[:300] or "(empty answer)"),
                    data={"content": reply.content, "reasoning": reply.reasoning,
                          "model_id": self._state.model_id})

    # ------------------------------------------------------------------ teardown

    async def _teardown(self) -> AsyncIterator[ProgressEvent]:
        started = time.monotonic()
        yield self._event("connect", "start", "Connecting to OpenSearch")
        try:
            warning = await self._open()
            await self._call(self._client.info)
        except (_Stop, Exception) as exc:  # noqa: BLE001
            error = self._error(exc.error if isinstance(exc, _Stop) else exc)
            yield self._event("connect", "fail", error.title, error.hint, duration_s=time.monotonic() - started,
                              data={"detail": error.detail})
            left = self._load_quietly().resource_ids()
            yield self._event("summary", "fail", "Nothing was deleted" + _listing(left),
                              "Fix the connection and run the teardown again.", data={"left": left})
            return
        yield self._event("connect", "warn" if warning else "ok", "Connected", warning,
                          duration_s=time.monotonic() - started)
        steps: list[tuple[str, str, StepBody]] = [
            ("undeploy", "Undeploying the model", self._undeploy),
            ("delete_model", "Deleting the model", self._delete_model),
            ("delete_connector", "Deleting the connector", self._delete_connector),
            ("delete_model_group", "Deleting the model group", self._delete_group),
        ]
        async for event in self._run(steps, stop_on_fail=False):
            yield event
        left = self._state.resource_ids()
        settings_note = ""
        if self._state.changed_settings:
            settings_note = " Cluster settings setup changed are left as they are: " + ", ".join(
                sorted(self._state.changed_settings)) + "."
        if not left:
            self.state_file.remove()
            yield self._event("summary", "ok", "Everything setup created is gone." + settings_note, data={"left": {}})
        else:
            yield self._event("summary", "fail", "Still on the cluster" + _listing(left) + "." + settings_note,
                              f"Fix the failures above and run `{TEARDOWN}` again.", data={"left": left})

    async def _undeploy(self) -> AsyncIterator[ProgressEvent | _Done]:
        model_id = self._state.model_id
        if not model_id:
            yield _Done("skip", "No model to undeploy")
            return
        result, error = await self._try(self._client.plugins.ml.undeploy_model, model_id=model_id)
        if error is not None:
            if error.status_code == 404:
                yield _Done("ok", f"Model {model_id} is already gone")
                return
            raise error
        undeployed = any(
            str(stat).lower() == "undeployed"
            for node in (result or {}).values() if isinstance(node, dict)
            for stat in (node.get("stats") or {}).values()
        )
        yield _Done("ok", f"Undeployed model {model_id}" if undeployed else f"Model {model_id} was not deployed")

    async def _delete(self, kind: str, method: Callable[..., Any], **ids: str) -> tuple[bool, Any]:
        """(done, error): 404 counts as done."""
        _, error = await self._try(method, **ids)
        if error is None or error.status_code == 404:
            return True, None
        return False, error

    async def _delete_model(self) -> AsyncIterator[ProgressEvent | _Done]:
        ml = self._client.plugins.ml
        model_id = self._state.model_id
        if not model_id:
            yield _Done("skip", "No model to delete")
            return
        done, error = await self._delete("model", ml.delete_model, model_id=model_id)
        if not done and error.status_code == 400 and "deploying or deployed" in envelope_reason(error.info)[1]:
            yield self._event("delete_model", "info", "Still deployed; undeploying and retrying")
            await self._call(ml.undeploy_model, model_id=model_id)
            done, error = await self._delete("model", ml.delete_model, model_id=model_id)
        if not done:
            raise error
        self._state.model_id = self._state.deploy_task_id = None
        self._save()
        yield _Done("ok", f"Deleted model {model_id}")

    async def _delete_connector(self) -> AsyncIterator[ProgressEvent | _Done]:
        connector_id = self._state.connector_id
        if not connector_id:
            yield _Done("skip", "No connector to delete")
            return
        done, error = await self._delete("connector", self._client.plugins.ml.delete_connector,
                                         connector_id=connector_id)
        if not done:
            reason = envelope_reason(error.info)[1]
            if error.status_code == 409:
                yield _Done("fail", f"Connector {connector_id} is still used by other models",
                            "Delete or update those models first, then run the teardown again.",
                            data={"detail": redact(reason, self._secrets)})
                return
            raise error
        self._state.connector_id = self._state.connector_endpoint = self._state.connector_model = None
        self._save()
        yield _Done("ok", f"Deleted connector {connector_id}")

    async def _delete_group(self) -> AsyncIterator[ProgressEvent | _Done]:
        group_id = self._state.model_group_id
        if not group_id:
            yield _Done("skip", "No model group to delete")
            return
        done, error = await self._delete("model group", self._client.plugins.ml.delete_model_group,
                                         model_group_id=group_id)
        if not done:
            reason = envelope_reason(error.info)[1]
            if error.status_code == 409:
                yield _Done("fail", f"Model group {group_id} still has models",
                            "Another model was registered in this group (not by Thinkpane's setup); delete "
                            "it first, then run the teardown again.", data={"detail": reason})
                return
            raise error
        self._state.model_group_id = self._state.model_group_name = None
        self._save()
        yield _Done("ok", f"Deleted model group {group_id}")


def _listing(left: Mapping[str, str]) -> str:
    if not left:
        return ""
    return ": " + ", ".join(f"{name} {value}" for name, value in left.items())
