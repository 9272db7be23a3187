"""Messages the stream worker posts to the chat screen (past tense: they report what happened).

The worker never touches widgets; the screen's handlers do, on the UI side. Usage and backend
data are not posted: the worker's TurnRecorder keeps them on the turn's record and in the
store. Every message carries the ``turn`` number so a late message from an old, cancelled
stream is ignored. They are meant for the chat screen alone, so they do not bubble up to
the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from thinkpane.backends.errors import BackendError
from thinkpane.backends.events import Stop


@dataclass
class TextReceived(Message, bubble=False):
    """Reasoning and answer text that arrived since the last one (coalesced deltas)."""

    turn: int
    reasoning: str = ""
    content: str = ""


@dataclass
class NoticeReceived(Message, bubble=False):
    turn: int
    text: str
    level: str = "info"


@dataclass
class StreamFinished(Message, bubble=False):
    turn: int
    stopped_by: Stop | None = None


@dataclass
class StreamFailed(Message, bubble=False):
    turn: int
    error: BackendError


@dataclass
class StreamCancelled(Message, bubble=False):
    turn: int


@dataclass
class BackendReady(Message, bubble=False):
    """The app built (and, for the local model, loaded) a backend."""

    backend: Any


@dataclass
class BackendFailed(Message, bubble=False):
    error: BackendError


@dataclass
class BackendLoading(Message, bubble=False):
    text: str
