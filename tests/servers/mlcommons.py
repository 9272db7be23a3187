"""A stand-in for an OpenSearch cluster with ML Commons, faithful to the REST contract.

Reproduces the bodies, status codes and messages of the ML Commons REST API as documented
(OpenSearch documentation: "ML Commons APIs", "Connector blueprints" for DeepSeek) and as
ML Commons' REST handlers and a real cluster answer them (cluster settings, model groups, connectors, remote models, deploy tasks, predict, streaming,
undeploy, deletes, the security plugin's 401/403) as an in-memory state machine behind a real
HTTP(S) server on 127.0.0.1. The "remote service" (DeepSeek) is simulated in-process: the
connector's resolved URL is checked against the trusted regex, its ``request_body`` template is
filled from the connector's parameters overlaid with the predict parameters (a placeholder left
unfilled is ML Commons' 400), the API key from the connector's credential is compared with
``valid_api_key``, and replies carry ``reasoning_content`` when DeepSeek would think
(``deepseek-reasoner``, or a V4 model unless the body says ``"thinking": {"type": "disabled"}``).
Numbers in ``dataAsMap`` are doubles, as ML Commons returns them.

The real-cluster behaviours of the reference (opensearch-ml-commons.md) are reproduced too:
updating a connector that a deployed model uses is refused (400 "… please undeploy the models
first"), and with ``http_streaming=False`` (a stock cluster without reactor-netty4)
``_predict/stream`` is answered by OpenSearch core with 500 ``illegal_state_exception``.

Every request is recorded (``server.requests``) so tests can prove where the API key travelled.

``_search`` on model groups, connectors and models evaluates the query DSL a client may send
(``match_all``, ``term``, ``terms``, ``bool`` with ``must``/``filter``/``should``/``must_not``;
anything else is OpenSearch's 400 ``parsing_exception``) against the fields the ML Commons
index mappings declare: ``name`` is text with a ``name.keyword`` subfield, so a ``term`` on
``name`` matches one lower-cased word, not a whole name; a field the mapping lacks matches
nothing. A connector's ``credential`` is never in a hit, as in ML Commons.

CLI for tmux/screenshot tests::

    python -m tests.servers.mlcommons --port 9200 [--scenario streaming]   # prints READY port=N
    python -m tests.servers.mlcommons --provisioned deepseek-reasoner   # READY port=N model_id=ID
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import itertools
import json
import re
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.servers.tls import make_self_signed_cert  # noqa: F401 - re-exported for the OpenSearch tests

ML = "plugins.ml_commons."
REGEX_KEY = ML + "trusted_connector_endpoints_regex"
STREAM_DISABLED = (
    'Streaming is currently disabled. To enable it, update the setting '
    '"plugins.ml_commons.stream_enabled" to true.'
)

MEMORY_DISABLED = (
    "The Conversation Memory feature is not enabled. It can be enabled by setting "
    "plugins.ml_commons.memory_feature_enabled to true."
)

# The defaults of a 3.x cluster (strings, as OpenSearch reports them).
DEFAULT_SETTINGS: dict[str, Any] = {
    ML + "only_run_on_ml_node": "true",
    ML + "memory_feature_enabled": "true",
    ML + "connector.private_ip_enabled": "false",
    ML + "stream_enabled": "false",
    ML + "model_auto_deploy.enable": "true",
    REGEX_KEY: [
        r"^https://runtime\.sagemaker\..*[a-z0-9-]\.amazonaws\.com/.*$",
        r"^https://api\.openai\.com/.*$",
        r"^https://api\.cohere\.ai/.*$",
        r"^https://bedrock-runtime\..*[a-z0-9-]\.amazonaws\.com/.*$",
        r"^https://api\.deepseek\.com/.*$",
    ],
    "cluster.routing.allocation.enable": "all",
}

PERMISSIONS = {
    "cluster_settings_update": "cluster:admin/settings/update",
    "register_model_group": "cluster:admin/opensearch/ml/register_model_group",
    "create_connector": "cluster:admin/opensearch/ml/create_connector",
    "register_model": "cluster:admin/opensearch/ml/register_model",
    "deploy_model": "cluster:admin/opensearch/ml/deploy_model",
    "undeploy_model": "cluster:admin/opensearch/ml/undeploy_model",
    "predict": "cluster:admin/opensearch/ml/predict",
    "delete_model": "cluster:admin/opensearch/ml/delete_model",
    "delete_connector": "cluster:admin/opensearch/ml/delete_connector",
    "delete_model_group": "cluster:admin/opensearch/ml/delete_model_group",
    "search_model_groups": "cluster:admin/opensearch/ml/model_groups/search",
    "search_connectors": "cluster:admin/opensearch/ml/connectors/search",
    "search_models": "cluster:admin/opensearch/ml/models/search",
}

# The searchable fields of each ML Commons index (common/src/main/resources/index-mappings):
# "text" fields are analysed (lower-cased words) and have a ".keyword" subfield.
MAPPINGS: dict[str, dict[str, str]] = {
    ".plugins-ml-model-group": {"name": "text", "description": "text", "access": "keyword",
                                "latest_version": "keyword"},
    ".plugins-ml-connector": {"name": "text", "description": "text", "version": "keyword",
                              "protocol": "keyword", "access": "keyword"},
    ".plugins-ml-model": {"name": "text", "description": "text", "algorithm": "keyword",
                          "model_group_id": "keyword", "model_state": "keyword",
                          "model_version": "keyword", "model_id": "keyword"},
}
# What ML Commons leaves out of every hit (SearchConnectorTransportAction adds "credential").
SEARCH_EXCLUDES = {".plugins-ml-connector": ("credential",), ".plugins-ml-model": ("connector",)}

NODE_ID = "zbduvgCCSOeu6cfbQhTpnQ"


@dataclass
class StandInConfig:
    version: str = "3.3.0"
    ml_installed: bool = True
    # Security plugin: None = security disabled.
    username: str | None = None
    password: str | None = None
    user_for_403: str = "alice"
    sigv4_access_key: str | None = None  # accept only SigV4-signed requests from this key id
    forbidden: set[str] = field(default_factory=set)  # action names from PERMISSIONS
    # Setting keys this cluster does not know (an older release).
    unknown_settings: set[str] = field(default_factory=set)
    initial_settings: dict[str, Any] = field(default_factory=dict)  # persistent, flat
    # Deploy behaviour.
    deploy_status: str = "COMPLETED"  # what _deploy answers: COMPLETED or CREATED
    deploying_polls: int = 0  # GET model answers DEPLOYING this many times first
    deploy_outcome: str = "DEPLOYED"  # DEPLOYED | PARTIALLY_DEPLOYED | DEPLOY_FAILED
    deploy_error: str = "Connection refused: remote inference host unreachable"
    # The simulated provider.
    valid_api_key: str | None = None  # None: any key works
    provider_failure: tuple[int, str] | None = None  # (status, raw body) passed through
    throttled: bool = False
    reply_content: str = "Hello from the stand-in."
    reply_reasoning: str = "The user greets me; I should greet back."
    # Streaming faults: an {"error": …} event after the first piece / no is_last event at all.
    stream_error: str | None = None
    stream_truncate: bool = False
    # False: a stock cluster's HTTP layer (no reactor-netty4): _predict/stream is refused by
    # OpenSearch core whatever plugins.ml_commons.stream_enabled says.
    http_streaming: bool = True
    # Answer-holding: after doing the work of this action, the handler sets ``reached`` and
    # waits for ``release`` before answering (a client cancelled mid-call).
    hold_action: str | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    # One-shot failures: action name -> (status, type, reason).
    fail_next: dict[str, tuple[int, str, str]] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str


def error_body(status: int, type_: str, reason: str) -> dict[str, Any]:
    cause = {"type": type_, "reason": reason}
    return {"error": {"root_cause": [cause], "type": type_, "reason": reason}, "status": status}


class ApiError(Exception):
    def __init__(self, status: int, type_: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.type, self.reason = status, type_, reason


def bad_request(reason: str) -> ApiError:
    return ApiError(400, "illegal_argument_exception", reason)


def status_error(status: int, reason: str) -> ApiError:
    return ApiError(status, "status_exception", reason)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        full = prefix + key
        if isinstance(value, dict):
            out.update(_flatten(value, full + "."))
        else:
            out[full] = value
    return out


def _setting_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [str(v) for v in value]
    return None if value is None else str(value)


def _doubles(value: Any) -> Any:
    """Gson turns every JSON number into a double: 3 -> 3.0."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: _doubles(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_doubles(v) for v in value]
    return value


def _now_ms() -> int:
    return int(time.time() * 1000)


class MLCommonsState:
    """The cluster: settings and ML Commons documents, guarded by one lock."""

    def __init__(self, config: StandInConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.persistent: dict[str, Any] = dict(config.initial_settings)
        self.model_groups: dict[str, dict[str, Any]] = {}
        self.connectors: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.deploy_polls_left: dict[str, int] = {}
        self.provider_calls: list[dict[str, Any]] = []  # what the "remote service" received
        self.stream_aborted = threading.Event()
        self.memories: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}Ab3xQ"

    # ---------------------------------------------------------------- settings

    def effective(self, key: str) -> Any:
        if key in self.persistent:
            return self.persistent[key]
        return DEFAULT_SETTINGS.get(key)

    def known(self, key: str) -> bool:
        return key in DEFAULT_SETTINGS and key not in self.config.unknown_settings

    def flag(self, key: str) -> bool:
        return str(self.effective(key)).lower() == "true"

    # ---------------------------------------------------------------- connectors

    def resolved_url(self, connector: dict[str, Any]) -> str:
        url = connector["actions"][0]["url"]
        for name, value in connector.get("parameters", {}).items():
            url = url.replace("${parameters." + name + "}", str(value))
        return url

    def check_trusted(self, url: str) -> None:
        patterns = self.effective(REGEX_KEY) or []
        if not any(re.fullmatch(p, url) for p in patterns):
            raise bad_request("Connector URL is not matching the trusted connector endpoint regex")

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {
                "model_groups": len(self.model_groups),
                "connectors": len(self.connectors),
                "models": len(self.models),
                "deployed": sum(
                    m["model_state"] in ("DEPLOYED", "PARTIALLY_DEPLOYED", "DEPLOYING")
                    for m in self.models.values()
                ),
            }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MLCommonsServer
    # One write per response (headers + body) and no Nagle: otherwise every call waits for
    # a delayed ACK (~40 ms), and a provisioning run makes dozens of calls.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ---------------------------------------------------------------- plumbing

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body_text = raw.decode("utf-8", errors="replace")
        query = parse_qs(parts.query)
        self.server.requests.append(
            Recorded(method, parts.path, query, {k.lower(): v for k, v in self.headers.items()}, body_text)
        )
        if not self._authenticated():
            payload = b"Unauthorized"
            self.send_response(401)
            self.send_header("Content-Type", "text/plain; charset=UTF-8")
            self.send_header("WWW-Authenticate", 'Basic realm="OpenSearch Security"')
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        try:
            body = json.loads(body_text) if body_text.strip() else {}
        except ValueError:
            self._json(400, error_body(400, "parse_exception", "request body is required"))
            return
        state = self.server.state
        try:
            with state.lock:
                result = self._route(method, parts.path.rstrip("/") or "/", query, body)
        except ApiError as err:
            self._json(err.status, error_body(err.status, err.type, err.reason))
            return
        status, payload = result
        if status == "sse":
            self._stream(payload)
            return
        config = state.config
        if config.hold_action and config.hold_action == getattr(self, "_action", None):
            config.hold_action = None
            config.reached.set()
            config.release.wait(30)
        status, payload = result
        self._json(status, payload)

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _authenticated(self) -> bool:
        config = self.server.state.config
        if config.sigv4_access_key is not None:
            # Not a signature check: proof that the client signed with the expected identity.
            header = self.headers.get("Authorization", "")
            return header.startswith(f"AWS4-HMAC-SHA256 Credential={config.sigv4_access_key}/") and bool(
                self.headers.get("X-Amz-Date"))
        if config.username is None:
            return True
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == config.username and password == config.password

    def _guard(self, action: str) -> None:
        self._action = action
        config = self.server.state.config
        if action in config.forbidden:
            reason = (
                f"no permissions for [{PERMISSIONS[action]}] and User [name={config.user_for_403}, "
                "backend_roles=[], requestedTenant=null]"
            )
            raise ApiError(403, "security_exception", reason)
        injected = config.fail_next.pop(action, None)
        if injected:
            raise ApiError(*injected)

    # ---------------------------------------------------------------- routes

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]):
        state = self.server.state
        segs = [s for s in path.split("/") if s]
        if path == "/" and method in ("GET", "HEAD"):
            return 200, {
                "name": "standin-node-1",
                "cluster_name": "standin",
                "cluster_uuid": "Xb0p7Y1nRZ6qf2x2k3l4mA",
                "version": {"distribution": "opensearch", "number": state.config.version,
                            "build_type": "tar", "lucene_version": "10.2.1"},
                "tagline": "The OpenSearch Project: https://opensearch.org/",
            }
        if segs[:2] == ["_cat", "plugins"] and method == "GET":
            plugins = [{"name": "standin-node-1", "component": "opensearch-security",
                        "version": state.config.version + ".0"}]
            if state.config.ml_installed:
                plugins.append({"name": "standin-node-1", "component": "opensearch-ml",
                                "version": state.config.version + ".0"})
            return 200, plugins
        if segs == ["_cluster", "settings"]:
            return self._settings(method, query, body)
        if segs[:2] == ["_plugins", "_ml"] and state.config.ml_installed:
            rest = segs[2:]
            if rest[:1] == ["model_groups"]:
                return self._model_groups(method, rest[1:], body)
            if rest[:1] == ["connectors"]:
                return self._connectors(method, rest[1:], body)
            if rest[:1] == ["models"]:
                return self._models(method, rest[1:], body)
            if rest[:1] == ["memory"]:
                return self._memory(method, rest[1:], body)
            if rest[:1] == ["tasks"] and len(rest) == 2 and method == "GET":
                task = state.tasks.get(rest[1])
                if not task:
                    raise status_error(404, "Failed to find task")
                return 200, {k: v for k, v in task.items() if v is not None}
        raise ApiError(400, "illegal_argument_exception",
                       f"no handler found for uri [{self.path}] and method [{method}]")

    def _settings(self, method: str, query: dict[str, list[str]], body: dict[str, Any]):
        state = self.server.state
        flat = query.get("flat_settings", ["false"])[0] == "true"
        if method == "GET":
            persistent = dict(state.persistent)
            out: dict[str, Any] = {"persistent": persistent, "transient": {}}
            if query.get("include_defaults", ["false"])[0] == "true":
                out["defaults"] = {
                    k: v for k, v in DEFAULT_SETTINGS.items()
                    if k not in persistent and k not in state.config.unknown_settings
                }
            if not flat:
                out = {k: _nest(v) for k, v in out.items()}
            return 200, out
        if method == "PUT":
            self._guard("cluster_settings_update")
            incoming = _flatten(body.get("persistent") or {})
            for key in incoming:
                if not state.known(key):
                    raise bad_request(f"persistent setting [{key}], not recognized")
            applied = {}
            for key, value in incoming.items():
                value = _setting_value(value)
                if value is None:
                    state.persistent.pop(key, None)
                else:
                    if key == REGEX_KEY and not isinstance(value, list):
                        value = [value]
                    state.persistent[key] = value
                applied[key] = value
            return 200, {"acknowledged": True, "persistent": applied if flat else _nest(applied),
                         "transient": {}}
        raise bad_request(f"no handler found for uri [{self.path}] and method [{method}]")

    def _model_groups(self, method: str, rest: list[str], body: dict[str, Any]):
        state = self.server.state
        if rest == ["_register"] and method == "POST":
            self._guard("register_model_group")
            name = body.get("name")
            if not name:
                raise bad_request("model group name can't be null or empty")
            for group_id, group in state.model_groups.items():
                if group["name"] == name:
                    raise bad_request(
                        f"The name you provided is already being used by a model group with ID: {group_id}."
                    )
            group_id = state.new_id("mg")
            state.model_groups[group_id] = {
                "name": name, "description": body.get("description", ""), "latest_version": 0,
                "access": "public", "created_time": _now_ms(), "last_updated_time": _now_ms(),
            }
            return 200, {"model_group_id": group_id, "status": "CREATED"}
        if rest == ["_search"] and method in ("POST", "GET"):
            self._guard("search_model_groups")
            return 200, _search(".plugins-ml-model-group", state.model_groups, body)
        if len(rest) == 1:
            group = state.model_groups.get(rest[0])
            if method == "GET":
                if not group:
                    raise status_error(404, "Failed to find model group")
                return 200, dict(group)
            if method == "DELETE":
                self._guard("delete_model_group")
                if not group:
                    raise status_error(404, "Failed to find model group")
                if any(m["model_group_id"] == rest[0] for m in state.models.values()):
                    raise status_error(409, "Cannot delete the model group when it has associated model versions")
                del state.model_groups[rest[0]]
                return 200, _deleted(".plugins-ml-model-group", rest[0])
        raise bad_request(f"no handler found for uri [{self.path}] and method [{method}]")

    def _connectors(self, method: str, rest: list[str], body: dict[str, Any]):
        state = self.server.state
        if rest == ["_search"] and method in ("POST", "GET"):
            self._guard("search_connectors")
            return 200, _search(".plugins-ml-connector", state.connectors, body)
        if rest == ["_create"] and method == "POST":
            self._guard("create_connector")
            actions = body.get("actions") or []
            if not actions or not actions[0].get("url"):
                raise bad_request("Connector action is missing")
            connector = {
                "name": body.get("name", ""), "description": body.get("description", ""),
                "version": str(body.get("version", "1")), "protocol": body.get("protocol", "http"),
                "parameters": dict(body.get("parameters") or {}),
                "credential": dict(body.get("credential") or {}),
                "actions": actions, "client_config": body.get("client_config") or {},
                "created_time": _now_ms(), "last_updated_time": _now_ms(),
            }
            state.check_trusted(state.resolved_url(connector))
            connector_id = state.new_id("cn")
            state.connectors[connector_id] = connector
            return 200, {"connector_id": connector_id}
        if len(rest) == 1:
            connector = state.connectors.get(rest[0])
            if method == "GET":
                if not connector:
                    raise status_error(404, "Failed to find connector")
                return 200, {k: v for k, v in connector.items() if k != "credential"}
            if method == "PUT":
                if not connector:
                    raise status_error(404, "Failed to find connector")
                deployed = [mid for mid, m in state.models.items() if m["connector_id"] == rest[0]
                            and m["model_state"] in ("DEPLOYED", "PARTIALLY_DEPLOYED")]
                if deployed:  # UpdateConnectorTransportAction (2.12 -> main)
                    raise status_error(
                        400,
                        f"{len(deployed)} models are still using this connector, please undeploy "
                        f"the models first: [{', '.join(deployed)}]",
                    )
                for key in ("credential", "parameters", "client_config"):
                    if key in body:
                        connector[key] = {**connector.get(key, {}), **body[key]}
                if "actions" in body:
                    connector["actions"] = body["actions"]
                connector["last_updated_time"] = _now_ms()
                return 200, {"_index": ".plugins-ml-connector", "_id": rest[0], "_version": 2,
                             "result": "updated", "_shards": {"total": 1, "successful": 1, "failed": 0},
                             "_seq_no": 3, "_primary_term": 1}
            if method == "DELETE":
                self._guard("delete_connector")
                if not connector:
                    raise status_error(404, "Failed to find connector")
                users = [mid for mid, m in state.models.items() if m["connector_id"] == rest[0]]
                if users:
                    raise status_error(
                        409,
                        f"{len(users)} models are still using this connector, please delete or update "
                        f"the models first: [{', '.join(users)}]",
                    )
                del state.connectors[rest[0]]
                return 200, _deleted(".plugins-ml-connector", rest[0])
        raise bad_request(f"no handler found for uri [{self.path}] and method [{method}]")

    def _models(self, method: str, rest: list[str], body: dict[str, Any]):
        state = self.server.state
        if rest == ["_search"] and method in ("POST", "GET"):
            self._guard("search_models")
            return 200, _search(".plugins-ml-model", state.models, body)
        if rest == ["_register"] and method == "POST":
            self._guard("register_model")
            if body.get("function_name", "").lower() != "remote":
                raise bad_request("Only remote models are supported by this stand-in")
            connector_id = body.get("connector_id")
            if connector_id not in state.connectors:
                raise status_error(404, "Failed to find connector")
            group_id = body.get("model_group_id")
            if group_id not in state.model_groups:
                raise status_error(404, "Failed to find model group")
            model_id = state.new_id("md")
            task_id = state.new_id("tk")
            state.model_groups[group_id]["latest_version"] += 1
            state.models[model_id] = {
                "name": body.get("name", ""), "model_group_id": group_id, "algorithm": "REMOTE",
                "model_version": str(state.model_groups[group_id]["latest_version"]),
                "model_state": "REGISTERED", "connector_id": connector_id,
                "description": body.get("description", ""),
                "created_time": _now_ms(), "last_updated_time": _now_ms(),
            }
            state.tasks[task_id] = _task(model_id, "REGISTER_MODEL", "COMPLETED")
            return 200, {"task_id": task_id, "status": "CREATED", "model_id": model_id}
        if not rest:
            raise bad_request(f"no handler found for uri [{self.path}] and method [{method}]")
        model_id = rest[0]
        model = state.models.get(model_id)
        action = rest[1:]
        if not action and method == "GET":
            if not model:
                raise status_error(404, "Fail to find model")
            self._advance_deploy(model_id, model)
            return 200, dict(model)
        if not action and method == "DELETE":
            self._guard("delete_model")
            if not model:
                raise status_error(404, "Failed to find model")
            if model["model_state"] in ("DEPLOYED", "DEPLOYING", "PARTIALLY_DEPLOYED"):
                raise bad_request(
                    "Model cannot be deleted in deploying or deployed state. Try undeploy model first then delete"
                )
            del state.models[model_id]
            return 200, _deleted(".plugins-ml-model", model_id)
        if action == ["_deploy"] and method == "POST":
            self._guard("deploy_model")
            if not model:
                raise status_error(404, "Failed to find model")
            config = state.config
            task_id = state.new_id("tk")
            state.deploy_polls_left[model_id] = config.deploying_polls
            model["planning_worker_node_count"] = 2 if config.deploy_outcome == "PARTIALLY_DEPLOYED" else 1
            task = _task(model_id, "DEPLOY_MODEL", "RUNNING")
            state.tasks[task_id] = task
            model["deploy_task_id"] = task_id
            model["model_state"] = "DEPLOYING"
            if config.deploying_polls == 0:
                self._finish_deploy(model_id, model)
            return 200, {"task_id": task_id, "task_type": "DEPLOY_MODEL", "status": config.deploy_status}
        if action == ["_undeploy"] and method == "POST":
            self._guard("undeploy_model")
            if model and model["model_state"] in ("DEPLOYED", "DEPLOYING", "PARTIALLY_DEPLOYED"):
                model["model_state"] = "UNDEPLOYED"
                model.pop("current_worker_node_count", None)
                return 200, {NODE_ID: {"stats": {model_id: "undeployed"}}}
            return 200, {}
        if action and action[0] == "_predict" and method == "POST":
            if action[1:] == ["stream"] and not state.config.http_streaming:
                # OpenSearch core, before ML Commons sees the request (no reactor-netty4).
                raise ApiError(500, "illegal_state_exception",
                               f"The engine does not support HTTP streaming, unable to serve uri [{self.path}]")
            return self._predict(model_id, model, body, stream=action[1:] == ["stream"])
        raise bad_request(f"no handler found for uri [{self.path}] and method [{method}]")

    # ---------------------------------------------------------------- conversational memory

    def _memory(self, method: str, rest: list[str], body: dict[str, Any]):
        state = self.server.state
        if not state.flag(ML + "memory_feature_enabled"):
            raise status_error(500, MEMORY_DISABLED)
        if not rest and method == "POST":
            memory_id = state.new_id("mem")
            state.memories[memory_id] = {"memory_id": memory_id, "name": body.get("name", ""),
                                         "create_time": _now_ms(), "updated_time": _now_ms(),
                                         "messages": []}
            return 200, {"memory_id": memory_id}
        if not rest and method == "GET":
            return 200, {"memories": [{k: v for k, v in m.items() if k != "messages"}
                                      for m in state.memories.values()]}
        memory = state.memories.get(rest[0]) if rest else None
        if rest and not memory:
            raise status_error(404, "Failed to find memory")
        if len(rest) == 1 and method == "DELETE":
            del state.memories[rest[0]]
            return 200, {"success": True}
        if rest[1:] == ["messages"] and method == "POST":
            message_id = state.new_id("msg")
            memory["messages"].append({
                "memory_id": rest[0], "message_id": message_id, "create_time": _now_ms(),
                "input": body.get("input", ""), "prompt_template": body.get("prompt_template", ""),
                "response": body.get("response", ""), "origin": body.get("origin", ""),
                "additional_info": {str(k): str(v) for k, v in (body.get("additional_info") or {}).items()},
            })
            return 200, {"message_id": message_id}
        if rest[1:] == ["messages"] and method == "GET":
            return 200, {"messages": memory["messages"][:10]}
        raise bad_request(f"no handler found for uri [{self.path}] and method [{method}]")

    # ---------------------------------------------------------------- deploy machine

    def _advance_deploy(self, model_id: str, model: dict[str, Any]) -> None:
        state = self.server.state
        if model["model_state"] != "DEPLOYING" or model_id not in state.deploy_polls_left:
            return
        if state.deploy_polls_left[model_id] > 0:
            state.deploy_polls_left[model_id] -= 1
            return
        self._finish_deploy(model_id, model)

    def _finish_deploy(self, model_id: str, model: dict[str, Any]) -> None:
        state = self.server.state
        state.deploy_polls_left.pop(model_id, None)
        outcome = state.config.deploy_outcome
        task = state.tasks[model["deploy_task_id"]]
        task["last_update_time"] = _now_ms()
        model["model_state"] = outcome
        if outcome == "DEPLOY_FAILED":
            task["state"] = "FAILED"
            task["error"] = json.dumps({NODE_ID: state.config.deploy_error})
            model["current_worker_node_count"] = 0
        else:
            task["state"] = "COMPLETED"
            model["current_worker_node_count"] = 1
            model["last_deployed_time"] = _now_ms()

    # ---------------------------------------------------------------- predict

    def _predict(self, model_id: str, model: dict[str, Any] | None, body: dict[str, Any], *, stream: bool):
        state = self.server.state
        config = state.config
        self._guard("predict")
        if not model:
            raise status_error(404, "Failed to find model")
        if stream and not state.flag(ML + "stream_enabled"):
            raise status_error(500, STREAM_DISABLED)
        if model["model_state"] not in ("DEPLOYED", "PARTIALLY_DEPLOYED"):
            if not state.flag(ML + "model_auto_deploy.enable"):
                raise bad_request("Model not ready yet. Please deploy the model first.")
            model["model_state"] = "DEPLOYED"  # remote models auto-deploy on first predict
        if config.throttled:
            raise status_error(429, "Request is throttled at model level.")
        parameters = dict(body.get("parameters") or {})
        if "messages" not in parameters:
            raise bad_request("Some parameter placeholder not filled in payload: messages")
        connector = state.connectors[model["connector_id"]]
        url = state.resolved_url(connector)
        state.check_trusted(url)
        host = urlsplit(url).hostname or ""
        private_key = ML + "connector.private_ip_enabled"
        if _is_private(host) and state.known(private_key) and not state.flag(private_key):
            raise bad_request(f"Remote inference host name has private ip address: {host}")
        merged = {**connector.get("parameters", {}), **parameters}
        request = _provider_request(connector, merged)
        key = connector["credential"].get("deepSeek_key", "")
        state.provider_calls.append({"model": request.get("model"), "messages": request["messages"],
                                     "authorization": f"Bearer {key}", "stream": stream,
                                     "parameters": parameters, "body": request})
        status, raw = self._provider(request, key)
        if status >= 300:
            raise status_error(status, f"Error from remote service: {raw}")
        if stream:
            return "sse", json.loads(raw)  # written by _handle, outside the state lock
        return 200, {"inference_results": [{
            "output": [{"name": "response", "dataAsMap": _doubles(json.loads(raw))}],
            "status_code": 200,
        }]}

    def _provider(self, request: dict[str, Any], key: str) -> tuple[int, str]:
        """What DeepSeek would answer to the filled-in request body: (status, raw body)."""
        config = self.server.state.config
        for message in request["messages"]:
            if "reasoning_content" in message:
                return 400, json.dumps({"error": {
                    "message": "The reasoning_content is an intermediate result for display purposes "
                    "only and will not be included in the context for inference.",
                    "type": "invalid_request_error", "param": None, "code": "invalid_request_error"}})
        if config.valid_api_key is not None and key != config.valid_api_key:
            return 401, json.dumps({"error": {
                "message": f"Authentication Fails, Your api key: {key} is invalid",
                "type": "authentication_error", "param": None, "code": "invalid_request_error"}})
        if config.provider_failure:
            return config.provider_failure
        model = request.get("model", "deepseek-chat")
        message: dict[str, Any] = {"role": "assistant", "content": config.reply_content}
        thinking = (request.get("thinking") or {}).get("type", "enabled")
        usage: dict[str, Any] = {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46,
                                 "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": 12}
        if model == "deepseek-reasoner" or (model.startswith("deepseek-v4") and thinking != "disabled"):
            message["reasoning_content"] = config.reply_reasoning
            usage["completion_tokens_details"] = {"reasoning_tokens": 20}
        return 200, json.dumps({
            "id": "b4e5f0c2-1d6f-4a57-9d8e-2b1c8e2c7f01", "object": "chat.completion",
            "created": 1738011126, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
            "usage": usage,
            "system_fingerprint": "fp_3a5770e1b4_prod0225",
        })

    def _stream(self, reply: dict[str, Any]) -> None:
        """ML Commons' SSE: only delta.content is forwarded (reasoning_content is dropped)."""
        content = reply["choices"][0]["message"].get("content", "")
        words = re.findall(r"\S+\s*", content) or [content]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        config = self.server.state.config
        for index, piece in enumerate(words + [""]):
            if index == len(words) and config.stream_truncate:
                break
            event: dict[str, Any] = {"inference_results": [{"output": [{"name": "response", "dataAsMap": {
                "content": piece, "is_last": index == len(words)}}]}]}
            if index == 1 and config.stream_error:
                event = {"error": config.stream_error}
            self._chunk(f"data: {json.dumps(event)}\n\n".encode())
            if "error" in event:
                break
            if index == 0 and config.hold_action == "stream":
                config.hold_action = None
                config.reached.set()
                if not config.release.wait(30):
                    return
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        except OSError:
            self.server.state.stream_aborted.set()  # the client hung up mid-stream
            raise


def _provider_request(connector: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The body ML Commons sends the provider: the predict action's ``request_body`` with every
    ``${parameters.x}`` filled in (lists and maps as JSON, as ML Commons does). A placeholder
    with no value is ML Commons' 400; a connector without a template sends model and messages."""
    template = connector["actions"][0].get("request_body")
    if not template:
        return {"model": parameters.get("model"), "messages": parameters["messages"]}

    def fill(match: re.Match[str]) -> str:
        value = parameters.get(match.group(1))
        if value is None:
            return match.group(0)
        return value if isinstance(value, str) else json.dumps(value)

    body = re.sub(r"\$\{parameters\.([A-Za-z0-9_]+)\}", fill, template)
    left = re.search(r"\$\{parameters\.([A-Za-z0-9_]+)\}", body)
    if left:
        raise bad_request(f"Some parameter placeholder not filled in payload: {left.group(1)}")
    return json.loads(body)


def _is_private(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback


def _task(model_id: str, task_type: str, state: str) -> dict[str, Any]:
    return {"model_id": model_id, "task_type": task_type, "function_name": "REMOTE", "state": state,
            "worker_node": [NODE_ID], "create_time": _now_ms(), "last_update_time": _now_ms(),
            "is_async": task_type == "DEPLOY_MODEL", "error": None}


def _deleted(index: str, doc_id: str) -> dict[str, Any]:
    return {"_index": index, "_id": doc_id, "_version": 2, "result": "deleted",
            "forced_refresh": True, "_shards": {"total": 2, "successful": 1, "failed": 0},
            "_seq_no": 7, "_primary_term": 1}


def _search(index: str, docs: dict[str, dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """An OpenSearch search over one ML Commons index (see the module docstring)."""
    query = body.get("query") or {"match_all": {}}
    size, start = int(body.get("size", 10)), int(body.get("from", 0))
    excluded = SEARCH_EXCLUDES.get(index, ())
    _check_query(query)  # OpenSearch parses the whole query before it looks at a document
    hits = [
        {"_index": index, "_id": doc_id, "_version": 1, "_seq_no": 0, "_primary_term": 1, "_score": 1.0,
         "_source": {k: v for k, v in doc.items() if k not in excluded}}
        for doc_id, doc in docs.items()
        if _matches(query, doc, MAPPINGS[index])
    ]
    response = _search_response(hits[start:start + size])
    response["hits"]["total"]["value"] = len(hits)
    return response


def _check_query(query: Any) -> None:
    if not isinstance(query, dict) or len(query) != 1:
        raise ApiError(400, "parsing_exception", "[_na] query malformed, no start_object after query name")
    (kind, spec), = query.items()
    if kind not in ("match_all", "term", "terms", "bool"):
        raise ApiError(400, "parsing_exception", f"unknown query [{kind}]")
    if kind in ("term", "terms") and (not isinstance(spec, dict) or len(spec) != 1):
        raise ApiError(400, "parsing_exception", f"[{kind}] query doesn't support multiple fields")
    if kind == "bool":
        for name in ("must", "filter", "should", "must_not"):
            clauses = spec.get(name) or []
            for clause in clauses if isinstance(clauses, list) else [clauses]:
                _check_query(clause)


def _matches(query: dict[str, Any], doc: dict[str, Any], mapping: dict[str, str]) -> bool:
    (kind, spec), = query.items()
    if kind == "match_all":
        return True
    if kind in ("term", "terms"):
        (field_name, wanted), = spec.items()
        if kind == "term":
            wanted = [wanted.get("value") if isinstance(wanted, dict) else wanted]
        return any(_field_matches(doc, field_name, value, mapping) for value in wanted)
    if kind == "bool":
        def clauses(name: str) -> list[Any]:
            value = spec.get(name) or []
            return value if isinstance(value, list) else [value]
        required = clauses("must") + clauses("filter")
        should = clauses("should")
        return (all(_matches(q, doc, mapping) for q in required)
                and not any(_matches(q, doc, mapping) for q in clauses("must_not"))
                and (not should or bool(required) or any(_matches(q, doc, mapping) for q in should)))
    return False  # not reached: _check_query refused every other kind


def _field_matches(doc: dict[str, Any], field_name: str, value: Any, mapping: dict[str, str]) -> bool:
    base, _, sub = field_name.partition(".")
    kind = mapping.get(base)
    actual = doc.get(base)
    if kind is None or actual is None or (sub and (sub != "keyword" or kind != "text")):
        return False  # not in the mapping: nothing is indexed under that name
    if kind == "text" and not sub:  # analysed: one lower-cased word of the text
        return str(value) in re.findall(r"\w+", str(actual).lower())
    return str(actual) == str(value) and (not sub or len(str(actual)) <= 256)  # ignore_above: 256


def _search_response(hits: list[dict[str, Any]]) -> dict[str, Any]:
    return {"took": 1, "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"total": {"value": len(hits), "relation": "eq"},
                     "max_score": 1.0 if hits else None, "hits": hits}}


# --------------------------------------------------------------------------- the server


class MLCommonsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, config: StandInConfig | None = None, *, port: int = 0,
                 tls: tuple[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = MLCommonsState(config or StandInConfig())
        self.requests: list[Recorded] = []
        self.scheme = "https" if tls else "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self._thread: threading.Thread | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-stream is what some tests do (stream_aborted records it).
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def config(self) -> StandInConfig:
        return self.state.config

    def start(self) -> MLCommonsServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> MLCommonsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def counts(self) -> dict[str, int]:
        return self.state.counts()


# --------------------------------------------------------------------------- helpers for tests

TEST_API_KEY = "sk-standin0123456789abcdef"


def provision_settings(server: MLCommonsServer, **overrides: Any) -> dict[str, Any]:
    """Resolved OpenSearch backend settings pointing at ``server`` (no auth, V4 Flash, which thinks)."""
    from thinkpane.backends.secrets import Secret

    settings: dict[str, Any] = {
        "url": server.url, "auth": "none", "verify_tls": True,
        "deepseek_api_key": Secret(TEST_API_KEY), "deepseek_model": "deepseek-v4-flash",
        "endpoint": "https://api.deepseek.com", "model_group_name": "thinkpane",
        "memory": False, "poll_interval_s": 0.005, "deploy_timeout_s": 5.0, "mode": "auto",
        "request_timeout_s": 30.0,
    }
    settings.update(overrides)
    return settings


def outline(events: list[Any]) -> list[tuple[str, str]]:
    """(step, status) of every event except the chatty info/progress ones."""
    return [(e.step, e.status) for e in events if e.status not in ("info", "progress")]


SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    "streaming": {"initial_settings": {ML + "stream_enabled": "true"}},
    "slow-deploy": {"deploying_polls": 5, "deploy_status": "CREATED"},
    "partial": {"deploy_outcome": "PARTIALLY_DEPLOYED"},
    "deploy-failed": {"deploy_outcome": "DEPLOY_FAILED", "deploying_polls": 2},
    "auth": {"username": "admin", "password": "admin-Secret-1"},
    "throttled": {"throttled": True},
    "bad-key": {"valid_api_key": "sk-the-right-key-000000"},
}


def preprovision(state: MLCommonsState, model: str = "deepseek-v4-flash") -> str:
    """Create a deployed DeepSeek model as setup would (for UI tests that skip setup): its id."""
    from thinkpane.backends.opensearch.provision.connector import DEFAULT_THINKING, REQUEST_BODY

    with state.lock:
        group_id, connector_id, model_id = state.new_id("mg"), state.new_id("cn"), state.new_id("md")
        state.model_groups[group_id] = {"name": "thinkpane", "description": "", "latest_version": 1,
                                        "access": "public", "created_time": _now_ms(),
                                        "last_updated_time": _now_ms()}
        state.connectors[connector_id] = {
            "name": "standin",
            "parameters": {"endpoint": "api.deepseek.com", "model": model, **DEFAULT_THINKING},
            "credential": {"deepSeek_key": TEST_API_KEY}, "client_config": {},
            "actions": [{"action_type": "predict", "method": "POST",
                         "url": "https://${parameters.endpoint}/v1/chat/completions",
                         "request_body": REQUEST_BODY}],
        }
        state.models[model_id] = {"name": f"thinkpane-{model}", "model_group_id": group_id,
                                  "algorithm": "REMOTE", "model_state": "DEPLOYED",
                                  "connector_id": connector_id, "current_worker_node_count": 1,
                                  "planning_worker_node_count": 1, "created_time": _now_ms()}
    return model_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="default")
    parser.add_argument("--provisioned", choices=("deepseek-reasoner", "deepseek-chat", "deepseek-v4-flash"),
                        help="start with a deployed model of this kind; its id is printed")
    args = parser.parse_args()
    server = MLCommonsServer(StandInConfig(**SCENARIOS[args.scenario]), port=args.port)
    extra = ""
    if args.provisioned:
        extra = " model_id=" + preprovision(server.state, args.provisioned)
    print(f"READY port={server.port}{extra}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
