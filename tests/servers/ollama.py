"""Stand-ins for Ollama and LM Studio on 127.0.0.1, for discovery and ``--backend ollama``.

Ollama (its API docs, api.md and openai.md):

* ``GET /api/tags`` -> ``{"models": [{"name", "model", "modified_at", "size", "digest",
  "details": {"format", "family", "parameter_size", "quantization_level"}}]}``;
* ``POST /api/show {"model": NAME}`` -> ``{"capabilities": [...], "details": {...}, ...}``,
  ``"thinking"`` among the capabilities of models that reason; 404 ``{"error": "model 'x'
  not found"}`` otherwise;
* ``POST /v1/chat/completions`` with ``stream: true``: SSE chunks, the reasoning of a thinking
  model in ``choices[0].delta.reasoning``, then the answer in ``delta.content``, then
  ``data: [DONE]``. ``reasoning_effort: "none"`` turns thinking off (no reasoning deltas).
  Any API key is accepted. An unknown model is a 404 with an OpenAI-style error body.

LM Studio: ``GET /v1/models`` -> ``{"object": "list", "data": [{"id", "object": "model",
"owned_by"}]}`` (OpenAI-compatible; it says nothing about thinking).

Every request is recorded (method, path, JSON body) for assertions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.background import in_background

REASONING = ["The user greets me.", " I will greet back."]
ANSWER = ["Hello", " from Ollama!"]


@dataclass(frozen=True)
class OllamaModel:
    name: str
    capabilities: tuple[str, ...] = ("completion",)
    size: int = 522_653_767
    parameter_size: str = "751.63M"
    quantization: str = "Q4_K_M"


DEFAULT_MODELS = (
    OllamaModel("qwen3:0.6b", ("completion", "tools", "thinking")),
    OllamaModel("llama3.2:1b", ("completion", "tools"), size=1_321_098_329, parameter_size="1.2B", quantization="Q8_0"),
)


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class _Config:
    kind: str  # "ollama" or "lmstudio"
    models: tuple[OllamaModel, ...]
    lmstudio_models: tuple[str, ...]
    requests: list[Recorded] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalServer  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def do_GET(self) -> None:
        config = self.server.config
        config.requests.append(Recorded("GET", self.path, None))
        if config.kind == "ollama" and self.path == "/api/tags":
            self._json(200, {"models": [
                {"name": m.name, "model": m.name, "modified_at": "2026-10-01T12:00:00Z", "size": m.size,
                 "digest": "a" * 64, "details": {"format": "gguf", "family": m.name.split(":")[0],
                                                 "parameter_size": m.parameter_size,
                                                 "quantization_level": m.quantization}}
                for m in config.models
            ]})
        elif config.kind == "lmstudio" and self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [
                {"id": name, "object": "model", "owned_by": "organization_owner"} for name in config.lmstudio_models
            ]})
        else:
            self._json(404, {"error": "404 page not found"})

    def do_POST(self) -> None:
        config = self.server.config
        body = self._body()
        config.requests.append(Recorded("POST", self.path, body))
        model = self._model(body.get("model") if isinstance(body, dict) else None)
        if config.kind == "ollama" and self.path == "/api/show":
            if model is None:
                self._json(404, {"error": f"model '{body.get('model')}' not found"})
            else:
                self._json(200, {"capabilities": list(model.capabilities), "details": {"family": "qwen3"},
                                 "model_info": {}, "template": "{{ .Prompt }}", "parameters": ""})
        elif config.kind == "ollama" and self.path == "/v1/chat/completions":
            if model is None:
                name = body.get("model") if isinstance(body, dict) else None
                self._json(404, {"error": {"message": f"model \"{name}\" not found, try pulling it first",
                                           "type": "api_error", "param": None, "code": None}})
                return
            self._stream(model, body)
        else:
            self._json(404, {"error": "404 page not found"})

    def _model(self, name: Any) -> OllamaModel | None:
        return next((m for m in self.server.config.models if m.name == name), None)

    def _stream(self, model: OllamaModel, body: dict[str, Any]) -> None:
        thinking = "thinking" in model.capabilities and body.get("reasoning_effort") != "none"
        deltas = ([{"role": "assistant", "content": "", "reasoning": piece} for piece in REASONING] if thinking else [])
        deltas += [{"role": "assistant", "content": piece} for piece in ANSWER]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        chunks = [
            {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1760000000, "model": model.name,
             "system_fingerprint": "fp_ollama", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            for delta in deltas
        ]
        chunks.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1760000000,
                       "model": model.name, "system_fingerprint": "fp_ollama",
                       "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1760000000,
                           "model": model.name, "choices": [],
                           "usage": {"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20}})
        for data in [*(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks), b"data: [DONE]\n\n"]:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, config: _Config) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.config = config

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def host(self) -> str:
        """As OLLAMA_HOST takes it: host:port."""
        return f"127.0.0.1:{self.server_address[1]}"

    @property
    def requests(self) -> list[Recorded]:
        return list(self.config.requests)

    def chats(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]


@contextlib.contextmanager
def _serve(config: _Config) -> Iterator[LocalServer]:
    with in_background(LocalServer(config), f"{config.kind}-stand-in") as server:
        yield server


def serve_ollama(models: tuple[OllamaModel, ...] = DEFAULT_MODELS) -> contextlib.AbstractContextManager[LocalServer]:
    return _serve(_Config("ollama", models, ()))


def serve_lmstudio(models: tuple[str, ...] = ("qwen3-0.6b", "deepseek-r1-distill-qwen-1.5b")) -> contextlib.AbstractContextManager[LocalServer]:
    return _serve(_Config("lmstudio", (), models))
