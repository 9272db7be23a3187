"""The setup screen: choose a backend, fill its options, test (or provision) it, save.

Opened on first launch and from the command palette ("Set up a backend"). First launch
must never get between the user and their first chat (oterm removed a first-run dialog
that swallowed it): two buttons side by side start a chat on this machine, "Download a
thinking model" (the catalogue's recommended one, with its size from the Hub and the RAM
it needs; "Use NAME (downloaded)" once it is there) and "Use the bundled SmolLM2 (does not
think)". The downloaded model, else SmolLM2, is focused, so one Enter saves that choice and
leaves; Esc leaves with the defaults. A download runs in the screen (progress bar with
bytes, rate and time left; Esc or "Cancel download" stops it and keeps the partial file for
next time; a failure shows the message ``thinkpane models pull`` prints) and on success the
model is saved as the local default and the chat opens. A form the user filled in is never
thrown away unasked: leaving (that button, Esc) asks first, and moving to another backend
keeps it as a draft that comes back with that backend.

Narrow terminals stack the backend list above the form and scroll the whole page
(setup.tcss); whatever has the focus is scrolled into view, and so is the log as it grows.

Downloads run in their own worker (group "download"), which awaits a
:class:`thinkpane.tui.core.download.ModelDownload` and posts a message per progress step.
Runs happen in one exclusive async worker (group "setup") that posts a message per
ProgressEvent; the log updates from those messages. Cancel stops the worker (the
OpenSearch provisioner saves ids as it goes, so running again resumes). Nothing a backend
raises reaches the screen as a traceback: it becomes a failed line with a hint.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, OptionList, ProgressBar, Select, Static, Switch
from textual.widgets.option_list import Option as ListOption

from thinkpane.backends.errors import ThinkpaneError
from thinkpane.backends.events import ProgressEvent
from thinkpane.tui.core import setup_flow as setup_steps
from thinkpane.tui.core.config import backend_options, config_exists, save_settings
from thinkpane.tui.core.download import DownloadOutcome, DownloadProgress, ModelDownload
from thinkpane.tui.core.error_text import shown_detail
from thinkpane.tui.core.sanitize import sanitize_error
from thinkpane.tui.core.setup_flow import BackendChoice, ThinkingChoice
from thinkpane.tui.screens.confirm import ConfirmScreen
from thinkpane.tui.widgets.option_form import OptionForm
from thinkpane.tui.widgets.progress_log import ProgressLog

if TYPE_CHECKING:
    from thinkpane.tui.core.settings_model import Settings

SETUP_GROUP = "setup"
DOWNLOAD_GROUP = "download"
DOWNLOAD_RESUME_HINT = "The part already downloaded is kept: the next download resumes from there."
# Below this width the backend list stacks above the form (setup.tcss): beside it, the
# form's value column was 11 characters wide at 80 columns.
NARROW_BELOW_COLUMNS = 100
NARROW_CLASS = "-narrow"
# Below this width the two first-launch buttons stack (their labels need about 75 columns).
STACK_QUICK_BELOW_COLUMNS = 78
STACK_QUICK_CLASS = "-stack-quick"
RESUME_HINT = "Cancelled; run again to resume (created resources are remembered)."
# After the label of a backend that needs no network (Backend.NEEDS_NETWORK false).
OFFLINE_TAG = " · works offline"
# A profile name is a bare TOML key, so config.toml reads [profiles.NAME] as typed.
PROFILE_NAME_CHARS = r"[A-Za-z0-9_-]*"


@dataclass(frozen=True)
class SetupResult:
    """What the user chose. The screen has already saved it with ``save_settings``.

    ``options`` are the option values to build the backend with *for this session*; they
    include a secret the user typed but chose not to keep in the config file.
    """

    backend: str
    options: dict[str, Any]


class SetupScreen(Screen["SetupResult | None"]):
    CSS_PATH = "../styles/setup.tcss"
    AUTO_FOCUS = ""  # on_mount decides: the one-Enter button, the named backend's form, or the list
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Leave setup", id="setup.leave",
                tooltip="Close setup; keeps the current (or default) backend"),
        # Priority, so the focus moves while the app routes the Tab key. The screen's own
        # (non-priority) Tab binding runs only after the key has bubbled up from the focused
        # Input, and keys typed right after it (a password) would still land in that Input.
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    # ------------------------------------------------------------------ messages

    @dataclass
    class StepReported(Message):
        """A run produced a progress event (``run`` tells a stale run's messages apart)."""

        run: int
        event: ProgressEvent

        def can_replace(self, message: Message) -> bool:
            # A flood of token-by-token test progress only needs its newest line.
            return (
                isinstance(message, SetupScreen.StepReported)
                and message.run == self.run
                and message.event.step == self.event.step
                and message.event.status == self.event.status == "progress"
            )

    @dataclass
    class RunFinished(Message):
        run: int
        kind: str  # "setup" | "teardown"
        ok: bool
        saved: dict[str, Any] = field(default_factory=dict)

    @dataclass
    class RunCancelled(Message):
        run: int
        kind: str

    @dataclass
    class ThinkingChoiceReady(Message):
        """The Hub answered (or did not) with the recommended model's size."""

        choice: ThinkingChoice

    @dataclass
    class DownloadProgressed(Message):
        attempt: int
        progress: DownloadProgress

        def can_replace(self, message: Message) -> bool:
            # Only the newest bytes count matters when the screen falls behind.
            return isinstance(message, SetupScreen.DownloadProgressed) and message.attempt == self.attempt

    @dataclass
    class DownloadEnded(Message):
        attempt: int
        outcome: DownloadOutcome | None  # None: cancelled

    # ------------------------------------------------------------------ setup

    def __init__(self, settings: Settings, *, backend: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.requested_backend = backend
        self.first_launch = not config_exists()
        self.choices: dict[str, BackendChoice] = {c.name: c for c in setup_steps.backend_choices(settings)}
        wanted = backend or (setup_steps.LOCAL if self.first_launch else settings.backend)
        self.selected = wanted if wanted in self.choices else next(iter(self.choices))
        self.phase = "idle"  # idle | running | succeeded | failed | cancelled
        self.run_number = 0
        self.saved: dict[str, Any] = {}  # what the last successful provisioning wants saved
        self.teardown_armed = False
        self.last_kind = "setup"  # what Retry runs again
        self.tested_values: dict[str, Any] = {}  # the form as it was when the last run started
        self.env_sources: dict[str, str] = {}
        # Backend -> its form's values as first shown, and as the user left them when they
        # moved to another backend (unsaved): coming back shows them again, and leaving
        # setup asks before they are thrown away.
        self.first_values: dict[str, dict[str, Any]] = {}
        self.drafts: dict[str, dict[str, Any]] = {}
        self.thinking: ThinkingChoice | None = None  # what "Download a thinking model" offers
        self.download_phase = "idle"  # idle | downloading | failed | cancelled
        self.download_attempt = 0
        self.download: ModelDownload | None = None
        self.refocus_after_layout = False  # the thinking note changed: keep the focus in view

    def compose(self) -> ComposeResult:
        local = self.choices.get(setup_steps.LOCAL)
        yield Static("Set up a backend", id="setup-title")
        # Wide, the page fits the screen: the form scrolls, the buttons and the log stay in
        # view while a run goes on. Narrow (NARROW_CLASS), the list stacks above the form and
        # the whole page scrolls; either way a focused widget is scrolled into view. Neither
        # scroll container takes the focus itself: a stop that shows nothing swallowed keys.
        with VerticalScroll(id="setup-page", can_focus=False):
            with Vertical(id="quick-start"):
                usable = local is not None and local.usable
                self.thinking = setup_steps.thinking_choice(ask_hub=False) if usable else None
                with Horizontal(id="quick-row"):
                    with Horizontal(id="quick-buttons"):
                        yield Button(self.thinking.label if self.thinking else setup_steps.DOWNLOAD_LABEL,
                                     id="use-thinking", variant="primary",
                                     disabled=self.thinking is None or bool(self.thinking.problem))
                        yield Button(setup_steps.SMOLLM2_LABEL, id="use-local", variant="default",
                                     disabled=not usable)
                    yield Static(self.thinking.note if self.thinking else "", id="thinking-note", markup=False)
                with Vertical(id="download-panel"):
                    yield ProgressBar(id="download-bar", show_eta=False, show_percentage=False)
                    yield Static("", id="download-status", markup=False)
                    with Horizontal(id="download-buttons"):
                        yield Button("Cancel download", id="download-cancel", variant="warning")
                yield Static(self._quick_start_note(local), id="quick-start-note", markup=False)
            with Horizontal(id="setup-body"):
                yield OptionList(*self._list_entries(narrow=self._narrow_at(self.app.size.width)),
                                 id="backend-list")
                with Vertical(id="setup-details"):
                    # Narrow, the list shows names only; the chosen backend's description is here.
                    yield Static("", id="backend-about", markup=False)
                    with VerticalScroll(id="form-scroll", can_focus=False):
                        yield Vertical(id="form-holder")
                        # Optional: Save also writes [profiles.NAME] (for --profile, the palette,
                        # compare). Below the form, scrolled with it: it takes no room from it.
                        yield Input(placeholder="Also save as profile: NAME (optional)", id="profile-name",
                                    restrict=PROFILE_NAME_CHARS, max_length=40)
                    with Horizontal(id="setup-buttons"):
                        yield Button("Test connection", id="run", variant="success")
                        yield Button("Cancel", id="cancel", variant="warning")
                        yield Button("Retry", id="retry")
                        yield Button("Save", id="save", variant="primary")
                        yield Button("Teardown", id="teardown", variant="error")
                    yield ProgressLog(id="setup-log")
        yield Footer()

    def _quick_start_note(self, local: BackendChoice | None) -> str:
        if local is not None and not local.usable:
            return "The local model is not available: " + local.description
        return (
            "Or choose a backend below; setup is always one command away "
            "(ctrl+p, “Set up a backend”). Esc keeps the defaults."
        )

    def _list_entries(self, *, narrow: bool) -> list[ListOption]:
        entries = []
        for choice in self.choices.values():
            offline = choice.backend_class is not None and not choice.backend_class.NEEDS_NETWORK
            prompt = Text.assemble((choice.label, "bold"), (OFFLINE_TAG, "green") if offline else "")
            if not narrow:
                prompt.append_text(Text("\n" + choice.description, style="dim"))
            entries.append(ListOption(prompt, id=choice.name))
        return entries

    @staticmethod
    def _narrow_at(width: int) -> bool:
        return width < NARROW_BELOW_COLUMNS

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < STACK_QUICK_BELOW_COLUMNS, STACK_QUICK_CLASS)
        narrow = self._narrow_at(event.size.width)
        if narrow != self.has_class(NARROW_CLASS):
            self.set_class(narrow, NARROW_CLASS)
            backend_list = self.query_one("#backend-list", OptionList)
            highlighted = backend_list.highlighted
            backend_list.set_options(self._list_entries(narrow=narrow))
            backend_list.highlighted = highlighted

    async def on_mount(self) -> None:
        self.set_class(self._narrow_at(self.app.size.width), NARROW_CLASS)
        self.set_class(self.app.size.width < STACK_QUICK_BELOW_COLUMNS, STACK_QUICK_CLASS)
        backend_list = self.query_one("#backend-list", OptionList)
        backend_list.highlighted = list(self.choices).index(self.selected)
        await self._show_backend(self.selected)
        self.query_one("#download-panel").display = False
        # Narrow, the page scrolls (its virtual size changes); wide, the form does (its size).
        self.watch(self.query_one("#setup-page"), "virtual_size", self._page_laid_out, init=False)
        self.watch(self.query_one("#form-scroll"), "size", self._page_laid_out, init=False)
        if self.thinking is not None and not self.thinking.downloaded and not self.thinking.problem:
            self._ask_hub_for_size()
        # After the first refresh: focus set while the screen is still being pushed is lost.
        self.call_after_refresh(self._initial_focus)

    def _initial_focus(self) -> None:
        use_local = self.query_one("#use-local", Button)
        if self.requested_backend is not None and self.choice.usable:
            self._focus_first_field()
        elif self.first_launch and self.thinking is not None and self.thinking.downloaded:
            self.query_one("#use-thinking", Button).focus()
        elif self.first_launch and not use_local.disabled:
            use_local.focus()
        else:
            self.query_one("#backend-list", OptionList).focus()

    # ------------------------------------------------------------------ widgets

    @property
    def log_widget(self) -> ProgressLog:
        return self.query_one("#setup-log", ProgressLog)

    @property
    def form(self) -> OptionForm | None:
        forms = self.query(OptionForm)
        return forms.first() if forms else None

    @property
    def choice(self) -> BackendChoice:
        return self.choices[self.selected]

    async def _show_backend(self, name: str) -> None:
        """Swap the form for backend ``name``'s options; forget the previous run's state.

        What the user typed in the form it replaces is kept as that backend's draft.
        """
        self._keep_draft()
        self.selected = name
        choice = self.choice
        self.query_one("#backend-about", Static).update(choice.description)
        holder = self.query_one("#form-holder", Vertical)
        await holder.remove_children()
        self.log_widget.clear()
        self.saved = {}
        self.phase = "idle"
        if choice.usable:
            assert choice.backend_class is not None
            options = choice.backend_class.options
            stored = backend_options(self.settings, name)
            values, self.env_sources = setup_steps.initial_values(options, stored, os.environ)
            keep = any(o.is_secret and o.name in self.settings.backends.get(name, {}) for o in options)
            form = OptionForm(options, {**values, **self.drafts.get(name, {})},
                              env_sources=self.env_sources, keep_secrets=keep)
            await holder.mount(form)
            self.first_values.setdefault(name, form.raw_values())
        else:
            problem = choice.problem
            text = f"{problem.title}\n{problem.hint}" if problem else "This backend cannot be loaded."
            await holder.mount(Static(text, classes="backend-problem", markup=False))
        needs_provisioning = bool(choice.backend_class and choice.backend_class.NEEDS_PROVISIONING)
        self.query_one("#run", Button).label = "Run" if needs_provisioning else "Test connection"
        self.query_one("#teardown", Button).display = needs_provisioning
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        running = self.phase == "running"
        usable = self.choice.usable
        self.query_one("#run", Button).disabled = running or not usable
        self.query_one("#cancel", Button).disabled = not running
        self.query_one("#retry", Button).disabled = running or self.phase not in ("failed", "cancelled")
        self.query_one("#save", Button).disabled = self.phase != "succeeded"
        self.query_one("#teardown", Button).disabled = running or not usable
        self.query_one("#teardown", Button).label = "Confirm teardown" if self.teardown_armed else "Teardown"
        self.query_one("#backend-list", OptionList).disabled = running

    def _keep_draft(self) -> None:
        """Remember the shown form's values if the user changed them (see ``drafts``)."""
        form = self.form
        if form is None:
            return
        values = form.raw_values()
        if values != self.first_values.get(self.selected):
            self.drafts[self.selected] = values
        else:
            self.drafts.pop(self.selected, None)

    def unsaved_backends(self) -> list[str]:
        """Labels of the backends whose form the user filled in and has not saved."""
        self._keep_draft()
        return [self.choices[name].label for name in self.drafts]

    def confirm_discard(self, leaving_for: str, then: Callable[[], None]) -> None:
        """Run ``then`` at once if no form was filled in; otherwise only once the user agrees
        to throw the typed values away (Tab wraps round to the first-launch buttons, so one Enter
        too many used to discard a filled form)."""
        unsaved = self.unsaved_backends()
        if not unsaved:
            then()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                then()

        self.app.push_screen(ConfirmScreen(
            f"Discard what you typed for {' and '.join(unsaved)}?",
            f"{leaving_for} It has not been saved; “Keep editing” goes back to the form.",
            yes="Discard (y)", no="Keep editing (n)",
        ), answered)

    # ------------------------------------------------------------------ events from widgets

    @on(OptionList.OptionHighlighted, "#backend-list")
    async def _backend_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.selected and self.phase != "running":
            self.teardown_armed = False
            await self._show_backend(event.option.id)

    @on(OptionList.OptionSelected, "#backend-list")
    def _backend_selected(self) -> None:
        # Enter on a backend moves on to its first field.
        self._focus_first_field()

    def _focus_first_field(self) -> None:
        fields = self.query(".option-field")
        if fields:
            fields.first().focus()

    @on(Input.Changed)
    @on(Switch.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _form_changed(self) -> None:
        # A success proves the values that were tested; changed values must be tested again.
        # (Compared by value: a Changed message can arrive after the run it preceded.)
        form = self.form
        if self.phase == "succeeded" and form is not None and form.raw_values() != self.tested_values:
            self.phase = "idle"
            self._sync_buttons()

    @on(Input.Submitted, "#profile-name")
    def _profile_name_submitted(self) -> None:
        self.save()  # Enter in the name: Save (nothing happens before a successful test)

    @on(Button.Pressed)
    def _button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id
        if button != "teardown":
            self._disarm_teardown()
        if button == "use-local":
            self._use_local()
        elif button == "use-thinking":
            self._use_thinking()
        elif button == "download-cancel":
            self.cancel_download()
        elif button == "run":
            self.start_run("setup")
        elif button == "retry":
            self.start_run(self.last_kind)
        elif button == "cancel":
            self.cancel_run()
        elif button == "save":
            self.save()
        elif button == "teardown":
            self._teardown_pressed()

    # ------------------------------------------------------------------ actions

    def action_leave(self) -> None:
        """Esc: stop a download (and stay); otherwise stop any run and close; on first
        launch, keep the defaults so we don't ask again."""
        if self.download_phase == "downloading":
            self.cancel_download()
            return
        self.confirm_discard("Setup closes and keeps the current backend.", self._leave)

    def _leave(self) -> None:
        self.cancel_run()
        self.cancel_download()
        if self.first_launch:
            save_settings(self.settings)
        self.dismiss(None)

    def _use_local(self) -> None:
        self.confirm_discard("Chats will use the bundled SmolLM2.", lambda: self._save_local(None))

    def _use_thinking(self) -> None:
        thinking = self.thinking
        if thinking is None or thinking.problem or self.download_phase == "downloading":
            return
        if thinking.downloaded:
            self.confirm_discard(f"Chats will use {thinking.name}.", lambda: self._save_local(thinking.name))
        else:
            self.confirm_discard(f"Chats will use {thinking.name} once it is downloaded.", self.start_download)

    def _save_local(self, model: str | None) -> None:
        """Remember the local backend with ``model`` (None: SmolLM2) and go to the chat."""
        self.cancel_run()
        self.cancel_download()
        setup_steps.remember_local_model(self.settings, model)
        try:
            save_settings(self.settings)
        except (ThinkpaneError, OSError) as error:
            hint = getattr(error, "hint", "") or "Check that the config directory is writable."
            self.notify(f"Could not save the config: {error}. {hint}", severity="error", markup=False)
        self.dismiss(SetupResult(setup_steps.LOCAL, backend_options(self.settings, setup_steps.LOCAL)))

    # ------------------------------------------------------------------ the thinking model

    @work(group="hub-size", exit_on_error=False)
    async def _ask_hub_for_size(self) -> None:
        self.post_message(self.ThinkingChoiceReady(await setup_steps.ask_thinking_choice()))

    def on_setup_screen_thinking_choice_ready(self, message: ThinkingChoiceReady) -> None:
        if self.thinking is not None and self.thinking.downloaded:
            return  # downloaded in the meantime: the offer is already "Use NAME"
        self._show_thinking(message.choice)

    def _show_thinking(self, choice: ThinkingChoice) -> None:
        self.thinking = choice
        self._sync_download_buttons()  # the label: "Use NAME (downloaded)", or "Retry download" after a failure
        self.query_one("#thinking-note", Static).update(choice.note)
        # The note may change height and move the page under a user tabbing through a form:
        # once that layout is done (_page_laid_out), the focused widget is brought back into view.
        self.refocus_after_layout = True

    def _page_laid_out(self) -> None:
        if self.refocus_after_layout and self.focused is not None:
            self.refocus_after_layout = False
            self.focused.scroll_visible(animate=False)

    def start_download(self) -> None:
        thinking = self.thinking
        if thinking is None or self.download_phase == "downloading":
            return
        self.download_attempt += 1
        self.download_phase = "downloading"
        panel = self.query_one("#download-panel")
        panel.display = True
        panel.remove_class("-failed")
        bar = self.query_one("#download-bar", ProgressBar)
        bar.update(total=None, progress=0)
        self.query_one("#download-status", Static).update(f"{thinking.name}: connecting to the Hub…")
        self._sync_download_buttons()
        self.query_one("#download-cancel", Button).focus()
        self.call_after_refresh(panel.scroll_visible, animate=False)
        self._download(self.download_attempt, thinking.name)

    def cancel_download(self) -> None:
        if self.download_phase != "downloading":
            return
        self.workers.cancel_group(self, DOWNLOAD_GROUP)
        # Shown at once: the worker's own message may come after the screen is gone.
        self._download_stopped("cancelled", f"Download cancelled. {DOWNLOAD_RESUME_HINT}")

    def _download_stopped(self, phase: str, text: str) -> None:
        self.download_phase = phase
        self.query_one("#download-status", Static).update(text)
        self.query_one("#download-panel").set_class(phase == "failed", "-failed")
        self._sync_download_buttons()
        button = self.query_one("#use-thinking", Button)
        if not button.disabled:
            button.focus()

    def _sync_download_buttons(self) -> None:
        downloading = self.download_phase == "downloading"
        thinking = self.query_one("#use-thinking", Button)
        thinking.disabled = downloading or self.thinking is None or bool(self.thinking.problem)
        if self.thinking is not None:
            retry = not self.thinking.downloaded and self.download_phase in ("failed", "cancelled")
            thinking.label = "Retry download" if retry else self.thinking.label
        local = self.choices.get(setup_steps.LOCAL)
        self.query_one("#use-local", Button).disabled = downloading or local is None or not local.usable
        self.query_one("#download-cancel", Button).display = downloading

    @work(exclusive=True, group=DOWNLOAD_GROUP, exit_on_error=False)
    async def _download(self, attempt: int, name: str) -> None:
        previous, self.download = self.download, None
        if previous is not None and previous.running:
            # A cancelled download that is still letting go of its file (it holds a lock).
            await previous.wait_ended()
        download = ModelDownload(name, lambda progress: self.post_message(self.DownloadProgressed(attempt, progress)))
        self.download = download
        try:
            outcome = await download.run()
        except asyncio.CancelledError:
            self.post_message(self.DownloadEnded(attempt, None))
            raise
        self.post_message(self.DownloadEnded(attempt, outcome))

    def on_setup_screen_download_progressed(self, message: DownloadProgressed) -> None:
        if message.attempt != self.download_attempt or self.download_phase != "downloading":
            return
        progress = message.progress
        bar = self.query_one("#download-bar", ProgressBar)
        if progress.phase == "downloading" and progress.total:
            bar.update(total=progress.total, progress=progress.done)
        name = self.thinking.name if self.thinking else "the model"
        self.query_one("#download-status", Static).update(f"{name}: {progress.text}")

    def on_setup_screen_download_ended(self, message: DownloadEnded) -> None:
        if message.attempt != self.download_attempt or self.download_phase != "downloading":
            return
        outcome = message.outcome
        if outcome is None:
            self._download_stopped("cancelled", f"Download cancelled. {DOWNLOAD_RESUME_HINT}")
            return
        if outcome.error is not None:
            # As `thinkpane models pull` prints it; server text sanitised and cut like the log's.
            error = sanitize_error(outcome.error)
            lines = [f"Error: {error.title}"]
            if error.hint:
                lines.append(error.hint)
            if error.detail:
                lines.append(shown_detail(error.detail, "`thinkpane models pull` in a terminal prints all"))
            self._download_stopped("failed", "\n".join(lines))
            return
        self.download_phase = "idle"
        assert self.thinking is not None
        name = self.thinking.name
        self.app.notify(f"{name} is downloaded{' and verified' if outcome.verified else ''}; chats now use it.",
                        title="Setup", markup=False)
        self._save_local(name)

    def start_run(self, kind: str) -> None:
        form = self.form
        if form is None or not self.choice.usable:
            return
        parsed = form.validate()
        if parsed is None:
            self.notify("Fix the highlighted options first.", severity="error")
            return
        self.run_number += 1
        self.tested_values = form.raw_values()
        self.last_kind = kind
        self.phase = "running"
        self.saved = {}
        self.log_widget.clear()
        self._sync_buttons()
        self._run(self.run_number, kind, setup_steps.given_values(parsed))

    def cancel_run(self) -> None:
        if self.phase == "running":
            self.workers.cancel_group(self, SETUP_GROUP)

    def _teardown_pressed(self) -> None:
        if not self.teardown_armed:
            self.teardown_armed = True
            self.log_widget.clear()
            self.log_widget.show(ProgressEvent(
                "teardown", "warn",
                f"This deletes what setup created for {self.choice.label} (model, connector, model group).",
                hint="Press “Confirm teardown” to go ahead; any other button keeps them.",
            ))
            self._sync_buttons()
            return
        self._disarm_teardown()
        self.start_run("teardown")

    def _disarm_teardown(self) -> None:
        if self.teardown_armed:
            self.teardown_armed = False
            self._sync_buttons()

    def save(self) -> None:
        form = self.form
        if form is None or self.phase != "succeeded":
            return
        parsed = form.validate()
        if parsed is None:
            return
        self.cancel_download()
        backend_class = self.choice.backend_class
        assert backend_class is not None
        stored = dict(self.settings.backends.get(self.selected, {}))
        section = setup_steps.values_to_store(
            backend_class.options, parsed, stored, self.env_sources, os.environ,
            keep_secrets=form.keep_secrets,
        )
        section.update(self.saved)
        self.settings.backends[self.selected] = section
        self.settings.backend = self.selected
        profile = self.query_one("#profile-name", Input).value.strip()
        if profile:
            # The backend's options as saved above, secrets left to [backends.NAME] or the
            # environment: a profile is laid over that section (thinkpane.tui.core.profiles).
            secret = {option.name for option in backend_class.options if option.is_secret}
            self.settings.profiles[profile] = {
                "backend": self.selected, **{k: v for k, v in section.items() if k not in secret},
            }
        try:
            path = save_settings(self.settings, keep_secrets=form.keep_secrets)
        except (ThinkpaneError, OSError) as error:
            hint = getattr(error, "hint", "") or "Check that the config directory is writable."
            self.log_widget.show(ProgressEvent("save", "fail", f"Could not save the config: {error}", hint=hint))
            return
        options = {**setup_steps.given_values(parsed), **self.saved}
        self.app.notify(f"Saved to {path}; chats now use {self.choice.label}.", title="Setup", markup=False)
        if profile:
            self.app.notify(f"Saved as profile {profile}: --profile {profile}, Ctrl+P → Use profile, or compare it.",
                            title="Setup", markup=False)
        unsaved = [o for o in backend_class.options if o.is_secret and parsed.get(o.name)]
        if unsaved and not form.keep_secrets:
            where = "; ".join(f"{o.label}: ${' or $'.join(o.env)}" if o.env else o.label for o in unsaved)
            self.app.notify(f"Keys were not saved. Next time set {where}.", title="Setup", timeout=10, markup=False)
        self.dismiss(SetupResult(self.selected, options))

    # ------------------------------------------------------------------ the worker

    @work(exclusive=True, group=SETUP_GROUP, exit_on_error=False)
    async def _run(self, run: int, kind: str, given: dict[str, Any]) -> None:
        backend_class = self.choice.backend_class
        assert backend_class is not None
        state_path = setup_steps.state_path_for(self.selected)
        saved: dict[str, Any] = {}
        if kind == "teardown":
            events = setup_steps.teardown_events(backend_class, given, state_path=state_path)
        else:
            events = setup_steps.setup_events(backend_class, given, state_path=state_path, saved=saved)
        try:
            ok = await setup_steps.report(
                events, lambda event: self.post_message(self.StepReported(run, event)),
                setup_steps.given_secrets(given),
            )
        except asyncio.CancelledError:
            self.post_message(self.RunCancelled(run, kind))
            raise
        self.post_message(self.RunFinished(run, kind, ok, saved))

    # ------------------------------------------------------------------ messages from the worker

    def on_setup_screen_step_reported(self, message: StepReported) -> None:
        if message.run == self.run_number:
            self.log_widget.show(message.event)
            # Narrow, the page scrolls and the log is below the buttons: bring each step
            # into view as it appears (after the layout that gives the log its new height).
            self.call_after_refresh(self.log_widget.scroll_visible, animate=False)

    def on_setup_screen_run_finished(self, message: RunFinished) -> None:
        if message.run != self.run_number:
            return
        if message.kind == "teardown":
            self.phase = "idle" if message.ok else "failed"
        else:
            self.phase = "succeeded" if message.ok else "failed"
            self.saved = dict(message.saved)
        self._sync_buttons()
        if self.phase == "succeeded":
            self.query_one("#save", Button).focus()

    def on_setup_screen_run_cancelled(self, message: RunCancelled) -> None:
        if message.run != self.run_number:
            return
        self.log_widget.stop_running("cancelled", hint=RESUME_HINT)
        self.phase = "cancelled"
        self._sync_buttons()
