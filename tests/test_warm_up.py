"""warm_up(): lexers compiled ahead, startup objects frozen out of the collector's walk."""

from __future__ import annotations

import gc

from thinkpane.tui.render import warm_up


def test_common_lexers_are_compiled_and_objects_frozen():
    from pygments.lexer import RegexLexer
    from pygments.lexers import get_lexer_by_name

    gc.unfreeze()
    warm_up._frozen = False
    try:
        warm_up.warm_up()
        assert gc.get_freeze_count() > 1000
        for name in warm_up.COMMON_LANGUAGES:
            lexer_class = type(get_lexer_by_name(name))
            if issubclass(lexer_class, RegexLexer):  # JSON's lexer is hand-written: nothing to compile
                # Pygments caches the compiled token table on the class the first time.
                assert "_tokens" in lexer_class.__dict__, name
    finally:
        gc.unfreeze()
