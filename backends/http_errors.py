"""Turn httpx failures and non-2xx answers into typed, user-facing BackendErrors.

Shared by the httpx-based backends (OpenAI-compatible, OpenSearch streaming). Every
message is redacted with the caller's secrets and the usual secret shapes, because
providers like to echo the key back ("Your api key: sk-… is invalid").

Callers pass a :class:`HttpContext` that says what to name in hints: the service, how
to set the key, which command sets things up, which option raises the read timeout.

The provider's own message is kept whole (one line) as the error's ``detail``; front ends
decide how much of it to show. Hints say "the partial answer is kept" only when the
caller says some answer text arrived (``partial``): nothing else knows.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from thinkpane.backends.errors import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    ConnectionFailedError,
    ContextWindowError,
    IncompleteStreamError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TimeoutError_,
    causes,
)
from thinkpane.backends.secrets import redact

if TYPE_CHECKING:
    import httpx  # imported where used, like the backends that use this module

ERROR_BODY_LIMIT = 64 * 1024  # bytes of a non-2xx body we read to find the message


@dataclass
class HttpContext:
    """What the hints should name. ``url`` is the endpoint being called (no secrets in it)."""

    service: str  # "DeepSeek", "OpenAI-compatible server", "OpenSearch"
    url: str
    setup_command: str = "thinkpane setup"
    key_hint: str = "Check the API key."
    model: str = ""
    secrets: Sequence[str] = field(default_factory=tuple)
    read_timeout_s: float | None = None
    timeout_option: str = "--timeout-s"
    # What to say when the server does not know the model.
    model_hint: str = "Check the model name (`--model`); the server's /models endpoint lists them."
    # What to say when the URL answers 404 without mentioning a model.
    not_found_hint: str = (
        "Check the base URL: for OpenAI-compatible servers it usually ends in /v1 "
        "(e.g. http://127.0.0.1:8080/v1). Also check the model name."
    )

    def clean(self, text: str) -> str:
        return redact(text, self.secrets)


# --------------------------------------------------------------------------- bodies


async def read_bounded(response: httpx.Response, limit: int = ERROR_BODY_LIMIT) -> bytes:
    """At most ``limit`` bytes of a streamed response body (the rest is not downloaded)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def looks_like_html(body: bytes, content_type: str = "") -> bool:
    if "html" in content_type.lower():
        return True
    head = body.lstrip()[:64].lower()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<?xml", b"<"))


def error_message(body: bytes) -> str:
    """The provider's own message: ``error.message`` (OpenAI, DeepSeek, vLLM), ``error``
    as a string (Ollama, OpenSearch ``{"error": "…"}``), ``message``/``detail``; else the
    text itself, on one line."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return _shorten(text)
    return message_from_json(data) or _shorten(text)


def message_from_json(data: object) -> str:
    if isinstance(data, list) and data:
        data = data[0]  # some gateways wrap the error in a list
    if not isinstance(data, Mapping):
        return ""
    error = data.get("error")
    if isinstance(error, Mapping):
        for key in ("message", "reason", "msg", "type"):
            if isinstance(error.get(key), str) and error[key]:
                return _shorten(error[key])
        if isinstance(error.get("root_cause"), list) and error["root_cause"]:
            return message_from_json({"error": error["root_cause"][0]})
    if isinstance(error, str) and error:
        return _shorten(error)
    for key in ("message", "detail", "msg"):
        if isinstance(data.get(key), str) and data[key]:
            return _shorten(data[key])
    return ""


def _shorten(text: str) -> str:
    """One line. Not cut: the body was read up to ERROR_BODY_LIMIT, and front ends cap what
    they show (saying how to see the rest)."""
    return " ".join(text.split())


# --------------------------------------------------------------------------- statuses


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    ctx: HttpContext,
) -> BackendError:
    """A BackendError for a non-2xx answer, with the provider's message as detail."""
    content_type = headers.get("content-type", "")
    html = looks_like_html(body, content_type) if body else False
    message = "" if html else error_message(body)
    lowered = message.lower()
    detail = ctx.clean(message)
    if html:
        detail = "The server answered with an HTML page instead of JSON."
    where = ctx.clean(ctx.url)

    if status in (401, 403):
        verb = "rejected the API key" if status == 401 else "refused access"
        return AuthenticationError(
            f"{ctx.service} {verb} (HTTP {status})",
            ctx.clean(ctx.key_hint + f" Update it with `{ctx.setup_command}`."),
            detail=detail,
            status=status,
        )
    if status == 402:
        return PermissionDeniedError(
            f"{ctx.service}: insufficient balance (HTTP 402)",
            "Your account has run out of credit. Top it up in the provider's console "
            "(DeepSeek: platform.deepseek.com → Top up), then try again.",
            detail=detail,
            status=status,
        )
    if status == 404:
        if "model" in lowered:
            return ModelNotFoundError(
                f"{ctx.service}: model {ctx.model!r} not found (HTTP 404)",
                ctx.model_hint,
                detail=detail,
                status=status,
            )
        return ConfigurationError(
            f"{ctx.service}: nothing at {where} (HTTP 404)",
            ctx.not_found_hint,
            detail=detail,
            status=status,
        )
    if status == 408:
        return TimeoutError_(
            f"{ctx.service} timed out handling the request (HTTP 408)",
            "Try again; if it keeps happening, the server may be overloaded.",
            detail=detail, status=status, retryable=True,
        )
    if status == 413:
        return InvalidRequestError(
            f"{ctx.service}: the conversation is too large (HTTP 413)",
            "Start a new chat or shorten your message.",
            detail=detail, status=status,
        )
    if status == 429:
        retry_after = headers.get("retry-after", "").strip()
        wait = f" The server asks to wait {retry_after} s." if retry_after.isdigit() else (
            f" The server asks to retry after {retry_after}." if retry_after else "")
        return RateLimitedError(
            f"{ctx.service} is rate limiting requests (HTTP 429)",
            "Wait a little and send again." + wait,
            detail=detail, status=status, retryable=True,
        )
    if 400 <= status < 500:
        if "model" in lowered and any(
            word in lowered for word in ("not exist", "not found", "does not exist", "unknown", "invalid model")
        ):
            return ModelNotFoundError(
                f"{ctx.service}: model {ctx.model!r} is not available (HTTP {status})",
                ctx.model_hint,
                detail=detail, status=status,
            )
        if any(word in lowered for word in ("context length", "context_length", "maximum context", "too long")):
            return ContextWindowError(
                f"{ctx.service}: the conversation no longer fits the model's context (HTTP {status})",
                "Start a new chat, or lower max_tokens.",
                detail=detail, status=status,
            )
        return InvalidRequestError(
            f"{ctx.service} rejected the request (HTTP {status})",
            "Read the provider's message; check the model name and the options "
            "(temperature, top_p, max_tokens).",
            detail=detail or f"HTTP {status} with an empty body.",
            status=status,
        )
    if status >= 500:
        busy = status in (502, 503, 504)
        return ServerError(
            f"{ctx.service} had a server error (HTTP {status})",
            "The server is overloaded or down; wait a moment and send again."
            if busy else "This is on the provider's side; try again in a moment.",
            detail=detail, status=status, retryable=True,
        )
    return ProtocolError(
        f"{ctx.service} answered with unexpected HTTP status {status}",
        "Check the base URL and any proxy between you and the server.",
        detail=detail, status=status,
    )


def error_from_payload(error: object, ctx: HttpContext, *, partial: bool = False) -> BackendError:
    """An ``{"error": …}`` object the server sent inside a 200 stream. ``partial``: some
    answer text arrived before it."""
    status = None
    code: object = None
    if isinstance(error, Mapping):
        code = error.get("code") or error.get("status")
        if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
            status = int(code)
    message = message_from_json({"error": error}) or "(no message)"
    if status and 400 <= status < 600:
        mapped = error_from_response(status, {}, json.dumps({"error": error}).encode(), ctx)
        mapped.title = mapped.title.replace(f"(HTTP {status})", "(mid-stream)")
        return mapped
    lowered = message.lower()
    if "rate" in lowered and "limit" in lowered:
        return RateLimitedError(
            f"{ctx.service} is rate limiting requests",
            "Wait a little and send again.",
            detail=ctx.clean(message), retryable=True,
        )
    return ServerError(
        f"{ctx.service} reported an error mid-stream",
        kept(partial) + "Send again; if it repeats, check the server's logs.",
        detail=ctx.clean(message), retryable=True,
    )


# --------------------------------------------------------------------------- exceptions

KEPT = "The partial answer is kept. "

# OpenSSL's reasons when the other end answered the TLS hello with something that is not
# TLS, e.g. a plain-HTTP server's "HTTP/1.1 400 Bad Request" (the reason depends on the
# OpenSSL version).
NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE",
                             "UNKNOWN_PROTOCOL"})
NOT_TLS_HINT = "The server does not speak TLS: try the same address with http:// instead of https://."


def kept(partial: bool) -> str:
    """The sentence telling the user their partial answer stays, when there is one."""
    return KEPT if partial else ""


def error_from_exception(
    exc: BaseException, ctx: HttpContext, *, mid_stream: bool = False, partial: bool = False,
) -> BackendError:
    """A BackendError for an httpx (or socket) failure. ``mid_stream``: the body had started;
    ``partial``: some answer text had arrived (and is kept by the caller)."""
    import httpx

    where = ctx.clean(ctx.url)
    raw = ctx.clean(_describe(exc))

    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return ConfigurationError(
            f"{ctx.service}: invalid URL {where}",
            "The base URL must look like https://host/v1 or http://127.0.0.1:PORT/v1.",
            detail=raw,
        )
    port = _bad_port(exc)
    if port:
        return ConfigurationError(
            f"{ctx.service}: invalid URL {where}",
            "A port is a number from 1 to 65535; check the URL.",
            detail=port,
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return TimeoutError_(
            f"Timed out connecting to {where}",
            "Is the server up and reachable from here (VPN, firewall, proxy)?",
            retryable=True,
        )
    if isinstance(exc, httpx.ReadTimeout):
        seconds = f" {ctx.read_timeout_s:g} s" if ctx.read_timeout_s else " the read timeout"
        if partial:
            return TimeoutError_(
                f"{ctx.service} stopped sending mid-answer: nothing for{seconds}",
                KEPT + f"Send again, or raise the read timeout with {ctx.timeout_option}.",
                retryable=True,
            )
        return TimeoutError_(
            f"No answer from {ctx.service} within{seconds} (read timeout)",
            "Reasoning models can think for minutes before the first word: raise the read "
            f"timeout with {ctx.timeout_option}, or send again.",
            retryable=True,
        )
    if isinstance(exc, httpx.TimeoutException):  # write or connection-pool timeout
        return TimeoutError_(
            f"Timed out sending the request to {where}", "Try again in a moment.", retryable=True,
        )
    if isinstance(exc, httpx.ProxyError):
        return ConnectionFailedError(
            f"The proxy refused the connection to {where}",
            "Check HTTPS_PROXY / HTTP_PROXY / NO_PROXY in your environment.",
            detail=raw, retryable=True,
        )
    tls = tls_problem(exc)
    if tls == "not_tls":
        return ConnectionFailedError(f"{ctx.clean(_origin(ctx.url))} does not speak TLS", NOT_TLS_HINT, detail=raw)
    if tls == "verify":
        return ConnectionFailedError(
            f"TLS certificate verification failed for {where}",
            "If the server uses a private CA, point --ca-bundle at its certificate (PEM). "
            "Only for a server you trust, you can turn checking off with --no-verify-tls.",
            detail=raw,
        )
    if isinstance(exc, httpx.ConnectError):
        if _is_dns_failure(exc):
            return ConnectionFailedError(
                f"Could not resolve the host in {where}",
                "Check the spelling of the base URL and your network connection.",
                detail=raw, retryable=True,
            )
        return ConnectionFailedError(
            f"Could not connect to {where}",
            "Is the server running and listening on that address and port?",
            detail=raw, retryable=True,
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError)):
        if mid_stream:
            return IncompleteStreamError(
                f"{ctx.service} closed the connection mid-answer",
                kept(partial) + "Send again to get a complete answer.",
                detail=raw, retryable=True,
            )
        return ConnectionFailedError(
            f"{ctx.service} dropped the connection to {where}",
            "The server closed the connection before answering; is it healthy? (A server that "
            "only speaks https:// can do this to an http:// request.)",
            detail=raw, retryable=True,
        )
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(
            f"{ctx.service} sent a body that could not be decoded",
            "Check the base URL and any proxy between you and the server.",
            detail=raw,
        )
    if isinstance(exc, httpx.TransportError):
        return ConnectionFailedError(
            f"Connection to {where} failed", "Check the base URL and your network.", detail=raw,
            retryable=True,
        )
    return ConnectionFailedError(
        f"Request to {where} failed", "Check the base URL and your network.", detail=raw,
    )


def is_transport_failure(exc: BaseException) -> bool:
    """An httpx error, or the ExceptionGroup anyio's connect raises for some failures (an
    out-of-range port ends as ``OverflowError`` in a TaskGroup): what the HTTP backends
    turn into a BackendError with :func:`error_from_exception`."""
    import httpx

    if isinstance(exc, httpx.HTTPError):
        return True
    members = _group_members(exc)
    return bool(members) and all(
        isinstance(leaf, (httpx.HTTPError, OSError, OverflowError)) or is_transport_failure(leaf)
        for leaf in members
    )


def _group_members(exc: BaseException) -> tuple[BaseException, ...]:
    """An exception group's members (by attribute: Python 3.10 has no BaseExceptionGroup)."""
    members = getattr(exc, "exceptions", None)
    return members if isinstance(members, tuple) else ()


def _describe(exc: BaseException) -> str:
    """The first message behind ``exc`` worth showing: not a group's summary ("unhandled
    errors in a TaskGroup"), not a timer's cancellation ("Cancelled via cancel scope …")."""
    for item in causes(exc):
        text = str(item)
        if text and not isinstance(item, asyncio.CancelledError) and not _group_members(item):
            return f"{type(item).__name__}: {text}"
    return type(exc).__name__


def _origin(url: str) -> str:
    """``https://host:port`` of ``url``: the server, without the path."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except Exception:
        return url
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}" if parsed.host else url


def _bad_port(exc: BaseException) -> str:
    """The socket layer's complaint about a port out of range, or ''."""
    for item in causes(exc):
        if isinstance(item, (OverflowError, ValueError)) and re.search(r"\bport\b", str(item), re.IGNORECASE):
            return str(item)
    return ""


def tls_problem(exc: BaseException) -> str | None:
    """``"not_tls"`` when the server answered the TLS handshake with something else (plain
    HTTP), ``"verify"`` when its certificate was not trusted, None otherwise. Any client's
    exception: :func:`causes` finds the ``ssl`` error inside httpx's and opensearch-py's."""
    verify = False
    for item in causes(exc):
        reason = getattr(item, "reason", None)
        text = str(item)
        if (isinstance(item, ssl.SSLError) and reason in NOT_TLS_REASONS) or any(
            name in text for name in NOT_TLS_REASONS
        ):
            return "not_tls"
        if isinstance(item, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
            verify = True
    return "verify" if verify else None


def _is_dns_failure(exc: BaseException) -> bool:
    import socket

    for item in causes(exc):
        if isinstance(item, socket.gaierror):
            return True
        text = str(item).lower()
        if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
            return True
    return False
