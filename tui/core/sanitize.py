"""The one sanitiser: make model or server text safe to show, store and export.

A model (or a hostile server) can emit escape sequences that recolour the terminal, move
the cursor, set the window title, write to the clipboard (OSC 52), create fake links
(OSC 8), switch character sets (``ESC ( 0``) or fill the screen with ``E`` (``ESC # 8``).
We drop whole sequences, following the ECMA-48 / VT100 grammar:

* CSI (``ESC [`` or 8-bit ``\\x9b``): parameters 0x30-0x3F, intermediates 0x20-0x2F, a final
  byte 0x40-0x7E;
* OSC, DCS, SOS, PM, APC strings (``ESC ] P X ^ _`` or 8-bit ``\\x9d \\x90 \\x98 \\x9e \\x9f``):
  up to BEL, ST (``ESC \\`` or ``\\x9c``), an ESC that aborts them, or the end of the text;
* every other escape: ESC, intermediates 0x20-0x2F, a final byte 0x30-0x7E (``ESC 7``,
  ``ESC =``, ``ESC c``, ``ESC ( B``, ``ESC # 8``, ``ESC % G``...).

A sequence cut off before its final byte (by another ESC, a control or the end of the text)
goes up to where it stops, as a terminal would swallow it. Then every remaining C0 and C1
control character except newline and tab goes, and the bidirectional embedding, override
and isolate controls (U+202A-U+202E, U+2066-U+2069), which reorder how the rest of the line
is drawn ("Trojan Source": ``exe.txt``). The policy is to remove, not to show ``␛``: the
text around a sequence stays readable and a pasted answer carries no junk. The result holds
no ESC and no C1 control, so sanitising it again changes nothing.

Where it runs: once at ingest (the chat screen's stream worker and ``thinkpane ask`` pass
every backend event through :class:`EventSanitizer`), so the text shown live, stored,
reopened and exported is the same text. Widgets and exports call :func:`sanitize` again on
what they show: a no-op for such text, and the protection for conversations stored by
earlier versions and for messages that never went through a stream. Widgets show the result
as ``rich.text.Text`` or Markdown source, never as a markup string, so ``[bold]`` shows as
typed. ``thinkpane ask --json`` alone prints the raw events (JSON escaping makes them inert).

No Textual, and nothing heavy: ``thinkpane ask`` loads this early.
"""

from __future__ import annotations

import re
from dataclasses import replace

from thinkpane.backends.errors import BackendError
from thinkpane.backends.events import ContentDelta, ErrorEvent, Notice, ReasoningDelta, StreamEvent

_SEQUENCES = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]?                    # CSI ... final byte
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])                 # OSC, DCS, SOS, PM, APC ...
      [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c|(?=\x1b)|$)         # ... to BEL, ST, an ESC that aborts it, or the end
    | \x1b [ -/]* [0-~]?                                      # every other escape: ESC ( B, ESC # 8, ESC 7
    """,
    re.VERBOSE,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def sanitize(text: str) -> str:
    """``text`` without escape sequences, bidi overrides or control characters but ``\\n``/``\\t``."""
    if not text:
        return ""
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


def sanitize_line(text: str) -> str:
    """:func:`sanitize` on one line (titles, status text): runs of whitespace become one space."""
    return " ".join(sanitize(text).split())


def sanitize_error(error: BackendError) -> BackendError:
    """A copy of ``error`` whose title, detail and hint are sanitised (the type stays)."""
    # Built like copy.copy, without calling __init__ (a subclass may take other arguments).
    clean = type(error).__new__(type(error), *error.args)
    clean.__dict__.update(error.__dict__)
    clean.title, clean.detail, clean.hint = sanitize(error.title), sanitize(error.detail), sanitize(error.hint)
    return clean


# A sequence that has started but not ended at the end of a delta: the ESC alone or with
# intermediates, a CSI without its final byte, an OSC/DCS/... string without its BEL or ST
# (or with only the ESC of the ST). Only the last ``MAX_PENDING`` characters are looked at.
_INCOMPLETE_TAIL = re.compile(
    r"""
    (?: (?:\x1b\[|\x9b) [0-?]* [ -/]*
      | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) [^\x07\x1b\x9c]* \x1b?
      | \x1b [ -/]*
    ) \Z
    """,
    re.VERBOSE,
)


class StreamSanitizer:
    """:func:`sanitize` for text that arrives in deltas (one instance per stream).

    ``sanitize`` on each delta alone is already safe, but a sequence cut between two deltas
    would show its tail (``0;title``, ``(B``) as text. This holds a started-but-unfinished
    sequence back until the next delta completes it, so the output does not depend on where
    the network cut the stream. What is held back is bounded: an "unfinished" sequence longer
    than ``MAX_PENDING`` characters is not a real one, and is sanitised and released. What is
    still held back when the stream ends is an unfinished sequence, which :func:`sanitize`
    would remove whole, so there is nothing to flush.
    """

    MAX_PENDING = 4096

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> str:
        if not self._pending and not _CONTROLS.search(text):
            # Most deltas: every sequence starts with ESC or a C1 control, so nothing to do
            # (this runs for every token: the regexes below were a tenth of a stream's cost).
            return text
        text = self._pending + text
        self._pending = ""
        window_start = max(0, len(text) - self.MAX_PENDING)
        match = _INCOMPLETE_TAIL.search(text, window_start)
        if match:
            text, self._pending = text[: match.start()], text[match.start() :]
        return sanitize(text)


class EventSanitizer:
    """Sanitises one stream's events where they enter Thinkpane (one instance per stream).

    Reasoning and answer deltas go through a :class:`StreamSanitizer` each; notices and
    errors through :func:`sanitize`. Other events (usage, stop, backend extra data that is
    sent back to the provider as it came) pass unchanged.
    """

    def __init__(self) -> None:
        self._reasoning = StreamSanitizer()
        self._content = StreamSanitizer()

    def __call__(self, event: StreamEvent) -> StreamEvent:
        if isinstance(event, (ReasoningDelta, ContentDelta)):
            feed = self._reasoning.feed if isinstance(event, ReasoningDelta) else self._content.feed
            text = feed(event.text)
            return event if text is event.text else replace(event, text=text)
        if isinstance(event, Notice):
            return replace(event, text=sanitize(event.text))
        if isinstance(event, ErrorEvent):
            return replace(event, error=sanitize_error(event.error))
        return event
