"""Turning a model's thinking on or off, per kind of server, behind small functions.

Thinking is on by default everywhere. Turning it off works differently per model family and
server, so each way lives here once and any backend (or a later general ``--thinking``
option) calls it:

* :func:`template_switch`: whether a GGUF chat template has a switch. Qwen3's template reads
  ``enable_thinking``, and Qwen3 models also obey the "soft switch" ``/no_think`` written in a
  user or system message (Qwen3 model cards, "Switching Between Thinking and Non-Thinking
  Mode"). DeepSeek-R1 distills have none: their template opens ``<think>`` in the prompt.
* :func:`with_soft_switch`: the messages with ``/no_think`` appended to the last user
  message when thinking is off (llama-cpp-python's ``create_chat_completion`` cannot pass
  ``enable_thinking`` into the template, so the soft switch is the one that reaches the model).
  The model then writes an empty ``<think></think>`` block, which the splitter drops.
* :func:`openai_request_fields`: for OpenAI-compatible servers that accept
  ``reasoning_effort`` with ``"none"`` meaning no thinking (Ollama's OpenAI compatibility).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

Thinking = Literal["on", "off"]
THINKING_CHOICES: tuple[str, ...] = ("on", "off")
QWEN3_SWITCH = "qwen3"
NO_THINK = "/no_think"


def template_switch(chat_template: str) -> str:
    """``"qwen3"`` when the template has Qwen3's thinking switch, else ``""`` (none known)."""
    return QWEN3_SWITCH if "enable_thinking" in chat_template else ""


def with_soft_switch(messages: Sequence[dict[str, Any]], thinking: Thinking, switch: str) -> list[dict[str, Any]]:
    """``messages`` as sent to the model: with ``/no_think`` when thinking is off and the model knows it."""
    out = [dict(message) for message in messages]
    if thinking == "on" or switch != QWEN3_SWITCH:
        return out
    for message in reversed(out):
        if message.get("role") == "user":
            message["content"] = f"{message.get('content', '')} {NO_THINK}"
            break
    return out


def openai_request_fields(thinking: Thinking) -> dict[str, Any]:
    """Extra chat-completion fields: thinking off is ``reasoning_effort: "none"``; on sends nothing."""
    return {"reasoning_effort": "none"} if thinking == "off" else {}
