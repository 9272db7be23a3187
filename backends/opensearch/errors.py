"""OpenSearch / ML Commons failures -> typed BackendErrors with a hint that says what to do.

Two sources feed the same classifier: opensearch-py exceptions (``TransportError`` with
``status_code`` and the parsed error envelope in ``info``) and httpx answers from
``_predict/stream``. ML Commons passes the provider's answer through ("Error from remote
service: <raw DeepSeek body>") with DeepSeek's status, so those are recognised first: a 401
there means the DeepSeek key stored in the connector, not the OpenSearch password.

Every text is redacted: a cluster may echo a request body (and so a key) back. The
cluster's (or DeepSeek's) message is kept whole, on one line, as the error's ``detail``;
front ends cap what they show.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from thinkpane.backends.errors import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    ConnectionFailedError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TimeoutError_,
    causes,
)
from thinkpane.backends.http_errors import NOT_TLS_HINT, tls_problem
from thinkpane.backends.secrets import redact

SETUP = "thinkpane setup opensearch"
REMOTE_PREFIX = "Error from remote service:"
STREAM_DISABLED_MARK = "Streaming is currently disabled"


@dataclass
class ErrorContext:
    url: str
    secrets: Sequence[str] = field(default_factory=tuple)
    model_id: str = ""
    # The --request-timeout-s in force: a read timeout of exactly this long is the predict call's.
    request_timeout_s: float | None = None

    def clean(self, text: str) -> str:
        return redact(text, self.secrets)


def envelope_reason(body: Any) -> tuple[str, str]:
    """(type, reason) from the OpenSearch error envelope, or from any text body."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return "", " ".join(body.split())
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            reason = error.get("reason")
            type_ = str(error.get("type") or "")
            if not reason and error.get("root_cause"):
                cause = error["root_cause"][0]
                reason, type_ = cause.get("reason"), cause.get("type", type_)
            return type_, str(reason or "")
        if isinstance(error, str):
            return "", error
        if "message" in body:
            return "", str(body["message"])
    return "", " ".join(str(body).split()) if body else ""


def missing_permission(reason: str) -> str | None:
    match = re.search(r"no permissions for \[([^\]]+)\]", reason)
    return match.group(1) if match else None


def classify(status: int | None, body: Any, ctx: ErrorContext) -> BackendError:
    """A BackendError for an ML Commons answer with HTTP ``status`` and ``body``."""
    type_, reason = envelope_reason(body)
    detail = ctx.clean(reason)
    if reason.startswith(REMOTE_PREFIX):
        return _remote(status, reason[len(REMOTE_PREFIX):].strip(), ctx)
    if "Error communicating with remote model" in reason:
        return ConnectionFailedError(
            "OpenSearch could not reach DeepSeek",
            "The cluster's connector timed out or could not connect. Check the cluster's outbound "
            "network; for slow reasoning answers re-run `thinkpane setup opensearch` (the connector's "
            "read_timeout is in seconds).",
            detail=detail, status=status, retryable=True,
        )
    if status == 401:
        return AuthenticationError(
            "OpenSearch: wrong user or password (HTTP 401)",
            "Check --username and the password (OPENSEARCH_PASSWORD); for Amazon OpenSearch "
            "Service use --auth sigv4.",
            detail=detail, status=status,
        )
    if status == 403:
        permission = missing_permission(reason)
        if permission:
            return PermissionDeniedError(
                f"OpenSearch: your user lacks the permission {permission}",
                "Ask the cluster admin to map your user to the ml_full_access role (or a role "
                f"granting {permission}), then run the command again.",
                detail=detail, status=status,
            )
        return PermissionDeniedError(
            "OpenSearch refused access (HTTP 403)",
            "Your user lacks a permission; ask the cluster admin for the ml_full_access role.",
            detail=detail, status=status,
        )
    if "Model not ready yet" in reason:
        return ServerError(
            "OpenSearch: the model is not deployed",
            f"Run `{SETUP}` again (it deploys the model), or POST "
            f"/_plugins/_ml/models/{ctx.model_id or '<id>'}/_deploy.",
            detail=detail, status=status, retryable=True,
        )
    if status == 429 or "throttled" in reason.lower():
        return RateLimitedError(
            "OpenSearch is throttling this model" + _http(status),
            "ML Commons' rate limiter for the model refused the request; wait a moment and send again.",
            detail=detail, status=status, retryable=True,
        )
    if "not matching the trusted connector endpoint regex" in reason:
        return ConfigurationError(
            "OpenSearch does not trust the connector's endpoint",
            "plugins.ml_commons.trusted_connector_endpoints_regex has no entry matching the endpoint; "
            f"run `{SETUP}` (it adds a narrow regex for your endpoint).",
            detail=detail, status=status,
        )
    if "private ip address" in reason:
        return ConfigurationError(
            "OpenSearch refuses to call a private address",
            f"Run `{SETUP}` (it enables plugins.ml_commons.connector.private_ip_enabled for a "
            "private endpoint), or use a public endpoint.",
            detail=detail, status=status,
        )
    if status == 404 and ("find model" in reason.lower()):
        return ModelNotFoundError(
            f"OpenSearch: model {ctx.model_id or ''} does not exist on the cluster".replace("  ", " "),
            f"It was deleted or never created here; run `{SETUP}` to create it.",
            detail=detail, status=status,
        )
    if "Conversation Memory feature is not enabled" in reason:
        return ConfigurationError(
            "OpenSearch: conversation memory is disabled on the cluster",
            f"Run `{SETUP} --memory` (it sets plugins.ml_commons.memory_feature_enabled), or turn "
            "memory off for this backend.",
            detail=detail, status=status,
        )
    if STREAM_DISABLED_MARK in reason:
        return ConfigurationError(
            "OpenSearch streaming is disabled on this cluster",
            "Use --mode predict (or auto), or set plugins.ml_commons.stream_enabled to true.",
            detail=detail, status=status,
        )
    if status is not None and 400 <= status < 500:
        return InvalidRequestError(
            f"OpenSearch rejected the request (HTTP {status})",
            "Read the cluster's message; check the options of this command against it.",
            detail=detail or type_, status=status,
        )
    return ServerError(
        f"OpenSearch had an error (HTTP {status})" if status else "OpenSearch had an error",
        "Check the cluster's logs; try again in a moment.",
        detail=detail or type_, status=status, retryable=True,
    )


def _status_in(raw: str) -> int | None:
    """Mid-stream errors carry no HTTP status; DeepSeek's error type says what it was."""
    lowered = raw.lower()
    if "authentication" in lowered:
        return 401
    if "insufficient balance" in lowered:
        return 402
    if "rate limit" in lowered:
        return 429
    return None


def _http(status: int | None) -> str:
    return f" (HTTP {status})" if status else ""


def _remote(status: int | None, raw: str, ctx: ErrorContext) -> BackendError:
    """DeepSeek's own answer, passed through by the connector with DeepSeek's status."""
    _, message = envelope_reason(raw)
    detail = ctx.clean(message or raw)
    status = status or _status_in(raw)
    if status == 401:
        return AuthenticationError(
            "DeepSeek rejected the API key stored in the OpenSearch connector" + _http(status),
            f"Re-run `{SETUP}` with the right --deepseek-api-key (or DEEPSEEK_API_KEY); it "
            "creates a connector holding the new key.",
            detail=detail, status=status,
        )
    if status == 402:
        return PermissionDeniedError(
            "DeepSeek: insufficient balance" + _http(status),
            "The DeepSeek account behind the connector has run out of credit; top it up at "
            "platform.deepseek.com, then send again.",
            detail=detail, status=status,
        )
    if status == 429:
        return RateLimitedError(
            "DeepSeek is rate limiting requests" + _http(status),
            "Wait a little and send again.",
            detail=detail, status=status, retryable=True,
        )
    if status is not None and 400 <= status < 500:
        return InvalidRequestError(
            "DeepSeek rejected the request" + _http(status),
            "Read DeepSeek's message; check the model name in the connector (--deepseek-model).",
            detail=detail, status=status,
        )
    return ServerError(
        "DeepSeek had a server error" + _http(status),
        "The provider is overloaded or down; wait a moment and send again.",
        detail=detail, status=status, retryable=True,
    )


def from_exception(exc: BaseException, ctx: ErrorContext) -> BackendError:
    """A BackendError for an opensearch-py exception (or anything it raised)."""
    from opensearchpy import exceptions as os_exc

    where = ctx.clean(ctx.url)
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, os_exc.ConnectionTimeout):
        return _timeout(exc, ctx)
    if isinstance(exc, os_exc.ConnectionError):
        tls = tls_problem(exc)
        if tls == "not_tls":
            return ConnectionFailedError(f"{where} does not speak TLS", NOT_TLS_HINT,
                                         detail=ctx.clean(_short(exc)))
        if tls is None and _is_ssl_error(exc):
            return ConnectionFailedError(
                f"The TLS handshake with {where} failed",
                "Check the URL's scheme and port; for a cluster with a private CA point "
                "--ca-bundle at its root CA (PEM).",
                detail=ctx.clean(_short(exc)),
            )
        if tls == "verify":
            return ConnectionFailedError(
                f"TLS certificate verification failed for {where}",
                "The cluster's certificate is not signed by a CA this machine trusts. Point "
                "--ca-bundle at the cluster's root CA (PEM), e.g. config/root-ca.pem of the demo "
                "setup. Only for a cluster you trust: --no-verify-tls.",
                detail=ctx.clean(_short(exc)),
            )
        return ConnectionFailedError(
            f"Could not connect to OpenSearch at {where}",
            "Is the cluster running and is the URL (scheme, host, port) right? The demo cluster "
            "listens on https://localhost:9200.",
            detail=ctx.clean(_short(exc)), retryable=True,
        )
    if isinstance(exc, os_exc.TransportError):
        status = exc.status_code if isinstance(exc.status_code, int) else None
        return classify(status, exc.info if exc.info is not None else exc.error, ctx)
    return ServerError(
        "OpenSearch call failed",
        "Check the URL and the cluster's health.",
        detail=ctx.clean(f"{type(exc).__name__}: {exc}"),
    )


def _is_ssl_error(exc: BaseException) -> bool:
    """opensearch-py's SSLError wraps every TLS failure (checked after the specific ones)."""
    from opensearchpy import exceptions as os_exc

    return any(isinstance(item, (ssl.SSLError, os_exc.SSLError)) for item in causes(exc))


def _timeout(exc: BaseException, ctx: ErrorContext) -> BackendError:
    """What timed out and what raises it; never the urllib3 internals."""
    where = ctx.clean(ctx.url)
    text = " ".join(str(item) for item in causes(exc))
    if "connect timeout" in text.lower() or "ConnectTimeoutError" in text:
        return TimeoutError_(
            f"Timed out connecting to OpenSearch at {where}",
            "Is the cluster up and reachable from here (VPN, firewall, proxy)?", retryable=True,
        )
    match = re.search(r"read timeout=([0-9.]+)", text)
    seconds = float(match.group(1)) if match else None
    if seconds is not None and ctx.request_timeout_s is not None and abs(seconds - ctx.request_timeout_s) < 1e-6:
        return TimeoutError_(
            f"No answer from OpenSearch within {seconds:g} s (request timeout)",
            "DeepSeek can reason for minutes before it answers: raise the request timeout with "
            "--request-timeout-s, or try again.",
            retryable=True,
        )
    within = f" within {seconds:g} s" if seconds is not None else ""
    return TimeoutError_(
        f"OpenSearch at {where} did not answer{within}",
        "The cluster is slow or overloaded; check its health and try again.", retryable=True,
    )


def _short(exc: BaseException) -> str:
    info = getattr(exc, "info", None)
    text = str(info) if info is not None else str(exc)
    return " ".join(text.split())
