"""Fenced code blocks as CommonMark defines them: where one opens, and the line that closes it.

One reading for every place that looks for code in Markdown: exports and "copy code"
(export.py), the live view deciding where a streamed block ends (widgets/live_markdown.py)
and how a code block still being written is drawn (widgets/code_tail.py).

A fence is three or more backticks or tildes indented at most three spaces; after backticks
the info string may not contain a backtick (```` ``` a`b ```` is a paragraph). The block
closes at a line of the same character, at least as long, indented at most three spaces,
with nothing after it but spaces and tabs.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")


def opening_fence(line: str) -> tuple[str, str] | None:
    """(fence, info string) if ``line`` opens a fenced code block, else None."""
    match = _FENCE.fullmatch(line)
    if match is None:
        return None
    fence, info = match.groups()
    if fence[0] == "`" and "`" in info:
        return None
    return fence, info


def closes_fence(line: str, fence: str) -> bool:
    """True if ``line`` closes the block ``fence`` opened."""
    match = _FENCE.fullmatch(line)
    return (match is not None and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence)
            and not match.group(2).strip(" \t"))


def info_language(info: str) -> str:
    """The language an info string names: its first word ("" if none)."""
    words = info.split()
    return words[0] if words else ""
