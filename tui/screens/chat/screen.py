"""The chat screen: Reasoning pane | Answer pane (transcript), prompt, status line.

Sending: the user message is stored before the stream starts; the prompt is cleared only
once the stream has started, so a send that fails (no backend, store error) loses nothing,
and a turn that ends before any answer text arrived (an HTTP 500, Esc) puts the prompt back
in the box (it is not sent twice: see backend_conversation). A chat that outgrew the model's
context window is offered to leave its oldest turns out of what is sent.
Sending while an answer streams is refused with a status message (Esc cancels first): a
queue would send a prompt written before the user saw the answer it replies to.

An answer while it streams is a LiveTurn (live_turn.py: its widgets, its TurnRecorder), its
figures on the status line and the Reasoning header are TurnCounters (counters.py), and the
stream runs in a worker (stream_worker.py). This screen owns the layout, the backend state,
opening and starting conversations, and routes the worker's messages to the live turn.

The conversation is a tree and the screen shows its active path; regenerating, editing
and switching versions are in branching.py. An answer the store could not write (a full
disk) is written again every tick until it is.

Thinking and effort for the next turn are switched here (``chat.toggle_thinking``,
``chat.cycle_effort``, also in the command palette) on the backend itself, for this session;
the status line shows the setting, and each turn records what it ran with
(``TurnRecord.for_backend``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import BackendError, ContextWindowError, InternalError, ThinkpaneError
from thinkpane.backends.events import Conversation
from thinkpane.backends.thinking import EFFORT_CYCLE, Reasoning
from thinkpane.tui.core.backend_conversation import title_from_prompt, turns_to_leave_out
from thinkpane.tui.core.branches import PendingTurn
from thinkpane.tui.core.sanitize import sanitize, sanitize_line
from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.core.turn_recorder import TurnRecorder
from thinkpane.tui.render.crop_compositor import install_crop_compositor
from thinkpane.tui.render.paint_soon import paint_soon
from thinkpane.tui.screens.chat.branching import BranchActions
from thinkpane.tui.screens.chat.counters import TurnCounters
from thinkpane.tui.screens.chat.keys import PaneKeys
from thinkpane.tui.screens.chat.live_turn import FLUSH_INTERVAL_S, LiveTurn
from thinkpane.tui.screens.chat.messages import (
    NoticeReceived,
    StreamCancelled,
    StreamFailed,
    StreamFinished,
    TextReceived,
)
from thinkpane.tui.screens.chat.stream_worker import pump_stream
from thinkpane.tui.widgets.prompt_input import PromptInput
from thinkpane.tui.widgets.reasoning_pane import ReasoningPane
from thinkpane.tui.widgets.status_line import StatusLine
from thinkpane.tui.widgets.transcript import Transcript
from thinkpane.tui.widgets.turn import AnswerTurn, ReasoningLink

NARROW_CLASS = "-narrow"
HIDE_REASONING_CLASS = "-hide-reasoning"
ERROR_CLASS = "-error"
NARROW_BELOW_COLUMNS = 100
# Ctrl+N (or opening another chat) while an answer streams stops it first; this says so.
STOPPED_TEXT = "the previous chat's answer was stopped; its text is kept"
SAVED_TEXT = "saved: the answer is in the history now"


if TYPE_CHECKING:
    from thinkpane.tui.app.app import ThinkpaneApp


# PaneKeys: scrolling from the prompt, Tab order, typing; BranchActions: the conversation tree.
class ChatScreen(BranchActions, PaneKeys, Screen[None]):
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
        self.live: LiveTurn | None = None
        self.turn_counter = 0
        self.counters = TurnCounters(self)
        # Async callables to run once the current stream has ended (new chat, switch backend…).
        self._after_stream: list[Callable[[], Awaitable[object]]] = []
        self.shown_answer: AnswerTurn | None = None
        # The oldest answered turns of this chat left out of what is sent (the context window
        # is full), and how many the last "too long" error offered to leave out on Enter.
        self.leave_out = 0
        self.leave_out_offer = 0
        self._offered_on: AnswerTurn | None = None
        self._save_retry: Timer | None = None  # runs while an answer waits to be saved

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
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def reasoning_pane(self) -> ReasoningPane:
        return self.query_one(ReasoningPane)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    def clock(self) -> float:
        return self.app.clock()

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
        self.turn_counter += 1
        self.live = await LiveTurn.start(self, self.turn_counter, backend, conversation, writer, answer, typed)
        self.shown_answer = answer
        self.live.worker = self.run_stream(backend, conversation, self.turn_counter, self.live.recorder)
        self._say_left_out()
        return True

    def _say_left_out(self) -> None:
        if self.leave_out:
            self.status.set(text=f"oldest turns not sent: {self.leave_out} (the context window is full)")

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def run_stream(self, backend: Backend, conversation: Conversation, turn: int,
                         recorder: TurnRecorder) -> None:
        await pump_stream(backend, conversation, turn, self.post_message, recorder=recorder)

    def _current(self, turn: int) -> LiveTurn | None:
        """The live turn if a message belongs to it (late messages from old streams are dropped)."""
        live = self.live
        return live if live is not None and live.turn == turn and not live.ending else None

    # ------------------------------------------------------------------ stream messages

    @on(TextReceived)
    async def on_text_received(self, message: TextReceived) -> None:
        if live := self._current(message.turn):
            await live.show(message.reasoning, message.content)

    @on(NoticeReceived)
    def on_notice_received(self, message: NoticeReceived) -> None:
        if self._current(message.turn):
            self.status.set(text=message.text)

    @on(StreamFinished)
    async def on_stream_finished(self, message: StreamFinished) -> None:
        if self._current(message.turn):
            await self._end_turn("complete")

    @on(StreamFailed)
    async def on_stream_failed(self, message: StreamFailed) -> None:
        if self._current(message.turn):
            await self._end_turn("error", error=message.error)

    @on(StreamCancelled)
    async def on_stream_cancelled(self, message: StreamCancelled) -> None:
        if self._current(message.turn):
            await self._end_turn("cancelled")

    @on(Worker.StateChanged)
    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker cancelled before it ran, or a bug in our own code: end the turn anyway."""
        live = self.live
        if live is None or live.ending or event.worker is not live.worker:
            return
        if event.state == WorkerState.CANCELLED:
            await self._end_turn("cancelled")
        elif event.state == WorkerState.ERROR:
            await self._end_turn("error", error=InternalError(
                "The stream stopped unexpectedly",
                "This is a bug in Thinkpane; the partial answer is kept.",
                detail=sanitize_line(f"{type(event.worker.error).__name__}: {event.worker.error}"),
            ))

    async def _end_turn(self, status: str, *, error: BackendError | None = None) -> None:
        live = self.live
        if live is None or live.ending:
            return
        shown = await live.end(status, error=error)
        self.live = None
        if not shown:
            return
        if self.save_pending() is not None:
            self.retry_saves()
        # The last text, headers, link and status line in one frame, without waiting for a tick.
        paint_soon(self)
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

    # ------------------------------------------------------------------ saving late

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

    def on_unmount(self) -> None:
        """The app is closing mid-stream: keep what arrived, marked cancelled."""
        self.counters.stop()
        if self.live is not None and not self.live.ending:
            self.live.abandon()
            self.live = None

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
        live = self.live
        if live is None or live.worker is None or live.ending:
            self.stop_editing()
            return
        self.status.set(text="cancelling…")
        live.worker.cancel()

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

    def last_answer_text(self) -> str | None:
        answer = self.transcript.last_answer()
        return answer.record.content if answer is not None else None
