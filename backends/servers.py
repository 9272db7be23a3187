"""Model servers already running on this machine: Ollama and LM Studio.

``thinkpane models list`` asks both, briefly, and shows what they serve:

* **Ollama** at ``OLLAMA_HOST`` (Ollama's own variable; default ``127.0.0.1:11434``, a bare
  ``host:port`` or a URL). ``GET /api/tags`` lists models; ``POST /api/show {"model": NAME}``
  returns ``capabilities``, which contains ``"thinking"`` for models that reason (Ollama's
  API docs, api.md "Show model information").
* **LM Studio** at ``http://127.0.0.1:1234`` (its default server port), or
  ``THINKPANE_LMSTUDIO_URL``. ``GET /v1/models`` (OpenAI-compatible) lists the models; it says
  nothing about thinking, so that column is left empty.

Everything here is best effort with short timeouts: a server that is not running is the
normal case and simply is not listed. No Textual, no provider SDK: httpx only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

OLLAMA_DEFAULT_HOST = "127.0.0.1:11434"
LMSTUDIO_DEFAULT_URL = "http://127.0.0.1:1234"
LMSTUDIO_URL_ENV = "THINKPANE_LMSTUDIO_URL"
PROBE_TIMEOUT_S = 2.0


def ollama_url(environ: Mapping[str, str] | None = None) -> str:
    """Ollama's root URL from OLLAMA_HOST, the way the ollama CLI reads it."""
    env = os.environ if environ is None else environ
    host = (env.get("OLLAMA_HOST") or OLLAMA_DEFAULT_HOST).strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    scheme, _, rest = host.partition("://")
    if rest.startswith(":"):  # OLLAMA_HOST=:11434 means localhost
        rest = "127.0.0.1" + rest
    if rest.startswith("0.0.0.0"):  # a bind-all address: talk to it locally
        rest = "127.0.0.1" + rest[len("0.0.0.0"):]
    if ":" not in rest.split("/", 1)[0]:
        rest = rest.split("/", 1)[0] + ":11434" + ("/" + rest.split("/", 1)[1] if "/" in rest else "")
    return f"{scheme}://{rest}"


def lmstudio_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return (env.get(LMSTUDIO_URL_ENV) or LMSTUDIO_DEFAULT_URL).strip().rstrip("/")


@dataclass(frozen=True)
class ServedModel:
    name: str
    size: int | None = None
    thinks: bool | None = None  # None: the server does not say
    detail: str = ""  # parameter size, quantisation


@dataclass
class ServerModels:
    server: str  # "Ollama" or "LM Studio"
    url: str
    running: bool = False
    models: list[ServedModel] = field(default_factory=list)
    problem: str = ""


def ollama_models(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> ServerModels:
    found = ServerModels("Ollama", url)
    try:
        with httpx.Client(timeout=timeout_s, trust_env=False) as client:
            response = client.get(f"{url}/api/tags")
            response.raise_for_status()
            entries = response.json().get("models") or []
            found.running = True
            names = [str(e.get("name") or e.get("model")) for e in entries if isinstance(e, dict)]
            with ThreadPoolExecutor(max_workers=4) as pool:
                capabilities = list(pool.map(lambda name: _ollama_capabilities(client, url, name), names))
            listed = [e for e in entries if isinstance(e, dict)]
            for entry, name, caps in zip(listed, names, capabilities, strict=True):
                raw_details = entry.get("details")
                details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
                detail = " ".join(str(details[k]) for k in ("parameter_size", "quantization_level") if details.get(k))
                size = entry.get("size") if isinstance(entry.get("size"), int) else None
                found.models.append(ServedModel(name, size, None if caps is None else "thinking" in caps, detail))
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        if found.running:
            found.problem = f"{type(exc).__name__}: {exc}"[:200]
    return found


def _ollama_capabilities(client: httpx.Client, url: str, name: str) -> list[str] | None:
    try:
        response = client.post(f"{url}/api/show", json={"model": name})
        response.raise_for_status()
        capabilities = response.json().get("capabilities")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return [str(c) for c in capabilities] if isinstance(capabilities, list) else None


def lmstudio_models(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> ServerModels:
    found = ServerModels("LM Studio", url)
    try:
        with httpx.Client(timeout=timeout_s, trust_env=False) as client:
            response = client.get(f"{url}/v1/models")
            response.raise_for_status()
            data: Any = response.json().get("data") or []
    except (httpx.HTTPError, ValueError, AttributeError):
        return found
    found.running = True
    found.models = [ServedModel(str(item["id"])) for item in data if isinstance(item, dict) and item.get("id")]
    return found


def discover(environ: Mapping[str, str] | None = None) -> list[ServerModels]:
    """Ask Ollama and LM Studio at once; each answer within PROBE_TIMEOUT_S or not at all."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        ollama = pool.submit(ollama_models, ollama_url(environ))
        lmstudio = pool.submit(lmstudio_models, lmstudio_url(environ))
        return [ollama.result(), lmstudio.result()]
