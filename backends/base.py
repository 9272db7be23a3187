"""The backend contract: conversation in, an async iterator of typed stream events out.

Modelled on harlequin's adapter API (declared options, capability flags the UI reads,
typed errors with a user-facing title) and on llm's ``StreamEvent(type=...)``.

Rules every backend follows:

* ``Backend.stream()`` is an async generator. It *yields* an :class:`ErrorEvent` for every
  failure a user can cause (bad key, server down, malformed stream...) and then returns;
  it does not raise for them. Callers still wrap it in :func:`guarded` so that a bug in a
  backend becomes an ``ErrorEvent`` too, never a traceback on the user's screen.
* A successful stream ends with exactly one :class:`Stop`. A stream that ends without the
  provider saying it finished is an ``IncompleteStream`` error (the partial text is kept by
  the caller, who has already received every delta).
* Cancelling the consuming task (``asyncio.CancelledError``) or calling ``aclose()`` on the
  generator must stop the HTTP stream promptly; backends close their responses in ``finally``.
* Reasoning is never sent back to a provider in the history unless the provider requires
  it (signed reasoning, see ``Message.extra``).
* This package never imports textual (tests/test_import_hygiene.py proves it).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, Union

from backends.secrets import Secret, redact

Role = Literal["system", "user", "assistant"]


# --------------------------------------------------------------------------- conversation


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    # What the model thought before answering. Shown to the user, stored, never re-sent.
    reasoning: str = ""
    # Backend-specific data that must survive a round trip through the store, e.g. Bedrock's
    # reasoning ``signature`` / ``redacted`` blocks. JSON-serialisable.
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Conversation:
    messages: Sequence[Message]
    system: str | None = None

    def history_without_reasoning(self) -> list[dict[str, str]]:
        """OpenAI-style message dicts with the reasoning stripped (DeepSeek rejects it)."""
        out: list[dict[str, str]] = []
        if self.system:
            out.append({"role": "system", "content": self.system})
        for message in self.messages:
            if message.role == "system":
                out.append({"role": "system", "content": message.content})
            else:
                out.append({"role": message.role, "content": message.content})
        return out


# --------------------------------------------------------------------------- errors


class BackendError(Exception):
    """A failure the user can understand: a short ``title`` and a ``hint`` saying what to do.

    ``str(error)`` is safe to show: subclasses and callers pass every message through
    :func:`backends.secrets.redact` before it gets here.
    """

    kind: ClassVar[str] = "error"

    def __init__(
        self,
        title: str,
        hint: str = "",
        *,
        detail: str = "",
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        self.title = title
        self.hint = hint
        self.detail = detail
        self.status = status
        self.retryable = retryable
        super().__init__(self.title)

    def __str__(self) -> str:
        parts = [self.title]
        if self.detail:
            parts.append(self.detail)
        if self.hint:
            parts.append(self.hint)
        return " — ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "hint": self.hint,
            "detail": self.detail,
            "status": self.status,
            "retryable": self.retryable,
        }


class ConfigurationError(BackendError):
    """Something the user must set before the backend can run (missing key, bad URL...)."""

    kind = "configuration"


class AuthenticationError(BackendError):
    kind = "authentication"


class PermissionDeniedError(BackendError):
    kind = "permission"


class ConnectionFailedError(BackendError):
    """Could not reach the server (refused, DNS, TLS, dropped connection)."""

    kind = "connection"


class TimeoutError_(BackendError):
    kind = "timeout"


class RateLimitedError(BackendError):
    kind = "rate_limited"


class ModelNotFoundError(BackendError):
    kind = "model_not_found"


class InvalidRequestError(BackendError):
    kind = "invalid_request"


class ServerError(BackendError):
    kind = "server"


class ProtocolError(BackendError):
    """The server answered, but not in the wire format we expect (malformed SSE, bad CRC...)."""

    kind = "protocol"


class IncompleteStreamError(BackendError):
    """The stream ended before the provider said it had finished."""

    kind = "incomplete"


class InternalError(BackendError):
    """A bug in Thinkpane or a backend plugin, caught before it reached the screen."""

    kind = "internal"


# --------------------------------------------------------------------------- stream events


@dataclass(frozen=True)
class ReasoningDelta:
    text: str
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True)
class ContentDelta:
    text: str
    type: Literal["content"] = "content"


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    # Provider-reported latency (Bedrock ``metrics.latencyMs``) when there is one.
    latency_ms: int | None = None
    type: Literal["usage"] = "usage"


StopReason = Literal[
    "end_turn",  # the model finished
    "max_tokens",  # cut by the output limit
    "stop_sequence",
    "content_filter",  # a guardrail or content filter stopped it
    "context_window",  # the conversation no longer fits
    "tool_use",
    "cancelled",  # the user cancelled (emitted by front ends, not backends)
    "other",
]


@dataclass(frozen=True)
class Stop:
    reason: StopReason = "end_turn"
    # The provider's own word for it ("length", "guardrail_intervened"...).
    raw_reason: str | None = None
    type: Literal["stop"] = "stop"

    @property
    def explanation(self) -> str | None:
        """A plain sentence for the user when the answer did not end normally."""
        return STOP_EXPLANATIONS.get(self.reason)


STOP_EXPLANATIONS: dict[str, str] = {
    "max_tokens": "The answer was cut off: it reached the maximum output tokens. "
    "Raise max_tokens in the backend options to get longer answers.",
    "content_filter": "The answer was stopped by the provider's content filter or guardrail.",
    "context_window": "The conversation no longer fits in the model's context window. "
    "Start a new chat.",
    "stop_sequence": "The answer stopped at one of your stop sequences.",
    "cancelled": "You cancelled this answer; the partial text is kept.",
}


@dataclass(frozen=True)
class ErrorEvent:
    error: BackendError
    type: Literal["error"] = "error"


@dataclass(frozen=True)
class Notice:
    """Something the user should see in the status line while the stream goes on.

    E.g. "Throttled by Bedrock; retrying in 2 s (attempt 2 of 3)" or "OpenSearch: streaming
    mode unavailable, using _predict (reasoning arrives with the full reply)".
    """

    text: str
    level: Literal["info", "warning"] = "info"
    type: Literal["notice"] = "notice"


@dataclass(frozen=True)
class MessageExtra:
    """Backend data to keep on the stored assistant message (merged into ``Message.extra``)."""

    data: Mapping[str, Any]
    type: Literal["extra"] = "extra"


StreamEvent = Union[ReasoningDelta, ContentDelta, Usage, Stop, ErrorEvent, Notice, MessageExtra]


def event_to_json(event: StreamEvent) -> dict[str, Any]:
    """The shape ``thinkpane ask --json`` prints, one object per line."""
    if isinstance(event, ErrorEvent):
        return {"type": "error", **event.error.to_dict()}
    if isinstance(event, MessageExtra):
        return {"type": "extra", "data": dict(event.data)}
    data = asdict(event)
    return {"type": data.pop("type"), **data}


# --------------------------------------------------------------------------- options


OptionKind = Literal["text", "secret", "int", "float", "bool", "choice", "path", "list"]


@dataclass(frozen=True)
class Option:
    """One setting a backend declares. Rendered as a CLI flag and as a setup-form field."""

    name: str  # snake_case key in config and settings dicts; CLI flag is --name-with-dashes
    label: str
    description: str = ""
    kind: OptionKind = "text"
    default: Any = None
    choices: tuple[str, ...] = ()
    # Environment variables read when the option is not set in config, first one wins.
    env: tuple[str, ...] = ()
    required: bool = False
    placeholder: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_secret(self) -> bool:
        return self.kind == "secret"

    def parse(self, raw: Any) -> Any:
        """Turn a raw value (CLI string, TOML value, form text) into the option's type.

        Raises ConfigurationError naming the option when the value does not fit.
        """
        if raw is None or raw == "":
            return None
        try:
            if self.kind == "secret":
                return raw if isinstance(raw, Secret) else Secret(str(raw))
            if self.kind == "int":
                return int(raw)
            if self.kind == "float":
                return float(raw)
            if self.kind == "bool":
                if isinstance(raw, bool):
                    return raw
                text = str(raw).strip().lower()
                if text in {"1", "true", "yes", "on"}:
                    return True
                if text in {"0", "false", "no", "off"}:
                    return False
                raise ValueError(raw)
            if self.kind == "list":
                if isinstance(raw, (list, tuple)):
                    return [str(item) for item in raw]
                return [item.strip() for item in str(raw).split(",") if item.strip()]
            if self.kind == "choice":
                value = str(raw)
                if self.choices and value not in self.choices:
                    raise ValueError(value)
                return value
            return str(raw)
        except (TypeError, ValueError):
            expected = {
                "int": "a whole number",
                "float": "a number",
                "bool": "true or false",
                "choice": "one of " + ", ".join(self.choices),
            }.get(self.kind, "text")
            raise ConfigurationError(
                f"Option {self.name} has an invalid value",
                f"Expected {expected}; set it with {self.flag} or in the [{self.name}] "
                "entry of your backend's section in config.toml.",
            ) from None


def resolve_options(
    options: Sequence[Option],
    given: Mapping[str, Any],
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Merge given values, the options' environment variables and defaults; parse each.

    Given values win over the environment, the environment over defaults. Unknown keys in
    ``given`` are ignored here (the config layer warns about them).
    """
    resolved: dict[str, Any] = {}
    for option in options:
        raw = given.get(option.name)
        if raw is None or raw == "":
            raw = next((environ[var] for var in option.env if environ.get(var)), None)
        value = option.parse(raw)
        if value is None:
            value = option.default
        resolved[option.name] = value
    return resolved


def require(settings: Mapping[str, Any], option: Option, backend: str) -> Any:
    """The value of a required option, or a ConfigurationError saying how to set it."""
    value = settings.get(option.name)
    if value is None or value == "":
        where = f"{option.flag}"
        if option.env:
            where += " or the environment variable " + " / ".join(option.env)
        raise ConfigurationError(
            f"{backend}: {option.label} is not set",
            f"Set it with {where}, or run `thinkpane setup {backend}`.",
        )
    return value


# --------------------------------------------------------------------------- provisioning


ProgressStatus = Literal["start", "ok", "skip", "warn", "fail", "info", "progress"]


@dataclass(frozen=True)
class ProgressEvent:
    """One line of a provisioning log (setup wizard, ``thinkpane setup``, teardown).

    ``step`` is a stable id ("cluster_settings", "deploy"...) so a front end can update the
    line of a step in place; ``status`` moves start -> progress* -> ok|skip|warn|fail.
    """

    step: str
    status: ProgressStatus
    message: str
    hint: str = ""
    duration_s: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    type: Literal["progress"] = "progress"


# --------------------------------------------------------------------------- the backend


class Backend(abc.ABC):
    """A model provider. Subclasses declare ``name``, ``label``, ``options`` and flags.

    Construct with already-resolved settings (see :func:`resolve_options`); the constructor
    raises :class:`ConfigurationError` for missing or invalid settings, and must not do I/O.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str] = ""
    options: ClassVar[tuple[Option, ...]] = ()

    # Capability flags the UI reads (harlequin's IMPLEMENTS_* style).
    STREAMS_REASONING: ClassVar[bool] = True
    IMPLEMENTS_CANCEL: ClassVar[bool] = True
    NEEDS_PROVISIONING: ClassVar[bool] = False
    NEEDS_NETWORK: ClassVar[bool] = True

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)

    @property
    def model(self) -> str:
        """The model id shown in the status line and stored with every answer."""
        return str(self.settings.get("model") or "")

    def secrets(self) -> list[str]:
        """Every secret value this backend holds, for redaction of messages and logs."""
        return [
            value.get()
            for option in self.options
            if option.is_secret and isinstance(value := self.settings.get(option.name), Secret)
        ]

    @abc.abstractmethod
    def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        """Stream one assistant turn for ``conversation``. See the module docstring."""

    async def aclose(self) -> None:
        """Release clients and pools. Called once when the app is done with the backend."""


async def guarded(backend: Backend, conversation: Conversation) -> AsyncIterator[StreamEvent]:
    """``backend.stream()`` with every escape turned into an ErrorEvent and secrets redacted.

    Cancellation still propagates (it is how the user stops a stream), and the generator is
    closed on the way out so the backend can hang up its HTTP connection.
    """
    secrets = backend.secrets()
    agen = backend.stream(conversation)
    try:
        async for event in agen:
            if isinstance(event, ErrorEvent):
                event = ErrorEvent(scrub_error(event.error, secrets))
            yield event
    except asyncio.CancelledError:
        raise
    except BackendError as error:
        yield ErrorEvent(scrub_error(error, secrets))
    except Exception as exc:  # noqa: BLE001 - the point is to catch plugin bugs
        yield ErrorEvent(
            InternalError(
                f"{backend.label} failed unexpectedly",
                "This is a bug; please report it with the steps that led here.",
                detail=redact(f"{type(exc).__name__}: {exc}", secrets),
            )
        )
    finally:
        await agen.aclose()


def scrub_error(error: BackendError, secrets: Sequence[str]) -> BackendError:
    error.title = redact(error.title, secrets)
    error.hint = redact(error.hint, secrets)
    error.detail = redact(error.detail, secrets)
    return error


class Provisioner(abc.ABC):
    """Creates (and later removes) what a backend needs on the provider side.

    Both methods are async generators of :class:`ProgressEvent`; a failed step yields a
    ``fail`` event with a hint and stops (it does not raise). Every created id is persisted
    the moment it is returned, so re-running ``provision()`` resumes instead of duplicating.
    """

    @abc.abstractmethod
    def provision(self) -> AsyncIterator[ProgressEvent]: ...

    @abc.abstractmethod
    def teardown(self) -> AsyncIterator[ProgressEvent]: ...

    def saved_settings(self) -> dict[str, Any]:
        """Settings to write to the user's config after a successful provision (e.g. model_id)."""
        return {}


async def probe(backend: Backend, prompt: str = "Say hello in five words.") -> AsyncIterator[ProgressEvent]:
    """The setup screen's "test connection": send a short prompt and report what comes back.

    Yields ``progress`` events carrying the first reasoning and answer text as it arrives.
    """
    import time

    started = time.monotonic()
    yield ProgressEvent("test", "start", f"Sending a short prompt to {backend.label} ({backend.model})")
    reasoning, content = [], []
    async for event in guarded(backend, Conversation([Message("user", prompt)])):
        if isinstance(event, ReasoningDelta):
            reasoning.append(event.text)
            yield ProgressEvent("test", "progress", "Thinking: " + "".join(reasoning)[-200:], data={"reasoning": "".join(reasoning)})
        elif isinstance(event, ContentDelta):
            content.append(event.text)
            yield ProgressEvent("test", "progress", "Answer: " + "".join(content)[-200:], data={"content": "".join(content)})
        elif isinstance(event, ErrorEvent):
            yield ProgressEvent(
                "test", "fail", event.error.title, hint=event.error.hint,
                duration_s=time.monotonic() - started, data={"detail": event.error.detail},
            )
            return
    yield ProgressEvent(
        "test", "ok", "Reply: " + ("".join(content).strip()[:200] or "(empty answer)"),
        duration_s=time.monotonic() - started,
        data={"reasoning": "".join(reasoning), "content": "".join(content)},
    )
