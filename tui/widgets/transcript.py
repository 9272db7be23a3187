"""The Answer pane: a scrollable transcript of the conversation's turns.

It is ``anchor()``-ed while a stream runs: it follows new text only while the user is at
the bottom; scrolling up stops following, scrolling back to the end resumes (oterm PR #82).
We anchor only once the content overflows: an anchored container shorter than its viewport
is drawn bottom-aligned, which leaves a short first exchange floating at the bottom.
"""

from __future__ import annotations

from textual.containers import VerticalScroll

from tui.turn_record import TurnRecord
from tui.widgets.turn import AnswerTurn, UserTurn


class Transcript(VerticalScroll, can_focus=True):
    async def add_user(self, prompt: str) -> UserTurn:
        turn = UserTurn(prompt)
        await self.mount(turn)
        return turn

    async def add_answer(self, record: TurnRecord) -> AnswerTurn:
        turn = AnswerTurn(record)
        await self.mount(turn)
        return turn

    async def add_many(self, turns: list[UserTurn | AnswerTurn]) -> None:
        """Mount a loaded conversation in one go (one layout pass, not one per turn)."""
        await self.remove_children()
        if turns:
            await self.mount_all(turns)
        self.scroll_end(animate=False, immediate=False)

    async def clear(self) -> None:
        self.anchor(False)
        await self.remove_children()

    def answers(self) -> list[AnswerTurn]:
        return list(self.query_children(AnswerTurn).results(AnswerTurn))

    def keep_following(self) -> None:
        follow_when_overflowing(self)

    def follow(self) -> None:
        """Jump to the end and keep following new text until the user scrolls away."""
        follow_when_overflowing(self, restart=True)


def follow_when_overflowing(container, *, restart: bool = False) -> None:
    """Anchor ``container`` once its content is taller than its viewport.

    ``restart`` (a new turn) re-engages following even if the user had scrolled away.
    Called after every write; cheap when already anchored.
    """
    if restart:
        container.anchor(False)
        container.call_after_refresh(follow_when_overflowing, container)
        return
    if not container.is_anchored and container.max_scroll_y > 0:
        container.anchor()
