"""Answers the store could not write yet (a full disk): kept in memory, written again every
tick until they are, and the status line says when they are. ``ChatScreen`` derives from
:class:`LateSaves`; the store keeps the unsaved text (``ConversationStore.save_pending``).
Quitting asks first while something is still unsaved (``unsaved_before_quit``).
"""

from __future__ import annotations

from textual.timer import Timer

from thinkpane.backends.errors import ThinkpaneError
from thinkpane.tui.screens.chat.live_turn import FLUSH_INTERVAL_S
from thinkpane.tui.screens.chat.parts import ChatParts

SAVED_TEXT = "saved: the answer is in the history now"


class LateSaves(ChatParts):
    _save_retry: Timer | None = None  # runs while an answer waits to be saved

    def retry_saves(self) -> None:
        """An answer could not be saved (a full disk…): write it again every tick until it is."""
        if self._save_retry is None:
            self._save_retry = self.set_interval(FLUSH_INTERVAL_S, self.save_pending)

    def save_pending(self) -> ThinkpaneError | None:
        """Write what failed saves left over; the error that still stands, None once all is
        saved (then the retries stop and the status line says so)."""
        error = self.app.store.save_pending()
        if error is None and self._save_retry is not None:
            self._save_retry.stop()
            self._save_retry = None
            self.status.set(text=SAVED_TEXT)
        return error

    def unsaved_before_quit(self) -> ThinkpaneError | None:
        """Save all that can be saved now; the error that keeps an answer unsaved, if any."""
        self.flush_live_answer()
        return self.save_pending()

    def flush_live_answer(self) -> None:
        """Write what the streaming answer has received so far to the store (before an export)."""
        if self.live is not None and not self.live.ending:
            self.live.save_so_far()
