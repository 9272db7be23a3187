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

Thinking and effort (``--thinking``, ``--reasoning-effort``) are sent in the dialect of the
server (``--dialect``, detected from the base URL by default): see
:mod:`thinkpane.backends.thinking`. A setting the server cannot honour, and a retired DeepSeek
model name in the config (:mod:`thinkpane.backends.deepseek_models`), are told once per backend
with a :class:`Notice` before the first answer. SSE comment lines (DeepSeek's ``: keep-alive``
while the model has not started) become :class:`Heartbeat` events, so a front end can tell a
thinking model from a dead stream. ``usage`` is read with its details: reasoning tokens
(``completion_tokens_details.reasoning_tokens``) and prompt-cache hits
(``prompt_cache_hit_tokens`` on DeepSeek, ``prompt_tokens_details.cached_tokens`` elsewhere).

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
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from thinkpane.backends.base import Backend, scrub_error
from thinkpane.backends.deepseek_models import (
    CURRENT_MODELS,
    CURRENT_MODELS_HINT,
    DEFAULT_MODEL,
    replacement,
    retired_notice,
)
from thinkpane.backends.errors import (
    BackendError,
    ConfigurationError,
    IncompleteStreamError,
    ProtocolError,
)
from thinkpane.backends.events import (
    Conversation,
    ErrorEvent,
    Heartbeat,
    Notice,
    ReasoningDelta,
    Stop,
    StopReason,
    StreamEvent,
    Usage,
)
from thinkpane.backends.http_errors import (
    HttpContext,
    error_from_exception,
    error_from_payload,
    error_from_response,
    is_transport_failure,
    kept,
    looks_like_html,
    read_bounded,
)
from thinkpane.backends.options import Option, http_header, http_url
from thinkpane.backends.secrets import Secret
from thinkpane.backends.sse import DEFAULT_MAX_LINE_BYTES, SSEEvent, SSELineTooLong, SSEParser
from thinkpane.backends.think_split import ThinkSplitter
from thinkpane.backends.thinking import DIALECTS, detect_dialect, effort_option, openai_fields, thinking_option

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
    except Exception:
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
    text_arrived: bool = False  # some reasoning or answer text was yielded (errors say it is kept)
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
    options: ClassVar[tuple[Option, ...]] = (
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
        Option("model", "Model", "Model id as the server names it. DeepSeek's: "
               + " or ".join(CURRENT_MODELS) + ".",
               default=DEFAULT_MODEL, placeholder=DEFAULT_MODEL, suggestions=CURRENT_MODELS),
        thinking_option(
            "on", "on: the model reasons before answering; off: it answers straight away; auto: "
            "send nothing (the server's default). Sent the way the server's dialect says.",
        ),
        effort_option(),
        Option(
            "dialect", "Server dialect",
            "How to ask for thinking and effort: auto (from the base URL), deepseek, openai, "
            "openrouter, vllm (also SGLang), ollama, llamacpp, or generic (send nothing).",
            kind="choice", choices=("auto", *DIALECTS), default="auto",
        ),
        Option("temperature", "Temperature", "Left to the server when empty (DeepSeek ignores it "
               "while thinking).", kind="float", min=0, max=2),
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
    # Off for servers that ignore keys wherever they run (Ollama).
    NEEDS_KEY_OFF_LOOPBACK: bool = True
    # A subclass for one kind of server names its dialect (Ollama); None: the dialect option,
    # detected from the base URL by default.
    DIALECT: ClassVar[str | None] = None

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.base_url = str(self.settings["base_url"]).strip()
        self._check_url()
        if not self.settings.get("api_key") and self.NEEDS_KEY_OFF_LOOPBACK and not is_loopback_url(self.base_url):
            raise ConfigurationError(
                f"No API key for {self.base_url}",
                "Set DEEPSEEK_API_KEY or OPENAI_API_KEY, pass --api-key, or run "
                f"`{SETUP_COMMAND}`. (Servers on localhost need no key.)",
            )
        self.url = chat_completions_url(self.base_url)
        self._include_usage = bool(self.settings["include_usage"])
        self._client: httpx.AsyncClient | None = None
        chosen = self.DIALECT or str(self.settings.get("dialect") or "auto")
        self.dialect = detect_dialect(self.base_url) if chosen == "auto" else chosen
        self._notices: list[str] = []  # told once, before the next answer
        self._told: set[str] = set()
        if self.dialect == "deepseek" and (found := replacement(self.model)):
            self._notices.append(retired_notice(self.model))
            self.settings["model"] = found[0]
            if self.settings["thinking"] == self._default("thinking"):
                self.settings["thinking"] = found[1]

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
        except Exception as exc:
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
                    "Point --ca-bundle at a readable PEM file with the server's CA certificate.",
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
        context = HttpContext(
            service=service,
            url=self.base_url,
            setup_command=SETUP_COMMAND,
            key_hint="Check the API key (DEEPSEEK_API_KEY / OPENAI_API_KEY or --api-key).",
            model=self.model,
            secrets=self.secrets(),
            read_timeout_s=float(self.settings["timeout_s"]),
            timeout_option="--timeout-s",
        )
        if self.dialect == "deepseek":
            context.model_hint = CURRENT_MODELS_HINT
        return context

    def endpoint(self) -> str:
        return self.base_url

    def no_reasoning_hint(self) -> str:
        return {
            "deepseek": "Thinking may be off: use --thinking on (deepseek-v4-flash and deepseek-v4-pro think "
                        "when asked).",
            "openai": "OpenAI's API does not return its models' reasoning text; only its token count.",
            "openrouter": "Use --thinking on, and a model that reasons (OpenRouter lists them).",
            "vllm": "Start vLLM or SGLang with a reasoning parser (their reasoning-parser setting, e.g. "
                    "qwen3 or deepseek_r1), and use --thinking on.",
            "ollama": "Use a thinking model (e.g. qwen3 or deepseek-r1) and --thinking on.",
            "llamacpp": "Start llama-server with its Jinja chat templates on (the default), and use "
                        "--thinking on (it asks for reasoning_format deepseek).",
        }.get(self.dialect, "If the model thinks inside its answer, set --think-tags open; if the server "
                            "is vLLM, Ollama or llama.cpp, name it with --dialect and use --thinking on.")

    def _default(self, name: str) -> Any:
        return next(option.default for option in self.options if option.name == name)

    def reasoning_fields(self) -> dict[str, Any]:
        """The request fields for the thinking switch and effort in this server's dialect; a
        setting it cannot honour is told once (only when the user changed it from the default)."""
        reasoning = self.reasoning
        fields = openai_fields(self.dialect, reasoning)
        chose = (reasoning.thinking, reasoning.effort) != (self._default("thinking"), None)
        if fields.note and chose:
            self._notices.append(fields.note)
        return fields.body

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
        body.update(self.reasoning_fields())
        return body

    def _pending_notices(self) -> list[Notice]:
        """What the user should be told before this answer, each text once per backend."""
        notices = [Notice(text) for text in dict.fromkeys(self._notices) if text not in self._told]
        self._told.update(notice.text for notice in notices)
        self._notices.clear()
        return notices

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # ------------------------------------------------------------------ streaming

    async def stream(self, conversation: Conversation) -> AsyncGenerator[StreamEvent, None]:
        turn = _Turn(think_mode=self.think_mode())
        self.reasoning_channel = "none"
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

    async def _stream(self, conversation: Conversation, turn: _Turn) -> AsyncGenerator[StreamEvent, None]:
        ctx = self._context()
        client = self._http()
        body = self.request_body(conversation)
        for notice in self._pending_notices():
            yield notice
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
            except Exception as exc:
                if not is_transport_failure(exc):
                    raise
                raise error_from_exception(
                    exc, ctx, mid_stream=turn.body_started, partial=turn.text_arrived) from None

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

    async def _read_body(self, response: httpx.Response, turn: _Turn, ctx: HttpContext) -> AsyncGenerator[StreamEvent, None]:
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
            comments = parser.comment_lines
            try:
                messages = parser.feed(chunk)
            except SSELineTooLong as exc:
                raise _too_long(ctx, exc) from None
            if not messages and parser.comment_lines > comments:
                yield Heartbeat()  # ": keep-alive": the server is there, the model not started
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
            kept(turn.text_arrived) + "Send again to get a complete answer.",
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
            lines = _json_lines(data)  # several data lines with no blank line between
            if lines is None:
                raise ProtocolError(
                    f"{ctx.service} sent a malformed stream event",
                    kept(turn.text_arrived) + "Check that the base URL points to an "
                    "OpenAI-compatible server.",
                    detail=ctx.clean(data[:200]),
                ) from None
            payloads = lines
        for payload in payloads:
            if not isinstance(payload, Mapping):
                raise ProtocolError(
                    f"{ctx.service} sent an unexpected stream event",
                    "Check that the base URL points to an OpenAI-compatible server.",
                    detail=ctx.clean(data[:200]),
                )
            if payload.get("error") or message.event == "error":
                raise error_from_payload(payload.get("error") or payload, ctx, partial=turn.text_arrived)
            yield from self._on_chunk(payload, turn)

    def _on_chunk(self, chunk: Mapping[str, Any], turn: _Turn) -> Iterator[StreamEvent]:
        usage = chunk.get("usage")
        if isinstance(usage, Mapping):
            turn.usage = Usage.from_openai(usage)
        choice = _first_choice(chunk.get("choices"))
        if choice is None:
            return
        delta = choice.get("delta") or choice.get("message") or {}
        if isinstance(delta, Mapping):
            channel = "reasoning_content"
            reasoning = delta.get("reasoning_content")
            if not isinstance(reasoning, str) or not reasoning:
                channel, reasoning = "reasoning", delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                turn.native_reasoning = turn.text_arrived = True
                self.reasoning_channel = channel
                yield ReasoningDelta(reasoning)
            content = delta.get("content")
            if isinstance(content, str) and content:
                turn.text_arrived = True
                for event in turn.split(content):
                    if isinstance(event, ReasoningDelta) and self.reasoning_channel == "none":
                        self.reasoning_channel = "think_tags"
                    yield event
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
        "Is the base URL right? It should be the API root, usually ending in /v1 "
        "(e.g. https://api.deepseek.com/v1).",
    )


def _too_long(ctx: HttpContext, exc: Exception) -> ProtocolError:
    return ProtocolError(
        f"{ctx.service} sent an oversized stream line",
        "The server is not speaking the expected protocol; check the base URL.",
        detail=str(exc),
    )
