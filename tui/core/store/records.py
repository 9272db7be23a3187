"""What the store hands out: one conversation's summary, one stored message, and the values
a message's ``role`` and ``status`` may take.

Plain frozen dataclasses, built from rows by :mod:`.conversations`; nothing here touches
the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thinkpane.backends.events import Message

ROLES = frozenset({"system", "user", "assistant"})
# What a finished answer may end as; "interrupted" is only set by crash recovery.
FINAL_STATUSES = frozenset({"complete", "cancelled", "error"})
STATUSES = FINAL_STATUSES | {"streaming", "interrupted"}


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    created_at: float
    updated_at: float
    message_count: int
    backend: str
    model: str
    system: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    role: str
    content: str
    reasoning: str
    status: str  # complete|streaming|cancelled|error|interrupted
    backend: str
    model: str
    input_tokens: int | None
    output_tokens: int | None
    stop_reason: str | None
    error: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    finished_at: float | None = None
    ttft_ms: int | None = None
    elapsed_ms: int | None = None

    def to_backend_message(self) -> Message:
        return Message(
            role=self.role,  # type: ignore[arg-type]  # validated on insert
            content=self.content,
            reasoning=self.reasoning,
            extra=dict(self.extra),
        )
