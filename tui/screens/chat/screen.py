"""The chat screen: Reasoning pane | Answer pane (transcript), prompt, status line.

Sending: the user message is stored before the stream starts; the prompt is cleared only
once the stream has started, so a send that fails (no backend, store error) loses nothing.
Sending while an answer streams is refused with a status message (Esc cancels first): a
queue would send a prompt written before the user saw the answer it replies to.

An answer while it streams is a LiveTurn (live_turn.py: its widgets, its TurnRecorder), its
figures on the status line and the Reasoning header are TurnCounters (counters.py), and the
stream runs in a worker (stream_worker.py) whose messages reach the live turn through
LiveTurnHost (turn_host.py, shared with the compare screen's columns). This screen owns the
layout, the backend state, opening and starting conversations, and what waits for a stream
to end.
The conversation is a tree and the screen shows its active path; regenerating, editing
and switching versions are in branching.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import ThinkpaneError
from thinkpane.tui.core.backend_conversation import title_from_prompt
from thinkpane.tui.core.branches import PendingTurn
from thinkpane.tui.core.sanitize import sanitize, sanitize_line
from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.render.crop_compositor import install_crop_compositor
from thinkpane.tui.screens.chat.branching import BranchActions
from thinkpane.tui.screens.chat.keys import PaneKeys
from thinkpane.tui.screens.chat.live_turn import LiveTurn
from thinkpane.tui.screens.chat.turn_host import LiveTurnHost
from thinkpane.tui.widgets.prompt_input import PromptInput
from thinkpane.tui.widgets.reasoning_pane import ReasoningPane
from thinkpane.tui.widgets.status_line import StatusLine
from thinkpane.tui.widgets.transcript import Transcript
from thinkpane.tui.widgets.turn import AnswerTurn, ReasoningLink

NARROW_CLASS = "-narrow"
HIDE_REASONING_CLASS = "-hide-reasoning"
ERROR_CLASS = "-error"
NARROW_BELOW_COLUMNS = 100


if TYPE_CHECKING:
    from thinkpane.tui.app.app import ThinkpaneApp


# PaneKeys: scrolling from the prompt, Tab order, typing; BranchActions: the conversation tree;
# LiveTurnHost: the answer streaming now (shared with the compare screen's columns).
class ChatScreen(BranchActions, LiveTurnHost, PaneKeys, Screen[None]):
    if TYPE_CHECKING:
        app: ThinkpaneApp  # the app this screen belongs to, for the type checker

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="chat.cancel",
                tooltip="Stop the running answer; the partial text is kept"),
        Binding("ctrl+t", "toggle_reasoning", "Reasoning", id="chat.toggle_reasoning",
                tooltip="Show or hide the Reasoning pane"),
        Binding("ctrl+n", "new_chat", "New chat", id="chat.new", tooltip="Start a new conversation"),
        Binding("ctrl+up", "step_reasoning(-1)", "Earlier reasoning", id="chat.previous_reasoning",
                show=False, tooltip="Show the reasoning of the previous answer"),
        Binding("ctrl+down", "step_reasoning(1)", "Later reasoning", id="chat.next_reasoning",
                show=False, tooltip="Show the reasoning of the next answer"),
    ]

    def __init__(self, *, conversation_id: int | None = None) -> None:
        super().__init__()
        # A frame renders only the widgets that show where it changed (not, say, the prompt
        # and footer for every frame of a growing reasoning pane), far-apart changes (the
        # pane, the header, the status line) as separate areas.
        install_crop_compositor(self)
        self.conversation_id = conversation_id
        self.init_live_turns()
        # Async callables to run once the current stream has ended (new chat, switch backend…).
        self._after_stream: list[Callable[[], Awaitable[object]]] = []
        self.shown_answer: AnswerTurn | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield ReasoningPane(id="reasoning")
            with Vertical(id="answer-pane"):
                yield Static("", id="answer-header")
                yield Static("", id="message-panel")
                yield Transcript(id="transcript")
        yield PromptInput(id="prompt")
        yield StatusLine(id="status")
        yield Footer()

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    async def on_mount(self) -> None:
        self.set_class(not self.app.show_reasoning, HIDE_REASONING_CLASS)
        self.set_class(self.app.size.width < NARROW_BELOW_COLUMNS, NARROW_CLASS)
        self.query_one("#message-panel").display = False
        if self.app.is_headless:
            self.prompt.cursor_blink = False  # deterministic screenshots
        self.prompt.focus()
        self.refresh_backend_state()
        self._set_answer_header()
        if self.conversation_id is not None:
            await self.open_conversation(self.conversation_id)

    def on_resize(self, event) -> None:
        self.set_class(event.size.width < NARROW_BELOW_COLUMNS, NARROW_CLASS)

    def _set_answer_header(self, title: str | None = None) -> None:
        header = Text("Answer", style="bold")
        if title:
            header.append(" · " + sanitize_line(title))
        self.query_one("#answer-header", Static).update(header)

    # ------------------------------------------------------------------ backend state

    def refresh_backend_state(self) -> None:
        """Show what the app knows about its backend: ready, loading, or a config error."""
        if not self.query("#message-panel"):
            return  # not composed yet; on_mount calls this again
        app = self.app
        backend: Backend | None = app.backend
        panel = self.query_one("#message-panel", Static)
        if backend is not None:
            panel.display = False
            if self.live is None:
                self.status.set(backend=backend.label, model=backend.model, state="idle", text="")
            self.run_when_ready(True)
            return
        if app.backend_error is not None:
            self.run_when_ready(False)
            self.show_problem(app.backend_error)
            self.status.set(backend=app.settings.backend, model="", state="error",
                            text=app.backend_error.title)
        else:
            self.status.set(backend=app.settings.backend, model="", state="loading",
                            text=app.backend_loading_text or "preparing backend…")

    def show_problem(self, error: ThinkpaneError) -> None:
        """A message panel above the transcript: the title, the detail and what to do."""
        text = Text()
        text.append(sanitize_line(error.title), style="bold")
        if error.detail:
            text.append("\n" + sanitize(error.detail))
        if error.hint:
            text.append("\n" + sanitize(error.hint))
        text.append("\nPress Ctrl+P → “Set up a backend…” to configure one.", style="dim")
        panel = self.query_one("#message-panel", Static)
        panel.update(text)
        panel.add_class(ERROR_CLASS)
        panel.display = True

    # ------------------------------------------------------------------ conversations

    async def open_conversation(self, conversation_id: int, through: int | None = None) -> None:
        """Show a conversation's active path; with ``through`` (a search result), the branch
        that holds that message, made the active one and scrolled to."""
        if self.live is not None:
            self.after_stream(lambda: self.open_conversation(conversation_id, through))
            return
        store = self.app.store
        try:
            summary = store.get_conversation(conversation_id)
            stored = store.activate(through) if summary is not None and through is not None else []
            if summary is not None and not stored:
                stored = store.load_messages(conversation_id)
        except ThinkpaneError as error:
            self.status.set(state="error", text=error.title)
            return
        if summary is None:
            self.status.set(state="error", text=f"Conversation {conversation_id} no longer exists")
            return
        self.stop_editing()
        self.conversation_id = conversation_id
        for message in stored:
            if message.role == "user":
                self.prompt.remember(message.content)
        await self.show_path(stored)
        self._set_answer_header(summary.title)
        last = self.transcript.last_answer()
        if last is not None:
            await self.show_reasoning_of(last)
        else:
            await self.reasoning_pane.clear()
        target = self.transcript.turn_for(through) if through is not None else None
        if target is not None:
            self.transcript.scroll_to_widget(target, animate=False)

    def action_new_chat(self) -> None:
        self.run_worker(self.new_chat(), group="ui", exclusive=False)

    async def new_chat(self) -> None:
        if self.live is not None:
            self.after_stream(self.new_chat)
            return
        self.stop_editing()
        self.conversation_id = None
        self.shown_answer = None
        await self.transcript.clear()
        await self.reasoning_pane.clear()
        self._set_answer_header()
        self.refresh_backend_state()
        self.prompt.focus()

    # ------------------------------------------------------------------ sending

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
        if not await self.start_answer(pending, backend):
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

    async def start_answer(self, pending: PendingTurn, backend: Backend) -> bool:
        """Stream an answer to the stored prompt ``pending`` (sent, edited or asked again):
        show the branch it starts, and feed the new answer. False when the store fails."""
        store = self.app.store
        try:
            writer = pending.start_answer(store, backend=backend.name, model=backend.model)
            path = store.load_messages(pending.conversation_id)
        except ThinkpaneError as error:
            self.status.set(state="error", text=error.title)
            return False
        conversation = pending.conversation(self.app.settings.system_prompt, backend=backend.name,
                                            model=backend.model)
        await self.show_path(path, live=(writer.message_id, TurnRecord(status="streaming")))
        answer = self.transcript.turn_for(writer.message_id)
        assert isinstance(answer, AnswerTurn)
        await self.start_turn(backend, conversation, writer, answer)
        self.shown_answer = answer
        return True

    async def turn_ended(self, live: LiveTurn) -> None:
        follow_ups, self._after_stream = self._after_stream, []
        for follow_up in follow_ups:
            await follow_up()

    def on_unmount(self) -> None:
        """The app is closing mid-stream: keep what arrived, marked cancelled."""
        self.abandon_turn()

    def after_stream(self, follow_up: Callable[[], Awaitable[object]]) -> bool:
        """Cancel the running answer (its partial text is kept) and run ``follow_up`` once it
        has ended; False (nothing scheduled) when no answer is streaming."""
        if self.live is None:
            return False
        self._after_stream.append(follow_up)
        self.action_cancel()
        return True

    def flush_live_answer(self) -> None:
        """Write what the streaming answer has received so far to the store (before an export)."""
        if self.live is not None and not self.live.ending:
            self.live.save_so_far()

    # ------------------------------------------------------------------ actions

    def action_cancel(self) -> None:
        """Esc: stop the running answer; with none running, stop editing a prompt."""
        if not self.cancel_turn():
            self.stop_editing()
            return
        self.status.set(text="cancelling…")

    def action_toggle_reasoning(self) -> None:
        self.app.show_reasoning = not self.app.show_reasoning
        self.set_class(not self.app.show_reasoning, HIDE_REASONING_CLASS)

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

    def last_answer_text(self) -> str | None:
        answer = self.transcript.last_answer()
        return answer.record.content if answer is not None else None
