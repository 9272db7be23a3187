"""Converse stream events (dicts from boto3) -> Thinkpane stream events.

Pure and synchronous, so it is easy to reason about: feed it each parsed event, then call
:meth:`ConverseTranslator.finish` when the HTTP stream ends.

On the wire ``metadata`` (usage) comes *after* ``messageStop``, so the stop is buffered
and the turn ends with ``MessageExtra`` (signed reasoning, if any), ``Usage``, ``Stop``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from thinkpane.backends.errors import IncompleteStreamError
from thinkpane.backends.events import (
    ContentDelta,
    MessageExtra,
    ReasoningDelta,
    Stop,
    StopReason,
    StreamEvent,
    Usage,
)

# The key under Message.extra where signed / redacted reasoning blocks are kept.
EXTRA_KEY = "bedrock_reasoning"
REDACTED_PLACEHOLDER = "[redacted reasoning]"

STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "model_context_window_exceeded": "context_window",
    "tool_use": "tool_use",
}


@dataclass
class _ReasoningBlock:
    text: list[str] = field(default_factory=list)
    signature: str | None = None
    redacted: bytes | None = None

    def to_extra(self) -> dict[str, str] | None:
        """What must be sent back unmodified next turn, or None (unsigned R1 reasoning)."""
        if self.redacted is not None:
            return {"redacted": base64.b64encode(self.redacted).decode("ascii")}
        if self.signature:
            return {"text": "".join(self.text), "signature": self.signature}
        return None


@dataclass
class ConverseTranslator:
    blocks: dict[int, _ReasoningBlock] = field(default_factory=dict)
    stop: Stop | None = None
    usage: Usage | None = None
    saw_delta: bool = False  # a reasoning or answer delta was produced (no more retries)

    def feed(self, event: dict[str, Any]) -> list[StreamEvent]:
        if "contentBlockDelta" in event:
            return self._delta(event["contentBlockDelta"])
        if "messageStop" in event:
            raw = event["messageStop"].get("stopReason")
            self.stop = Stop(STOP_REASONS.get(str(raw), "other"), raw_reason=raw)
        elif "metadata" in event:
            meta = event["metadata"]
            usage = meta.get("usage") or {}
            latency = (meta.get("metrics") or {}).get("latencyMs")
            self.usage = Usage(
                input_tokens=usage.get("inputTokens"),
                output_tokens=usage.get("outputTokens"),
                latency_ms=latency,
                cached_input_tokens=usage.get("cacheReadInputTokens"),
                cache_write_tokens=usage.get("cacheWriteInputTokens"),
            )
        # messageStart, contentBlockStart/Stop and unknown events carry nothing to show.
        return []

    def _delta(self, body: dict[str, Any]) -> list[StreamEvent]:
        delta = body.get("delta") or {}
        index = int(body.get("contentBlockIndex", 0))
        out: list[StreamEvent] = []
        if text := delta.get("text"):
            out.append(ContentDelta(text))
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            block = self.blocks.setdefault(index, _ReasoningBlock())
            if text := reasoning.get("text"):
                block.text.append(text)
                out.append(ReasoningDelta(text))
            if reasoning.get("signature"):
                block.signature = reasoning["signature"]
            if (redacted := reasoning.get("redactedContent")) is not None:
                block.redacted = (block.redacted or b"") + _as_bytes(redacted)
                out.append(ReasoningDelta(REDACTED_PLACEHOLDER))
        if out:
            self.saw_delta = True
        return out

    def finish(self) -> list[StreamEvent]:
        """The closing events; IncompleteStreamError if Bedrock never sent messageStop."""
        if self.stop is None:
            raise IncompleteStreamError(
                "Bedrock ended the stream before the answer was finished",
                "The partial answer is kept; send again to get a complete one.",
                detail="The event stream closed without a messageStop event.",
                retryable=True,
            )
        out: list[StreamEvent] = []
        kept = [extra for _, block in sorted(self.blocks.items()) if (extra := block.to_extra())]
        if kept:
            out.append(MessageExtra({EXTRA_KEY: kept}))
        if self.usage is not None:
            out.append(self.usage)
        out.append(self.stop)
        return out


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return base64.b64decode(str(value))  # already base64 text (not what boto3 gives, but safe)
