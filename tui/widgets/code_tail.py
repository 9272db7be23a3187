"""A code block being written, drawn without drawing its finished lines again.

A streamed fenced code block stays in LiveMarkdown's tail until its closing fence comes, and
the tail is rendered again on every update: 40 lines of Python cost ~14 ms a render at 58
columns (Rich's Syntax: Pygments' lexing, then wrapping and styling every line), in every
frame, and more with every line, which made an answer's code the slowest frames of a stream
(bench_render.py --long: timer lag p99 1.5x higher in the last tenth, the answer, than in
the first).

Rich Markdown draws a fenced block as ``Syntax(code, lexer, word_wrap=True, padding=1)``,
each source line wrapped on its own. Here the rows of the lines above the last two (which
can no longer change: the last is being written, and Rich strips trailing blank lines) are
frozen, and only the rest is drawn again, with the same Syntax and ``line_range``: Pygments
still reads the whole block, so the lines drawn are coloured as in a whole render. A freeze
is checked against what the widget's own renderer drew (the rows of the later lines must be
the same), and is not made if they differ. Lexers that look ahead across lines (a heredoc
whose end has not come) may colour frozen lines as they were when frozen; the block is
drawn whole again once its fence closes.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import RenderableType
from textual.strip import Strip

from thinkpane.tui.core.fences import closes_fence, info_language, opening_fence

# Freeze once this many finished lines are drawn again every update: a short block is cheap
# to draw whole, and each freeze costs two more renders of the lines after it.
FREEZE_LINES = 8

# Draws a fenced block's code from its line ``first_line`` (1-based) on, as Rich Markdown does.
CodeRenderer = Callable[[str, str, int], RenderableType]


class CodeTail:
    """The frozen rows of the code block at the tail's start, if the tail is one."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # (tail start, source lines frozen, their rows: the top padding row and theirs)
        self._frozen: tuple[int, int, list[Strip]] = (-1, 0, [])
        # The tail start whose rows did not match: no more freezes are tried for it (its last
        # lines are drawn as they are now), rather than two more renders on every update.
        self._refused = -1

    def render(self, start: int, text: str, render_whole: Callable[[str], list[Strip]],
               render_code: Callable[[RenderableType], list[Strip]], code_renderer: CodeRenderer) -> list[Strip] | None:
        """The tail's rows if ``text`` (the tail, from ``start`` in the source) is a fenced
        block whose closing fence has not come; None otherwise (render it as usual).
        ``render_whole`` draws Markdown text as the widget does; ``render_code`` draws a
        renderable the same way."""
        block = _open_block(text)
        if block is None:
            self.reset()
            return None
        code, lexer = block
        stable = len(code.rstrip().split("\n")) - 2  # lines that can no longer change
        frozen_start, count, rows = self._frozen
        if frozen_start != start or not count:
            whole = render_whole(text)
            if stable >= FREEZE_LINES and self._refused != start:
                later = render_code(code_renderer(code, lexer, stable + 1))
                self._freeze(start, stable, whole, later, [], 0)
            return whole
        drawn = render_code(code_renderer(code, lexer, count + 1))  # its top padding row first
        if stable - count >= FREEZE_LINES and self._refused != start:
            later = render_code(code_renderer(code, lexer, stable + 1))
            self._freeze(start, stable, drawn, later, rows, 1)
        return rows + drawn[1:]

    def _freeze(self, start: int, stable: int, drawn: list[Strip], later: list[Strip],
                kept: list[Strip], skip: int) -> None:
        """Freeze the rows of ``drawn`` (after its first ``skip``) above those ``later``
        draws for the lines from ``stable`` on, if ``drawn`` ends with exactly those."""
        cut = len(drawn) - len(later) + 1  # drawn[:cut]: up to the rows of line ``stable``
        if cut > skip + 1 and drawn[cut:] == later[1:]:
            self._frozen = (start, stable, kept + drawn[skip:cut])
        else:
            self._refused = start


def _open_block(text: str) -> tuple[str, str] | None:
    """(code so far, lexer name) if ``text`` is a fenced code block still open, else None."""
    first, newline, code = text.partition("\n")
    opening = opening_fence(first) if newline and not first.startswith(" ") else None
    if opening is None:
        return None
    fence, info = opening
    if any(closes_fence(line, fence) for line in code.split("\n")):
        return None  # closed, or closing as the last line is written: drawn whole
    return code, info_language(info)
