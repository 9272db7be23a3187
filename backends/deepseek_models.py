"""DeepSeek's model names: which are current, which were retired and what replaces them.

DeepSeek retired ``deepseek-chat`` and ``deepseek-reasoner`` on 2026-07-24; both were aliases
of V4 Flash, without and with thinking. The current names are ``deepseek-v4-flash`` (the
default here) and ``deepseek-v4-pro``; thinking is a request switch, not a model name
(api-docs.deepseek.com/guides/thinking_mode). The OpenAI-compatible backend and the OpenSearch
connector both default to V4 Flash; a config that still names a retired model is answered
with :func:`retired_notice`, and a "model does not exist" error names the current ones
(:data:`CURRENT_MODELS_HINT`).
"""

from __future__ import annotations

DEFAULT_MODEL = "deepseek-v4-flash"
CURRENT_MODELS: tuple[str, ...] = ("deepseek-v4-flash", "deepseek-v4-pro")
RETIRED_ON = "2026-07-24"
# Retired name -> (replacement, thinking setting that reproduces it).
RETIRED: dict[str, tuple[str, str]] = {
    "deepseek-reasoner": (DEFAULT_MODEL, "on"),
    "deepseek-chat": (DEFAULT_MODEL, "off"),
}

CURRENT_MODELS_HINT = (
    "DeepSeek's current models are deepseek-v4-flash and deepseek-v4-pro (deepseek-chat and "
    f"deepseek-reasoner were retired on {RETIRED_ON}); set one with --model."
)


def replacement(model: str) -> tuple[str, str] | None:
    """(current model, thinking on|off) for a retired DeepSeek name, else None."""
    return RETIRED.get(model.strip().lower())


def retired_notice(model: str, *, option: str = "model") -> str:
    """What to tell someone whose config names a retired model ("" when it is not retired)."""
    found = replacement(model)
    if found is None:
        return ""
    new, thinking = found
    return (
        f"{model} was retired by DeepSeek on {RETIRED_ON}; using {new} with thinking {thinking} "
        f"instead. Set {option} = \"{new}\" and thinking = \"{thinking}\" in config.toml to keep this."
    )
