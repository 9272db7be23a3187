"""A command palette provider over a plain list of (name, help, callback) entries.

The app's commands, the compare screen's and the column chooser's, and the code blocks
"Copy a code block…" offers, are all such lists. Names are shown literally, never parsed as
markup: a profile name or a line of model text may hold [brackets]. Matched letters are
highlighted as Textual's own ``Matcher.highlight`` does, but on the literal text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content

Entry = tuple[str, str, Callable[[], object]]


class ListedCommands(Provider):
    """Subclasses say what to list in :meth:`entries` (read each time the palette asks)."""

    def entries(self) -> Iterable[Entry]:
        return ()

    async def discover(self) -> Hits:
        for name, help_text, callback in self.entries():
            yield DiscoveryHit(Content(name), callback, text=name, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self.entries():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, highlighted(matcher, name), callback, text=name, help=help_text)


def highlighted(matcher: Matcher, name: str) -> Content:
    """``name`` as literal text, the letters the query matched highlighted."""
    content = Content(name)
    score, offsets = matcher.fuzzy_search.match(matcher.query, name)
    for offset in offsets if score else ():
        if not name[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
