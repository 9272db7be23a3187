"""Turn stored messages into the ``Conversation`` sent to a backend.

The messages are one path of the conversation's tree (the active path, from
``ConversationStore.load_messages``), so other branches are never sent. Sent: every
answered turn on it (a prompt and an answer that has text: complete, cancelled or
interrupted answers keep their partial text), then the prompt being answered. A prompt
whose answer has no text (the send failed, was cancelled before the answer started, or the
app closed) is not sent again: the chat screen puts a prompt that failed that way back in
the input box, and sending it again must send it once, not "Dup test\\n\\nDup test". So
roles always alternate, which some providers (Bedrock Converse) require.

``leave_out`` leaves the oldest answered turns out of what is sent (never out of the
history), for a chat that outgrew the model's context window; :func:`turns_to_leave_out`
says how many.

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

# What is left after leaving turns out should fill at most this share of the context the
# backend reported: the rest is for the answer, and for our estimate being rough.
FIT_SHARE = 0.75


def backend_conversation(
    stored: Iterable[Any], system: str | None = None, *, backend: str, model: str, leave_out: int = 0
) -> Conversation:
    """The conversation for backend ``backend`` running ``model`` (see the module docstring)."""
    messages: list[Message] = []
    turn_starts: list[int] = []  # where each answered turn starts in ``messages``
    asking: Message | None = None  # the latest prompt not answered yet
    for item in stored:
        message = item.to_backend_message()
        if message.extra and (item.backend, item.model) != (backend, model):
            message = replace(message, extra={})
        if item.role == "user":
            asking = message  # an earlier unanswered prompt is dropped
        elif item.role == "assistant":
            if asking is not None and item.status != "streaming" and item.content.strip():
                turn_starts.append(len(messages))
                messages += [asking, message]
            asking = None
        else:
            messages.append(message)
    left_out = {index for start in turn_starts[:leave_out] for index in (start, start + 1)}
    messages = [message for index, message in enumerate(messages) if index not in left_out]
    if asking is not None:
        messages.append(asking)
    return Conversation(messages, system=system or None)


def turns_to_leave_out(sent: Conversation, *, used_tokens: int | None = None,
                       limit_tokens: int | None = None) -> int:
    """How many of the oldest turns of ``sent`` (refused as too long for the model's context
    window) to leave out so the rest fits: in proportion to the sizes the backend reported
    (``used_tokens`` of ``limit_tokens``), with room for the answer; half of the earlier
    turns when it reported none. 0 when there is no earlier turn (the prompt alone is too long).
    """
    sizes: list[int] = []  # characters of each earlier turn, oldest first
    for message in sent.messages[:-1]:
        if message.role == "user":
            sizes.append(0)
        if sizes:
            sizes[-1] += len(message.content)
    if not sizes:
        return 0
    total = sum(len(message.content) for message in sent.messages) + len(sent.system or "")
    if used_tokens and limit_tokens:
        target = total * min(1.0, limit_tokens / used_tokens) * FIT_SHARE
    else:
        target = total / 2
    count = 0
    while count < len(sizes) and (count == 0 or total > target):
        total -= sizes[count]
        count += 1
    return count


def title_from_prompt(prompt: str, limit: int = 60) -> str:
    """The stored title of a chat: the backends' title rule applied to the sanitised prompt."""
    return events.title_from_prompt(sanitize_line(prompt), limit)
