"""Python's cyclic garbage collector around the app's startup.

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
"""

from __future__ import annotations

import gc

_paused = False
_frozen = False


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
