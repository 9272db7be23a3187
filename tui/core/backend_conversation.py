"""Turn stored messages into the ``Conversation`` sent to a backend.

The messages are one path of the conversation's tree (the active path, from
``ConversationStore.load_messages``), so other branches are never sent. Sent: user
messages, and answers that have text (complete, cancelled or interrupted ones keep their
partial text). Failed answers without text are skipped. Two user messages in a row (the
answer between them failed) are merged, because some providers (Bedrock Converse) reject
a conversation whose roles do not alternate.

Reasoning is never sent back (each backend drops ``Message.reasoning``). An answer's
``extra`` (Bedrock's signed reasoning blocks) goes only to the backend and model that
produced it: after a switch of model mid-chat, another model would reject a signature it
did not make, so the earlier answers go to it as text alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from thinkpane.backends import events
from thinkpane.backends.events import Conversation, Message
from thinkpane.tui.core.sanitize import sanitize_line


def backend_conversation(
    stored: Iterable[Any], system: str | None = None, *, backend: str, model: str, prompt: str | None = None,
) -> Conversation:
    """The conversation for backend ``backend`` running ``model`` (see the module docstring).

    ``prompt``: a user message not stored yet, sent last (the compare screen stores its
    prompt only once the user keeps one of the answers)."""
    messages: list[Message] = []
    for item in stored:
        if item.role == "assistant" and (item.status == "streaming" or not item.content.strip()):
            continue
        message = item.to_backend_message()
        if message.extra and (item.backend, item.model) != (backend, model):
            message = replace(message, extra={})
        _append(messages, message)
    if prompt is not None:
        _append(messages, Message("user", prompt))
    return Conversation(messages, system=system or None)


def _append(messages: list[Message], message: Message) -> None:
    if messages and messages[-1].role == message.role == "user":
        previous = messages.pop()
        message = Message("user", previous.content + "\n\n" + message.content)
    messages.append(message)


def title_from_prompt(prompt: str, limit: int = 60) -> str:
    """The stored title of a chat: the backends' title rule applied to the sanitised prompt."""
    return events.title_from_prompt(sanitize_line(prompt), limit)
