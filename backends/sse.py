"""An incremental server-sent-events parser with a bounded line length.

Fed raw bytes as they arrive (``httpx.Response.aiter_bytes()``), it returns complete
events. It follows the WHATWG event-stream rules that matter for LLM streams:

* lines end with CRLF, LF or a lone CR (a CR at the end of a chunk waits for the next one,
  which may start with the LF of the same CRLF);
* ``data:`` lines accumulate and an event is dispatched at a blank line; a single space
  after the colon is dropped; several ``data:`` lines join with ``\\n``;
* lines starting with ``:`` are comments (``: keep-alive``); ``event:`` names the event;
  ``id:`` and ``retry:`` are accepted and ignored.

Leniency for real servers: pending data is dispatched at end of stream even without the
final blank line. Lines that are not ``field: value`` SSE lines (an HTML page, NDJSON)
are counted and sampled so the caller can say "this is not an event stream".

Lines are decoded as UTF-8 only once complete, so a character cut between two network
chunks is never mangled. A line or an event longer than ``max_line_bytes`` raises
:class:`SSELineTooLong` instead of growing memory without bound.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_LINE_BYTES = 1 << 20  # 1 MiB: a chat delta is a few hundred bytes


class SSELineTooLong(ValueError):
    pass


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"


_KNOWN_FIELDS = {"data", "event", "id", "retry"}


class SSEParser:
    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        # Diagnostics for "the server did not speak SSE".
        self.foreign_lines = 0
        self.foreign_sample = ""
        self.comment_lines = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk
        events: list[SSEEvent] = []
        start = 0
        buffer = self._buffer
        while True:
            lf = buffer.find(b"\n", start)
            cr = buffer.find(b"\r", start, lf if lf >= 0 else len(buffer))
            if cr >= 0:
                if cr == len(buffer) - 1:
                    break  # maybe the first half of a CRLF: wait for the next byte
                end, next_start = cr, cr + (2 if buffer[cr + 1 : cr + 2] == b"\n" else 1)
            elif lf >= 0:
                end, next_start = lf, lf + 1
            else:
                break
            self._line(bytes(buffer[start:end]), events)
            start = next_start
        del buffer[:start]
        if len(buffer) > self.max_line_bytes:
            raise SSELineTooLong(
                f"an event-stream line is longer than {self.max_line_bytes} bytes"
            )
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: the last unterminated line and pending data become an event."""
        events: list[SSEEvent] = []
        if self._buffer:
            line = bytes(self._buffer.rstrip(b"\r"))
            self._buffer.clear()
            self._line(line, events)
        self._dispatch(events)
        return events

    # ------------------------------------------------------------------ internals

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if not raw:
            self._dispatch(events)
            return
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            self.comment_lines += 1
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data_size += len(raw)
            if self._data_size > self.max_line_bytes:
                raise SSELineTooLong(f"an event is longer than {self.max_line_bytes} bytes")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name not in _KNOWN_FIELDS:
            self.foreign_lines += 1
            if not self.foreign_sample:
                self.foreign_sample = line[:200]

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEEvent("\n".join(self._data), self._event or "message"))
        self._data = []
        self._data_size = 0
        self._event = ""
