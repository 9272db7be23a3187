"""Rich ``Markdown`` documents that share one parser.

Rich builds a new ``MarkdownIt`` parser, rules and all, for every document: about 0.45 ms,
a third of re-rendering a streamed tail (8 times a second) (tests/bench/bench_render.py).
The parser keeps no per-document state, so one parser, set up exactly as Rich sets up its
own, serves every document; the result is a plain ``rich.markdown.Markdown``.

``hard_breaks=True`` keeps every line break of a paragraph (Markdown joins two lines into
one unless the first ends in two spaces). Reasoning is written as lines of thought, not as
Markdown paragraphs, and read joined it ran together. Code blocks are unaffected (their
lines are kept anyway); the answer keeps Markdown's own rules.

markdown-it and Rich's Markdown (which imports Pygments) are imported on first use, not with
this module: the app's first frame shows no Markdown, and its warm-up imports them after it.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_core import StateCore
    from rich.markdown import Markdown
    from rich.syntax import Syntax

CODE_THEME = "monokai"  # Rich Markdown's code_theme, as the app renders it

_parsers: dict[bool, MarkdownIt] = {}
_blank: Markdown | None = None


def _soft_breaks_to_hard(state: StateCore) -> None:
    # markdown-it's own "breaks" option only changes its HTML renderer; Rich reads the
    # tokens, and draws a "hardbreak" as a new line where a "softbreak" is a space.
    for token in state.tokens:
        for child in token.children or ():
            if child.type == "softbreak":
                child.type = "hardbreak"


def _parser(hard_breaks: bool) -> MarkdownIt:
    parser = _parsers.get(hard_breaks)
    if parser is None:
        from markdown_it import MarkdownIt

        parser = MarkdownIt().enable("strikethrough").enable("table")  # as Markdown.__init__
        if hard_breaks:
            parser.core.ruler.push("soft_breaks_to_hard", _soft_breaks_to_hard)
        _parsers[hard_breaks] = parser
    return parser


def rich_markdown(text: str, *, hard_breaks: bool = False) -> Markdown:
    """``Markdown(text, code_theme=CODE_THEME, hyperlinks=True)``, without a new parser."""
    global _blank
    if _blank is None:
        from rich.markdown import Markdown

        _blank = Markdown("", code_theme=CODE_THEME, hyperlinks=True)
    document = copy.copy(_blank)  # every option Rich sets, whatever this Rich version has
    document.markup = text
    document.parsed = _parser(hard_breaks).parse(text)
    return document


def rich_code_block(code: str, lexer: str, *, first_line: int = 1) -> Syntax:
    """A fenced code block as Rich Markdown draws it (``rich.markdown.CodeBlock``), from its
    line ``first_line`` (1-based) on; Pygments still reads the whole ``code``, so those lines
    are coloured as in the whole block (tui/widgets/code_tail.py)."""
    from rich.syntax import Syntax

    return Syntax(code.rstrip(), lexer or "text", theme=CODE_THEME, word_wrap=True, padding=1,
                  line_range=(first_line, None) if first_line > 1 else None)
