"""The Answer pane: a scrollable transcript of the conversation's turns.

It follows new text at its end while a stream runs, until the user scrolls away (see
following.py).

A loaded conversation mounts only its last turns; older ones are mounted a page at a time
as the user scrolls up towards them. Mounting all of a 300-turn conversation took 6 s and
110 MB, and every layout pass of a new stream then walked its 1,500 widgets
(tests/bench/bench_long_conversation.py). The older turns are not even built until they
are mounted (or asked for): the transcript keeps what it was given (the stored messages)
and a ``build`` function that makes a turn widget of one; building the 4,000 widgets of a
2,000-turn conversation took 1.3 s.

The turns shown are one path of the conversation's tree; :meth:`Transcript.replace_from`
swaps the turns from one position on for another branch's, keeping those above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from thinkpane.tui.render.following import Following
from thinkpane.tui.render.laid_out_once import LaidOutOnce
from thinkpane.tui.render.strip_scrollbar import StripScrollbars
from thinkpane.tui.widgets.turn import AnswerTurn, UserTurn

Turn = UserTurn | AnswerTurn


def _built(item: Any) -> Turn:
    return item  # add_many was given widgets


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
        # Not mounted yet, oldest first: turn widgets, or items ``_build`` makes them from.
        self._older: list[Any] = []
        self._build: Callable[[Any], Turn] = _built
        self._loading_older = False

    def on_mount(self) -> None:
        self.watch(self, "scroll_y", self._scrolled, init=False)

    async def add_many(self, turns: Sequence[Any], build: Callable[[Any], Turn] = _built) -> None:
        """Show a loaded conversation: its last turns now (one layout pass), older on demand.

        ``turns``: turn widgets, or items that ``build`` makes turn widgets of.
        """
        await self.replace_from(0, turns, build)

    async def replace_from(self, index: int, turns: Sequence[Any], build: Callable[[Any], Turn] = _built) -> None:
        """Keep the first ``index`` turns, and show ``turns`` after them (another branch).

        From the top (``index`` 0) only the last turns are mounted; below a turn that stays,
        every new turn is.
        """
        self._build = build
        if index == 0:
            self._older = []
            await self.remove_children()
            split = max(0, len(turns) - self.INITIAL_TURNS)
            self._older = list(turns[:split])
            if turns[split:]:
                await self.mount_all([build(item) for item in turns[split:]])
            self.scroll_end(animate=False, immediate=False)
            return
        mounted = list(self.children)
        if index < len(self._older):
            del self._older[index:]
            keep = 0
        else:
            keep = index - len(self._older)
        if mounted[keep:]:
            await self.remove_children(mounted[keep:])
        if turns:
            await self.mount_all([build(item) for item in turns])

    async def clear(self) -> None:
        self.anchor(False)
        self._older = []
        await self.remove_children()

    def _materialize(self, index: int) -> Turn:
        item = self._older[index]
        if not isinstance(item, (UserTurn, AnswerTurn)):
            item = self._older[index] = self._build(item)
        return item

    @staticmethod
    def _is_answer(item: Any) -> bool:
        return isinstance(item, AnswerTurn) or getattr(item, "role", None) == "assistant"

    def turn_count(self) -> int:
        return len(self._older) + len(self.children)

    def message_ids(self) -> list[int | None]:
        """The message id of every turn, oldest first, mounted or not."""
        older = [item.message_id if isinstance(item, (UserTurn, AnswerTurn)) else item.id for item in self._older]
        return older + [getattr(turn, "message_id", None) for turn in self.children]

    def turn_at(self, index: int) -> Turn:
        """Turn number ``index`` (from 0), built if it was not yet."""
        if index < len(self._older):
            return self._materialize(index)
        return self.children[index - len(self._older)]  # type: ignore[return-value]

    def index_of(self, turn: Turn) -> int | None:
        return next((i for i, item in enumerate(self._items()) if item is turn), None)

    def turn_for(self, message_id: int) -> Turn | None:
        ids = self.message_ids()
        return self.turn_at(ids.index(message_id)) if message_id in ids else None

    def answers(self) -> list[AnswerTurn]:
        """Every answer of the conversation, oldest first, mounted or not (builds them all)."""
        older = [self._materialize(i) for i, item in enumerate(self._older) if self._is_answer(item)]
        return [turn for turn in older if isinstance(turn, AnswerTurn)] + list(
            self.query_children(AnswerTurn).results(AnswerTurn))

    def answer_count(self) -> int:
        return sum(map(self._is_answer, self._older)) + len(self.query_children(AnswerTurn))

    def answer_number(self, answer: AnswerTurn) -> int | None:
        """Which answer of the conversation ``answer`` is, from 1 (None: not in the transcript)."""
        index = self.index_of(answer)
        return None if index is None else sum(map(self._is_answer, self._items()[: index + 1]))

    def answer_at(self, number: int) -> AnswerTurn | None:
        """Answer ``number`` (from 1), built if it was not yet."""
        seen = 0
        for index, item in enumerate(self._items()):
            seen += self._is_answer(item)
            if seen == number and self._is_answer(item):
                return self.turn_at(index)  # type: ignore[return-value]
        return None

    def _items(self) -> list[Any]:
        """Every turn, oldest first: widgets, or the items older ones will be built from."""
        return [*self._older, *self.children]

    def last_answer(self) -> AnswerTurn | None:
        mounted = list(self.query_children(AnswerTurn).results(AnswerTurn))
        return mounted[-1] if mounted else self.answer_at(self.answer_count())

    def _scrolled(self, old: float, new: float) -> None:
        if (self._older and not self._loading_older and new < old
                and new <= self.LOAD_WITHIN_SCREENS * self.scrollable_content_region.height):
            self._loading_older = True
            self.call_later(self.mount_older)

    async def mount_older(self) -> None:
        """Mount the next page of older turns above, keeping the view where it is."""
        try:
            first = max(0, len(self._older) - self.PAGE_TURNS)
            page = [self._materialize(index) for index in range(first, len(self._older))]
            del self._older[first:]
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
        if self._unmounted(widget):
            async def mount_then_scroll() -> None:
                while self._unmounted(widget):
                    await self.mount_older()
                self.call_after_refresh(VerticalScroll.scroll_to_widget, self, widget, **kwargs)

            self.call_later(mount_then_scroll)
            return True
        return super().scroll_to_widget(widget, **kwargs)

    def _unmounted(self, widget: object) -> bool:
        return any(item is widget for item in self._older)

    def keep_following(self) -> None:
        self.follow_end()

    def follow(self) -> None:
        """Jump to the end and keep following new text until the user scrolls away."""
        self.follow_end(restart=True)
