"""The Answer pane: a scrollable transcript of the conversation's turns.

It follows new text at its end while a stream runs, until the user scrolls away (see
following.py).

A loaded conversation mounts only its last turns; older ones are mounted a page at a time
as the user scrolls up towards them. Mounting all of a 300-turn conversation took 6 s and
110 MB, and every layout pass of a new stream then walked its 1,500 widgets
(tests/bench/bench_long_conversation.py).
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.render.following import Following
from thinkpane.tui.render.laid_out_once import LaidOutOnce
from thinkpane.tui.render.strip_scrollbar import StripScrollbars
from thinkpane.tui.widgets.turn import AnswerTurn, UserTurn


class Transcript(StripScrollbars, Following, LaidOutOnce, VerticalScroll, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "app.copy_code_block", "Copy code", id="transcript.copy_code",
                tooltip="Copy a code block of the last answer (several: choose one)"),
    ]

    # Widgets (a user turn or an answer turn each) mounted when a conversation opens, and
    # mounted per page when scrolling up within LOAD_WITHIN_SCREENS viewports of the top.
    INITIAL_TURNS = 20
    PAGE_TURNS = 10
    LOAD_WITHIN_SCREENS = 2

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._older: list[UserTurn | AnswerTurn] = []  # not mounted yet, oldest first
        self._loading_older = False

    def on_mount(self) -> None:
        self.watch(self, "scroll_y", self._scrolled, init=False)

    async def add_user(self, prompt: str) -> UserTurn:
        turn = UserTurn(prompt)
        await self.mount(turn)
        return turn

    async def add_answer(self, record: TurnRecord) -> AnswerTurn:
        turn = AnswerTurn(record)
        await self.mount(turn)
        return turn

    async def add_many(self, turns: list[UserTurn | AnswerTurn]) -> None:
        """Show a loaded conversation: its last turns now (one layout pass), older on demand."""
        await self.remove_children()
        split = max(0, len(turns) - self.INITIAL_TURNS)
        self._older = list(turns[:split])
        if turns[split:]:
            await self.mount_all(turns[split:])
        self.scroll_end(animate=False, immediate=False)

    async def clear(self) -> None:
        self.anchor(False)
        self._older = []
        await self.remove_children()

    def answers(self) -> list[AnswerTurn]:
        """Every answer of the conversation, oldest first, mounted or not."""
        older = [turn for turn in self._older if isinstance(turn, AnswerTurn)]
        return older + list(self.query_children(AnswerTurn).results(AnswerTurn))

    def _scrolled(self, old: float, new: float) -> None:
        if (self._older and not self._loading_older and new < old
                and new <= self.LOAD_WITHIN_SCREENS * self.scrollable_content_region.height):
            self._loading_older = True
            self.call_later(self.mount_older)

    async def mount_older(self) -> None:
        """Mount the next page of older turns above, keeping the view where it is."""
        try:
            page = self._older[-self.PAGE_TURNS:]
            del self._older[-self.PAGE_TURNS:]
            if not page:
                return
            height = self.virtual_size.height
            await self.mount_all(page, before=0 if self.children else None)
            # The new turns are above the view: move down by their height so nothing jumps.
            self.call_after_refresh(self._keep_view, height)
        finally:
            self._loading_older = False

    def _keep_view(self, height_before: int) -> None:
        added = self.virtual_size.height - height_before
        if added > 0 and not (self.is_anchored and self.scroll_y >= self.max_scroll_y):
            self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True)

    def scroll_to_widget(self, widget, **kwargs) -> bool:
        """Older turns may not be mounted yet: mount down to ``widget`` first."""
        if widget in self._older:
            async def mount_then_scroll() -> None:
                while widget in self._older:
                    await self.mount_older()
                self.call_after_refresh(VerticalScroll.scroll_to_widget, self, widget, **kwargs)

            self.call_later(mount_then_scroll)
            return True
        return super().scroll_to_widget(widget, **kwargs)

    def keep_following(self) -> None:
        self.follow_end()

    def follow(self) -> None:
        """Jump to the end and keep following new text until the user scrolls away."""
        self.follow_end(restart=True)
