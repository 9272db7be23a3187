"""Text as SQLite can store it, shared by the store's inserts and the answer writer's flushes.

**Text is stored exactly**, including NUL characters (Python's sqlite3 binds text with its
length, and reads it back whole). FTS5 indexes words after a NUL too; the LIKE fallback
does not see past one (SQL string functions stop there). Lone UTF-16 surrogates, which
cannot be encoded as UTF-8, are replaced by U+FFFD; a surrogate pair split across two
deltas (or two flushes) is kept together (:func:`_split_for_storage`).
"""

from __future__ import annotations


def _storable(text: str) -> str:
    """``text`` as SQLite can store it: lone surrogates (not encodable) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # Round-trip through UTF-16 joins valid pairs and replaces the lone halves.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _storable_or_none(text: str | None) -> str | None:
    return None if text is None else _storable(text)


def _split_for_storage(text: str, hold_back: bool) -> tuple[str, str]:
    """(what to write now, what to keep buffered): keep a trailing high surrogate for its pair."""
    if hold_back and text and "\ud800" <= text[-1] <= "\udbff":
        return _storable(text[:-1]), text[-1]
    return _storable(text), ""
