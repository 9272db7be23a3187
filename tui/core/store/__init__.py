"""Conversation history in one SQLite file (stdlib ``sqlite3`` only; cheap to import).

Import from here: every public name of the package is re-exported, so callers need not know
which module holds it. Where things live, and the design notes that go with each:

* :mod:`.schema` — tables, full-text index, ``PRAGMA user_version`` and the migrations.
* :mod:`.conversations` — :class:`ConversationStore`: opening, crash recovery, every query,
  search, branches (a conversation is a tree with one active path), threads and file
  permissions.
* :mod:`.writer` — :class:`AnswerWriter`: a streaming answer saved in batches (crash safety).
* :mod:`.records` — :class:`ConversationSummary`, :class:`StoredMessage`, roles and statuses.
* :mod:`.errors` — :class:`StoreError` and how a SQLite failure becomes one.
* :mod:`.text` — text as SQLite can store it (lone surrogates, NUL).

``SCHEMA_VERSION`` and ``MIGRATIONS`` here are copies of the names in :mod:`.schema`: a
test that swaps them patches ``thinkpane.tui.core.store.schema``.
"""

from __future__ import annotations

from thinkpane.tui.core.store.conversations import ACTIVE_LEAF, DEFAULT_BUSY_TIMEOUT_S, ConversationStore
from thinkpane.tui.core.store.errors import MEMORY, StoreError
from thinkpane.tui.core.store.records import (
    FINAL_STATUSES,
    ROLES,
    STATUSES,
    ConversationSummary,
    StoredMessage,
)
from thinkpane.tui.core.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from thinkpane.tui.core.store.writer import FLUSH_THRESHOLD_CHARS, AnswerWriter

__all__ = [
    "ACTIVE_LEAF",
    "DEFAULT_BUSY_TIMEOUT_S",
    "FINAL_STATUSES",
    "FLUSH_THRESHOLD_CHARS",
    "MEMORY",
    "MIGRATIONS",
    "ROLES",
    "SCHEMA_VERSION",
    "STATUSES",
    "AnswerWriter",
    "ConversationStore",
    "ConversationSummary",
    "StoreError",
    "StoredMessage",
    "migrate",
]
