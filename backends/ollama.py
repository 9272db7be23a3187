"""Ollama: the OpenAI-compatible backend, pointed at the Ollama on this machine, no key needed.

``thinkpane --backend ollama --model qwen3:0.6b`` chats with no other configuration: the
address comes from ``OLLAMA_HOST`` (Ollama's own variable, see
:func:`thinkpane.backends.servers.ollama_url`) plus ``/v1``, Ollama's OpenAI-compatible API.
Reasoning streams as ``delta.reasoning``, which the OpenAI backend already reads. Thinking is
on by default; ``--thinking off`` sends ``reasoning_effort: "none"`` and ``--reasoning-effort``
the effort, in the ``ollama`` dialect (:func:`thinkpane.backends.thinking.openai_fields`).

Ollama ignores API keys, so none is asked for, even when OLLAMA_HOST names another machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.http_errors import HttpContext
from thinkpane.backends.openai_compat import OpenAIBackend
from thinkpane.backends.options import Option
from thinkpane.backends.servers import ollama_url
from thinkpane.backends.thinking import thinking_option

MODEL_HINT = (
    "Name an Ollama model with --model NAME (e.g. --model qwen3:0.6b); "
    "`thinkpane models list` shows the models this Ollama has, `ollama pull NAME` adds one."
)


def _inherited_options(own: tuple[Option, ...]) -> tuple[Option, ...]:
    """The OpenAI-compatible backend's options that Ollama does not redeclare, less the key and
    the dialect (always Ollama's)."""
    names = {option.name for option in own} | {"api_key", "dialect"}
    return tuple(option for option in OpenAIBackend.options if option.name not in names)


class OllamaBackend(OpenAIBackend):
    name = "ollama"
    label = "Ollama"
    description = (
        "The Ollama server on this machine (OLLAMA_HOST, default 127.0.0.1:11434): no key, "
        "reasoning shown for thinking models such as qwen3 and deepseek-r1."
    )
    _own_options = (
        Option("model", "Model", "The Ollama model name, e.g. qwen3:0.6b (`ollama list`)."),
        Option(
            "base_url", "Base URL",
            "Ollama's OpenAI-compatible API root. Default: OLLAMA_HOST + /v1.",
            placeholder="http://127.0.0.1:11434/v1",
        ),
        thinking_option("on", "on: thinking models reason before answering; off: they answer straight away "
                              "(reasoning_effort \"none\"); auto: the model's default."),
        Option("temperature", "Temperature", "Left to the model's defaults when empty.", kind="float"),
        Option("max_tokens", "Max output tokens", "Left to Ollama when empty.", kind="int"),
        Option(
            "timeout_s", "Read timeout (s)",
            "How long Ollama may stay silent (loading a model can take a while).",
            kind="float", default=300.0,
        ),
    )
    # The rest of the OpenAI-compatible backend's options (TLS, headers, <think> handling…)
    # apply unchanged; the API key does not (Ollama ignores it).
    options = _own_options + _inherited_options(_own_options)
    NEEDS_NETWORK = False
    NEEDS_KEY_OFF_LOOPBACK = False
    DIALECT = "ollama"  # thinking and effort as reasoning_effort (thinking.openai_fields)

    def __init__(self, settings: Mapping[str, Any]) -> None:
        given = dict(settings)
        if not given.get("base_url"):
            given["base_url"] = ollama_url() + "/v1"
        if not given.get("model"):
            raise ConfigurationError("Ollama: no model chosen", MODEL_HINT)
        super().__init__(given)

    def _context(self) -> HttpContext:
        context = super()._context()
        context.service = f"Ollama at {self.base_url}"
        context.setup_command = "thinkpane setup ollama"
        context.key_hint = "Ollama needs no key; check that OLLAMA_HOST points at Ollama."
        context.model_hint = context.not_found_hint = (
            f"Is {self.model!r} pulled? `ollama pull {self.model}` fetches it; "
            "`thinkpane models list` shows what this Ollama has."
        )
        return context
