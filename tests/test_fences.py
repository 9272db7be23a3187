"""Fenced code blocks as CommonMark reads them: the one reading export, "copy code" and the
live view share (tui/core/fences.py)."""

from __future__ import annotations

import pytest

from thinkpane.tui.core.fences import closes_fence, info_language, opening_fence


@pytest.mark.parametrize(("line", "expected"), [
    ("```", ("```", "")),
    ("```python", ("```", "python")),
    ("   ~~~~ js title=x", ("~~~~", " js title=x")),
    ("~~~ a`b", ("~~~", " a`b")),  # a tilde fence's info may hold backticks
    ("``` a`b", None),  # a backtick fence's may not: a paragraph with a code span
    ("    ```", None),  # four spaces: indented code, not a fence
    ("``", None),
    ("text ```", None),
])
def test_a_fence_opens_as_commonmark_says(line, expected):
    assert opening_fence(line) == expected


@pytest.mark.parametrize(("line", "fence", "closes"), [
    ("```", "```", True),
    ("`````  ", "```", True),  # longer, trailing spaces
    ("  ```\t", "```", True),
    ("``", "```", False),  # shorter
    ("~~~", "```", False),  # the other character
    ("``` python", "```", False),  # words after it
    ("    ```", "```", False),  # indented four spaces
])
def test_a_block_closes_only_at_a_matching_fence(line, fence, closes):
    assert closes_fence(line, fence) is closes


def test_the_language_is_the_info_strings_first_word():
    assert info_language(" python title=x ") == "python"
    assert info_language("") == ""
