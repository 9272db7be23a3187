"""Turn httpx failures and non-2xx answers into typed, user-facing BackendErrors.

Shared by the httpx-based backends (OpenAI-compatible, OpenSearch streaming). Every
message is redacted with the caller's secrets and the usual secret shapes, because
providers like to echo the key back ("Your api key: sk-… is invalid").

Callers pass a :class:`HttpContext` that says what to name in hints: the service, how
to set the key, which command sets things up.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from thinkpane.backends.errors import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    ConnectionFailedError,
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
    text itself, shortened."""
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


def _shorten(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
                "Check the model name (`--model`); the server's /models endpoint lists them.",
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
                "Check the model name (`--model`); the server's /models endpoint lists them.",
                detail=detail, status=status,
            )
        if any(word in lowered for word in ("context length", "context_length", "maximum context", "too long")):
            return InvalidRequestError(
                f"{ctx.service}: the conversation no longer fits the model's context (HTTP {status})",
                "Start a new chat, or lower max_tokens.",
                detail=detail, status=status,
            )
        return InvalidRequestError(
            f"{ctx.service} rejected the request (HTTP {status})",
            "The provider's message is below; check the model name and options "
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


def error_from_payload(error: object, ctx: HttpContext) -> BackendError:
    """An ``{"error": …}`` object the server sent inside a 200 stream."""
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
        "The partial answer is kept. Send again; if it repeats, check the server's logs.",
        detail=ctx.clean(message), retryable=True,
    )


# --------------------------------------------------------------------------- exceptions


def error_from_exception(exc: BaseException, ctx: HttpContext, *, mid_stream: bool = False) -> BackendError:
    """A BackendError for an httpx (or socket) failure. ``mid_stream``: the body had started."""
    import httpx

    where = ctx.clean(ctx.url)
    raw = ctx.clean(_describe(exc))

    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return ConfigurationError(
            f"{ctx.service}: invalid URL {where}",
            "The base URL must look like https://host/v1 or http://127.0.0.1:PORT/v1.",
            detail=raw,
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return TimeoutError_(
            f"Timed out connecting to {where}",
            "Is the server up and reachable from here (VPN, firewall, proxy)?",
            detail=raw, retryable=True,
        )
    if isinstance(exc, httpx.ReadTimeout):
        seconds = f" for {ctx.read_timeout_s:g} s" if ctx.read_timeout_s else ""
        return TimeoutError_(
            f"{ctx.service} stopped sending{seconds}",
            ("The partial answer is kept. " if mid_stream else "")
            + f"The server may be overloaded; send again, or raise the read timeout ({ctx.timeout_option}).",
            detail=raw, retryable=True,
        )
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError_(
            f"Timed out talking to {where}", "Try again in a moment.", detail=raw, retryable=True,
        )
    if isinstance(exc, httpx.ProxyError):
        return ConnectionFailedError(
            f"The proxy refused the connection to {where}",
            "Check HTTPS_PROXY / HTTP_PROXY / NO_PROXY in your environment.",
            detail=raw, retryable=True,
        )
    if _is_tls_failure(exc):
        return ConnectionFailedError(
            f"TLS certificate verification failed for {where}",
            "If the server uses a private CA, point `ca_bundle` at its certificate (PEM). "
            "Only for a server you trust, you can turn checking off with `verify_tls = false`.",
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
                "The partial answer is kept; send again to get a complete one.",
                detail=raw, retryable=True,
            )
        return ConnectionFailedError(
            f"{ctx.service} dropped the connection to {where}",
            "The server closed the connection before answering; is it healthy?",
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


def _describe(exc: BaseException) -> str:
    for item in causes(exc):
        text = str(item)
        if text:
            return f"{type(item).__name__}: {text}"
    return type(exc).__name__


def _is_tls_failure(exc: BaseException) -> bool:
    for item in causes(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(item):
            return True
    return False


def _is_dns_failure(exc: BaseException) -> bool:
    import socket

    for item in causes(exc):
        if isinstance(item, socket.gaierror):
            return True
        text = str(item).lower()
        if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
            return True
    return False
