"""Conversation -> the ``system`` and ``messages`` of a Converse request.

Rules from Bedrock (see the reference notes):

* Only the assistant's answer text goes back. DeepSeek-R1 reasoning is unsigned, and
  sending it fails the next turn ("User messages cannot contain reasoning content").
* Signed reasoning (``Message.extra["bedrock_reasoning"]``, kept from an earlier stream)
  must go back unmodified, before the text, or the model rejects the turn.
* Converse wants user/assistant alternation starting with a user turn and no blank text
  blocks, so empty messages are dropped and consecutive same-role messages are merged.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from thinkpane.backends.bedrock.events import EXTRA_KEY
from thinkpane.backends.events import Conversation, Message


def system_blocks(conversation: Conversation) -> list[dict[str, str]]:
    texts = [conversation.system] if conversation.system else []
    texts += [m.content for m in conversation.messages if m.role == "system" and m.content.strip()]
    return [{"text": text} for text in texts if text and text.strip()]


def converse_messages(conversation: Conversation) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for message in conversation.messages:
        if message.role == "system":
            continue
        content = _content(message)
        if not content:
            continue  # e.g. a cancelled answer that only got as far as reasoning
        if not messages and message.role != "user":
            continue  # Converse requires the conversation to start with a user turn
        if messages and messages[-1]["role"] == message.role:
            messages[-1]["content"].extend(content)
        else:
            messages.append({"role": message.role, "content": content})
    return messages


def _content(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if not message.content.strip():
        return blocks
    if message.role == "assistant":
        blocks.extend(_signed_reasoning(message.extra))
    blocks.append({"text": message.content})
    return blocks


def _signed_reasoning(extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in extra.get(EXTRA_KEY) or []:
        if not isinstance(item, Mapping):
            continue
        if item.get("redacted"):
            out.append({"reasoningContent": {"redactedContent": base64.b64decode(item["redacted"])}})
        elif item.get("signature"):
            out.append({"reasoningContent": {"reasoningText": {
                "text": str(item.get("text", "")), "signature": str(item["signature"])}}})
    return out
