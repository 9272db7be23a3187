"""What flows between a backend and a front end: the conversation in, typed stream events out.

Modelled on llm's ``StreamEvent(type=...)``: every event is a small frozen dataclass with a
``type`` tag, so a front end dispatches on it and ``thinkpane ask --json`` prints it as is.
``ProgressEvent`` is the provisioning counterpart (setup and teardown logs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from thinkpane.backends.errors import BackendError

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


def title_from_prompt(prompt: str, limit: int = 60) -> str:
    """A conversation's title: the first ~60 characters of its first prompt, on one line.

    The one definition for the saved chat (the app, ``thinkpane ask --save``) and the
    OpenSearch conversational memory mirroring it, so both show the same name.
    """
    line = " ".join(prompt.split())
    if len(line) <= limit:
        return line or "New chat"
    return line[: limit - 1].rstrip() + "…"


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
    # Of output_tokens, how many the model spent thinking
    # (``completion_tokens_details.reasoning_tokens``), when the provider says.
    reasoning_tokens: int | None = None
    # Of input_tokens, how many were read from the provider's prompt cache
    # (DeepSeek ``prompt_cache_hit_tokens``, OpenAI ``prompt_tokens_details.cached_tokens``,
    # Bedrock ``cacheReadInputTokens``), and how many were written to it (Bedrock
    # ``cacheWriteInputTokens``).
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    type: Literal["usage"] = "usage"

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any]) -> Usage:
        """A chat completion's ``usage`` with its details, in DeepSeek's and OpenAI's
        spellings (also as ML Commons relays it, every number a double)."""
        completion = usage.get("completion_tokens_details")
        prompt = usage.get("prompt_tokens_details")
        cached = _count(usage.get("prompt_cache_hit_tokens"))  # DeepSeek
        if cached is None and isinstance(prompt, Mapping):
            cached = _count(prompt.get("cached_tokens"))  # OpenAI, OpenRouter, vLLM
        return cls(
            input_tokens=_count(usage.get("prompt_tokens")),
            output_tokens=_count(usage.get("completion_tokens")),
            reasoning_tokens=_count(completion.get("reasoning_tokens")) if isinstance(completion, Mapping) else None,
            cached_input_tokens=cached,
        )


def _count(value: Any) -> int | None:
    """A token count: an int, or a whole float (ML Commons' doubles); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


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
class Heartbeat:
    """The server is alive but has sent no text since the last event (an SSE keep-alive
    comment such as DeepSeek's ``: keep-alive`` while the model has not started). Front ends
    use it to tell "the model is still thinking" from "the stream went silent"."""

    type: Literal["heartbeat"] = "heartbeat"


@dataclass(frozen=True)
class MessageExtra:
    """Backend data to keep on the stored assistant message (merged into ``Message.extra``)."""

    data: Mapping[str, Any]
    type: Literal["extra"] = "extra"


StreamEvent = ReasoningDelta | ContentDelta | Usage | Stop | ErrorEvent | Notice | MessageExtra | Heartbeat

# Usage fields ``thinkpane ask --json`` prints only when the provider reported them.
OPTIONAL_USAGE_FIELDS = ("reasoning_tokens", "cached_input_tokens", "cache_write_tokens")


def event_to_json(event: StreamEvent) -> dict[str, Any]:
    """The shape ``thinkpane ask --json`` prints, one object per line."""
    if isinstance(event, ErrorEvent):
        return {"type": "error", **event.error.to_dict()}
    if isinstance(event, MessageExtra):
        return {"type": "extra", "data": dict(event.data)}
    data = asdict(event)
    if isinstance(event, Usage):
        for name in OPTIONAL_USAGE_FIELDS:
            if data[name] is None:
                del data[name]
    return {"type": data.pop("type"), **data}


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
