"""Split ``<think>…</think>`` out of streamed answer text into reasoning.

DeepSeek-R1 distills served by llama.cpp, Ollama or vLLM without a reasoning parser put
their thinking inside ``content``::

    <think>\\nOkay, the user wants…\\n</think>\\n\\nHello!

Tags can be cut anywhere between chunks (``<thi`` + ``nk>``), so the splitter keeps back
any tail that could still become a tag and releases it once the next chunk decides.

The rules (``mode``):

``"auto"`` (default)
    * A stream that starts (after whitespace) with ``<think>`` is reasoning until
      ``</think>``; what follows is the answer.
    * R1 chat templates often open ``<think>`` *in the prompt*, so the model only ever
      emits the closing tag. A ``</think>`` that *starts within the first* ``lookahead``
      *characters* of a stream with no opener makes everything before it reasoning. To
      decide that, the first ``lookahead + len("</think>") - 1`` characters are held back;
      if no such closer is found they are released as answer text and tags are no longer
      interpreted. Holding is bounded, so a model that never thinks is delayed by at most
      that many characters. (A long reasoning without an opener cannot be detected this
      way without holding it all: use ``"open"`` for such servers.)
``"open"``
    The prompt opened ``<think>``: everything is reasoning until ``</think>`` (a leading
    ``<think>`` the model repeats anyway is dropped). Reasoning streams live.
``"off"``
    No tag handling; everything is answer text.

Only the first think block is interpreted: once the answer has started, a literal
``<think>`` in it (say, an answer explaining these tags) stays text. Whitespace right
after ``<think>`` and right after ``</think>`` is dropped (R1 emits ``"\\n"`` and
``"\\n\\n"`` there). If ``</think>`` never comes, ``flush()`` releases the held text as
reasoning and the answer is empty: nothing is lost.

The output does not depend on where the input was cut: feeding ``"ab"`` equals feeding
``"a"`` then ``"b"`` (tests/test_think_split.py checks it with hypothesis).
"""

from __future__ import annotations

from typing import Literal

from thinkpane.backends.events import ContentDelta, ReasoningDelta

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

ThinkMode = Literal["auto", "open", "off"]
SplitEvent = ReasoningDelta | ContentDelta

# States of the splitter.
_START = "start"  # before the first non-space character: is there a <think>?
_UNDECIDED = "undecided"  # auto mode, no opener: watching for an early </think>
_REASONING = "reasoning"  # inside the think block
_CONTENT = "content"  # the answer; no more tag handling


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for length in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0


class ThinkSplitter:
    """Incremental ``<think>`` splitter: ``feed(text)`` -> events, ``flush()`` at the end."""

    def __init__(self, mode: ThinkMode = "auto", lookahead: int = 256) -> None:
        if mode not in ("auto", "open", "off"):
            raise ValueError(f"unknown think mode {mode!r}")
        self.mode = mode
        self.lookahead = lookahead
        self._state = _CONTENT if mode == "off" else _START
        self._buffer = ""
        self._strip_leading = False  # drop whitespace at the start of the next section
        self.saw_think_block = False

    # ------------------------------------------------------------------ public

    def feed(self, text: str) -> list[SplitEvent]:
        if not text:
            return []
        if self._state == _CONTENT and not self._strip_leading:
            return [ContentDelta(text)]
        self._buffer += text
        events: list[SplitEvent] = []
        self._advance(events, final=False)
        return events

    def flush(self) -> list[SplitEvent]:
        """Release everything held back; call once when the stream ends (or fails)."""
        events: list[SplitEvent] = []
        self._advance(events, final=True)  # with final=True every state empties the buffer
        return events

    # ------------------------------------------------------------------ machinery

    def _emit(self, events: list[SplitEvent], kind: type, text: str) -> None:
        if self._strip_leading:
            text = text.lstrip()
            if not text:
                return
            self._strip_leading = False
        if not text:
            return
        if events and isinstance(events[-1], kind):  # merge neighbours of the same kind
            events[-1] = kind(events[-1].text + text)
        else:
            events.append(kind(text))

    def _advance(self, events: list[SplitEvent], *, final: bool) -> None:
        # Each branch either moves to another state (and loops) or returns to wait for more.
        while True:
            if self._state == _START:
                stripped = self._buffer.lstrip()
                if stripped.startswith(OPEN_TAG):
                    self._buffer = stripped[len(OPEN_TAG):]
                    self._enter_reasoning()
                    continue
                if not final and (not stripped or OPEN_TAG.startswith(stripped)):
                    return  # only whitespace or "<thi" so far: wait
                if self.mode == "open":
                    self._buffer = stripped
                    self._enter_reasoning()
                else:
                    self._state = _UNDECIDED
                continue

            if self._state == _UNDECIDED:
                index = self._buffer.find(CLOSE_TAG)
                if 0 <= index < self.lookahead:
                    self._emit(events, ReasoningDelta, self._buffer[:index])
                    self._buffer = self._buffer[index + len(CLOSE_TAG):]
                    self._enter_content(after_think=True)
                    continue
                decisive = self.lookahead + len(CLOSE_TAG) - 1
                if final or len(self._buffer) >= decisive:
                    self._state = _CONTENT  # no early closer: it was the answer all along
                    continue
                return

            if self._state == _REASONING:
                index = self._buffer.find(CLOSE_TAG)
                if index >= 0:
                    self._emit(events, ReasoningDelta, self._buffer[:index])
                    self._buffer = self._buffer[index + len(CLOSE_TAG):]
                    self._enter_content(after_think=True)
                    continue
                keep = 0 if final else _partial_tag_suffix(self._buffer, CLOSE_TAG)
                ready = self._buffer[: len(self._buffer) - keep]
                self._buffer = self._buffer[len(self._buffer) - keep:]
                self._emit(events, ReasoningDelta, ready)
                return

            # _CONTENT: everything goes out as it is.
            text, self._buffer = self._buffer, ""
            self._emit(events, ContentDelta, text)
            return

    def _enter_reasoning(self) -> None:
        self._state = _REASONING
        self.saw_think_block = True
        self._strip_leading = True

    def _enter_content(self, *, after_think: bool) -> None:
        self._state = _CONTENT
        self.saw_think_block = self.saw_think_block or after_think
        self._strip_leading = after_think
