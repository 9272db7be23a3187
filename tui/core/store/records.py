"""What the store hands out: one conversation's summary, one stored message, and the values
a message's ``role`` and ``status`` may take.

A conversation is a tree of messages (see :mod:`.schema`): a :class:`StoredMessage` knows its
``parent_id`` and where it sits among its siblings (the answers regenerated for one prompt,
or the edits of one prompt), which is what the chat shows as ``‹ 2/3 ›``.

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
    # With a search: the newest message that matched (None: the title did). Opening the
    # result opens the branch that holds it (ConversationStore.path_through).
    match_message_id: int | None = None


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
    parent_id: int | None = None  # None: a first message of the conversation
    # Among the messages with the same parent, oldest first: this is number sibling_index
    # (from 1) of sibling_count.
    sibling_index: int = 1
    sibling_count: int = 1

    def to_backend_message(self) -> Message:
        return Message(
            role=self.role,  # type: ignore[arg-type]  # validated on insert
            content=self.content,
            reasoning=self.reasoning,
            extra=dict(self.extra),
        )
