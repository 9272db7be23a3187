"""Secret values and redaction. Secrets never reach a log, a status line or the store."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "********"


# Every secret value wrapped in a Secret in this process, so that log redaction
# (thinkpane.backends.log_redaction) can mask it wherever a library logs it, e.g. an error body that
# echoes the key. Kept for the life of the process; it only ever holds a handful of values.
_KNOWN_VALUES: set[str] = set()


def known_values() -> list[str]:
    """The values of every :class:`Secret` created so far (for log redaction)."""
    return list(_KNOWN_VALUES)


class Secret:
    """A string that does not print itself. ``get()`` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if value and len(value) >= 4:
            _KNOWN_VALUES.add(value)

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')" if self._value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# Shapes of well-known secrets, redacted even when we were not told the exact value
# (e.g. a key echoed back inside a provider's error body).
_PATTERNS = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI / DeepSeek style API keys
    re.compile(r"(?i)(authorization\s*[:=]\s*)(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"),
    re.compile(r"(?i)(\"?(?:api[_-]?key|password|secret[_-]?access[_-]?key|deepSeek_key)\"?\s*[:=]\s*\"?)([^\s\",}]+)"),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret value and every secret-shaped token masked."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    text = _PATTERNS[0].sub(MASK, text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + m.group(2) + " " + MASK, text)
    text = _PATTERNS[2].sub(lambda m: m.group(1) + MASK, text)
    return text
