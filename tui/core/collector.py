"""Python's cyclic garbage collector around the app's startup and its streams.

Launching the app creates some 50,000 objects that live as long as the process: modules,
classes, the widget tree. While they are being created the collector runs a hundred-odd
times and finds next to nothing, since nothing made by an import is garbage yet: about
12 ms of the ~210 ms to the first frame (counted with ``gc.callbacks`` on a pty launch,
the way tests/bench/bench_startup.py starts it). So ``thinkpane`` pauses the collector from
its start to the first frame (``pause_for_startup``), and the app calls ``startup_done``
after that frame, in its warm-up thread.

``startup_done`` also does what a full collection later would do badly. One collection
clears the little the startup left, and what is still alive is frozen (``gc.freeze``).
After that, collections (the full ones too, which strike in the middle of a stream) walk
only what the conversation created. Walking everything Textual, Rich and Pygments hold
took ~25 ms, and it used to land inside a frame after an answer's last token.

While an answer streams (``streaming()``, around each stream worker) there are no full
collections. A full collection walks every object the conversation made since the freeze,
and a long answer makes many: with 60,000 tokens of reasoning on screen they took 85 ms each
(bench_render.py --long, counted with ``gc.callbacks``), a visible stall in the middle of
the stream; with three columns streaming at once (bench_compare.py) one could land between
the last token and the final frame, which then came after 105 ms. The young generations are
still collected as usual. Once every stream has been over for ``IDLE_S``, full collections
are allowed again (checked when a young collection starts, so nothing needs a timer or an
event loop), and the first one comes with the next young collections, while the user reads.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator

# After the last stream ends, full collections wait this long: past the final frame (within
# ~100 ms) and the frames that settle the screen.
IDLE_S = 2.0
# Full collections need this many young collections in a row: none while streaming.
NO_FULL_COLLECTIONS = 2**31 - 1

_paused = False
_frozen = False
_streams = 0
_last_stream_end = 0.0
_held_threshold: int | None = None  # the full collections' threshold, while they are held back


def pause_for_startup() -> None:
    """Stop collecting until ``resume`` or ``startup_done``; nothing if it is already off."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Collect again, if ``pause_for_startup`` stopped it (the app quit before its first frame)."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()


def startup_done() -> None:
    """After the first frame: collect once, freeze the survivors (once per process, so a second
    app in the same process, as in tests, does not freeze the first one's conversation),
    and resume collecting."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()  # what is garbage now must not be frozen with the rest
        gc.freeze()
    resume()


@contextlib.contextmanager
def streaming() -> Iterator[None]:
    """Around a stream worker: no full collections until every stream has been over for
    ``IDLE_S``."""
    global _streams, _last_stream_end, _held_threshold
    _streams += 1
    if _held_threshold is None:
        young, middle, full = gc.get_threshold()
        _held_threshold = full
        gc.set_threshold(young, middle, NO_FULL_COLLECTIONS)
        if _allow_full_collections_when_idle not in gc.callbacks:
            gc.callbacks.append(_allow_full_collections_when_idle)
    try:
        yield
    finally:
        # The time first: a collection in another thread between the two must not see no
        # streams and an old end time, and allow full collections at the last token.
        _last_stream_end = time.monotonic()
        _streams -= 1


def _allow_full_collections_when_idle(phase: str, info: dict[str, int]) -> None:
    global _held_threshold
    if (phase != "start" or _held_threshold is None or _streams
            or time.monotonic() - _last_stream_end < IDLE_S):
        return
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _held_threshold)
    _held_threshold = None
