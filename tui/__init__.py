"""Thinkpane's front ends: the shared core, the command line, the Textual app and its render layer.

Subpackages, each importing only what its docstring allows:
``core`` (no Textual), ``cli`` (the ``thinkpane`` command), ``app``, ``screens`` and
``widgets`` (the Textual app), ``render`` (streaming render machinery; the only place that
touches private Textual names).
"""
