"""The Reasoning pane's actions on the chat screen: show or hide it (``chat.toggle_reasoning``),
show an earlier answer's reasoning (its ``▸ Reasoning`` link, ``chat.previous_reasoning`` /
``chat.next_reasoning``), and the reasoning the next answers ask for: thinking on or off
(``chat.toggle_thinking``) and the effort (``chat.cycle_effort``), set on the backend itself
for this session (``Backend.set_reasoning``); the status line shows the setting and each turn
records what it ran with (``TurnRecord.for_backend``). ``ChatScreen`` derives from
:class:`ReasoningActions`; its BINDINGS name these actions.
"""

from __future__ import annotations

from textual import on

from thinkpane.backends.base import Backend
from thinkpane.backends.thinking import EFFORT_CYCLE, Reasoning
from thinkpane.tui.screens.chat.parts import ChatParts
from thinkpane.tui.widgets.turn import AnswerTurn, ReasoningLink

HIDE_REASONING_CLASS = "-hide-reasoning"


class ReasoningActions(ChatParts):
    def action_toggle_reasoning(self) -> None:
        self.app.show_reasoning = not self.app.show_reasoning
        self.set_class(not self.app.show_reasoning, HIDE_REASONING_CLASS)

    def action_toggle_thinking(self) -> None:
        """Thinking on <-> off for the next answers (auto, the server's default, goes to off)."""
        backend = self._reasoning_backend("thinking switch")
        if backend is None:
            return
        current = backend.reasoning
        effort = None if current.effort == "none" else current.effort
        backend.set_reasoning(Reasoning("on" if current.off else "off", effort))
        self._show_reasoning_setting(backend)

    def action_cycle_effort(self) -> None:
        """The next effort for the next answers: default, low, medium, high, max, default…"""
        backend = self._reasoning_backend("reasoning-effort control", option="reasoning_effort")
        if backend is None:
            return
        current = backend.reasoning
        index = EFFORT_CYCLE.index(current.effort) if current.effort in EFFORT_CYCLE else 0
        effort = EFFORT_CYCLE[(index + 1) % len(EFFORT_CYCLE)]
        # Choosing an effort asks for thinking: a switch left off would silently drop it.
        thinking = "on" if effort is not None and current.thinking == "off" else current.thinking
        backend.set_reasoning(Reasoning(thinking, effort))
        self._show_reasoning_setting(backend)

    def _reasoning_backend(self, what: str, option: str = "thinking") -> Backend | None:
        """The backend, if it has this control; otherwise the status line says why not."""
        backend: Backend | None = self.app.backend
        if backend is None:
            self.status.set(text="no backend yet: set one up first")
            return None
        if not any(declared.name == option for declared in backend.options):
            self.status.set(text=f"{backend.label} has no {what}")
            self.app.bell()
            return None
        return backend

    def _show_reasoning_setting(self, backend: Backend) -> None:
        label = backend.reasoning_label()
        when = "next answers" if self.live is None else "from the next answer"
        self.status.set(reasoning=label, text=f"{when}: {label}")

    @on(ReasoningLink.Selected)
    async def on_reasoning_link_selected(self, event: ReasoningLink.Selected) -> None:
        await self.show_reasoning_of(event.turn)

    async def show_reasoning_of(self, answer: AnswerTurn) -> None:
        """Show an answer's reasoning in the Reasoning pane (the live one's as it streams)."""
        live = self.live
        if live is not None and answer is not live.answer:
            await live.stop_reasoning_stream()  # its live Markdown is about to be removed
        self.shown_answer = answer
        if live is not None and answer is live.answer and not live.ending:
            await live.show_reasoning()
            return
        number = self.transcript.answer_number(answer)
        # "answer 2 of 3", or "2/3" when the pane is narrow (the header picks what fits).
        position = (number, self.transcript.answer_count()) if number else None
        await self.reasoning_pane.show_record(answer.record, position=position)
        if not self.app.show_reasoning:
            self.action_toggle_reasoning()

    async def action_step_reasoning(self, step: int) -> None:
        transcript = self.transcript
        count = transcript.answer_count()
        if not count:
            return
        shown = self.shown_answer
        number = transcript.answer_number(shown) if shown is not None else None
        number = count if number is None else max(1, min(count, number + step))
        target = transcript.answer_at(number)
        if target is None or target.record.status == "streaming":
            return
        await self.show_reasoning_of(target)
        transcript.scroll_to_widget(target, animate=False)
