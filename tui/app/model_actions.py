"""Switching backend or model mid-chat, and regenerating with another one (a mixin of
``ThinkpaneApp``).

Both open the model dialog (tui/screens/model.py). The choice holds for this session, as
``--backend``/``--model`` would (``config.apply_session_overrides``: config.toml is not
changed), and the chat goes on in the same conversation: each answer is stored with the
backend and model it ran with and shows them, and what a backend is sent is the active
path converted for it (tui/core/backend_conversation.py). An answer still streaming from
the old backend is cancelled first, its partial text kept (``ThinkpaneApp.replace_backend``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from thinkpane.tui.screens.model import ModelChoice, ModelScreen

if TYPE_CHECKING:
    from textual.app import App

    from thinkpane.backends.base import Backend
    from thinkpane.tui.screens.chat import ChatScreen

    _AppBase = App[None]
else:
    _AppBase = object

SWITCH_DETAIL = ("The next answers come from the one you pick; earlier answers keep theirs. "
                 "For this session only: config.toml is not changed.")
REGENERATE_DETAIL = ("The current answer is asked again with the one you pick, and the chat goes on "
                     "with it. The old answer is kept: ‹ › switches between them.")


class ModelActions(_AppBase):
    """Actions mixed into ThinkpaneApp (which provides chat, settings, backend, push_screen…)."""

    chat: ChatScreen
    settings: Any
    backend: Backend | None

    if TYPE_CHECKING:
        def replace_backend(self, name: str, overrides: dict[str, Any] | None = None) -> None: ...

    def action_switch_model(self) -> None:
        self._choose_model("Switch backend or model", SWITCH_DETAIL, None)

    def action_regenerate_with(self) -> None:
        answer = self.chat.current_answer()
        self._choose_model("Regenerate with…", REGENERATE_DETAIL, lambda: self.chat.regenerate(answer))

    def _choose_model(self, title: str, detail: str, then: Callable[[], Awaitable[object]] | None) -> None:
        from thinkpane.backends import registry

        current = self.backend.name if self.backend is not None else self.settings.backend
        models = {name: str(options.get("model") or "") for name, options in self.settings.backends.items()}
        if self.backend is not None:
            models[self.backend.name] = self.backend.model

        def chosen(choice: ModelChoice | None) -> None:
            if choice is not None:
                self.switch_model(choice, then)

        self.push_screen(ModelScreen(title, detail, list(registry.available()), current, models), chosen)

    def switch_model(self, choice: ModelChoice, then: Callable[[], Awaitable[object]] | None = None) -> None:
        """Use ``choice`` for the next answers; then run ``then`` once it is ready."""
        from thinkpane.tui.core.config import apply_session_overrides

        backend = self.backend
        if backend is not None and backend.name == choice.backend and choice.model in ("", backend.model):
            if then is not None:
                self.run_worker(then(), group="ui", exclusive=False)
            return
        apply_session_overrides(self.settings, backend=choice.backend,
                                options={"model": choice.model} if choice.model else None)
        if then is not None:
            self.chat.when_backend_ready(then)
        self.replace_backend(choice.backend)
        self.notify(f"Switching to {choice.backend}" + (f" · {choice.model}" if choice.model else "") + "…",
                    markup=False)
