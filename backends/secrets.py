"""Secret values and redaction. Secrets never reach a log, a status line or the store."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

MASK = "********"

# Environment variables that hold credentials, the one list: their values are masked in
# every message and log record (log_redaction, the Bedrock error mapper), whichever backend
# is in use. The secret options' own variables (``Option(kind="secret", env=...)``) are
# here too (tests/test_backend_contract.py checks), and so are AWS's, which no option
# declares because boto3 reads them itself.
SECRET_ENV_VARS = (
    "DEEPSEEK_API_KEY",
    "OPENAI_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "OPENSEARCH_PASSWORD",
)


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the :data:`SECRET_ENV_VARS` that are set (read now, not at import)."""
    env = os.environ if environ is None else environ
    return [value for var in SECRET_ENV_VARS if (value := env.get(var))]


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
