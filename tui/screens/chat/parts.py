"""What the chat screen gives each part it is built from (sending.py, branching.py,
reasoning_actions.py, late_saves.py): its app, the live turn, the answer whose reasoning is
shown, the conversation, and its widgets. :class:`ChatParts` declares them once for the type
checker; ``ChatScreen`` defines them. Each part derives from it and declares only the
methods of other parts it calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from thinkpane.tui.app.app import ThinkpaneApp
    from thinkpane.tui.screens.chat.counters import TurnCounters
    from thinkpane.tui.screens.chat.live_turn import LiveTurn
    from thinkpane.tui.widgets.prompt_input import PromptInput
    from thinkpane.tui.widgets.reasoning_pane import ReasoningPane
    from thinkpane.tui.widgets.status_line import StatusLine
    from thinkpane.tui.widgets.transcript import Transcript
    from thinkpane.tui.widgets.turn import AnswerTurn


class ChatParts(Screen[None]):
    if TYPE_CHECKING:  # what ChatScreen provides
        app: ThinkpaneApp
        live: LiveTurn | None
        shown_answer: AnswerTurn | None
        conversation_id: int | None
        counters: TurnCounters

        @property
        def status(self) -> StatusLine: ...
        @property
        def transcript(self) -> Transcript: ...
        @property
        def prompt(self) -> PromptInput: ...
        @property
        def reasoning_pane(self) -> ReasoningPane: ...
