"""Text drawn as wide as Textual measures it, in every terminal: no row overruns its pane.

Rich (and so Textual) measures a grapheme cluster as one glyph: a ZWJ family (woman ZWJ
woman ZWJ girl ZWJ boy) is 2 cells, a waving hand with a skin tone is 2, a heart with the
emoji selector (U+2764 U+FE0F) is 2. Terminals do not agree: one that measures code point
by code point (xterm, VTE) draws the family in 8 cells; tmux 3.3 draws the skin tone in 4
and the heart in 1, and joins a ZWJ family into 2 cells but keeps only its first 21 bytes
(the boy disappears). Rich also skips the width of the character after any ZWJ
(Devanagari KA VIRAMA ZWJ SSA: 1 cell measured, 2 drawn). A row holding such a cluster came
out wider or narrower than its pane, and the pane separator moved.

So, for display only, the joiners and modifiers whose effect terminals disagree on are
removed: the ZWJ (U+200D), the emoji selector (U+FE0F) and the skin-tone modifiers
(U+1F3FB-U+1F3FF). What is left is code points each measured and drawn alike everywhere:
the four people side by side, the plain hand, the text heart (a flag's two regional
indicators and a keycap's combining mark already agree). What is stored, copied and
exported keeps the text as the model wrote it.
"""

from __future__ import annotations

import re

_WIDTH_MODIFIERS = re.compile("[\u200d\ufe0f\U0001f3fb-\U0001f3ff]")


def drop_width_modifiers(text: str) -> str:
    """``text`` without the code points that make a cluster's width depend on the terminal."""
    return _WIDTH_MODIFIERS.sub("", text)
