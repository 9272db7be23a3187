"""Sending a prompt and starting its answer, on the chat screen.

The user message is stored before the stream starts; the prompt is cleared only once the
stream has started, so a send that fails (no backend, store error) loses nothing, and a turn
that ends before any answer text arrived (an HTTP 500, Esc) puts the prompt back in the box
(it is not sent twice: see backend_conversation). A chat that outgrew the model's context
window is offered to leave its oldest turns out of what is sent. Sending while an answer
streams is refused with a status message (Esc cancels first): a queue would send a prompt
written before the user saw the answer it replies to. ``ChatScreen`` derives from
:class:`Sending`; regenerating and resending an edited prompt (branching.py) start their
answers through :meth:`Sending.start_answer` too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from textual import on

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import BackendError, ContextWindowError, ThinkpaneError
from thinkpane.tui.core.backend_conversation import title_from_prompt, turns_to_leave_out
from thinkpane.tui.core.branches import PendingTurn
from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.screens.chat.live_turn import LiveTurn
from thinkpane.tui.screens.chat.parts import ChatParts
from thinkpane.tui.widgets.prompt_input import PromptInput
from thinkpane.tui.widgets.turn import AnswerTurn

if TYPE_CHECKING:
    from thinkpane.backends.events import Conversation


class Sending(ChatParts):
    if TYPE_CHECKING:  # what ChatScreen provides
        leave_out: int
        leave_out_offer: int
        _offered_on: AnswerTurn | None
        _after_stream: list[Callable[[], Awaitable[object]]]

        def clock(self) -> float: ...
        def _set_answer_header(self, title: str | None = None) -> None: ...
        def show_problem(self, error: ThinkpaneError) -> None: ...
        def stop_editing(self, *, keep_text: bool = False) -> bool: ...
        def store_prompt(self, text: str) -> PendingTurn: ...
        async def show_path(self, path: Sequence[Any], *, live: tuple[int, TurnRecord] | None = None) -> None: ...
        async def start_turn(self, backend: Backend, conversation: Conversation, writer: Any,
                             answer: AnswerTurn, typed: str | None = None) -> LiveTurn: ...
        def save_pending(self) -> ThinkpaneError | None: ...
        def retry_saves(self) -> None: ...

    @on(PromptInput.Submitted)
    async def on_prompt_submitted(self, event: PromptInput.Submitted) -> None:
        await self.send(event.text)

    async def send(self, text: str) -> bool:
        """Start a turn for ``text`` (a new version of the prompt being edited, if one is);
        False (prompt kept) when it cannot start."""
        prompt = text.strip()
        if not prompt:
            return False
        backend = self.backend_to_start()
        if backend is None:
            return False
        store = self.app.store
        try:
            if self.conversation_id is None:
                title = title_from_prompt(prompt)
                self.conversation_id = store.create_conversation(
                    title, backend=backend.name, model=backend.model, system=self.app.settings.system_prompt
                )
                self._set_answer_header(title)
            pending = self.store_prompt(text.rstrip())
        except ThinkpaneError as error:
            self.status.set(state="error", text=error.title)
            return False
        if not await self.start_answer(pending, backend, typed=text.rstrip()):
            return False
        self.stop_editing(keep_text=True)
        self.prompt.remember(text.rstrip())
        self.prompt.clear()
        return True

    def backend_to_start(self) -> Backend | None:
        """The backend to start an answer with; None (and the status says why) while an
        answer streams or the backend is not ready."""
        if self.live is not None:
            self.status.set(text="still answering: press Esc to stop it first")
            self.app.bell()
            return None
        backend: Backend | None = self.app.backend
        if backend is None:
            error = self.app.backend_error
            if error is not None:
                self.show_problem(error)
                self.status.set(state="error", text="cannot send: " + error.title)
            else:
                self.status.set(state="loading", text="the backend is still loading; try again in a moment")
        return backend

    async def start_answer(self, pending: PendingTurn, backend: Backend, *, typed: str | None = None) -> bool:
        """Stream an answer to the stored prompt ``pending`` (sent, edited or asked again):
        show the branch it starts, and feed the new answer. False when the store fails.
        ``typed``: the prompt as the user sent it (it goes back in the box if no answer comes)."""
        store = self.app.store
        try:
            writer = pending.start_answer(store, backend=backend.name, model=backend.model)
            path = store.load_messages(pending.conversation_id)
        except ThinkpaneError as error:
            self.status.set(state="error", text=error.title)
            return False
        leave_out = self.leave_out_offer or self.leave_out
        conversation = pending.conversation(self.app.settings.system_prompt, backend=backend.name,
                                            model=backend.model, leave_out=leave_out)
        self.leave_out, self.leave_out_offer = leave_out, 0
        if self._offered_on is not None:
            self._offered_on.suggest("")
            self._offered_on = None
        # The record carries the model and thinking setting this answer runs with.
        await self.show_path(path, live=(writer.message_id, TurnRecord.for_backend(backend, self.clock())))
        answer = self.transcript.turn_for(writer.message_id)
        assert isinstance(answer, AnswerTurn)
        await self.start_turn(backend, conversation, writer, answer, typed)
        self.shown_answer = answer
        self._say_left_out()
        return True

    def _say_left_out(self) -> None:
        if self.leave_out:
            self.status.set(text=f"oldest turns not sent: {self.leave_out} (the context window is full)")

    async def turn_ended(self, live: LiveTurn, status: str, error: BackendError | None) -> None:
        if self.save_pending() is not None:
            self.retry_saves()
        follow_ups, self._after_stream = self._after_stream, []
        if status == "complete":
            self._say_left_out()
        elif not follow_ups and not live.record.content:
            self._not_answered(live, error)
        for follow_up in follow_ups:
            await follow_up()

    def _not_answered(self, live: LiveTurn, error: BackendError | None) -> None:
        """The turn failed or was cancelled before any answer text: the prompt the user sent
        goes back in the box (unless they are typing another), and a chat too long for the
        context window is offered to leave its oldest turns out of what is sent."""
        if live.typed is not None and not self.prompt.text.strip():
            self.prompt.load_text(live.typed)
            self.prompt.move_cursor(self.prompt.document.end)
        if not isinstance(error, ContextWindowError):
            return
        more = turns_to_leave_out(live.conversation, used_tokens=error.used_tokens, limit_tokens=error.limit_tokens)
        if more:
            earlier = self.leave_out + sum(m.role == "user" for m in live.conversation.messages) - 1
            self.leave_out_offer = self.leave_out + more
            again = "Press Enter to send it again" if live.typed is not None else "Regenerate to ask it again"
            live.answer.suggest(
                f"{again} without the oldest turns of this chat ({self.leave_out_offer} of {earlier}; "
                "they stay in the history and on screen)."
            )
            self._offered_on = live.answer
