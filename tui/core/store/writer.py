"""Saving one streaming answer: :class:`AnswerWriter`, made by ``ConversationStore.start_answer``.

* **Crash safety.** ``start_answer`` inserts the assistant row at once with status
  ``"streaming"``; an :class:`AnswerWriter` buffers deltas in memory and appends them with a
  single ``UPDATE ... SET content = content || ?`` on ``flush()`` (the UI calls it on a
  ~0.25 s timer) or when more than :data:`FLUSH_THRESHOLD_CHARS` are buffered. If the
  process dies mid-stream, the next open turns its rows still ``"streaming"`` into
  ``"interrupted"`` and keeps the text flushed so far (rows of a writer that is still
  running, e.g. a second Thinkpane window, are left alone: each row records its pid, and
  :data:`_LIVE_ANSWERS` lists this process's own).
* **Errors.** A failed flush raises :class:`StoreError` and keeps the buffer, so the UI can
  go on showing the text and flush again later. A failed ``finish()`` keeps the final state
  too: the next ``flush()`` writes both (the chat screen retries while anything is
  :attr:`AnswerWriter.unsaved`, and ``ConversationStore.close()`` once more), so an answer
  saved late is still labelled by how it ended, not "interrupted".
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from thinkpane.tui.core.store.errors import StoreError
from thinkpane.tui.core.store.records import FINAL_STATUSES
from thinkpane.tui.core.store.text import _split_for_storage, _storable_or_none

if TYPE_CHECKING:
    from thinkpane.tui.core.store.conversations import ConversationStore

# Buffered characters after which an append flushes by itself (about 4 KB of text).
FLUSH_THRESHOLD_CHARS = 4096

# Answers being written by this process, as (database file, message id): a store opened
# in the same process must not take them for leftovers of a crash.
_LIVE_ANSWERS: set[tuple[str, int]] = set()
_LIVE_ANSWERS_LOCK = threading.Lock()


class AnswerWriter:
    """Saves one streaming assistant answer in batches, so storing never slows the stream.

    ``append_*`` only touch an in-memory list (O(1)). ``flush()`` writes everything buffered
    with one UPDATE. A failed flush raises :class:`StoreError` and keeps the buffer; an
    append that crossed the size threshold never raises (the error waits for the next
    explicit ``flush()``/``finish()``, and automatic flushing pauses until then so a locked
    database cannot stall every delta).
    """

    def __init__(self, store: ConversationStore, message_id: int, conversation_id: int) -> None:
        self.store = store
        self.message_id = message_id
        self.conversation_id = conversation_id
        self._buffer_lock = threading.Lock()
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._buffered = 0
        self._meta: dict[str, Any] = {}
        self._extra: dict[str, Any] = {}
        self._meta_dirty = False
        self._auto_flush = True
        # (status, stop_reason, error) of a finish() not written yet: the next flush() writes it.
        self._final: tuple[str, str | None, str | None] | None = None
        self.finished = False
        self.last_error: StoreError | None = None

    # ----------------------------------------------------------------- buffering

    def append_content(self, text: str) -> None:
        self._append(self._content, text)

    def append_reasoning(self, text: str) -> None:
        self._append(self._reasoning, text)

    def _append(self, parts: list[str], text: str) -> None:
        if not text or self.finished or self._final is not None:
            # A cancelled stream may still deliver a late delta; the answer is already final.
            return
        with self._buffer_lock:
            parts.append(text)
            self._buffered += len(text)
            over = self._buffered > FLUSH_THRESHOLD_CHARS and self._auto_flush
        if over:
            try:
                self.flush()
            except StoreError:
                self._auto_flush = False  # flush() recorded last_error

    def set_usage(self, input_tokens: int | None, output_tokens: int | None) -> None:
        with self._buffer_lock:
            self._meta["input_tokens"] = input_tokens
            self._meta["output_tokens"] = output_tokens
            self._meta_dirty = True

    def set_timing(self, ttft_ms: int | None, elapsed_ms: int | None) -> None:
        with self._buffer_lock:
            self._meta["ttft_ms"] = ttft_ms
            self._meta["elapsed_ms"] = elapsed_ms
            self._meta_dirty = True

    def merge_extra(self, data: dict[str, Any]) -> None:
        with self._buffer_lock:
            self._extra.update(data)
            # default=str: a backend slipping in a non-JSON value must not break the stream.
            self._meta["extra"] = json.dumps(self._extra, ensure_ascii=False, default=str)
            self._meta_dirty = True

    @property
    def buffered_chars(self) -> int:
        """Characters appended but not yet in the database."""
        return self._buffered

    @property
    def unsaved(self) -> bool:
        """A write failed and what it held is still waiting here (text, or the final state)."""
        return not self.finished and self.last_error is not None

    # ----------------------------------------------------------------- writing

    def flush(self) -> None:
        """Write what is buffered now (one UPDATE), and the final state if ``finish()`` could
        not write it. Raises StoreError, keeping the buffer."""
        if self.finished:
            return
        self._write(final=self._final)
        if self._final is not None:
            self.finished = True
            self._forget()

    def finish(self, status: str, *, stop_reason: str | None = None, error: str | None = None) -> None:
        """Write the rest and the final state. ``status``: complete | cancelled | error.

        Raises StoreError when it cannot; the final state then waits for the next ``flush()``
        (or ``finish()``: a call after a failed one tries again, with the first one's state)."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {sorted(FINAL_STATUSES)}, not {status!r}")
        if self._final is None:
            self._final = (status, stop_reason, error)
        self.flush()

    def _forget(self) -> None:
        """No longer a live answer: a later open may mark it interrupted if still streaming."""
        with self.store._lock:
            self.store._writers.discard(self)
        with _LIVE_ANSWERS_LOCK:
            _LIVE_ANSWERS.discard((self.store._key, self.message_id))

    def _write(self, final: tuple[str, str | None, str | None] | None) -> None:
        with self._buffer_lock:
            content, reasoning = self._content, self._reasoning
            if final is None and not content and not reasoning and not self._meta_dirty:
                return
            self._content, self._reasoning, self._buffered = [], [], 0
            meta, meta_dirty = dict(self._meta), self._meta_dirty
            self._meta_dirty = False
        content_text, content_held = _split_for_storage("".join(content), final is None)
        reasoning_text, reasoning_held = _split_for_storage("".join(reasoning), final is None)

        assignments = ["content = content || ?", "reasoning = reasoning || ?"]
        params: list[Any] = [content_text, reasoning_text]
        if meta_dirty or final is not None:
            for column, value in meta.items():
                assignments.append(f"{column} = ?")
                params.append(value)
        now = self.store._now()
        if final is not None:
            status, stop_reason, error = final
            assignments += ["status = ?", "stop_reason = ?", "error = ?", "finished_at = ?"]
            params += [status, stop_reason, _storable_or_none(error), now]
        try:
            with self.store._write("Could not save the conversation") as conn:
                conn.execute(
                    f"UPDATE messages SET {', '.join(assignments)} WHERE id = ?",
                    (*params, self.message_id),
                )
                if final is not None:
                    self.store._touch(conn, self.conversation_id, now)
        except StoreError as exc:
            # Put the text back in front of anything appended meanwhile: nothing is lost.
            with self._buffer_lock:
                if content:
                    self._content[:0] = content
                if reasoning:
                    self._reasoning[:0] = reasoning
                self._buffered += sum(map(len, content)) + sum(map(len, reasoning))
                self._meta_dirty = self._meta_dirty or meta_dirty
            self.last_error = exc
            raise
        with self._buffer_lock:
            # A high surrogate held back waits for its pair in the next flush.
            if content_held:
                self._content.insert(0, content_held)
                self._buffered += 1
            if reasoning_held:
                self._reasoning.insert(0, reasoning_held)
                self._buffered += 1
        self.last_error = None
        self._auto_flush = True
