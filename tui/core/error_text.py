"""How every front end shows an error's ``detail``: usually the provider's or server's own words.

Backends keep that message whole (a proxy's error page or a long JSON message can run to
kilobytes) and put it in the error's ``detail``, between the title and the hint. Front
ends show it the same way: sanitised (no escape sequences or control characters),
secret-shaped tokens masked once more (backends masked the values they knew; a provider
may echo others), and, where room is short, cut after :data:`DETAIL_LIMIT` characters with
a note saying how many more there are and where all of it can be read (``see_all``): the
chat says the conversation's export, ``thinkpane ask`` says ``--json``, the setup screen
says the ``thinkpane setup`` command, which prints it whole.

No Textual: ``thinkpane ask`` and ``thinkpane setup`` use it too.
"""

from __future__ import annotations

from thinkpane.backends.secrets import known_values, redact
from thinkpane.tui.core.sanitize import sanitize

DETAIL_LIMIT = 1000  # characters of a detail shown before "… (N more characters; …)"


def shown_detail(detail: str | None, see_all: str | None = None, *, limit: int = DETAIL_LIMIT) -> str:
    """``detail`` ready to show; cut after ``limit`` characters when ``see_all`` says where
    the rest can be read (``None``: shown whole)."""
    text = redact(sanitize(detail or ""), known_values()).strip()
    if see_all is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters; {see_all})"
