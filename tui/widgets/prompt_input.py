"""The multi-line prompt: Enter sends, Ctrl+J inserts a newline, Up on an empty prompt recalls.

Shift+Enter / Ctrl+Enter reach most terminals as plain Enter (aichat #1342), so Ctrl+J is
the newline key that always works; shift+enter is also accepted where Textual reports it.
Both keys follow the user's ``[keymap]`` (``prompt.send``, ``prompt.newline``), and the
placeholder names the keys actually bound. The text is cleared by the screen only once a
send has really started, never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

from thinkpane.tui.widgets.bound_keys import active_binding, key_hints


class PromptInput(TextArea):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Send", id="prompt.send", tooltip="Send the prompt"),
        Binding("ctrl+j,shift+enter", "newline", "Newline", id="prompt.newline",
                tooltip="Insert a newline (Shift+Enter too, where the terminal reports it)"),
    ]

    @dataclass
    class Submitted(Message):
        prompt: PromptInput
        text: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus",
                         compact=True, highlight_cursor_line=False)
        self.sent_history: list[str] = []
        self.placeholder = "Ask something…"

    def on_mount(self) -> None:
        # 'Ask something…  (Enter sends · Ctrl+J newline)', with the keys the keymap left.
        hints = key_hints(self, (("prompt.send", "sends"), ("prompt.newline", "newline")))
        self.placeholder = "Ask something…" + (f"  ({' · '.join(hints)})" if hints else "")

    def remember(self, text: str) -> None:
        if text and (not self.sent_history or self.sent_history[-1] != text):
            self.sent_history.append(text)

    async def _on_key(self, event: events.Key) -> None:
        # Textual calls this before TextArea._on_key (each class's handler runs, subclass
        # first). Enter and printable keys bound here (with the user's keymap applied) would
        # be typed by TextArea, so run their binding instead and stop the event.
        if event.key == "up" and not self.text and self.sent_history:
            event.stop()
            event.prevent_default()
            self.load_text(self.sent_history[-1])
            self.move_cursor(self.document.end)
            return
        if not (event.is_printable or event.key in ("enter", "tab")):
            return
        binding = active_binding(self, event.key)
        if binding is not None:
            event.stop()
            event.prevent_default()
            await self.run_action(binding.action)

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self, self.text))

    def action_newline(self) -> None:
        self.insert("\n")
