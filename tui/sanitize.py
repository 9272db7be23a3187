"""Make model or server text safe to write to a terminal.

A model (or a hostile server) can emit escape sequences that recolour the terminal, move
the cursor, set the window title, write to the clipboard (OSC 52) or create fake links
(OSC 8). Before text reaches a terminal we drop whole ANSI/OSC/DCS sequences, then every
remaining C0 and C1 control character except newline and tab. Removing ESC and the C1
introducers alone already makes any sequence inert, so a sequence cut between two stream
deltas can leave only harmless printable debris, never a live escape.

No imports beyond ``re``: ``thinkpane ask`` loads this before anything heavy.
"""

from __future__ import annotations

import re

_SEQUENCES = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                     # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])                 # OSC, DCS, SOS, PM, APC ...
      [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c|$)                 # ... up to BEL or ST (or the end)
    | \x1b [ -/]* [0-~]                                       # other two-byte escapes
    """,
    re.VERBOSE,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """``text`` without escape sequences or control characters other than ``\\n`` and ``\\t``."""
    if not text:
        return text
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))
