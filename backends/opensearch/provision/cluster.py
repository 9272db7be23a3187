"""The first two provisioning steps: reach the cluster, then make ML Commons trust the endpoint.

* ``connect``: the DeepSeek key is set, the endpoint parses, the cluster answers (a TLS
  warning when verification is off), it is OpenSearch (a URL pointing at some other JSON
  server is named as such, not reported as a bug), and the ML Commons plugin is installed.
* ``cluster_settings``: adds the endpoint's narrow regex to the trusted connector
  endpoints (keeping every existing entry: a PUT replaces the list), and turns on private
  addresses and conversation memory when they are needed. A setting this cluster does not
  know (an older release) is skipped with a warning; what was changed is recorded in the
  state file, so teardown can list it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.opensearch.errors import envelope_reason
from thinkpane.backends.opensearch.provision.endpoint import parse_endpoint
from thinkpane.backends.opensearch.provision.session import Done, Session, Step, Stop, Update

ML = "plugins.ml_commons."
REGEX_KEY = ML + "trusted_connector_endpoints_regex"
PRIVATE_IP_KEY = ML + "connector.private_ip_enabled"
MEMORY_KEY = ML + "memory_feature_enabled"
MAX_REGEX_LENGTH = 256  # ML Commons refuses longer trusted-endpoint regexes


async def _connect(s: Session) -> AsyncIterator[Update | Done]:
    if not s.api_key:
        raise Stop(ConfigurationError(
            "OpenSearch setup: the DeepSeek API key is not set",
            "Pass --deepseek-api-key or set DEEPSEEK_API_KEY; it is stored only inside the "
            "cluster's connector (encrypted by ML Commons), never by Thinkpane.",
        ))
    s.endpoint = parse_endpoint(s.settings.get("endpoint"))
    warning = await s.open()
    if warning:
        yield Update("info", warning)
    version, has_ml = await cluster_info(s)
    if not has_ml:
        yield Done(
            "fail", f"ML Commons is not installed on this cluster (OpenSearch {version})",
            "Install the plugin on every node: `bin/opensearch-plugin install opensearch-ml` and "
            "restart (the full OpenSearch distribution and the Docker image include it).",
        )
        return
    s.state.url = s.cs.url if s.cs else ""
    yield Done("warn" if warning else "ok", f"OpenSearch {version} with ML Commons",
               warning, data={"version": version})


async def cluster_info(s: Session) -> tuple[str, bool]:
    """(OpenSearch version, whether the ML Commons plugin is installed); Stop when the URL
    answers but is not OpenSearch."""
    info = await _answer(s, s.client.info, "GET /")
    version = info.get("version") if isinstance(info, dict) else None
    number = version.get("number") if isinstance(version, dict) else None
    if not isinstance(number, str) or not _is_opensearch(info):
        raise Stop(_not_opensearch(s, "GET / answered: " + _json(info)))
    plugins = await _answer(s, s.client.cat.plugins, "GET /_cat/plugins", params={"format": "json"})
    if isinstance(plugins, str):
        try:
            plugins = json.loads(plugins or "[]")
        except ValueError:
            plugins = None
    if not isinstance(plugins, list) or not all(isinstance(p, dict) for p in plugins):
        raise Stop(_not_opensearch(s, "GET /_cat/plugins answered: " + _json(plugins)))
    return number, any(p.get("component") == "opensearch-ml" for p in plugins)


def _is_opensearch(info: dict[str, Any]) -> bool:
    """OpenSearch says so in ``version.distribution`` (and its tagline); Elasticsearch does not."""
    distribution = str((info.get("version") or {}).get("distribution") or "")
    return distribution == "opensearch" or "opensearch" in str(info.get("tagline") or "").lower()


async def _answer(s: Session, method: Any, what: str, **kwargs: Any) -> Any:
    """A call the connect step makes: an answer that is no OpenSearch answer becomes Stop."""
    from opensearchpy.exceptions import SerializationError, TransportError

    try:
        return await s.call(method, **kwargs)
    except SerializationError as exc:  # e.g. an HTML page
        raise Stop(_not_opensearch(s, f"{what} answered something that is not JSON: {exc}")) from None
    except TransportError as exc:
        if exc.status_code in (401, 403) or not isinstance(exc.status_code, int):
            raise  # wrong password, missing permission, unreachable: classified as usual
        raise Stop(_not_opensearch(s, f"{what} answered HTTP {exc.status_code}: {_json(exc.info)}")) from None


def _not_opensearch(s: Session, detail: str) -> ConfigurationError:
    url = s.cs.url if s.cs else str(s.settings.get("url") or "")
    return ConfigurationError(
        f"The server at {url} is not OpenSearch",
        "Check --url: it must be the cluster's REST endpoint (the demo cluster listens on "
        "https://localhost:9200).",
        detail=detail,
    )


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


async def _cluster_settings(s: Session) -> AsyncIterator[Update | Done]:
    assert s.endpoint is not None  # parsed by the connect step
    current = await s.call(s.client.cluster.get_settings,
                           params={"include_defaults": "true", "flat_settings": "true"})

    def effective(key: str) -> Any:
        for section in ("transient", "persistent", "defaults"):
            if key in (current.get(section) or {}):
                return current[section][key]
        return None

    regex = s.endpoint.trusted_regex
    if len(regex) > MAX_REGEX_LENGTH:
        raise Stop(ConfigurationError(
            f"The endpoint is too long for ML Commons' trusted endpoint regex ({MAX_REGEX_LENGTH} characters)",
            "Use a shorter host name for --endpoint.",
        ))
    changed: list[str] = []
    skipped: list[str] = []
    kept: list[str] = []

    existing = effective(REGEX_KEY) or []
    if isinstance(existing, str):
        existing = [existing]
    if regex in existing:
        kept.append(f"{regex} already trusted")
    else:
        merged = [*existing, regex]  # a PUT replaces the list: keep every existing entry
        if await _put_setting(s, REGEX_KEY, merged, skipped):
            changed.append(f"trusted {regex}")
            s.state.changed_settings[REGEX_KEY] = {"added": regex}
            s.save()
    wanted: list[tuple[str, str]] = []
    if s.endpoint.is_private:
        wanted.append((PRIVATE_IP_KEY, "the endpoint is a private address"))
    if s.settings.get("memory"):
        wanted.append((MEMORY_KEY, "conversation memory is on"))
    for key, why in wanted:
        if str(effective(key)).lower() == "true":
            kept.append(f"{key} already true")
        elif await _put_setting(s, key, "true", skipped):
            changed.append(f"{key}=true ({why})")
            s.state.changed_settings[key] = {"set": "true"}
            s.save()
    data = {"changed": changed, "skipped": skipped, "regex": regex}
    if skipped:
        yield Done("warn", "This cluster does not know: " + ", ".join(skipped) + " (skipped)",
                   "An older ML Commons; the setting does not apply there.", data=data)
    elif changed:
        yield Done("ok", "Updated: " + "; ".join(changed), data=data)
    else:
        yield Done("skip", "Already set: " + "; ".join(kept), data=data)


async def _put_setting(s: Session, key: str, value: Any, skipped: list[str]) -> bool:
    """True when set; False (and ``key`` added to ``skipped``) when the cluster does not know it."""
    _, error = await s.attempt(s.client.cluster.put_settings, body={"persistent": {key: value}})
    if error is None:
        return True
    _, reason = envelope_reason(error.info)
    if error.status_code == 400 and "not recognized" in reason:
        skipped.append(key)
        return False
    raise error


CONNECT = Step("connect", "Connecting to OpenSearch", _connect)
CLUSTER_SETTINGS = Step("cluster_settings", "Checking ML Commons cluster settings", _cluster_settings)
