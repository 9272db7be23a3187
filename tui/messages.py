"""Messages the stream worker posts to the chat screen (past tense: they report what happened).

The worker never touches widgets; the screen's handlers do, on the UI side. Every message
carries the ``turn`` number so a late message from an old, cancelled stream is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from backends.base import BackendError, Stop


@dataclass
class TextReceived(Message):
    """Reasoning and answer text that arrived since the last one (coalesced deltas)."""

    turn: int
    reasoning: str = ""
    content: str = ""


@dataclass
class UsageReceived(Message):
    turn: int
    input_tokens: int | None
    output_tokens: int | None


@dataclass
class NoticeReceived(Message):
    turn: int
    text: str
    level: str = "info"


@dataclass
class ExtraReceived(Message):
    turn: int
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StreamFinished(Message):
    turn: int
    stopped_by: Stop | None = None


@dataclass
class StreamFailed(Message):
    turn: int
    error: BackendError


@dataclass
class StreamCancelled(Message):
    turn: int


@dataclass
class BackendReady(Message):
    """The app built (and, for the local model, loaded) a backend."""

    backend: Any


@dataclass
class BackendFailed(Message):
    error: BackendError


@dataclass
class BackendLoading(Message):
    text: str
