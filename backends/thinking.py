"""Thinking on or off, and how hard to think: one user setting, each provider's own request fields.

The user chooses two things (declared once as :data:`THINKING_OPTION` and :data:`EFFORT_OPTION`,
so they are CLI flags, config keys and setup-form fields on every backend that declares them):

* ``thinking``: ``on``, ``off`` or ``auto``. ``auto`` sends nothing: the server's default.
* ``reasoning_effort``: ``none``, ``low``, ``medium``, ``high`` or ``max``; unset sends nothing.
  ``none`` means thinking off; any other effort means thinking on (unless ``thinking = off``,
  which wins: the effort is then not sent).

:class:`Reasoning` holds the pair. Every provider spells it differently, and this module is the
one place that knows how; a backend asks it for request fields and shows its ``note`` (a
setting that provider cannot honour) as a Notice once.

OpenAI-compatible servers, by dialect (:func:`openai_fields`; :func:`detect_dialect` picks one
from the base URL, ``--dialect`` overrides):

* ``deepseek``: ``{"thinking": {"type": "enabled"|"disabled"}}`` and a top-level
  ``reasoning_effort`` of ``low``, ``high`` or ``max`` (DeepSeek's thinking-mode guide,
  api-docs.deepseek.com/guides/thinking_mode: thinking is on by default with effort high;
  the API maps ``minimal`` to ``low`` and ``medium`` to ``high``, so we send the values it
  documents).
* ``openai``: ``reasoning_effort`` (``none`` turns reasoning off on models that allow it;
  the top level is ``xhigh``, which is what ``max`` sends).
* ``openrouter``: ``reasoning: {"effort": …}`` or ``{"enabled": true|false}``
  (openrouter.ai/docs/use-cases/reasoning-tokens: "enabled … Default: inferred from effort").
* ``vllm`` (also SGLang): ``chat_template_kwargs: {"enable_thinking": …}``, read by Qwen3-style
  chat templates; there is no effort control.
* ``ollama``: ``reasoning_effort`` (model-defined names, ``"none"`` turns thinking off;
  Ollama's OpenAI compatibility). ``max`` sends ``high``.
* ``llamacpp`` (llama.cpp's llama-server): ``chat_template_kwargs`` as for vLLM, and
  ``reasoning_format: "deepseek"`` so the reasoning arrives in ``reasoning_content`` (llama.cpp
  tools/server/README.md: "chat_template_kwargs: Allows sending additional parameters to the
  json templating system. For example: {"enable_thinking": false}"; "reasoning_format: The
  reasoning format to be parsed").
* ``generic``: nothing is sent (an unknown server may reject unknown fields).

Bedrock (:func:`bedrock_fields`) puts model switches in ``additionalModelRequestFields``:
Anthropic Claude takes ``{"thinking": {"type": "enabled", "budget_tokens": N}}`` (at least
1,024 and less than ``maxTokens``; temperature and top_p must be left alone while it thinks:
docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html);
DeepSeek V3.1/V3.2 think when sent ``{"reasoning_effort": "high"}`` and not by default
(langchain-aws PR #1261, checked against the Converse API); DeepSeek-R1 always thinks.

Local GGUF models (:func:`with_soft_switch`): Qwen3's chat template reads ``enable_thinking``
and Qwen3 obeys the soft switch ``/no_think`` in a user message (Qwen3 model cards, "Switching
Between Thinking and Non-Thinking Mode"); llama-cpp-python cannot pass template variables,
so ``off`` appends ``/no_think``. DeepSeek-R1 distills have no switch.

No Textual here, and no I/O: these are pure functions the tests call directly too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from thinkpane.backends.options import Option

Thinking = Literal["auto", "on", "off"]
THINKING_CHOICES: tuple[str, ...] = ("auto", "on", "off")
EFFORT_CHOICES: tuple[str, ...] = ("none", "low", "medium", "high", "max")
# What the chat screen's "cycle effort" key steps through; None is "the server's default".
EFFORT_CYCLE: tuple[str | None, ...] = (None, "low", "medium", "high", "max")
DIALECTS: tuple[str, ...] = ("deepseek", "openai", "openrouter", "vllm", "ollama", "llamacpp", "generic")

THINKING_OPTION = Option(
    "thinking", "Thinking",
    "on: the model reasons before answering; off: it answers straight away; auto: send "
    "nothing and let the server decide.",
    kind="choice", choices=THINKING_CHOICES, default="auto",
)
EFFORT_OPTION = Option(
    "reasoning_effort", "Reasoning effort",
    "How hard the model thinks: none (no thinking), low, medium, high or max. Empty: the "
    "server's default.",
    kind="choice", choices=EFFORT_CHOICES,
)


def thinking_option(default: str = "auto", description: str = "") -> Option:
    """:data:`THINKING_OPTION` with another default or description (one declaration, varied)."""
    return Option(
        THINKING_OPTION.name, THINKING_OPTION.label, description or THINKING_OPTION.description,
        kind="choice", choices=THINKING_CHOICES, default=default,
    )


def effort_option(description: str = "") -> Option:
    return Option(
        EFFORT_OPTION.name, EFFORT_OPTION.label, description or EFFORT_OPTION.description,
        kind="choice", choices=EFFORT_CHOICES,
    )


@dataclass(frozen=True)
class Reasoning:
    """What the user asked for: ``thinking`` (auto|on|off) and ``effort`` (None or a choice)."""

    thinking: str = "auto"
    effort: str | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Reasoning:
        return cls(str(settings.get("thinking") or "auto"), settings.get("reasoning_effort") or None)

    @property
    def off(self) -> bool:
        return self.thinking == "off" or (self.thinking == "auto" and self.effort == "none")

    @property
    def on(self) -> bool:
        """Thinking was asked for, by the switch or by an effort."""
        return not self.off and (self.thinking == "on" or self.effort is not None)

    @property
    def level(self) -> str | None:
        """The effort to send: None when thinking is off or no effort was chosen."""
        return None if self.off or self.effort in (None, "none") else self.effort

    def label(self) -> str:
        """"thinking on · effort high", "thinking off", "thinking auto"."""
        if self.off:
            return "thinking off"
        text = f"thinking {'on' if self.on else self.thinking}"
        return text + (f" · effort {self.level}" if self.level else "")

    def as_extra(self) -> dict[str, Any]:
        """What a stored turn keeps of it (Message.extra keys)."""
        return {"thinkpane_thinking": "off" if self.off else ("on" if self.on else "auto"),
                "thinkpane_effort": self.level}


@dataclass(frozen=True)
class Fields:
    """Request fields for one provider, and a sentence for the user when something was dropped."""

    body: dict[str, Any]
    note: str = ""


# --------------------------------------------------------------------------- OpenAI-compatible


def detect_dialect(base_url: str) -> str:
    """The dialect a base URL most likely speaks; ``generic`` when nothing tells."""
    try:
        parts = urlsplit(base_url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return "generic"
    if host == "api.deepseek.com" or host.endswith(".deepseek.com"):
        return "deepseek"
    if host == "api.openai.com":
        return "openai"
    if host == "openrouter.ai" or host.endswith(".openrouter.ai"):
        return "openrouter"
    # Local servers by their default ports (Ollama 11434, vLLM 8000, SGLang 30000, llama-server 8080).
    return {11434: "ollama", 8000: "vllm", 30000: "vllm", 8080: "llamacpp"}.get(port or 0, "generic")


_DEEPSEEK_EFFORT = {"low": "low", "medium": "high", "high": "high", "max": "max"}
_OPENAI_EFFORT = {"low": "low", "medium": "medium", "high": "high", "max": "xhigh"}
_OLLAMA_EFFORT = {"low": "low", "medium": "medium", "high": "high", "max": "high"}
_NAMES = {"deepseek": "DeepSeek", "openai": "OpenAI", "openrouter": "OpenRouter", "vllm": "vLLM/SGLang",
          "ollama": "Ollama", "llamacpp": "llama.cpp", "generic": "this server"}


def openai_fields(dialect: str, reasoning: Reasoning) -> Fields:
    """The chat-completion fields that carry ``reasoning`` in ``dialect``."""
    level, name = reasoning.level, _NAMES.get(dialect, dialect)
    if dialect == "deepseek":
        body: dict[str, Any] = {}
        if reasoning.off:
            body["thinking"] = {"type": "disabled"}
        elif reasoning.thinking == "on":
            body["thinking"] = {"type": "enabled"}
        if level:
            body["reasoning_effort"] = _DEEPSEEK_EFFORT[level]
        return Fields(body)
    if dialect == "openai":
        if reasoning.off:
            return Fields({"reasoning_effort": "none"})
        return Fields({"reasoning_effort": _OPENAI_EFFORT[level]} if level else {})
    if dialect == "openrouter":
        if reasoning.off:
            return Fields({"reasoning": {"enabled": False}})
        if level:
            return Fields({"reasoning": {"effort": _OPENAI_EFFORT[level]}})
        return Fields({"reasoning": {"enabled": True}} if reasoning.on else {})
    if dialect in ("vllm", "llamacpp"):
        body = {}
        if reasoning.off or reasoning.on:
            body["chat_template_kwargs"] = {"enable_thinking": not reasoning.off}
        if dialect == "llamacpp" and reasoning.on:
            body["reasoning_format"] = "deepseek"
        return Fields(body, _no_effort(name) if level else "")
    if dialect == "ollama":
        if reasoning.off:
            return Fields({"reasoning_effort": "none"})
        return Fields({"reasoning_effort": _OLLAMA_EFFORT[level]} if level else {})
    # generic: an unknown server may refuse fields it does not know; say so if it matters.
    if reasoning.off or reasoning.on:
        return Fields({}, f"{reasoning.label().capitalize()} is not sent: the server's dialect is "
                          "unknown. Name it with --dialect (deepseek, openai, openrouter, vllm, "
                          "ollama, llamacpp).")
    return Fields({})


def _no_effort(name: str) -> str:
    return f"{name} has no reasoning-effort control; only thinking on or off is sent."


# --------------------------------------------------------------------------- Bedrock

# Claude's budget_tokens per effort (at least 1,024, less than maxTokens).
CLAUDE_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384, "max": 32768}
CLAUDE_MIN_BUDGET = 1024
_BEDROCK_V3_EFFORT = {"low": "low", "medium": "medium", "high": "high", "max": "high"}


def bedrock_family(model_id: str) -> str:
    """``claude``, ``deepseek-r1``, ``deepseek-v3`` or ``other`` for a Bedrock model id/profile."""
    model = model_id.lower()
    if "anthropic.claude" in model:
        return "claude"
    if "deepseek.r1" in model:
        return "deepseek-r1"
    if "deepseek.v3" in model:
        return "deepseek-v3"
    return "other"


@dataclass(frozen=True)
class BedrockFields(Fields):
    # Claude refuses temperature and top_p while it thinks: the request must leave them out.
    drop_sampling: bool = False


def bedrock_fields(model_id: str, reasoning: Reasoning, max_tokens: int) -> BedrockFields:
    """``additionalModelRequestFields`` for ``reasoning`` on this Bedrock model."""
    family, level = bedrock_family(model_id), reasoning.level
    if family == "claude":
        if reasoning.off:
            return BedrockFields({"thinking": {"type": "disabled"}})
        if not reasoning.on:
            return BedrockFields({})
        budget = min(CLAUDE_BUDGETS[level or "medium"], max_tokens - 1)
        if budget < CLAUDE_MIN_BUDGET:
            return BedrockFields({}, f"Claude needs max_tokens above {CLAUDE_MIN_BUDGET} to think; "
                                     "raise it with --max-tokens. Thinking is not turned on.")
        return BedrockFields({"thinking": {"type": "enabled", "budget_tokens": budget}}, drop_sampling=True)
    if family == "deepseek-v3":
        if reasoning.on:
            return BedrockFields({"reasoning_effort": _BEDROCK_V3_EFFORT[level or "high"]})
        return BedrockFields({})  # thinking is off by default on V3.x
    if family == "deepseek-r1":
        note = "DeepSeek-R1 always thinks; it has no switch to turn thinking off." if reasoning.off else ""
        if level and not reasoning.off:
            note = "DeepSeek-R1 has no reasoning-effort control."
        return BedrockFields({}, note)
    if reasoning.on or reasoning.off:
        return BedrockFields({}, f"Thinkpane knows no thinking switch for {model_id}; "
                                 f"{reasoning.label()} is not sent.")
    return BedrockFields({})


# --------------------------------------------------------------------------- local GGUF models

QWEN3_SWITCH = "qwen3"
NO_THINK = "/no_think"


def template_switch(chat_template: str) -> str:
    """``"qwen3"`` when the template has Qwen3's thinking switch, else ``""`` (none known)."""
    return QWEN3_SWITCH if "enable_thinking" in chat_template else ""


def with_soft_switch(
    messages: Sequence[dict[str, Any]], reasoning: Reasoning | str, switch: str
) -> list[dict[str, Any]]:
    """``messages`` as sent to the model: with ``/no_think`` when thinking is off and the model
    knows it. ``reasoning``: the setting, or just the switch ("on", "off", "auto")."""
    if isinstance(reasoning, str):
        reasoning = Reasoning(reasoning)
    out = [dict(message) for message in messages]
    if not reasoning.off or switch != QWEN3_SWITCH:
        return out
    for message in reversed(out):
        if message.get("role") == "user":
            message["content"] = f"{message.get('content', '')} {NO_THINK}"
            break
    return out
