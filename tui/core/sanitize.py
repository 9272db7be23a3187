"""Make model or server text safe to write to a terminal.

A model (or a hostile server) can emit escape sequences that recolour the terminal, move
the cursor, set the window title, write to the clipboard (OSC 52) or create fake links
(OSC 8). Before text reaches a terminal we drop whole ANSI/OSC/DCS sequences, then every
remaining C0 and C1 control character except newline and tab. Removing ESC and the C1
introducers alone already makes any sequence inert, so a sequence cut between two stream
deltas can leave only harmless printable debris, never a live escape (and
:class:`StreamSanitizer` holds such a cut sequence back so not even debris shows). The
policy is to remove, not to show ``␛``: the text around a sequence stays readable and a
pasted answer carries no junk. Bidirectional
embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069) are removed too:
they reorder how the rest of the line is drawn ("Trojan Source"), e.g. ``exe.txt``.

No imports beyond ``re``: ``thinkpane ask`` loads this before anything heavy.
"""

from __future__ import annotations

import re

_SEQUENCES = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                     # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])                 # OSC, DCS, SOS, PM, APC ...
      [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c|(?=\x1b)|$)         # ... to BEL, ST, an ESC that aborts it, or the end
    | \x1b [ -/]* [0-~]                                       # other two-byte escapes
    """,
    re.VERBOSE,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def sanitize(text: str) -> str:
    """``text`` without escape sequences, bidi overrides or control characters but ``\\n``/``\\t``."""
    if not text:
        return text
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


# A sequence that has started but not ended at the end of a delta: the ESC alone, a CSI
# without its final byte, an OSC/DCS/... string without its BEL or ST (or with only the
# ESC of the ST). Only the last ``MAX_PENDING`` characters are looked at.
_INCOMPLETE_TAIL = re.compile(
    r"""
    (?: (?:\x1b\[|\x9b) [0-?]* [ -/]*
      | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) [^\x07\x1b\x9c]* \x1b?
      | \x1b [ -/]*
    ) \Z
    """,
    re.VERBOSE,
)


class StreamSanitizer:
    """:func:`sanitize` for text that arrives in deltas (one instance per stream).

    ``sanitize`` on each delta alone is already safe, but a sequence cut between two deltas
    would show its tail (``0;title``) as text. This holds a started-but-unfinished sequence
    back until the next delta completes it, so the output does not depend on where the
    network cut the stream. What is held back is bounded: an "unfinished" sequence longer
    than ``MAX_PENDING`` characters is not a real one, and is sanitised and released.
    """

    MAX_PENDING = 4096

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> str:
        text = self._pending + text
        self._pending = ""
        window_start = max(0, len(text) - self.MAX_PENDING)
        match = _INCOMPLETE_TAIL.search(text, window_start)
        if match:
            text, self._pending = text[: match.start()], text[match.start() :]
        return sanitize(text)

    def flush(self) -> str:
        """The end of the stream: whatever was held back, sanitised (an unfinished sequence goes)."""
        pending, self._pending = self._pending, ""
        return sanitize(pending)
