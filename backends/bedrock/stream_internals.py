"""The one place the Bedrock backend reaches into botocore's ``EventStream`` and the response
under it: private names, each with a public fallback. Checked on botocore 1.44.8 and
urllib3 2.8.0 (setup.py bounds both SDKs); tests/test_bedrock_backend.py covers both paths.

* ``EventStream._event_generator`` and ``EventStream._parse_event`` (botocore.eventstream):
  the raw frames and botocore's parser for one, so an in-stream exception keeps its whole
  payload. botocore keeps only Code and Message; a ``modelStreamErrorException`` also
  carries ``originalStatusCode`` / ``originalMessage``, which become the error's detail.
  Missing: the EventStream is iterated as botocore means it to be, and such an error is
  shown without those two fields.
* ``EventStream._raw_stream`` (the urllib3 ``HTTPResponse``) and the socket under it:
  ``.connection.sock`` (public in urllib3 1.26 and 2.x), else ``._connection.sock``, else
  ``._fp.fp.raw._sock`` (http.client's reader). ``shutdown()`` on that socket wakes a
  thread blocked in ``recv()`` at once and sends the FIN the server sees (a cancelled
  stream hangs up within 100 ms). Missing: ``EventStream.close()`` runs in a helper thread
  (public, never on the event loop). It may wait on the reader's lock for the blocked read,
  so the server may see the hang-up only at its next frame or the read timeout;
  ``ConverseCall.close`` waits for the worker thread at most a second, so a cancelled turn
  still ends within that.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any


def iter_converse_events(stream: Any) -> Iterator[dict[str, Any]]:
    """Like iterating the EventStream, but an exception frame's full payload is kept
    under ``error.response["Extra"]``."""
    raw_events = getattr(stream, "_event_generator", None)
    parse = getattr(stream, "_parse_event", None)
    if raw_events is None or parse is None:
        yield from stream
        return
    from botocore.exceptions import EventStreamError

    for raw in raw_events:
        try:
            parsed = parse(raw)
        except EventStreamError as exc:
            try:
                exc.response["Extra"] = json.loads(raw.payload)
            except (ValueError, AttributeError, TypeError):
                pass
            raise
        if parsed:
            yield parsed


def stream_socket(stream: Any) -> socket.socket | None:
    """The socket under the EventStream's response, or None if it cannot be reached."""
    raw = getattr(stream, "_raw_stream", None)
    candidates = [
        getattr(getattr(raw, "connection", None), "sock", None),
        getattr(getattr(raw, "_connection", None), "sock", None),
        getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None),
    ]
    return next((sock for sock in candidates if isinstance(sock, socket.socket)), None)
