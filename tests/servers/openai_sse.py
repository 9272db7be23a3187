"""A stand-in OpenAI-compatible server: real HTTP on 127.0.0.1, scripted SSE answers.

Faithful to the wire: ``POST /v1/chat/completions`` answered with ``text/event-stream``
(HTTP/1.1 chunked, one chunk per event, flushed) in DeepSeek's documented chunk shapes,
``data: [DONE]`` at the end; ``GET /v1/models``. Every request is recorded (headers, JSON
body) so tests can assert what the client sent.

In tests::

    with serve() as server:                      # default scenario: "reasoner"
        server.enqueue([chunk(reasoning="Hm"), chunk(content="Hi", finish="stop"), DONE])
        ... base_url = server.base_url ...       # http://127.0.0.1:PORT/v1
        server.requests[0].headers["authorization"]

A script is a list of actions: :class:`Chunk` (a JSON data line), :class:`Raw` (bytes as
they are), :class:`Sleep`, :class:`Close` (drop the connection abruptly),
:class:`Respond` (a whole non-streaming answer: status, headers, body),
:class:`HoldOpen` (keep the stream open until the client hangs up). Queued scripts are
used one per request; when the queue is empty the named scenario answers. ``keepalive``,
``stall`` and ``stall_keepalive`` reproduce a model that has not started (DeepSeek's
``: keep-alive`` comments) and a stream that goes silent without finishing.

From a shell (TUI, ``thinkpane ask``, tmux tests and benchmarks)::

    python -m tests.servers.openai_sse --port 0 --script slow

prints ``READY port=N`` once listening and serves until killed. ``--fail-first N`` answers
the first N chat requests with HTTP 500; ``--record FILE`` appends each chat request's JSON
body to FILE, one line each, for a test in another process to read.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import select
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.background import in_background

# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Chunk:
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Raw:
    data: bytes | str


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Close:
    """Drop the TCP connection without finishing the HTTP body."""


@dataclass(frozen=True)
class Respond:
    status: int
    body: bytes | str | Mapping[str, Any] = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HoldOpen:
    """Send nothing more until the client disconnects (or ``seconds`` pass)."""

    seconds: float = 30.0


Action = Chunk | Raw | Sleep | Close | Respond | HoldOpen
DONE = Raw(b"data: [DONE]\n\n")


_created = 1737000000


def chunk(
    reasoning: str | None = None,
    content: str | None = None,
    finish: str | None = None,
    usage: Mapping[str, Any] | None = None,
    *,
    model: str = "deepseek-reasoner",
    role: bool = False,
    choices: bool = True,
) -> Chunk:
    """A chunk shaped like DeepSeek's ``chat.completion.chunk`` for deepseek-reasoner."""
    delta: dict[str, Any] = {"content": content, "reasoning_content": reasoning}
    if role:
        delta = {"role": "assistant", **delta}
    data: dict[str, Any] = {
        "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e",
        "object": "chat.completion.chunk",
        "created": _created,
        "model": model,
        "system_fingerprint": "fp_7e73fd9a08_prod0225",
        "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        ] if choices else [],
    }
    if usage is not None:
        data["usage"] = dict(usage)
    return Chunk(data)


def deepseek_usage(prompt: int = 12, completion: int = 40, reasoning: int = 25) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
        "prompt_cache_hit_tokens": 0,
        "prompt_cache_miss_tokens": prompt,
    }


def error_body(message: str, type_: str = "invalid_request_error", code: Any = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# --------------------------------------------------------------------------- scenarios


def _last_user(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


REASONER_REASONING = ["The user", " wrote", " something.", " I should", " echo it", " back."]


def reasoner(body: Mapping[str, Any], delay: float = 0.0) -> list[Action]:
    """deepseek-reasoner: reasoning_content deltas, then content, usage with the last chunk."""
    said = _last_user(body)
    answer = ["You said: ", said] if said else ["Hello", "!"]
    script: list[Action] = [chunk(role=True, reasoning="")]
    for piece in REASONER_REASONING:
        script += [Sleep(delay), chunk(reasoning=piece)] if delay else [chunk(reasoning=piece)]
    for piece in answer:
        script += [Sleep(delay), chunk(content=piece)] if delay else [chunk(content=piece)]
    script += [chunk(content="", finish="stop", usage=deepseek_usage()), DONE]
    return script


def think_tags(body: Mapping[str, Any], delay: float = 0.0) -> list[Action]:
    """An R1 distill on llama.cpp/Ollama: <think> inside content, tags cut across chunks."""
    pieces = ["<thi", "nk>\nLet me", " think about", " it.\n</th", "ink>\n\n", "Hello", " there!"]
    script: list[Action] = []
    for piece in pieces:
        if delay:
            script.append(Sleep(delay))
        script.append(Chunk({
            "id": "chatcmpl-llama", "object": "chat.completion.chunk", "created": _created,
            "model": "DeepSeek-R1-Distill-Qwen-1.5B",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }))
    script.append(Chunk({
        "id": "chatcmpl-llama", "object": "chat.completion.chunk", "created": _created,
        "model": "DeepSeek-R1-Distill-Qwen-1.5B",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 14, "total_tokens": 23},
    }))
    script.append(DONE)
    return script


def vllm_reasoning(body: Mapping[str, Any], delay: float = 0.0) -> list[Action]:
    """vLLM / SGLang / OpenRouter: ``delta.reasoning`` instead of reasoning_content."""
    def c(delta: dict[str, Any], finish: str | None = None) -> Chunk:
        return Chunk({"id": "chatcmpl-vllm", "object": "chat.completion.chunk", "created": _created,
                      "model": "Qwen/QwQ-32B",
                      "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})
    return [
        c({"role": "assistant", "content": ""}),
        c({"reasoning": "Thinking"}), c({"reasoning": " hard."}),
        c({"content": "Answer"}), c({"content": "."}, "stop"),
        Chunk({"id": "chatcmpl-vllm", "object": "chat.completion.chunk", "created": _created,
               "model": "Qwen/QwQ-32B", "choices": [],
               "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}),
        DONE,
    ]


def slow(body: Mapping[str, Any], delay: float = 0.05) -> list[Action]:
    """A paced stream (~20 events/s) long enough to watch, cancel or measure."""
    script: list[Action] = [chunk(role=True, reasoning="")]
    for i in range(40):
        script += [Sleep(delay), chunk(reasoning=f"step {i}. ")]
    for i in range(40):
        script += [Sleep(delay), chunk(content=f"word{i} ")]
    script += [chunk(content="", finish="stop", usage=deepseek_usage(completion=80, reasoning=40)), DONE]
    return script


# Grapheme clusters whose width terminals disagree on (and Rich measures as one glyph):
# a ZWJ family, a ZWJ profession, a skin tone, a VS16 heart, a flag, a keycap, and a ZWJ
# inside Devanagari. One per line, then all of them in a line long enough to wrap.
GRAPHEME_LINES = [
    "Family: \U0001F469\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 at home.",
    "Coder: \U0001F469\u200d\U0001F4BB typing.",
    "Wave: \U0001F44B\U0001F3FD hello.",
    "Love: \u2764\ufe0f it.",
    "Flag: \U0001F1EB\U0001F1F7 France.",
    "Keycap: 1\ufe0f\u20e3 one.",
    "Hindi: \u0915\u094d\u200d\u0937 letter.",
    "Mixed: " + " ".join(["\U0001F469\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466\U0001F44B\U0001F3FD\u2764\ufe0f"] * 14),
]


def graphemes(body: Mapping[str, Any], delay: float = 0.0) -> list[Action]:
    """Reasoning full of emoji sequences (one line each), then a short answer with some."""
    script: list[Action] = [chunk(role=True, reasoning="")]
    for line in GRAPHEME_LINES:
        script += [Sleep(delay), chunk(reasoning=line + "\n")] if delay else [chunk(reasoning=line + "\n")]
    script += [chunk(content="Emoji everywhere: \U0001F44B\U0001F3FD \u2764\ufe0f done.")]
    script += [chunk(content="", finish="stop", usage=deepseek_usage()), DONE]
    return script


KEEP_ALIVE = Raw(b": keep-alive\n\n")


def keepalive(body: Mapping[str, Any], delay: float = 0.05) -> list[Action]:
    """DeepSeek before inference starts: ``: keep-alive`` comment lines only, then the
    reasoner's answer (the reference: DeepSeek sends them while the model has not started)."""
    script: list[Action] = []
    for _ in range(5):
        script += [KEEP_ALIVE, Sleep(delay)]
    return script + reasoner(body)


def stall(body: Mapping[str, Any], delay: float = 0.0) -> list[Action]:
    """A stream that starts thinking, then goes silent with no finish (DeepSeek-V3 #1608):
    the connection stays open, nothing more comes, until the client hangs up."""
    return [chunk(role=True, reasoning=""), chunk(reasoning="Let me think"), HoldOpen(600)]


def stall_keepalive(body: Mapping[str, Any], delay: float = 0.5) -> list[Action]:
    """Reasoning, then only keep-alive comments (every ``delay`` s): the server is alive but
    sends no text, until the client hangs up."""
    script: list[Action] = [chunk(role=True, reasoning=""), chunk(reasoning="Let me think")]
    for _ in range(1200):
        script += [Sleep(delay), KEEP_ALIVE]
    return script


def error_401(body: Mapping[str, Any], delay: float = 0.0) -> list[Action]:
    return [Respond(401, error_body(
        "Authentication Fails, Your api key: ****abcd is invalid", "authentication_error",
        "invalid_request_error"))]


_TAKES = itertools.count(1)


def numbered(body: Mapping[str, Any], delay: float = 0.0) -> list[Action]:
    """Like ``reasoner``, but each answer of the server is numbered ("take 2"): a question
    asked again (regenerate) gets an answer that can be told apart from the first one."""
    take = next(_TAKES)
    said = _last_user(body)
    script: list[Action] = [chunk(role=True, reasoning="")]
    for piece in (f"Thinking, take {take}.",):
        script += [Sleep(delay), chunk(reasoning=piece)] if delay else [chunk(reasoning=piece)]
    for piece in (f"Take {take}: ", f"you said {said}"):
        script += [Sleep(delay), chunk(content=piece)] if delay else [chunk(content=piece)]
    script += [chunk(content="", finish="stop", usage=deepseek_usage()), DONE]
    return script


SCENARIOS: dict[str, Callable[..., list[Action]]] = {
    "numbered": numbered,
    "reasoner": reasoner,
    "think_tags": think_tags,
    "vllm": vllm_reasoning,
    "slow": slow,
    "error_401": error_401,
    "graphemes": graphemes,
    "keepalive": keepalive,
    "stall": stall,
    "stall_keepalive": stall_keepalive,
}


# --------------------------------------------------------------------------- server


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any
    received_at: float
    disconnected_at: float | None = None
    disconnected: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandInServer  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    # ------------------------------------------------------------------ routes

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._record(None)
            self._send_json(200, {"object": "list", "data": [
                {"id": "deepseek-v4-flash", "object": "model", "owned_by": "deepseek"},
                {"id": "deepseek-v4-pro", "object": "model", "owned_by": "deepseek"},
            ]})
            return
        self._send_json(404, error_body(f"Not found: {self.path}"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        request = self._record(body)
        if not self.path.split("?")[0].rstrip("/").endswith("/chat/completions"):
            self._send_json(404, error_body(f"Not found: {self.path}"))
            return
        script = self.server.next_script(body if isinstance(body, Mapping) else {})
        try:
            self._play(script, request)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._mark_disconnected(request)
        self.close_connection = True

    # ------------------------------------------------------------------ playing a script

    def _play(self, script: list[Action], request: RecordedRequest) -> None:
        if script and isinstance(script[0], Respond):
            respond = script[0]
            body = respond.body
            if isinstance(body, Mapping):
                payload = json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **respond.headers}
            else:
                payload = body.encode() if isinstance(body, str) else body
                headers = {"Content-Type": "text/plain", **respond.headers}
            self.send_response(respond.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        chunked = self.server.chunked
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for action in script:
            if isinstance(action, Sleep):
                if self._client_gone(action.seconds):
                    self._mark_disconnected(request)
                    return
            elif isinstance(action, HoldOpen):
                if self._client_gone(action.seconds):
                    self._mark_disconnected(request)
                return
            elif isinstance(action, Close):
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            else:
                if isinstance(action, Chunk):
                    data = b"data: " + json.dumps(action.data, ensure_ascii=False).encode() + b"\n\n"
                elif isinstance(action, Raw):
                    data = action.data.encode() if isinstance(action.data, str) else action.data
                else:
                    raise TypeError(f"unknown action {action!r}")
                self._write(data, chunked)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    def _write(self, data: bytes, chunked: bool) -> None:
        if not data:
            return
        if chunked:
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self.wfile.write(data)
        self.wfile.flush()

    def _client_gone(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True as soon as the client closes its end."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.05))
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
                time.sleep(min(remaining, 0.01))  # pipelined bytes we do not read: just wait

    # ------------------------------------------------------------------ helpers

    def _record(self, body: Any) -> RecordedRequest:
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        with self.server.lock:
            self.server.requests.append(request)
            if self.server.record_file and self.command == "POST":
                with open(self.server.record_file, "a", encoding="utf-8") as file:
                    file.write(json.dumps(body) + "\n")
        return request

    def _mark_disconnected(self, request: RecordedRequest) -> None:
        request.disconnected_at = time.monotonic()
        request.disconnected.set()

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, scenario: str = "reasoner", delay: float | None = None,
                 chunked: bool = True, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.tls = tls
        if tls is not None:  # HTTPS: the handshake runs in the handler thread
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.scenario = scenario
        self.delay = delay
        self.chunked = chunked
        self.lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.scripts: deque[list[Action]] = deque()
        self.record_file: str | None = None  # where chat request bodies go too (--record)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up or rejects our certificate is expected in tests; say no more.
        if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    def enqueue(self, *scripts: list[Action]) -> None:
        with self.lock:
            self.scripts.extend(list(script) for script in scripts)

    # Chat requests answered so far, and which of them (1 = the first) get an HTTP 500.
    served = 0
    fail_requests: frozenset[int] = frozenset()

    def next_script(self, body: Mapping[str, Any]) -> list[Action]:
        with self.lock:
            self.served += 1
            if self.served in self.fail_requests:
                return [Respond(500, error_body("The server had an error processing your request.", "server_error"))]
            if self.scripts:
                return self.scripts.popleft()
        make = SCENARIOS[self.scenario]
        return make(body) if self.delay is None else make(body, self.delay)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]


@contextlib.contextmanager
def serve(scenario: str = "reasoner", *, delay: float | None = None, chunked: bool = True,
          port: int = 0, tls: ssl.SSLContext | None = None) -> Iterator[StandInServer]:
    """Run a stand-in server in a background thread for the duration of the block."""
    with in_background(StandInServer(port, scenario, delay, chunked, tls), "openai-stand-in") as server:
        yield server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stand-in OpenAI-compatible SSE server (tests, demos).")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", default="reasoner", choices=sorted(SCENARIOS))
    parser.add_argument("--delay", type=float, default=None, help="seconds between deltas")
    parser.add_argument("--no-chunked", action="store_true", help="Connection: close framing")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N",
                        help="answer the first N chat requests with HTTP 500")
    parser.add_argument("--fail-request", type=int, action="append", default=[], metavar="N",
                        help="answer the N-th chat request (1 = the first) with HTTP 500; repeatable")
    parser.add_argument("--record", metavar="FILE", help="append each chat request's JSON body to FILE")
    args = parser.parse_args(argv)
    server = StandInServer(args.port, args.script, args.delay, not args.no_chunked)
    server.record_file = args.record
    server.fail_requests = frozenset(args.fail_request)
    server.enqueue(*[[Respond(500, error_body("The server had an error processing your request.",
                                              "server_error"))]] * args.fail_first)
    print(f"READY port={server.port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
