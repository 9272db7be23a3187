"""Rich ``Markdown`` documents that share one parser.

Rich builds a new ``MarkdownIt`` parser, rules and all, for every document: about 0.45 ms,
a third of re-rendering a streamed tail (8 times a second) (tests/bench/bench_render.py).
The parser keeps no per-document state, so one parser, set up exactly as Rich sets up its
own, serves every document; the result is a plain ``rich.markdown.Markdown``.
"""

from __future__ import annotations

import copy

from markdown_it import MarkdownIt
from rich.markdown import Markdown

_parser: MarkdownIt | None = None
_blank: Markdown | None = None


def rich_markdown(text: str) -> Markdown:
    """``Markdown(text, code_theme="monokai", hyperlinks=True)``, without a new parser."""
    global _parser, _blank
    if _parser is None or _blank is None:
        _parser = MarkdownIt().enable("strikethrough").enable("table")  # as Markdown.__init__
        _blank = Markdown("", code_theme="monokai", hyperlinks=True)
    document = copy.copy(_blank)  # every option Rich sets, whatever this Rich version has
    document.markup = text
    document.parsed = _parser.parse(text)
    return document
