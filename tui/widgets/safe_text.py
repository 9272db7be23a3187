"""Make untrusted text (model output, reasoning, error messages, titles) safe to display.

Model output can contain ANSI/OSC escape sequences (a model asked to "print colours" will
happily emit ``\\x1b]8;;http://evil\\x07``) and Rich markup (``[bold]``, ``[link=...]``).
Neither may reach the terminal or the markup parser: we strip escape sequences and control
characters, and we only ever hand text to widgets as ``rich.text.Text`` or Markdown source,
never as a markup string.
"""

from __future__ import annotations

import re

from rich.text import Text

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-char escapes, and C1 controls.
_ESCAPE_SEQUENCE = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]          # CSI: colours, cursor moves
  | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)? # OSC: titles, hyperlinks, clipboard (OSC 52)
  | \x1b[PX^_][^\x1b]*(?:\x1b\\)?      # DCS, SOS, PM, APC strings
  | \x1b[@-Z\\-_]                      # other 7-bit escapes
  | \x9b[0-?]*[ -/]*[@-~]              # 8-bit CSI
  | \x9d[^\x07\x9c]*[\x07\x9c]?        # 8-bit OSC
    """,
    re.VERBOSE,
)
# Every remaining C0 control except tab and newline, DEL, the C1 range, and the bidi
# embedding/override/isolate controls that reorder the rest of a line (U+202E "Trojan Source").
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """``text`` without escape sequences and control characters (\\n and \\t are kept).

    A sequence split across two stream chunks loses its ESC in the first chunk, so the rest
    shows as harmless printable text; it can never become an escape again.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))


def clean_line(text: str) -> str:
    """One line (titles, status text): newlines and tabs become spaces too."""
    return " ".join(clean(text).split())


def safe_text(text: str, style: str = "") -> Text:
    """A ``Text`` that shows ``text`` literally: no markup is interpreted, no escapes remain."""
    return Text(clean(text), style=style)
