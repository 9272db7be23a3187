"""Mirroring chats into ML Commons conversational memory (``memory = true``).

Each Thinkpane conversation gets one ML Commons memory. Its id travels with the chat itself:
the first answer carries ``MessageExtra({"opensearch_memory_id": …})``, the store keeps it on
the assistant message, and later turns find it there. Each finished turn becomes one memory
message (``input`` = the user's text, ``response`` = the answer, the reasoning in
``additional_info``). Memory is a side channel: a failure is a warning, never an error.
"""

from __future__ import annotations

import asyncio
from typing import Any

from thinkpane.backends.events import Conversation, title_from_prompt

MEMORY_EXTRA_KEY = "opensearch_memory_id"
ORIGIN = "thinkpane"


def memory_id_from(conversation: Conversation) -> str | None:
    """The memory id a previous answer of this conversation recorded, if any."""
    for message in reversed(conversation.messages):
        memory_id = (message.extra or {}).get(MEMORY_EXTRA_KEY)
        if message.role == "assistant" and isinstance(memory_id, str) and memory_id:
            return memory_id
    return None


def _title(conversation: Conversation) -> str:
    """The memory's name: the title the chat has in Thinkpane."""
    return title_from_prompt(next((m.content for m in conversation.messages if m.role == "user"), ""))


async def mirror_turn(client: Any, conversation: Conversation, *, content: str, reasoning: str,
                      model: str) -> tuple[str, bool]:
    """Write one finished turn; returns (memory_id, created). opensearch-py errors propagate."""
    ml = client.plugins.ml
    memory_id = memory_id_from(conversation)
    created = False
    if memory_id is None:
        result = await asyncio.to_thread(ml.create_memory, body={"name": _title(conversation)})
        memory_id, created = str(result["memory_id"]), True
    last_user = next((m.content for m in reversed(conversation.messages) if m.role == "user"), "")
    body = {
        "input": last_user,
        "prompt_template": "",
        "response": content,
        "origin": ORIGIN,
        "additional_info": {"model": model, "reasoning": reasoning},
    }
    from opensearchpy import NotFoundError

    try:
        await asyncio.to_thread(ml.create_message, memory_id=memory_id, body=body)
    except NotFoundError:
        if created:
            raise
        # The memory was deleted on the cluster: start a new one for this conversation.
        result = await asyncio.to_thread(ml.create_memory, body={"name": _title(conversation)})
        memory_id, created = str(result["memory_id"]), True
        await asyncio.to_thread(ml.create_message, memory_id=memory_id, body=body)
    return memory_id, created
