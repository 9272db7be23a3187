"""The Thinkpane app: bindings, command palette, the backend, and which screen shows when.

The chat itself lives in ``thinkpane.tui.screens.chat.screen``, the compare screen in
``thinkpane.tui.screens.compare``; this file only wires things together. The backend can be
switched for the session: to a profile (palette "Use profile …", config.toml
``[profiles.NAME]``), or to the answer the user keeps on the compare screen.
It also applies the settings that belong to the whole app: the user's ``[keymap]`` (checked
by ``keymap.check_keymap``), the theme (a theme picked in the palette is saved to
config.toml), and the warnings found while loading config.toml, shown as notifications.
Quitting asks first when an answer could not be saved yet (a full disk), and a history that
could not be opened (``history_problem``: the app then keeps chats in memory) is told at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.theme import Theme

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import BackendError, ThinkpaneError
from thinkpane.backends.log_redaction import register_secrets
from thinkpane.tui.app.commands import ThinkpaneCommands
from thinkpane.tui.app.copy_export import CopyExportActions
from thinkpane.tui.app.keymap import check_keymap
from thinkpane.tui.app.model_actions import ModelActions
from thinkpane.tui.screens.chat.messages import BackendFailed, BackendLoading, BackendReady
from thinkpane.tui.screens.chat.screen import ChatScreen
from thinkpane.tui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from thinkpane.tui.core.profiles import BackendChoice
    from thinkpane.tui.screens.conversations import Chosen


class ThinkpaneApp(CopyExportActions, ModelActions, App):
    TITLE = "Thinkpane"
    CSS_PATH = "../styles/app.tcss"
    COMMANDS = App.COMMANDS | {ThinkpaneCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l,ctrl+o", "conversations", "Chats", id="app.conversations",
                tooltip="Open, search, rename or delete saved conversations"),
        Binding("f8", "compare", "Compare", id="app.compare",
                tooltip="Ask two to four profiles the same question, their reasoning and answers side by side"),
        Binding("f1", "toggle_help", "Help", id="app.help", tooltip="Show or hide the key bindings"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", tooltip="Quit Thinkpane", priority=True),
    ]

    def __init__(
        self,
        settings,
        store,
        *,
        backend: Backend | None = None,
        conversation_id: int | None = None,
        first_launch: bool = False,
        clock: Callable[[], float] = time.monotonic,
        format_date: Callable[[float], str] | None = None,
        history_problem: ThinkpaneError | None = None,
        compare: list[BackendChoice] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.history_problem = history_problem
        # Settings that failed validation after the first frame (see _warm_up): the CLI prints it.
        self.settings_error: ThinkpaneError | None = None
        self._quit_question: ConfirmScreen | None = None
        self.backend: Backend | None = backend
        self.backend_error: ThinkpaneError | None = None
        self.backend_loading_text: str | None = None
        self.first_launch = first_launch
        # Injectable so tests and screenshots show fixed timings and dates.
        self.clock = clock
        self.format_date = format_date
        self.show_reasoning: bool = bool(getattr(settings, "show_reasoning", True))
        # Set before any screen is built, so every widget sees the user's keys from the start.
        # ``keymap`` is what was applied: widgets that print their keys read it (bound_keys).
        self.keymap, self._keymap_problems = check_keymap(getattr(settings, "keymap", None) or {})
        self.set_keymap(self.keymap)
        self.chat = ChatScreen(conversation_id=conversation_id)
        self.compare_at_start = compare  # thinkpane --compare SPEC...

    def get_default_screen(self) -> ChatScreen:
        return self.chat

    def on_mount(self) -> None:
        self._show_settings_warnings()
        if self.history_problem is not None:
            problem = self.history_problem
            self.notify(f"{problem.title}. {problem.hint}".strip(), severity="warning", timeout=30, markup=False,
                        title="Chats are not saved in this session")
        theme = getattr(self.settings, "theme", None)
        if theme and theme in self.available_themes:
            self.theme = theme
        # Subscribed after the theme above is set: its own change notice then matches the
        # settings and saves nothing; a theme picked later (Ctrl+P, Theme) is kept.
        self.theme_changed_signal.subscribe(self, self._keep_theme)
        if self.backend is None:
            # After the first frame: building it imports the backend's SDK (httpx, boto3...)
            # in a thread, which would share the CPU with that frame.
            self.call_after_refresh(self.build_backend, getattr(self.settings, "backend", "local"))
        else:
            register_secrets(self.backend.secrets())
        if self.first_launch:
            self.action_setup()
        elif self.compare_at_start:
            self.call_after_refresh(self.open_compare, self.compare_at_start)  # over the chat, once built
        self.call_after_refresh(self._warm_up)

    def _show_settings_warnings(self) -> None:
        """Unknown settings, keymap entries that cannot work, a theme that does not exist."""
        from thinkpane.tui.core.config import setting_location

        warnings = list(getattr(self.settings, "load_warnings", []))
        for binding_id, problem in self._keymap_problems.items():
            warnings.append(f"{setting_location(self.settings, 'keymap', binding_id)}: {problem}")
        theme = getattr(self.settings, "theme", None)
        if theme and theme not in self.available_themes:
            warnings.append(
                f"{setting_location(self.settings, 'theme')}: unknown theme {theme!r}; using {self.theme}. "
                "Pick one with Ctrl+P, then Theme: it is saved."
            )
        for warning in warnings:
            self.notify(warning, title="Settings", severity="warning", timeout=20, markup=False)

    def _keep_theme(self, theme: Theme) -> None:
        """Save a theme the user picked, so the next start uses it."""
        from thinkpane.tui.core.config import save_settings

        if theme.name == getattr(self.settings, "theme", None):
            return
        self.settings.theme = theme.name
        try:
            save_settings(self.settings)
        except (BackendError, OSError) as error:
            self.notify(f"{error}", title="Could not save the theme", severity="error", markup=False)

    def _warm_up(self) -> None:
        """After the first frame, in a thread, while the user reads and types: what startup
        left for later (validating settings read by ``config.read_settings``, which imports
        pydantic), then the render layer's one-time costs (render/warm_up.py)."""
        from thinkpane.tui.core.collector import startup_done
        from thinkpane.tui.render.warm_up import warm_up

        def later() -> None:
            try:
                validated = getattr(self.settings, "validated", None)  # a DeferredSettings
                if validated is not None:
                    try:
                        validated()
                    except ThinkpaneError as error:
                        # read_settings defers only values that fit the model, so this should not
                        # happen; if it does, the app stops as a bad value before launch would.
                        self.call_from_thread(self._stop_for_settings, error)
                        return
                warm_up()
            finally:
                startup_done()  # the collector, paused by `thinkpane` until now (core/collector.py)

        self.run_worker(later, thread=True, group="warm-up", exit_on_error=False)

    def _stop_for_settings(self, error: ThinkpaneError) -> None:
        """Quit with exit code 2; ``thinkpane`` prints ``error`` once the terminal is back."""
        self.settings_error = error
        self.exit(return_code=2)

    # ------------------------------------------------------------------ backend

    @work(exclusive=True, group="backend", exit_on_error=False)
    async def build_backend(self, name: str, overrides: dict | None = None) -> None:
        """Create the backend off the UI thread (SDK imports), then prepare it (the local
        model loads here, while the status line says so)."""
        self.post_message(BackendLoading(f"preparing {name}…"))
        try:
            from thinkpane.tui.core import profiles
            from thinkpane.tui.core.config import backend_options

            options = backend_options(self.settings, name, overrides, check=True)
            backend = await profiles.build_backend(name, options, lambda text: self.post_message(BackendLoading(text)))
        except ThinkpaneError as error:
            self.post_message(BackendFailed(error))
        else:
            self.post_message(BackendReady(backend))

    @on(BackendLoading)
    def on_backend_loading(self, message: BackendLoading) -> None:
        self.backend_loading_text = message.text
        self.chat.refresh_backend_state()

    @on(BackendReady)
    def on_backend_ready(self, message: BackendReady) -> None:
        old, self.backend = self.backend, message.backend
        # Credentials the backend resolved itself (not typed as an option) must be masked
        # in every log record too, whoever logs them (backends/log_redaction.py).
        register_secrets(self.backend.secrets())
        self.backend_error = None
        self.backend_loading_text = None
        self.chat.refresh_backend_state()
        if old is not None and old is not self.backend:
            self.run_worker(old.aclose(), group="backend-close", exit_on_error=False)

    @on(BackendFailed)
    def on_backend_failed(self, message: BackendFailed) -> None:
        self.backend_error = message.error
        self.backend_loading_text = None
        self.chat.refresh_backend_state()

    async def on_unmount(self) -> None:
        if self.backend is not None:
            try:
                await self.backend.aclose()
            except Exception as exc:
                self.log.warning(f"closing the backend failed: {type(exc).__name__}")

    # ------------------------------------------------------------------ actions

    async def action_quit(self) -> None:
        """Quit; ask first when that would lose something: a comparison's answers none of
        which was kept, or an answer that could not be saved yet (a full disk; keeping the
        app open saves it as soon as there is room)."""
        if self._quit_question is not None:
            return  # already asking
        # The compare screen's (imported only once it is opened: not on the way to the first frame).
        if any(getattr(screen, "answers_unkept", False) for screen in self.screen_stack):
            self._ask_before_quitting(ConfirmScreen(
                "Quit without keeping an answer?",
                "None of the compared answers is saved until you keep one (w on its column): "
                "quit now and they are lost.",
                yes="Quit anyway", no="Stay",
            ), then=self._quit_unless_unsaved)
            return
        self._quit_unless_unsaved()

    def _quit_unless_unsaved(self) -> None:
        error = self.chat.unsaved_before_quit()
        if error is None:
            self.exit()
            return
        chars = self.store.unsaved_chars()
        what = (f"{chars:,} characters of an answer are not saved yet" if chars
                else "How an answer ended is not saved yet (it would show as interrupted)")
        self._ask_before_quitting(ConfirmScreen(
            "Quit without saving the last answer?",
            f"{error.title}. {what}. Keep the app open and it is saved as soon as that is fixed; "
            "quit now and it is lost.",
            yes="Quit anyway", no="Keep the app open",
        ), then=self.exit)

    def _ask_before_quitting(self, question: ConfirmScreen, *, then: Callable[[], object]) -> None:
        self._quit_question = question

        def answered(quit_anyway: bool | None) -> None:
            self._quit_question = None
            if quit_anyway:
                then()

        self.push_screen(question, answered)

    def action_new_chat(self) -> None:
        self.chat.action_new_chat()

    def action_toggle_reasoning(self) -> None:
        self.chat.action_toggle_reasoning()

    def action_conversations(self) -> None:
        from thinkpane.tui.screens.conversations import ConversationsScreen  # not for the first frame

        if isinstance(self.screen, ConversationsScreen):
            return

        def open_chosen(chosen: Chosen | None) -> None:
            if chosen is not None:
                self.run_worker(self.chat.open_conversation(chosen.conversation_id, chosen.message_id), group="ui")

        self.push_screen(ConversationsScreen(self.store, format_date=self.format_date), open_chosen)

    def conversation_deleted(self, conversation_id: int) -> None:
        """The list deleted a conversation: if it is the open one, start a fresh chat."""
        if self.chat.conversation_id == conversation_id:
            self.chat.action_new_chat()

    def action_copy_last_answer(self) -> None:
        text = self.last_answer_text()
        if not text:
            self.notify("There is no answer to copy yet.")
            return
        self.copy_to_clipboard(text)
        self.notify("Copied the last answer to the clipboard.")

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_setup(self) -> None:
        try:
            from thinkpane.tui.screens.setup import SetupScreen
        except ImportError:
            self.notify("The setup screen is not available in this build. Run `thinkpane setup`.",
                        severity="warning")
            return
        self.push_screen(SetupScreen(self.settings), self._setup_done)

    def _setup_done(self, result) -> None:
        if result is None:
            return
        self.settings.backend = result.backend
        self.replace_backend(result.backend, dict(result.options))

    def action_use_profile(self, name: str) -> None:
        """Chat with profile ``name`` for the rest of the session (config.toml is not changed)."""
        from thinkpane.tui.core.config import apply_session_overrides
        from thinkpane.tui.core.profiles import profile_values

        try:
            backend, values, warnings = profile_values(self.settings, name)
        except ThinkpaneError as error:
            self.notify(error.hint, title=error.title, severity="error", markup=False)
            return
        for warning in warnings:
            self.notify(warning, title="Settings", severity="warning", timeout=20, markup=False)
        apply_session_overrides(self.settings, backend=backend)
        self.replace_backend(backend, values)
        self.notify(f"Chatting with profile {name} ({backend}).", markup=False)

    def adopt_backend(self, backend: Backend) -> None:
        """Chat on with ``backend``, built elsewhere (the answer kept on the compare screen)."""
        from thinkpane.tui.core.config import apply_session_overrides

        apply_session_overrides(self.settings, backend=backend.name)
        self.post_message(BackendReady(backend))

    def action_compare(self) -> None:
        """Choose the columns (profiles, the current backend), then open the compare screen."""
        from thinkpane.tui.screens.compare import CompareScreen, choose_columns

        if isinstance(self.screen, CompareScreen):
            return
        choose_columns(self, self.open_compare)

    def open_compare(self, choices: list[BackendChoice]) -> None:
        from thinkpane.tui.screens.compare import CompareScreen

        if self.chat.live is not None:
            self.notify("An answer is still streaming in the chat: wait for it, or press Esc to stop it first.",
                        severity="warning")
            return
        prompt = self.chat.prompt.text
        self.push_screen(CompareScreen(choices, conversation_id=self.chat.conversation_id, prompt=prompt),
                         self._compare_done)

    def _compare_done(self, conversation_id: int | None) -> None:
        """The compare screen closed; ``conversation_id``: where it kept an answer, if it did."""
        if conversation_id is not None:
            self.chat.prompt.clear()
            self.run_worker(self.chat.open_conversation(conversation_id), group="ui")

    def replace_backend(self, name: str, overrides: dict | None = None) -> None:
        """Build backend ``name`` for the next answers, and close the one it replaces."""
        old, self.backend = self.backend, None
        self.backend_error = None
        if old is not None:
            # An answer still streaming from the old backend is cancelled (its partial text
            # kept) before the backend is closed under it; the new one is built meanwhile.
            async def close_old() -> None:
                self.run_worker(old.aclose(), group="backend-close", exit_on_error=False)

            if not self.chat.after_stream(close_old):
                self.run_worker(old.aclose(), group="backend-close", exit_on_error=False)
        self.build_backend(name, overrides)
