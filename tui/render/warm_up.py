"""Make the first answer of a session render as fast as the ones after it.

Imports the first frame does not need and the first answer does (Textual's ``MarkdownStream``
module, markdown-it, Rich's Markdown and Syntax: ~40 ms, kept off the way to the first frame)
are made here, and the Markdown parsers built. And the common lexers are compiled: Pygments
compiles a lexer's regular expressions the first time the lexer is used, about 20 ms each
for Python or Bash, which used to land in the middle of the first streamed answer, while
its first code block rendered (tests/bench/bench_render.py, unthrottled: a 7 KB answer with
two languages rendered in 49 ms instead of 20).

The app runs this once in a thread after its first frame, while the user types; then it
freezes the startup's objects out of the garbage collector's walk (tui/core/collector.py).
"""

from __future__ import annotations

from thinkpane.tui.render.rich_markdown import CODE_THEME

# The languages reasoning models' answers use most; others compile on first use as before.
COMMON_LANGUAGES = ("python", "bash", "json", "javascript")


def warm_up() -> None:
    warm_up_imports()
    warm_up_highlighting()


def warm_up_imports() -> None:
    import textual.widgets.markdown  # noqa: F401 - MarkdownStream, for the first turn

    from thinkpane.tui.render.rich_markdown import rich_markdown

    for hard_breaks in (False, True):  # builds both parsers
        rich_markdown("", hard_breaks=hard_breaks)


def warm_up_highlighting() -> None:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound
    from rich.syntax import Syntax

    Syntax.get_theme(CODE_THEME)
    for name in COMMON_LANGUAGES:
        try:
            get_lexer_by_name(name)  # instantiating the lexer compiles its token table
        except ClassNotFound:  # a trimmed Pygments install: nothing to warm
            continue
