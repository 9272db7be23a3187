"""Make untrusted text (model output, reasoning, error messages, titles) safe to display.

Model output can contain ANSI/OSC escape sequences (a model asked to "print colours" will
happily emit ``\\x1b]8;;http://evil\\x07``) and Rich markup (``[bold]``, ``[link=...]``).
Neither may reach the terminal or the markup parser: we strip escape sequences and control
characters, and we only ever hand text to widgets as ``rich.text.Text`` or Markdown source,
never as a markup string.

Text must also be as wide on screen as Textual measures it, or a row overruns its pane.
Rich (and so Textual) measures a grapheme cluster as one glyph: a ZWJ family (woman ZWJ
woman ZWJ girl ZWJ boy) is 2 cells, a waving hand with a skin tone is 2, a heart with the
emoji selector (U+2764 U+FE0F) is 2. Terminals do not agree: one that measures code point
by code point (xterm, VTE) draws the family in 8 cells; tmux 3.3 draws the skin tone in 4
and the heart in 1, and joins a ZWJ family into 2 cells but keeps only its first 21 bytes
(the boy disappears). Rich also skips the width of the character after any ZWJ
(Devanagari KA VIRAMA ZWJ SSA: 1 cell measured, 2 drawn). So the joiners and modifiers
whose effect terminals disagree on are removed: the ZWJ (U+200D), the emoji selector
(U+FE0F) and the skin-tone modifiers (U+1F3FB-U+1F3FF). What is left is code points each
measured and drawn alike everywhere: the four people side by side, the plain hand, the
text heart (a flag's two regional indicators and a keycap's combining mark already agree).
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
# Joiners and modifiers that make a cluster's width depend on the terminal (see above).
_WIDTH_AMBIGUOUS = re.compile("[\u200d\ufe0f\U0001f3fb-\U0001f3ff]")


def clean(text: str) -> str:
    """``text`` without escape sequences and control characters (\\n and \\t are kept),
    and without the joiners and modifiers whose width terminals disagree on.

    A sequence split across two stream chunks loses its ESC in the first chunk, so the rest
    shows as harmless printable text; it can never become an escape again.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n")
    return _WIDTH_AMBIGUOUS.sub("", _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text)))


def clean_line(text: str) -> str:
    """One line (titles, status text): newlines and tabs become spaces too."""
    return " ".join(clean(text).split())


def safe_text(text: str, style: str = "") -> Text:
    """A ``Text`` that shows ``text`` literally: no markup is interpreted, no escapes remain."""
    return Text(clean(text), style=style)
