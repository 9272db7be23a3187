"""Any OpenAI-compatible ``/v1/chat/completions`` server, streamed over SSE with httpx.

DeepSeek (the default), OpenAI, OpenRouter, vLLM, SGLang, llama.cpp's llama-server and
Ollama all speak it. Where each puts the reasoning:

* ``delta.reasoning_content`` — DeepSeek, One API, llama.cpp with ``--reasoning-format``;
* ``delta.reasoning`` — vLLM / SGLang reasoning parsers, OpenRouter;
* ``<think>…</think>`` inside ``delta.content`` — R1 distills with no reasoning parser;
  split out by :class:`thinkpane.backends.think_split.ThinkSplitter` (option ``think_tags``).
  When the server already sends reasoning in its own field, content is left alone, and
  on api.deepseek.com / api.openai.com (which never tag content) ``auto`` means ``off``,
  so the answer's first characters are not held back there.

The stream ends with ``data: [DONE]``. ``finish_reason`` arrives in the last choice chunk
and, with ``stream_options.include_usage``, ``usage`` in a chunk after it with no choices;
so :class:`Stop` is emitted once at ``[DONE]`` (or at the end of the body after a
``finish_reason``), after :class:`Usage`. A body that ends with neither is an
:class:`IncompleteStreamError`; the deltas already yielded are the partial answer.

Limits: one SSE line or event may be at most 1 MiB (a delta is a few hundred bytes; a
longer line is a broken or hostile server, reported as a ProtocolError instead of eating
memory); a non-2xx body is read up to 64 KB for its message; a non-streamed JSON answer
(servers that ignore ``stream``) up to 8 MiB.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thinkpane.backends.base import Backend, scrub_error
from thinkpane.backends.errors import (
    BackendError,
    ConfigurationError,
    IncompleteStreamError,
    ProtocolError,
)
from thinkpane.backends.events import (
    Conversation,
    ErrorEvent,
    Notice,
    ReasoningDelta,
    Stop,
    StopReason,
    StreamEvent,
    Usage,
)
from thinkpane.backends.options import Option, http_header, http_url
from thinkpane.backends.http_errors import (
    HttpContext,
    error_from_exception,
    error_from_payload,
    error_from_response,
    looks_like_html,
    read_bounded,
)
from thinkpane.backends.secrets import Secret
from thinkpane.backends.sse import DEFAULT_MAX_LINE_BYTES, SSEEvent, SSELineTooLong, SSEParser
from thinkpane.backends.think_split import ThinkSplitter

if TYPE_CHECKING:
    import httpx  # imported where used: `thinkpane` reads these options on its way to the first frame

DEFAULT_BASE_URL = "https://api.deepseek.com/v1"
CONNECT_TIMEOUT_S = 10.0
JSON_BODY_LIMIT = 8 * 1024 * 1024
SETUP_COMMAND = "thinkpane setup openai"

FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "eos": "end_turn",
    "end_turn": "end_turn",
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "content_filter": "content_filter",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "stop_sequence": "stop_sequence",
    "insufficient_system_resource": "other",  # DeepSeek: the answer was cut server-side
}


# Providers that send reasoning in its own field and never put <think> tags in content.
TAGLESS_HOSTS = frozenset({"api.deepseek.com", "api.openai.com"})


def _host(url: str) -> str:
    import httpx

    try:
        return httpx.URL(url).host
    except Exception:  # noqa: BLE001 - validated elsewhere
        return ""


def is_loopback_url(url: str) -> bool:
    """True for localhost / 127.x / ::1: local servers (llama.cpp, vLLM, Ollama) need no key."""
    host = _host(url)
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified  # 0.0.0.0 reaches this machine


def chat_completions_url(base_url: str) -> str:
    base = base_url.strip().rstrip("/")
    if base.endswith("/chat/completions"):  # people paste the full endpoint; accept it
        return base
    return base + "/chat/completions"


@dataclass
class _Turn:
    """State of one streamed answer."""

    think_mode: str
    splitter: ThinkSplitter | None = None
    native_reasoning: bool = False
    finish_reason: str | None = None
    usage: Usage | None = None
    body_started: bool = False
    saw_data: bool = False
    done: bool = False

    def split(self, content: str) -> list[StreamEvent]:
        if self.splitter is None:
            # A server that reports reasoning in its own field does not also tag it.
            self.splitter = ThinkSplitter("off" if self.native_reasoning else self.think_mode)  # type: ignore[arg-type]
        return list(self.splitter.feed(content))

    def flush(self) -> list[StreamEvent]:
        return list(self.splitter.flush()) if self.splitter else []


class OpenAIBackend(Backend):
    name = "openai"
    label = "OpenAI-compatible"
    description = (
        "DeepSeek (default), OpenAI, OpenRouter, vLLM, SGLang, llama.cpp, Ollama: any "
        "server with a streaming /v1/chat/completions."
    )
    options = (
        Option(
            "base_url", "Base URL",
            "The API root, usually ending in /v1 (http://127.0.0.1:8080/v1 for llama.cpp, "
            "http://127.0.0.1:11434/v1 for Ollama).",
            default=DEFAULT_BASE_URL, env=("OPENAI_BASE_URL",), placeholder=DEFAULT_BASE_URL, check=http_url,
        ),
        Option(
            "api_key", "API key",
            "Sent as a Bearer token. Not needed for servers on localhost.",
            kind="secret", env=("DEEPSEEK_API_KEY", "OPENAI_API_KEY"), placeholder="sk-…",
        ),
        Option("model", "Model", "Model id as the server names it.", default="deepseek-reasoner"),
        Option("temperature", "Temperature", "Left to the server when empty (deepseek-reasoner ignores it).",
               kind="float", min=0, max=2),
        Option("top_p", "Top p", "Left to the server when empty.", kind="float", min=0, max=1),
        Option("max_tokens", "Max output tokens", "Left to the server when empty.", kind="int", min=1),
        Option(
            "timeout_s", "Read timeout (s)",
            "How long the server may stay silent mid-answer before we give up. Reasoning models "
            "can think quietly for minutes.",
            kind="float", default=300.0, min=0, min_exclusive=True,
        ),
        Option("verify_tls", "Verify TLS certificates", "Turn off only for a server you trust.", kind="bool", default=True),
        Option("ca_bundle", "CA bundle", "PEM file of the CA that signed the server's certificate.", kind="path"),
        Option(
            "include_usage", "Ask for token usage",
            "Send stream_options.include_usage (retried without it if the server refuses).",
            kind="bool", default=True,
        ),
        Option(
            "think_tags", "<think> tags in the answer",
            "auto: split a leading <think>…</think> (or an early </think>) into reasoning; "
            "open: the chat template opened <think>, so text is reasoning until </think>; "
            "off: leave the answer as it is.",
            kind="choice", choices=("auto", "open", "off"), default="auto",
        ),
        Option(
            "extra_headers", "Extra HTTP headers",
            "Comma-separated 'Name: value' pairs, e.g. for OpenRouter 'X-Title: Thinkpane'. "
            "Values are treated as secrets in messages.",
            kind="list", check=http_header,
        ),
    )
    STREAMS_REASONING = True  # reasoning_content deltas, or <think> text split as it streams
    IMPLEMENTS_CANCEL = True  # closing the response hangs up; servers stop generating
    NEEDS_NETWORK = True  # a server over HTTP, even when it is on localhost

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.base_url = str(self.settings["base_url"]).strip()
        self._check_url()
        if not self.settings["api_key"] and not is_loopback_url(self.base_url):
            raise ConfigurationError(
                f"No API key for {self.base_url}",
                "Set DEEPSEEK_API_KEY or OPENAI_API_KEY, pass --api-key, or run "
                f"`{SETUP_COMMAND}`. (Servers on localhost need no key.)",
            )
        self.url = chat_completions_url(self.base_url)
        self._include_usage = bool(self.settings["include_usage"])
        self._client: httpx.AsyncClient | None = None

    # ------------------------------------------------------------------ setup

    def _check_url(self) -> None:
        import httpx

        problem = ""
        try:
            url = httpx.URL(self.base_url)
            if url.scheme not in ("http", "https"):
                problem = "it must start with http:// or https://"
            elif not url.host:
                problem = "it has no host name"
        except Exception as exc:  # noqa: BLE001 - httpx.InvalidURL and friends
            problem = str(exc)
        if problem:
            raise ConfigurationError(
                f"Invalid base URL {self.base_url!r}",
                "Use something like https://api.deepseek.com/v1 or http://127.0.0.1:8080/v1 "
                "(--base-url or OPENAI_BASE_URL).",
                detail=problem,
            )

    def _verify(self) -> ssl.SSLContext | bool:
        bundle = self.settings.get("ca_bundle")
        if bundle:
            path = os.path.expanduser(str(bundle))
            try:
                return ssl.create_default_context(cafile=path)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    f"Cannot use the CA bundle {path}",
                    "Point ca_bundle at a readable PEM file with the server's CA certificate.",
                    detail=str(exc),
                ) from None
        return bool(self.settings["verify_tls"])

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            read = float(self.settings["timeout_s"])
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(connect=CONNECT_TIMEOUT_S, read=read, write=30.0, pool=CONNECT_TIMEOUT_S),
                verify=self._verify(),
                headers={"User-Agent": "thinkpane"},
            )
        return self._client

    def _context(self) -> HttpContext:
        service = "DeepSeek" if "deepseek.com" in self.base_url else f"The server at {self.base_url}"
        return HttpContext(
            service=service,
            url=self.base_url,
            setup_command=SETUP_COMMAND,
            key_hint="Check the API key (DEEPSEEK_API_KEY / OPENAI_API_KEY or --api-key).",
            model=self.model,
            secrets=self.secrets(),
            read_timeout_s=float(self.settings["timeout_s"]),
            timeout_option="--timeout-s",
        )

    def think_mode(self) -> str:
        mode = str(self.settings["think_tags"])
        if mode == "auto" and _host(self.base_url) in TAGLESS_HOSTS:
            return "off"  # never tags content: no need to hold the answer's first characters
        return mode

    def secrets(self) -> list[str]:
        # Extra headers often carry credentials (gateway tokens): redact their values too.
        return super().secrets() + [value for _, value in self._extra_headers() if len(value) >= 8]

    def _extra_headers(self) -> list[tuple[str, str]]:
        headers = []
        for item in self.settings.get("extra_headers") or []:
            name, colon, value = str(item).partition(":")
            if colon and name.strip() and value.strip():
                headers.append((name.strip(), value.strip()))
        return headers

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        headers.update(self._extra_headers())
        key = self.settings.get("api_key")
        if isinstance(key, Secret) and key:
            headers["Authorization"] = f"Bearer {key.get()}"
        return headers

    def request_body(self, conversation: Conversation) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            # Never the reasoning: DeepSeek rejects it, others would waste context on it.
            "messages": conversation.history_without_reasoning(),
            "stream": True,
        }
        if self._include_usage:
            body["stream_options"] = {"include_usage": True}
        for name in ("temperature", "top_p", "max_tokens"):
            if self.settings.get(name) is not None:
                body[name] = self.settings[name]
        return body

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # ------------------------------------------------------------------ streaming

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        turn = _Turn(think_mode=self.think_mode())
        try:
            # aclosing: when our consumer closes us, the inner generators (and with them the
            # HTTP response) are closed right away, not whenever garbage collection runs.
            async with aclosing(self._stream(conversation, turn)) as events:
                async for event in events:
                    yield event
        except BackendError as error:
            for event in turn.flush():  # text held back by the splitter is not lost
                yield event
            yield ErrorEvent(scrub_error(error, self.secrets()))

    async def _stream(self, conversation: Conversation, turn: _Turn) -> AsyncIterator[StreamEvent]:
        import httpx

        ctx = self._context()
        client = self._http()
        body = self.request_body(conversation)
        for attempt in range(2):
            try:
                async with client.stream("POST", self.url, json=body, headers=self._headers()) as response:
                    if response.status_code >= 300:
                        raw = await read_bounded(response)
                        if attempt == 0 and self._refuses_stream_options(response.status_code, raw, body):
                            self._include_usage = False  # remembered for later turns
                            body.pop("stream_options")
                            yield Notice("The server does not accept stream_options; token usage may be missing.")
                            continue
                        raise self._status_error(response, raw, ctx)
                    turn.body_started = True
                    async with aclosing(self._read_body(response, turn, ctx)) as events:
                        async for event in events:
                            yield event
                    return
            except httpx.HTTPError as exc:
                raise error_from_exception(exc, ctx, mid_stream=turn.body_started) from None

    @staticmethod
    def _refuses_stream_options(status: int, raw: bytes, body: Mapping[str, Any]) -> bool:
        return status in (400, 422) and "stream_options" in body and b"stream_options" in raw.lower()

    @staticmethod
    def _status_error(response: httpx.Response, raw: bytes, ctx: HttpContext) -> BackendError:
        if 300 <= response.status_code < 400:
            location = ctx.clean(response.headers.get("location", "") or "(no Location header)")
            return ConfigurationError(
                f"{ctx.service} redirected the request (HTTP {response.status_code})",
                f"Update the base URL; the server points to {location}.",
                status=response.status_code,
            )
        return error_from_response(response.status_code, response.headers, raw, ctx)

    async def _read_body(self, response: httpx.Response, turn: _Turn, ctx: HttpContext) -> AsyncIterator[StreamEvent]:
        content_type = response.headers.get("content-type", "").lower()
        if "application/json" in content_type:
            # The server ignored stream=true (some proxies do): one JSON answer.
            raw = await read_bounded(response, JSON_BODY_LIMIT)
            for event in self._events_from_completion(raw, turn, ctx):
                yield event
            return
        if "html" in content_type:
            raise _html_error(ctx)

        parser = SSEParser(DEFAULT_MAX_LINE_BYTES)
        sniffed = False
        received = 0
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if not sniffed and chunk.strip():
                sniffed = True
                if looks_like_html(chunk):
                    raise _html_error(ctx)
            try:
                messages = parser.feed(chunk)
            except SSELineTooLong as exc:
                raise _too_long(ctx, exc) from None
            for message in messages:
                for event in self._on_message(message, turn, ctx):
                    yield event
                if turn.done:
                    break
            if turn.done:
                break
        if not turn.done:
            for message in parser.close():
                for event in self._on_message(message, turn, ctx):
                    yield event

        for event in turn.flush():
            yield event
        if turn.done or turn.finish_reason is not None:
            for event in self._finish(turn):
                yield event
            return
        if received == 0:
            raise ProtocolError(
                f"{ctx.service} answered with an empty body",
                "Is the base URL right? It should be the API root of an OpenAI-compatible server.",
                status=response.status_code,
            )
        if not turn.saw_data and parser.foreign_lines:
            raise ProtocolError(
                f"{ctx.service} did not answer with an event stream",
                "Is the base URL right? It should be the API root of an OpenAI-compatible server.",
                detail=ctx.clean(parser.foreign_sample),
            )
        raise IncompleteStreamError(
            "The stream ended before the model finished",
            "The partial answer is kept; send again to get a complete one.",
            detail="No finish_reason and no [DONE] before the connection closed.",
            retryable=True,
        )

    def _on_message(self, message: SSEEvent, turn: _Turn, ctx: HttpContext) -> Iterator[StreamEvent]:
        data = message.data.strip()
        if not data:
            return
        if data == "[DONE]":
            turn.done = True
            return
        turn.saw_data = True
        try:
            payloads = [json.loads(data)]
        except ValueError:
            payloads = _json_lines(data)  # several data lines with no blank line between
            if payloads is None:
                raise ProtocolError(
                    f"{ctx.service} sent a malformed stream event",
                    "The partial answer is kept. Check that the base URL points to an "
                    "OpenAI-compatible server.",
                    detail=ctx.clean(data[:200]),
                ) from None
        for payload in payloads:
            if not isinstance(payload, Mapping):
                raise ProtocolError(
                    f"{ctx.service} sent an unexpected stream event",
                    "Check that the base URL points to an OpenAI-compatible server.",
                    detail=ctx.clean(data[:200]),
                )
            if payload.get("error") or message.event == "error":
                raise error_from_payload(payload.get("error") or payload, ctx)
            yield from self._on_chunk(payload, turn)

    def _on_chunk(self, chunk: Mapping[str, Any], turn: _Turn) -> Iterator[StreamEvent]:
        usage = chunk.get("usage")
        if isinstance(usage, Mapping):
            turn.usage = Usage(
                input_tokens=_int(usage.get("prompt_tokens")),
                output_tokens=_int(usage.get("completion_tokens")),
            )
        choice = _first_choice(chunk.get("choices"))
        if choice is None:
            return
        delta = choice.get("delta") or choice.get("message") or {}
        if isinstance(delta, Mapping):
            reasoning = delta.get("reasoning_content")
            if not isinstance(reasoning, str) or not reasoning:
                reasoning = delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                turn.native_reasoning = True
                yield ReasoningDelta(reasoning)
            content = delta.get("content")
            if isinstance(content, str) and content:
                yield from turn.split(content)
        finish = choice.get("finish_reason")
        if finish:
            turn.finish_reason = str(finish)

    def _events_from_completion(self, raw: bytes, turn: _Turn, ctx: HttpContext) -> Iterator[StreamEvent]:
        if looks_like_html(raw):
            raise _html_error(ctx)
        try:
            payload = json.loads(raw)
        except ValueError:
            raise ProtocolError(
                f"{ctx.service} sent a JSON answer that could not be parsed",
                "Check that the base URL points to an OpenAI-compatible server.",
                detail=ctx.clean(raw[:200].decode("utf-8", "replace")),
            ) from None
        if not isinstance(payload, Mapping) or (not payload.get("choices") and not payload.get("error")):
            raise ProtocolError(
                f"{ctx.service} answered with JSON that is not a chat completion",
                "Check that the base URL points to an OpenAI-compatible server (usually …/v1).",
                detail=ctx.clean(raw[:200].decode("utf-8", "replace")),
            )
        if payload.get("error"):
            raise error_from_payload(payload["error"], ctx)
        turn.saw_data = True
        yield from self._on_chunk(payload, turn)
        yield from turn.flush()
        yield from self._finish(turn)

    @staticmethod
    def _finish(turn: _Turn) -> Iterator[StreamEvent]:
        if turn.usage is not None:
            yield turn.usage
        raw = turn.finish_reason
        yield Stop(FINISH_REASONS.get(raw, "other") if raw else "end_turn", raw)


# --------------------------------------------------------------------------- helpers


def _first_choice(choices: Any) -> Mapping[str, Any] | None:
    if not isinstance(choices, list):
        return None
    for choice in choices:
        if isinstance(choice, Mapping) and choice.get("index", 0) == 0:
            return choice
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _json_lines(data: str) -> list[Any] | None:
    if "\n" not in data:
        return None
    try:
        return [json.loads(line) for line in data.splitlines() if line.strip()]
    except ValueError:
        return None


def _html_error(ctx: HttpContext) -> ProtocolError:
    return ProtocolError(
        f"{ctx.service} answered with HTML instead of an event stream",
        "The server answered with HTML — is the base URL right? It should be the API root, "
        "usually ending in /v1 (e.g. https://api.deepseek.com/v1).",
    )


def _too_long(ctx: HttpContext, exc: Exception) -> ProtocolError:
    return ProtocolError(
        f"{ctx.service} sent an oversized stream line",
        "The server is not speaking the expected protocol; check the base URL.",
        detail=str(exc),
    )
