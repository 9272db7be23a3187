"""The chat as a tree: regenerate an answer, edit and resend a prompt, move between the
versions of a turn (``‹ 2/3 ›``), regenerate with or switch to another backend or model.
``ChatScreen`` gets all of this by deriving from :class:`BranchActions`.

What the screen shows is always the conversation's active path in the store (see
tui/core/store): every action here changes the store first (a new answer under the prompt,
an edited prompt beside the original, ``activate`` to pick a version) and then shows the
path it leaves active with :meth:`BranchActions.show_path`, which keeps the turns both
paths share and rebuilds the rest, so everything below a switched turn (transcript,
Reasoning pane, status line) follows the chosen branch.

*The current answer* is the one whose reasoning is shown (Ctrl+Up/Down, a ``▸ Reasoning``
link, a version switched to), else the last one; *the current prompt* is the one it
answers. The keys act on those; the arrows of any turn's ``‹ 2/3 ›`` are clickable.

An answer may stream while the user switches versions: the live turn streams on out of
sight and is shown again, still live, when its branch is (live_turn.py). Starting a new
answer (regenerate, resend) waits for the running one, like sending does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.binding import Binding, BindingType

from thinkpane.backends.errors import ThinkpaneError
from thinkpane.tui.core import branches
from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.screens.chat.parts import ChatParts
from thinkpane.tui.widgets.turn import AnswerTurn, BranchBar, TurnPlace, UserTurn, ran_with

if TYPE_CHECKING:
    from thinkpane.backends.base import Backend

EDITING_CLASS = "-editing"
EDITING_TEXT = "editing a prompt: Enter sends it as a new version (the old one is kept) · Esc stops editing"


class BranchActions(ChatParts):
    if TYPE_CHECKING:  # what ChatScreen provides
        def backend_to_start(self) -> Backend | None: ...
        async def start_answer(self, pending: branches.PendingTurn, backend: Backend) -> bool: ...
        async def show_reasoning_of(self, answer: AnswerTurn) -> None: ...
        def after_stream(self, follow_up: Callable[[], Awaitable[object]]) -> bool: ...

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "regenerate", "Regenerate", id="chat.regenerate", show=False,
                tooltip="Ask the current answer's prompt again; the new answer is kept beside the old one"),
        Binding("ctrl+g", "app.regenerate_with", "Regenerate with…", id="chat.regenerate_with", show=False,
                tooltip="Pick another backend or model, then regenerate the current answer with it"),
        Binding("f2", "edit_prompt", "Edit prompt", id="chat.edit_prompt", show=False,
                tooltip="Edit the current answer's prompt; Enter sends it as a new version beside the old one"),
        Binding("f3", "app.switch_model", "Model…", id="chat.switch_model", show=False,
                tooltip="Switch backend or model for the next answers, in this chat"),
        Binding("alt+left", "step_answer_version(-1)", "Previous version", id="chat.previous_answer_version",
                show=False, tooltip="Show the previous version of the current answer (‹)"),
        Binding("alt+right", "step_answer_version(1)", "Next version", id="chat.next_answer_version",
                show=False, tooltip="Show the next version of the current answer (›)"),
        Binding("alt+shift+left", "step_prompt_version(-1)", "Previous prompt version",
                id="chat.previous_prompt_version", show=False,
                tooltip="Show the previous version of the current prompt, and the answers below it"),
        Binding("alt+shift+right", "step_prompt_version(1)", "Next prompt version",
                id="chat.next_prompt_version", show=False,
                tooltip="Show the next version of the current prompt, and the answers below it"),
    ]

    # Set up by ChatScreen: the prompt being edited (F2), and the draft it replaced.
    editing: UserTurn | None = None
    _draft: str = ""
    # Run once the backend being built is ready (regenerate with another model).
    _when_ready: Callable[[], Awaitable[object]] | None = None

    # ------------------------------------------------------------------ showing a path

    def build_turn(self, message: Any, live: tuple[int, TurnRecord] | None = None) -> UserTurn | AnswerTurn:
        """The widget of one stored message; the streaming answer gets its live record."""
        place = TurnPlace.of(message)
        if message.role == "user":
            return UserTurn(message.content, place=place)
        label = ran_with(message.backend, message.model)
        if live is not None and message.id == live[0]:
            return AnswerTurn(live[1], place=place, ran_with=label)
        current = self.live
        if current is not None and message.id == current.message_id:
            return AnswerTurn(current.record, place=place, ran_with=label, live_text=current.shown_text())
        return AnswerTurn(TurnRecord.from_stored(message), place=place, ran_with=label)

    async def show_path(self, path: Sequence[Any], *, live: tuple[int, TurnRecord] | None = None) -> None:
        """Show ``path`` (stored messages, oldest first): the turns it shares with what is
        shown stay, the others are rebuilt. ``live``: (message id, record) of an answer
        about to stream."""
        messages = [message for message in path if message.role in ("user", "assistant")]
        transcript = self.transcript
        shown = transcript.message_ids()
        keep = 0
        while keep < min(len(shown), len(messages)) and shown[keep] == messages[keep].id:
            keep += 1
        current = self.live
        if current is None:
            await transcript.replace_from(keep, messages[keep:], lambda message: self.build_turn(message, live))
            return
        async with current.panes_lock:  # no text is shown while its widgets are swapped
            if not current.detached and not current.ending:
                index = transcript.index_of(current.answer)
                if index is not None and index >= keep:
                    await current.detach()  # its widgets go; it streams on out of sight
            await transcript.replace_from(keep, messages[keep:], lambda message: self.build_turn(message, live))
            if current.detached and not current.ending and current.message_id is not None:
                widget = transcript.turn_for(current.message_id)
                if isinstance(widget, AnswerTurn):
                    current.reattach(widget)

    # ------------------------------------------------------------------ the current turn

    def current_answer(self) -> AnswerTurn | None:
        transcript = self.transcript
        shown = self.shown_answer
        if shown is not None and transcript.index_of(shown) is not None:
            return shown
        return transcript.last_answer()

    def current_prompt(self) -> UserTurn | None:
        """The prompt the current answer answers (the last prompt when there is no answer)."""
        transcript = self.transcript
        answer = self.current_answer()
        index = transcript.index_of(answer) if answer is not None else None
        if index is None:
            index = transcript.turn_count()
        for position in range(index - 1, -1, -1):
            turn = transcript.turn_at(position)
            if isinstance(turn, UserTurn):
                return turn
        return None

    # ------------------------------------------------------------------ versions

    async def action_step_answer_version(self, step: int) -> None:
        await self._step_current(self.current_answer(), "answer", step)

    async def action_step_prompt_version(self, step: int) -> None:
        await self._step_current(self.current_prompt(), "prompt", step)

    async def _step_current(self, turn: UserTurn | AnswerTurn | None, kind: str, step: int) -> None:
        if turn is None:
            self.status.set(text=f"no {kind} yet")
            return
        await self.step_version(turn, step)

    @on(BranchBar.Stepped)
    async def on_branch_bar_stepped(self, event: BranchBar.Stepped) -> None:
        await self.step_version(event.turn, event.step)

    async def step_version(self, turn: UserTurn | AnswerTurn, step: int) -> None:
        """Show the previous (-1) or next (+1) sibling of ``turn`` and the branch below it."""
        if turn.message_id is None:
            return
        store = self.app.store
        try:
            siblings = store.siblings(turn.message_id)
            index = siblings.index(turn.message_id) + step if turn.message_id in siblings else -1
            if not 0 <= index < len(siblings):
                kind = "answer" if isinstance(turn, AnswerTurn) else "prompt"
                self.status.set(text=f"no {'earlier' if step < 0 else 'later'} version of this {kind}")
                self.app.bell()
                return
            path = store.activate(siblings[index])
        except ThinkpaneError as error:
            self.status.set(state="error", text=error.title)
            return
        await self.show_path(path)
        transcript = self.transcript
        chosen = transcript.turn_for(siblings[index])
        if chosen is None:
            return
        answer = chosen if isinstance(chosen, AnswerTurn) else self._answer_after(chosen)
        if answer is not None:
            await self.show_reasoning_of(answer)
            if self.live is None:
                self.counters.show_outcome(answer.record)
        transcript.scroll_to_widget(chosen, animate=False)

    def _answer_after(self, prompt: UserTurn) -> AnswerTurn | None:
        transcript = self.transcript
        index = transcript.index_of(prompt)
        if index is not None and index + 1 < transcript.turn_count():
            turn = transcript.turn_at(index + 1)
            return turn if isinstance(turn, AnswerTurn) else None
        return None

    # ------------------------------------------------------------------ regenerate

    async def action_regenerate(self) -> None:
        await self.regenerate(self.current_answer())

    async def regenerate(self, answer: AnswerTurn | None) -> bool:
        """Ask ``answer``'s prompt again (None: the last prompt); the new answer streams
        beside it and its branch is shown. False when it could not start (the status says why)."""
        backend = self.backend_to_start()
        if backend is None:
            return False
        conversation_id = self.conversation_id
        if conversation_id is None:
            self.status.set(text="nothing to regenerate yet: send a prompt first")
            return False
        try:
            pending = branches.prompt_to_ask_again(
                self.app.store, conversation_id, answer.message_id if answer is not None else None)
        except ThinkpaneError as error:
            self.status.set(state="error", text=error.title)
            return False
        return await self.start_answer(pending, backend)

    def when_backend_ready(self, follow_up: Callable[[], Awaitable[object]]) -> None:
        """Run ``follow_up`` once the backend being built is ready (dropped if it fails)."""
        self._when_ready = follow_up

    def run_when_ready(self, ready: bool) -> None:
        """The backend is ready (or failed): run (or drop) what waited for it."""
        follow_up, self._when_ready = self._when_ready, None
        if follow_up is None:
            return
        if not ready:
            self.status.set(text="not regenerated: the backend could not start")
        elif not self.after_stream(follow_up):
            self.run_worker(follow_up(), group="ui", exclusive=False)

    # ------------------------------------------------------------------ edit and resend

    def action_edit_prompt(self) -> None:
        prompt = self.current_prompt()
        if prompt is None or prompt.message_id is None:
            self.status.set(text="no prompt to edit yet")
            return
        box = self.prompt
        if self.editing is None:
            self._draft = box.text  # given back if the edit is abandoned
        self.editing = prompt
        box.load_text(prompt.prompt)
        box.move_cursor(box.document.end)
        box.add_class(EDITING_CLASS)
        box.border_title = "editing a prompt"
        box.focus()
        self.status.set(text=EDITING_TEXT)

    def stop_editing(self, *, keep_text: bool = False) -> bool:
        """Leave edit mode (the draft typed before it comes back unless ``keep_text``);
        False when there was no edit."""
        if self.editing is None:
            return False
        self.editing = None
        box = self.prompt
        box.remove_class(EDITING_CLASS)
        box.border_title = None
        if not keep_text:
            box.load_text(self._draft)
            box.move_cursor(box.document.end)
        self._draft = ""
        if self.status.info.text == EDITING_TEXT:
            self.status.set(text="")
        return True

    def store_prompt(self, text: str) -> branches.PendingTurn:
        """Store ``text`` as the next prompt, or as a new version of the prompt being edited."""
        store = self.app.store
        if self.editing is not None and self.editing.message_id is not None:
            return branches.edited_prompt(store, self.editing.message_id, text)
        assert self.conversation_id is not None, "send() creates the conversation first"
        return branches.new_prompt(store, self.conversation_id, text)
