"""A stand-in for Bedrock Runtime's ConverseStream, speaking the real binary event stream.

Real HTTP/1.1 on 127.0.0.1: ``POST /model/{modelId}/converse-stream`` answers
``200`` with ``Content-Type: application/vnd.amazon.eventstream`` and
``Transfer-Encoding: chunked``, one chunk per frame (without chunking urllib3 buffers
64 KiB and nothing streams). Frames are encoded here with ``zlib.crc32`` as the AWS event
stream encoding specifies (prelude with total and header lengths, prelude CRC, headers,
payload, message CRC; see the AWS SDKs' "Event Stream Encoding" documentation and
botocore's ``eventstream.py``, which decodes them), including the ``"p"`` padding field real
AWS puts in every payload.

Scenarios are chosen, first match wins, by: a model id ``scenario.NAME``, the queue
filled with :meth:`BedrockStandIn.enqueue`, the server's default scenario. The bare id
``deepseek.r1-v1:0`` always fails like AWS does (on-demand throughput not supported).

Every request is recorded (path, headers, JSON body) and every client hang-up is timed,
so tests can assert what was sent and how fast a cancel closed the connection.

CLI for other tests and demos::

    python -m tests.servers.bedrock_eventstream --port 0 --scenario paced --delay-ms 30
    # prints "READY port=NNNNN", serves until killed
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import sys
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

EVENTSTREAM = "application/vnd.amazon.eventstream"
ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
BARE_R1 = "deepseek.r1-v1:0"

# --------------------------------------------------------------------------- frames


def encode_frame(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One event-stream message: prelude, prelude CRC, string headers, payload, message CRC."""
    header_bytes = b""
    for name, value in headers:
        raw_name, raw_value = name.encode(), value.encode()
        header_bytes += bytes([len(raw_name)]) + raw_name + b"\x07"
        header_bytes += struct.pack(">H", len(raw_value)) + raw_value
    total = 12 + len(header_bytes) + len(payload) + 4
    prelude = struct.pack(">II", total, len(header_bytes))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + header_bytes + payload
    return message + struct.pack(">I", zlib.crc32(message))


_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_pad_counter = iter(range(1 << 62))


def _payload(body: dict[str, Any]) -> bytes:
    # Real AWS pads payloads with a "p" field of varying length; clients must ignore it.
    size = 3 + next(_pad_counter) % 40
    return json.dumps({**body, "p": _PAD[:size]}, separators=(",", ":")).encode()


def event_frame(event_type: str, body: dict[str, Any]) -> bytes:
    return encode_frame(
        [(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")],
        _payload(body),
    )


def exception_frame(exception_type: str, body: dict[str, Any]) -> bytes:
    return encode_frame(
        [
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        _payload(body),
    )


def corrupt(frame: bytes) -> bytes:
    """The same frame with a wrong message CRC."""
    return frame[:-4] + struct.pack(">I", (struct.unpack(">I", frame[-4:])[0] ^ 0xFFFF))


# --------------------------------------------------------------------------- script steps


@dataclass(frozen=True)
class Frame:
    data: bytes


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Cut:
    """Drop the connection without the terminating chunk."""


@dataclass(frozen=True)
class HttpError:
    status: int
    error_type: str
    message: str


@dataclass(frozen=True)
class StallHeaders:
    """Wait before sending any status line (a read timeout before the stream starts)."""


Step = Frame | Pause | Cut | HttpError | StallHeaders


def _start() -> list[Step]:
    return [Frame(event_frame("messageStart", {"role": "assistant"}))]


def _reasoning(index: int, chunks: list[str]) -> list[Step]:
    return [
        Frame(event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": {"text": c}}}))
        for c in chunks
    ]


def _text(index: int, chunks: list[str]) -> list[Step]:
    return [
        Frame(event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": c}}))
        for c in chunks
    ]


def _block_stop(index: int) -> list[Step]:
    return [Frame(event_frame("contentBlockStop", {"contentBlockIndex": index}))]


def _finish(stop_reason: str = "end_turn", input_tokens: int = 12, output_tokens: int = 34,
            **cache: int) -> list[Step]:
    """messageStop, then metadata; ``cache``: cacheReadInputTokens / cacheWriteInputTokens."""
    return [
        Frame(event_frame("messageStop", {"stopReason": stop_reason})),
        Frame(event_frame("metadata", {
            "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens,
                      "totalTokens": input_tokens + output_tokens, **cache},
            "metrics": {"latencyMs": 321},
        })),
    ]


REASONING = ["Okay, the user ", "wants a greeting. ", "I should be brief."]
ANSWER = ["\n\n", "Hello", " there!"]


def r1_turn(stop_reason: str = "end_turn") -> list[Step]:
    """R1 style: reasoning in block 0, answer (starting with "\\n\\n") in block 1."""
    return (
        _start() + _reasoning(0, REASONING) + _block_stop(0)
        + _text(1, ANSWER) + _block_stop(1) + _finish(stop_reason)
    )


def paced_turn(delay_s: float) -> list[Step]:
    """A longer turn with a pause before every delta, for watching a UI stream live."""
    reasoning = ["Let", "me", "think", "about", "this", "step", "by", "step.", "The", "user", "asked", "a", "question;", "I", "will", "consider", "a", "few", "angles", "before", "answering.", "First,", "the", "facts.", "Second,", "what", "matters", "most.", "Then", "a", "short,", "clear", "reply."]
    answer = ["\n\nHere", "is", "my", "answer:\n\n-", "**First**,", "the", "facts", "are", "simple.\n-", "**Second**,", "what", "matters", "most", "is", "clarity.\n\nThat's", "all!"]
    steps: list[Step] = _start()
    for word in reasoning:
        steps += [Pause(delay_s), *_reasoning(0, [word + " "])]
    steps += _block_stop(0)
    for i, word in enumerate(answer):
        steps += [Pause(delay_s), *_text(1, [word if i == len(answer) - 1 else word + " "])]
    return steps + _block_stop(1) + _finish()


SIGNATURE = "c2lnbmF0dXJlLWZyb20tdGhlLW1vZGVs"
REDACTED = b"\x00opaque-redacted-bytes\xff"


def signed_turn() -> list[Step]:
    """Reasoning with a signature (block 0), a redacted block (1), then text (2)."""
    import base64

    return (
        _start() + _reasoning(0, ["Thinking ", "carefully."])
        + [Frame(event_frame("contentBlockDelta", {"contentBlockIndex": 0,
                 "delta": {"reasoningContent": {"signature": SIGNATURE}}}))]
        + _block_stop(0)
        + [Frame(event_frame("contentBlockDelta", {"contentBlockIndex": 1,
                 "delta": {"reasoningContent": {"redactedContent": base64.b64encode(REDACTED).decode()}}}))]
        + _block_stop(1) + _text(2, ["Signed ", "answer."]) + _block_stop(2) + _finish()
    )


def partial_then(extra: list[Step]) -> list[Step]:
    """Some reasoning and answer tokens, then ``extra``."""
    return _start() + _reasoning(0, ["Partial ", "thought."]) + _block_stop(0) + _text(1, ["Partial ", "answer"]) + extra


IN_STREAM_EXCEPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "stream_throttling": ("throttlingException", {"message": "Too many tokens, please wait before trying again."}),
    "stream_model_error": ("modelStreamErrorException", {
        "message": "The model returned an error.", "originalStatusCode": 424,
        "originalMessage": "Model worker crashed while decoding."}),
    "stream_validation": ("validationException", {"message": "Input is too long for requested model."}),
    "stream_internal": ("internalServerException", {"message": "The server encountered an internal error."}),
    "stream_unavailable": ("serviceUnavailableException", {"message": "Service is temporarily unavailable."}),
}

HTTP_ERRORS: dict[str, tuple[int, str, str]] = {
    "http_access_denied": (403, "AccessDeniedException",
                           "You don't have access to the model with the specified model ID."),
    "http_not_found": (404, "ResourceNotFoundException", "Model not found: could not resolve the model id."),
    "http_validation": (400, "ValidationException", "1 validation error detected: Value at 'inferenceConfig.temperature' failed to satisfy constraint."),
    "http_throttling": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "http_model_not_ready": (429, "ModelNotReadyException", "Model is not ready to serve inference requests."),
    "http_model_timeout": (408, "ModelTimeoutException", "Model has timed out in processing the request."),
    "http_model_error": (424, "ModelErrorException", "The model returned an error: upstream failure."),
    "http_internal": (500, "InternalServerException", "The server encountered an internal error."),
    "http_unavailable": (503, "ServiceUnavailableException", "Service is unavailable. Try again later."),
    "http_unrecognized_client": (403, "UnrecognizedClientException", "The security token included in the request is invalid."),
}

BARE_R1_MESSAGE = (
    "Invocation of model ID deepseek.r1-v1:0 with on-demand throughput isn\u2019t supported. "
    "Retry your request with the ID or ARN of an inference profile that contains this model."
)


def build_script(name: str, request: RecordedRequest, stall_s: float, delay_s: float) -> list[Step]:
    """The steps of scenario ``name``; ValueError for an unknown one."""
    if name in ("reasoning_text", "default"):
        return r1_turn()
    if name == "paced":
        return paced_turn(delay_s or 0.03)
    if name == "cached_usage":  # a prompt-cache hit and write reported in the metadata
        return (_start() + _reasoning(0, REASONING) + _block_stop(0) + _text(1, ANSWER) + _block_stop(1)
                + _finish(cacheReadInputTokens=1024, cacheWriteInputTokens=256))
    if name == "signed_reasoning":
        return signed_turn()
    if name.startswith("stop_"):
        return r1_turn(stop_reason=name[len("stop_"):])
    if name in IN_STREAM_EXCEPTIONS:
        exception_type, body = IN_STREAM_EXCEPTIONS[name]
        return partial_then([Frame(exception_frame(exception_type, body))])
    if name == "stream_throttling_early":
        exception_type, body = IN_STREAM_EXCEPTIONS["stream_throttling"]
        return _start() + [Frame(exception_frame(exception_type, body))]
    if name in HTTP_ERRORS:
        return [HttpError(*HTTP_ERRORS[name])]
    if name == "http_validation_echo":
        # Providers sometimes echo input back in errors; used to prove redaction.
        return [HttpError(400, "ValidationException", "Bad input: " + request.last_user_text())]
    if name == "stall":
        return partial_then([Pause(stall_s)])
    if name == "stall_headers":
        return [StallHeaders(), Pause(stall_s)]
    if name == "cut":
        return partial_then([Cut()])
    if name == "no_message_stop":
        return partial_then(_block_stop(1))
    if name == "bad_crc":
        bad = corrupt(event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "never"}}))
        return partial_then([Frame(bad)])
    raise ValueError(f"unknown scenario {name!r}")


SCENARIOS = sorted(
    ["reasoning_text", "paced", "cached_usage", "signed_reasoning", "stream_throttling_early", "http_validation_echo",
     "stall", "stall_headers", "cut", "no_message_stop", "bad_crc",
     "stop_max_tokens", "stop_stop_sequence", "stop_guardrail_intervened", "stop_content_filtered",
     "stop_model_context_window_exceeded", "stop_tool_use", "stop_malformed_model_output"]
    + list(IN_STREAM_EXCEPTIONS) + list(HTTP_ERRORS)
)


# --------------------------------------------------------------------------- server


@dataclass
class RecordedRequest:
    path: str
    model_id: str
    headers: dict[str, str]
    body: dict[str, Any]
    scenario: str = ""

    def last_user_text(self) -> str:
        for message in reversed(self.body.get("messages", [])):
            if message.get("role") == "user":
                return " ".join(block.get("text", "") for block in message.get("content", []))
        return ""


@dataclass
class Disconnect:
    """The client hung up mid-response; ``at`` is time.monotonic() when the server noticed."""

    at: float
    scenario: str


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        pass  # keep test output clean

    def do_POST(self) -> None:  # stdlib naming
        stand_in = self.server.stand_in
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = self.path.split("/")
        if len(parts) != 4 or parts[1] != "model" or parts[3] != "converse-stream":
            self._json_error(404, "UnknownOperationException", f"No route for {self.path}")
            return
        model_id = unquote(parts[2])
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        request = RecordedRequest(self.path, model_id, {k: v for k, v in self.headers.items()}, body)
        with stand_in.lock:
            stand_in.requests.append(request)
        stand_in.request_seen.set()
        if model_id == BARE_R1:
            request.scenario = "bare_r1"
            self._json_error(400, "ValidationException", BARE_R1_MESSAGE)
            return
        request.scenario = stand_in.pick_scenario(model_id)
        try:
            steps = build_script(request.scenario, request, stand_in.stall_s, stand_in.delay_s)
        except ValueError as exc:
            self._json_error(400, "ValidationException", str(exc))
            return
        self._run(steps, request.scenario)

    def _json_error(self, status: int, error_type: str, message: str) -> None:
        data = json.dumps({"message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", f"{error_type}:{ERROR_NAMESPACE}")
        self.send_header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _run(self, steps: list[Step], scenario: str) -> None:
        started = False
        try:
            for step in steps:
                if isinstance(step, HttpError):
                    self._json_error(step.status, step.error_type, step.message)
                    return
                if isinstance(step, StallHeaders):
                    continue  # the following Pause happens before any header is sent
                if isinstance(step, Pause):
                    if not self._pause(step.seconds, scenario):
                        return
                    continue
                if not started:
                    self._send_stream_headers()
                    started = True
                if isinstance(step, Cut):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                # One HTTP chunk per frame, written and flushed at once.
                self.wfile.write(f"{len(step.data):x}\r\n".encode() + step.data + b"\r\n")
                self.wfile.flush()
            if not started:
                self._send_stream_headers()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self._record_disconnect(scenario)
            self.close_connection = True

    def _send_stream_headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", EVENTSTREAM)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000001")
        self.end_headers()
        self.wfile.flush()

    def _pause(self, seconds: float, scenario: str) -> bool:
        """Wait ``seconds``, watching the socket: False as soon as the client hangs up."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.server.stand_in.closing.is_set():
                self.close_connection = True
                return False
            try:
                readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.01))
                if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                    self._record_disconnect(scenario)
                    self.close_connection = True
                    return False
            except OSError:
                self._record_disconnect(scenario)
                self.close_connection = True
                return False
        return True

    def _record_disconnect(self, scenario: str) -> None:
        stand_in = self.server.stand_in
        with stand_in.lock:
            stand_in.disconnects.append(Disconnect(time.monotonic(), scenario))
        stand_in.disconnected.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stand_in: BedrockStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (e.g. after a corrupt frame) is expected; printing a
        # traceback to sys.stderr would land in the output of the test that is running.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


@dataclass
class BedrockStandIn:
    """The server, started in a background thread. Use as a context manager or start()/stop()."""

    scenario: str = "reasoning_text"
    delay_s: float = 0.0  # pause before each delta of the "paced" scenario
    stall_s: float = 30.0  # how long "stall" scenarios wait (they end early on hang-up)
    port: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    disconnects: list[Disconnect] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: deque[str] = deque()
        self.closing = threading.Event()
        self.disconnected = threading.Event()
        self.request_seen = threading.Event()  # set when any request has been recorded
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def enqueue(self, *scenarios: str) -> None:
        """Scenarios for the next requests, in order; then the default scenario again."""
        with self.lock:
            self.queue.extend(scenarios)

    def pick_scenario(self, model_id: str) -> str:
        if model_id.startswith("scenario."):
            return model_id[len("scenario."):]
        with self.lock:
            return self.queue.popleft() if self.queue else self.scenario

    def start(self) -> BedrockStandIn:
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.stand_in = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="bedrock-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BedrockStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--scenario", default="reasoning_text", choices=SCENARIOS)
    parser.add_argument("--delay-ms", type=float, default=30.0, help="pause per delta in 'paced'")
    parser.add_argument("--stall-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    server = BedrockStandIn(args.scenario, delay_s=args.delay_ms / 1000, stall_s=args.stall_s, port=args.port)
    server.start()
    print(f"READY port={server.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
