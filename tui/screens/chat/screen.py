"""The chat screen: Reasoning pane | Answer pane (transcript), prompt, status line.

This screen owns the layout, the backend state (ready, loading, or a problem shown above
the transcript), opening and starting conversations, and the key bindings. The rest it
gets from its bases, one job each:

* :class:`~thinkpane.tui.screens.chat.sending.Sending`: sending a prompt and starting its
  answer (nothing typed is lost; a full context window offers to leave old turns out);
* :class:`~thinkpane.tui.screens.chat.turn_host.LiveTurnHost`: the streaming answer, a
  LiveTurn (live_turn.py) fed by a stream worker (stream_worker.py), its figures on the
  status line (counters.py);
* :class:`~thinkpane.tui.screens.chat.branching.BranchActions`: the conversation as a tree
  (regenerate, edit, versions), the screen showing its active path;
* :class:`~thinkpane.tui.screens.chat.reasoning_actions.ReasoningActions`: the Reasoning
  pane, earlier answers' reasoning, thinking on/off and effort for the next answers;
* :class:`~thinkpane.tui.screens.chat.late_saves.LateSaves`: answers a full disk kept from
  the store, written again until they are saved;
* :class:`~thinkpane.tui.screens.chat.keys.PaneKeys`: scrolling from the prompt, Tab order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import ThinkpaneError
from thinkpane.tui.core.sanitize import sanitize, sanitize_line
from thinkpane.tui.render.crop_compositor import install_crop_compositor
from thinkpane.tui.screens.chat.branching import BranchActions
from thinkpane.tui.screens.chat.keys import PaneKeys
from thinkpane.tui.screens.chat.late_saves import LateSaves
from thinkpane.tui.screens.chat.reasoning_actions import HIDE_REASONING_CLASS, ReasoningActions
from thinkpane.tui.screens.chat.sending import Sending
from thinkpane.tui.screens.chat.turn_host import LiveTurnHost
from thinkpane.tui.widgets.prompt_input import PromptInput
from thinkpane.tui.widgets.reasoning_pane import ReasoningPane
from thinkpane.tui.widgets.status_line import StatusLine
from thinkpane.tui.widgets.transcript import Transcript
from thinkpane.tui.widgets.turn import AnswerTurn

NARROW_CLASS = "-narrow"
ERROR_CLASS = "-error"
NARROW_BELOW_COLUMNS = 100
# Ctrl+N (or opening another chat) while an answer streams stops it first; this says so.
STOPPED_TEXT = "the previous chat's answer was stopped; its text is kept"


if TYPE_CHECKING:
    from thinkpane.tui.app.app import ThinkpaneApp


class ChatScreen(Sending, BranchActions, ReasoningActions, LateSaves, LiveTurnHost, PaneKeys, Screen[None]):
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
        # Not in the footer, which is full at 120 columns: F1, the palette and the status line
        # (which shows the setting) make them findable.
        Binding("f4", "toggle_thinking", "Thinking on/off", id="chat.toggle_thinking", show=False,
                tooltip="Turn the model's thinking on or off for the next answers"),
        Binding("f5", "cycle_effort", "Reasoning effort", id="chat.cycle_effort", show=False,
                tooltip="Step the reasoning effort for the next answers: default, low, medium, high, max"),
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
        # The oldest answered turns of this chat left out of what is sent (the context window
        # is full), and how many the last "too long" error offered to leave out on Enter.
        self.leave_out = 0
        self.leave_out_offer = 0
        self._offered_on: AnswerTurn | None = None

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
            self.status.set(reasoning=backend.reasoning_label())
            if self.live is None:
                self.status.set(backend=backend.label, model=backend.model, state="idle", text="")
            self.run_when_ready(True)
            return
        if app.backend_error is not None:
            self.run_when_ready(False)
            self.show_problem(app.backend_error)
            self.status.set(backend=app.settings.backend, model="", state="error",
                            text=app.backend_error.title, reasoning="")
        else:
            self.status.set(backend=app.settings.backend, model="", state="loading",
                            text=app.backend_loading_text or "preparing backend…", reasoning="")

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

    async def open_conversation(self, conversation_id: int, through: int | None = None, *,
                                stopped: bool = False) -> None:
        """Show a conversation's active path; with ``through`` (a search result), the branch
        that holds that message, made the active one and scrolled to. ``stopped``: an answer
        was stopped to open it (the status line says so)."""
        if self.after_stream(lambda: self.open_conversation(conversation_id, through, stopped=True)):
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
        if stopped or conversation_id != self.conversation_id:
            self._forget_chat(stopped)
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

    async def new_chat(self, *, stopped: bool = False) -> None:
        if self.after_stream(lambda: self.new_chat(stopped=True)):
            return
        self.stop_editing()
        self.conversation_id = None
        self.shown_answer = None
        await self.transcript.clear()
        await self.reasoning_pane.clear()
        self._set_answer_header()
        self.refresh_backend_state()
        self._forget_chat(stopped)
        self.prompt.focus()

    def _forget_chat(self, stopped: bool) -> None:
        """Another chat is shown: nothing of the previous one stays on the status line (its
        figures, its state), and ``stopped``: say that its streaming answer was stopped."""
        self.leave_out = self.leave_out_offer = 0
        self._offered_on = None
        self.counters.clear()
        if self.app.backend is not None:
            self.status.set(state="idle", text=STOPPED_TEXT if stopped else "")

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

    # ------------------------------------------------------------------ actions

    def action_cancel(self) -> None:
        """Esc: stop the running answer; with none running, stop editing a prompt."""
        if not self.cancel_turn():
            self.stop_editing()
            return
        self.status.set(text="cancelling…")

    def last_answer_text(self) -> str | None:
        answer = self.transcript.last_answer()
        return answer.record.content if answer is not None else None
