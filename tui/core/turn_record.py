"""What the UI knows about one assistant turn: text, timings, tokens, outcome. No widgets here.

The same record describes a turn streaming right now and a turn loaded from the store, so
the transcript and the reasoning pane render both the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Rough size of a token in characters, for the "~" estimates shown when a backend reports
# no usage. Good enough for a status line; never stored as if it were real usage.
CHARS_PER_TOKEN = 4
# Key in Message.extra where we keep how long the model reasoned (not sent to providers
# by any built-in backend; they only read their own keys).
REASONING_MS_KEY = "thinkpane_reasoning_ms"


@dataclass
class TurnRecord:
    reasoning: str = ""
    content: str = ""
    status: str = "streaming"  # streaming | complete | cancelled | error | interrupted
    started_at: float | None = None  # clock values, only for a live turn
    first_token_at: float | None = None
    first_content_at: float | None = None
    ended_at: float | None = None
    reasoning_ms: int | None = None
    ttft_ms: int | None = None
    elapsed_ms: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str | None = None
    stop_explanation: str | None = None
    error_title: str | None = None
    error_detail: str | None = None  # the provider's own words, whole
    error_hint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def redacted(self) -> bool:
        """The provider hid (some of) the reasoning, e.g. Bedrock ``redactedContent`` blocks
        kept in ``extra`` as ``{"bedrock_reasoning": [{"redacted": "..."}]}``."""
        return _mentions_redacted(self.extra)

    @property
    def reasoning_words(self) -> int:
        return len(self.reasoning.split())

    @property
    def estimated_reasoning_tokens(self) -> int:
        return round(len(self.reasoning) / CHARS_PER_TOKEN)

    def reasoning_seconds(self, now: float | None = None) -> float | None:
        """How long the model thought: first token until the first answer token (or now)."""
        if self.reasoning_ms is not None:
            return self.reasoning_ms / 1000
        if self.first_token_at is None or not self.reasoning:
            return None
        end = self.first_content_at or self.ended_at or now
        return None if end is None else max(0.0, end - self.first_token_at)

    def output_tokens_label(self) -> str:
        """Reported output tokens, or "~N" estimated from characters."""
        if self.output_tokens is not None:
            return f"{self.output_tokens:,}"
        chars = len(self.reasoning) + len(self.content)
        return f"~{round(chars / CHARS_PER_TOKEN):,}"

    @classmethod
    def from_stored(cls, message: Any) -> TurnRecord:
        """A record for a ``thinkpane.tui.core.store.StoredMessage`` (assistant role)."""
        extra = dict(message.extra or {})
        # Stored as str(BackendError): "title — detail — hint", or "title — hint".
        parts = (message.error or "").split(" — ")
        error_title, error_hint = parts[0], parts[-1] if len(parts) > 1 else ""
        error_detail = " — ".join(parts[1:-1])
        return cls(
            reasoning=message.reasoning or "",
            content=message.content or "",
            status=message.status,
            reasoning_ms=extra.get(REASONING_MS_KEY),
            ttft_ms=message.ttft_ms,
            elapsed_ms=message.elapsed_ms,
            input_tokens=message.input_tokens,
            output_tokens=message.output_tokens,
            stop_reason=message.stop_reason,
            error_title=error_title or None,
            error_detail=error_detail or None,
            error_hint=error_hint or None,
            extra=extra,
        )


def _mentions_redacted(value: Any) -> bool:
    """A truthy ``redacted*`` key anywhere in backend extra data (any backend's layout)."""
    if isinstance(value, dict):
        return any(
            ("redacted" in str(key).lower() and bool(item)) or _mentions_redacted(item)
            for key, item in value.items()
        )
    if isinstance(value, (list, tuple)):
        return any(_mentions_redacted(item) for item in value)
    return False
