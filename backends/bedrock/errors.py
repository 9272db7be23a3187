"""Turn botocore / urllib3 failures into typed, user-facing BackendErrors.

Every message goes through :meth:`ErrorContext.clean`, which masks the AWS secret key and
session token (from the environment and from resolved credentials) and the usual secret
shapes: the user sees what went wrong and what to do, never a traceback or a key.

botocore is imported inside the functions: this module is loaded with the backend, and the
backend may be listed (options, help) on a machine without boto3.
"""

from __future__ import annotations

import os
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
    ProtocolError,
    RateLimitedError,
    ServerError,
    TimeoutError_,
    causes,
)
from thinkpane.backends.secrets import env_secrets, redact

# Error codes worth retrying before the first token (normalised, see _normalise_code).
RETRYABLE_CODES = frozenset({"throttling", "modelnotready", "serviceunavailable"})

KEPT = "The partial answer is kept. "


@dataclass
class ErrorContext:
    """What hints should name: model, region, profile, endpoint, the read timeout."""

    model: str
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    read_timeout_s: float | None = None
    secrets: Sequence[str] = field(default_factory=tuple)

    def clean(self, text: str) -> str:
        return redact(text, list(self.secrets) + env_secrets())

    @property
    def sso_login(self) -> str:
        return f"aws sso login --profile {self.profile}" if self.profile else "aws sso login --profile <name>"

    @property
    def where(self) -> str:
        return self.endpoint_url or f"Bedrock Runtime in {self.region or '(no region)'}"


def _normalise_code(code: str) -> str:
    """'ThrottlingException' and 'throttlingException' (in-stream) -> 'throttling'."""
    code = code.split(":", 1)[0].strip().lower()
    return code.removesuffix("exception")


def retry_code(error: BaseException) -> str | None:
    """The normalised code if ``error`` is worth retrying before any token was shown."""
    if isinstance(error, BackendError):
        return None  # ours already (e.g. boto3 missing): nothing botocore to look at
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        code = _normalise_code(str(error.response.get("Error", {}).get("Code", "")))
        return code if code in RETRYABLE_CODES else None
    return None


def from_exception(exc: BaseException, ctx: ErrorContext, *, mid_stream: bool = False) -> BackendError:
    """A BackendError for anything boto3 raised. ``mid_stream``: events had already arrived."""
    mapped = _map(exc, ctx, mid_stream)
    mapped.title = ctx.clean(mapped.title)
    mapped.hint = ctx.clean(mapped.hint)
    mapped.detail = ctx.clean(mapped.detail)
    return mapped


def _map(exc: BaseException, ctx: ErrorContext, mid_stream: bool) -> BackendError:
    if isinstance(exc, BackendError):
        return exc
    import urllib3.exceptions as u3
    from botocore import exceptions as bx
    from botocore.eventstream import ParserError

    if isinstance(exc, bx.ClientError):
        return _client_error(exc, ctx, mid_stream)
    if isinstance(exc, ParserError):
        # ChecksumMismatch and friends: the bytes on the wire are not a valid event stream.
        return ProtocolError(
            "Bedrock sent a corrupted event-stream frame",
            KEPT * mid_stream + "Send again. If it repeats, check any proxy between you and "
            f"{ctx.where} (it may be altering the response).",
            detail=_describe(exc),
        )
    # Read timeouts: urllib3's (mid-stream) or botocore's wrapper of it (before the headers).
    if any(isinstance(item, (u3.ReadTimeoutError, bx.ReadTimeoutError)) for item in causes(exc)):
        seconds = f" for {ctx.read_timeout_s:g} s" if ctx.read_timeout_s else ""
        return TimeoutError_(
            f"Bedrock stopped sending{seconds}",
            KEPT * mid_stream + "Long reasoning can pause for minutes: raise read_timeout_s "
            "(--read-timeout-s) and send again.",
            detail=_describe(exc), retryable=True,
        )
    if isinstance(exc, bx.ConnectTimeoutError):
        return TimeoutError_(
            f"Timed out connecting to {ctx.where}",
            "Check your network, VPN or proxy; raise connect_timeout_s if the link is slow.",
            detail=_describe(exc), retryable=True,
        )
    if isinstance(exc, bx.EndpointConnectionError):
        return ConnectionFailedError(
            f"Could not connect to {ctx.where}",
            "Check the region (`--region`) and endpoint_url, and your network connection."
            if ctx.endpoint_url is None else "Is the endpoint_url right, and is the server up?",
            detail=_describe(exc), retryable=True,
        )
    if isinstance(exc, (u3.ProtocolError, bx.ConnectionClosedError, bx.ResponseStreamingError,
                        ConnectionError)):
        return ConnectionFailedError(
            "Bedrock: connection dropped" + (" mid-answer" if mid_stream else ""),
            KEPT * mid_stream + "The connection to Bedrock was cut; send again.",
            detail=_describe(exc), retryable=True,
        )
    if isinstance(exc, bx.NoCredentialsError):
        return AuthenticationError(
            "No AWS credentials found",
            "Thinkpane uses the standard AWS credential chain. Run `aws configure`, or "
            f"`{ctx.sso_login}` for an SSO profile (and pass --aws-profile or set AWS_PROFILE).",
            detail=_describe(exc),
        )
    if isinstance(exc, bx.ProfileNotFound):
        name = ctx.profile or str(getattr(exc, "kwargs", {}).get("profile", "")) or "?"
        config_file = os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")
        credentials_file = os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
        return ConfigurationError(
            f"AWS profile {name!r} not found",
            f"Profiles are read from {config_file} ([profile {name}]) and {credentials_file} "
            f"([{name}]). Create it with `aws configure --profile {name}` or "
            f"`aws configure sso --profile {name}`, or fix --aws-profile / AWS_PROFILE.",
            detail=_describe(exc),
        )
    if isinstance(exc, (bx.SSOTokenLoadError, bx.UnauthorizedSSOTokenError, bx.TokenRetrievalError,
                        bx.SSOError)):
        return AuthenticationError(
            "Your AWS SSO session is missing or expired",
            f"Run `{ctx.sso_login}` and send again.",
            detail=_describe(exc),
        )
    if isinstance(exc, (bx.PartialCredentialsError, bx.CredentialRetrievalError)):
        return AuthenticationError(
            "AWS credentials are incomplete or could not be loaded",
            "Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or your profile; "
            f"`aws configure` or `{ctx.sso_login}` sets them up.",
            detail=_describe(exc),
        )
    if isinstance(exc, bx.NoRegionError):
        return ConfigurationError(
            "No AWS region set for Bedrock",
            "Pass --region (e.g. us-east-1), set AWS_REGION, or set a region in your AWS profile.",
            detail=_describe(exc),
        )
    if isinstance(exc, bx.ParamValidationError):
        return InvalidRequestError(
            "The Bedrock request is invalid",
            "Check the options (max_tokens must be at least 1, stop_sequences at most 10).",
            detail=_describe(exc),
        )
    if isinstance(exc, (bx.InvalidRegionError, bx.UnknownEndpointError, ValueError)) and "endpoint" in str(exc).lower():
        return ConfigurationError(
            "Invalid Bedrock region or endpoint_url",
            "Check --region (e.g. us-east-1) and --endpoint-url (must be http(s)://host[:port]).",
            detail=_describe(exc),
        )
    if isinstance(exc, bx.BotoCoreError):
        return ConnectionFailedError(
            "The AWS SDK failed to call Bedrock",
            "Check your AWS configuration (`aws configure list`) and network.",
            detail=_describe(exc),
        )
    if isinstance(exc, OSError):
        return ConnectionFailedError(
            "Bedrock: connection dropped" + (" mid-answer" if mid_stream else ""),
            KEPT * mid_stream + "Send again.", detail=_describe(exc), retryable=True,
        )
    if isinstance(exc, UnicodeDecodeError) or type(exc).__name__ == "JSONDecodeError":
        # A frame with a valid CRC whose payload is not UTF-8 JSON: botocore's json.loads fails.
        return ProtocolError(
            "Bedrock sent an event that could not be decoded",
            KEPT * mid_stream + "Send again. If it repeats, check any proxy between you and "
            f"{ctx.where} (it may be altering the response).",
            detail=_describe(exc),
        )
    raise exc  # not ours to explain: guarded() reports it as an internal error


def _client_error(exc: Any, ctx: ErrorContext, mid_stream: bool) -> BackendError:
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {}) or {}
    raw_code = str(error.get("Code", "") or "")
    code = _normalise_code(raw_code)
    message = str(error.get("Message", "") or "")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    extra = response.get("Extra") or {}
    detail = f"{raw_code}: {message}" if raw_code else message
    when = " mid-stream" if mid_stream else ""
    kept = KEPT * mid_stream
    model = ctx.model

    if code == "accessdenied":
        return PermissionDeniedError(
            f"Bedrock denied access to {model}",
            "Enable model access for this model in the Bedrock console (Model access) for "
            f"region {ctx.region or 'your region'}, and allow `bedrock:InvokeModelWithResponseStream` "
            "on it in your IAM policy.",
            detail=detail, status=status,
        )
    if code in ("unrecognizedclient", "invalidsignature", "expiredtoken", "invalidclienttokenid",
                "signaturedoesnotmatch", "expired"):
        return AuthenticationError(
            "AWS rejected your credentials",
            f"Refresh them: `{ctx.sso_login}` for SSO, or `aws configure` for access keys.",
            detail=detail, status=status,
        )
    if code == "resourcenotfound":
        return ModelNotFoundError(
            f"Bedrock: model {model!r} not found in {ctx.region or 'this region'}",
            "Check the model id (e.g. us.deepseek.r1-v1:0) and that the region offers it "
            "(--region); inference profiles start with us., eu. or apac.",
            detail=detail, status=status,
        )
    if code == "validation":
        lowered = message.lower()
        if "on-demand throughput" in lowered or ("inference profile" in lowered and "retry" in lowered):
            suggestion = "us." + model if "." in model and not model.startswith(("us.", "eu.", "apac.")) else "us.deepseek.r1-v1:0"
            return InvalidRequestError(
                f"Bedrock: {model} must be called through an inference profile",
                f"Use --model {suggestion} (or eu./apac. for your region's inference profile).",
                detail=detail, status=status,
            )
        if "reasoning content" in lowered:
            return InvalidRequestError(
                f"Bedrock rejected the conversation history{when}",
                "The history contained reasoning the model does not accept; start a new chat.",
                detail=detail, status=status,
            )
        return InvalidRequestError(
            f"Bedrock rejected the request{when}",
            kept + "The message from Bedrock is shown; check the options "
            "(max_tokens, temperature 0–1, top_p, at most 10 stop_sequences).",
            detail=detail, status=status,
        )
    if code == "throttling":
        return RateLimitedError(
            f"Throttled by Bedrock{when}",
            kept + "Your account hit its Bedrock quota; wait a minute and send again, or "
            "request a quota increase in Service Quotas.",
            detail=detail, status=status, retryable=True,
        )
    if code == "modelnotready":
        return ServerError(
            f"Bedrock: {model} is not ready yet",
            "The model is being loaded; wait a minute and send again.",
            detail=detail, status=status, retryable=True,
        )
    if code == "modeltimeout":
        return TimeoutError_(
            f"Bedrock: {model} timed out processing the request",
            "Send again; a shorter conversation or lower max_tokens helps.",
            detail=detail, status=status, retryable=True,
        )
    if code in ("modelerror", "modelstreamerror"):
        original = ""
        if extra.get("originalStatusCode") or extra.get("originalMessage"):
            original = f" (model said {extra.get('originalStatusCode', '?')}: {extra.get('originalMessage', '')})"
        return ServerError(
            f"Bedrock: the model failed{when}",
            kept + "This is on the model's side; send again.",
            detail=detail + original, status=status, retryable=True,
        )
    if code == "serviceunavailable":
        return ServerError(
            f"Bedrock is unavailable{when}",
            kept + "The service is overloaded or down; wait a moment and send again.",
            detail=detail, status=status, retryable=True,
        )
    if code == "internalserver":
        return ServerError(
            f"Bedrock had an internal error{when}",
            kept + "This is on AWS's side; send again in a moment.",
            detail=detail, status=status, retryable=True,
        )
    if code == "servicequotaexceeded":
        return RateLimitedError(
            "Bedrock: service quota exceeded",
            "Request a quota increase in Service Quotas, or wait and send again.",
            detail=detail, status=status,
        )
    return ServerError(
        f"Bedrock returned an error{when}" + (f" (HTTP {status})" if status else ""),
        kept + "The message from Bedrock is shown below.",
        detail=detail or "(no message)", status=status,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
