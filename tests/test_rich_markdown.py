"""rich_markdown() shares one parser; what it renders must equal Rich's own Markdown."""

from __future__ import annotations

import io
import re

from rich.console import Console
from rich.markdown import Markdown

from thinkpane.tui.render.rich_markdown import rich_markdown

DOC = """\
# Title

Some *emphasis*, ~~struck~~ text, `code` and a [link](https://example.com).

| a | b |
|---|--:|
| 1 | 2 |

```python
print("hi")
```

- one
- two
"""


def render(renderable) -> str:
    console = Console(width=60, record=True, file=io.StringIO(), color_system="truecolor")
    console.print(renderable)
    # Rich gives every hyperlink a fresh random id; everything else must be identical.
    return re.sub(r"id=\d+;", "id=;", console.export_text(styles=True))


def test_same_output_as_rich_markdown_for_every_element_rich_enables():
    ours, rich = render(rich_markdown(DOC)), render(Markdown(DOC, code_theme="monokai", hyperlinks=True))
    assert ours == rich
    assert "┃" in ours or "│" in ours or "|" not in ours  # the table was parsed as a table
    assert "~~" not in ours  # strikethrough is enabled, as in Rich


def test_documents_do_not_share_text():
    first, second = rich_markdown("first"), rich_markdown("second")
    assert "first" in render(first) and "second" in render(second)
    assert "second" not in render(first)
