"""Keep secrets out of Python log records, whoever logs them and wherever they go.

Thinkpane writes no log file and configures no handlers. But the libraries it drives log
(botocore at DEBUG prints whole requests, ``Authorization: Bearer …`` included; urllib3 and
opensearch-py warn with URLs), Python's last-resort handler prints WARNING and above to
stderr, and a user or an embedding program may attach their own handlers. So redaction
happens when a record is *made*, not in one handler: :func:`install` wraps the log-record
factory, and every record's message (and formatted traceback) is passed through
:func:`thinkpane.backends.secrets.redact` with every secret we know of:

* the value of every ``Secret`` made in this process (options of kind "secret" from flags,
  the config file or the environment all become one),
* values registered with :func:`register_secrets` (the CLI registers each backend's
  ``Backend.secrets()``, which also covers credentials a backend resolved itself),
* the values of the environment variables that hold secrets (read at log time),
* anything shaped like a key or a credential header (``redact``'s patterns, plus bearer and
  basic credentials in any quoting, as botocore prints header dicts).

The cost is paid only for records that are actually emitted (the factory runs after the
level check), and ``install`` is idempotent.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

from thinkpane.backends.secrets import MASK, env_secrets, known_values, redact

# "Bearer X" / "Basic X" anywhere, e.g. inside a repr'd header dict: {'Authorization': b'Bearer X'}.
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]{8,}")

_lock = threading.Lock()
_registered: set[str] = set()
_installed = False


def register_secrets(values: Iterable[str]) -> None:
    """Remember secret values so that no log record can contain them from now on."""
    with _lock:
        _registered.update(value for value in values if value and len(value) >= 4)


def known_secrets() -> list[str]:
    with _lock:
        values = set(_registered)
    values.update(known_values())
    values.update(env_secrets())
    # Longest first, so a secret that contains another is masked whole.
    return sorted(values, key=len, reverse=True)


def redact_log_text(text: str) -> str:
    text = redact(text, known_secrets())
    return _CREDENTIAL.sub(lambda m: m.group(1) + m.group(2) + MASK, text)


def _scrub(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:
        message = str(record.msg)
    clean = redact_log_text(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact_log_text(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact_log_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_log_text(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """The same redaction as a handler filter, for handlers created before :func:`install`."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub(record)
        return True


def install() -> None:
    """Redact every log record made in this process from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    make_record = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _scrub(make_record(*args, **kwargs))

    logging.setLogRecordFactory(redacting_factory)
