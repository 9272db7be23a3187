"""The chat screen's keyboard: the panes scroll from the prompt, Tab goes prompt -> Answer ->
Reasoning, and nothing typed while a pane has the focus is lost.

- PageUp/PageDown and Ctrl+Home/Ctrl+End scroll the Answer pane while the prompt keeps the
  focus (or scroll the pane that has it). They are priority bindings: the prompt, a
  TextArea, would otherwise take PageUp/PageDown to move its cursor.
- Tab: Textual orders the focus chain by position on screen, which put the Reasoning pane
  (left, or above when narrow) first, so Tab from the prompt went to it. Here the chain is
  the prompt, then the Answer pane (the transcript and its "▸ Reasoning" links), then the
  Reasoning pane.
- A printable key that nothing binds, pressed while a pane (or nothing) has the focus,
  moves the focus to the prompt and is typed there: a user who clicked a pane and went on
  typing lost those keys. Keys bound where the focus is keep their binding (``y`` copies a
  code block in the Answer pane; the footer shows it while the pane has the focus). Text
  pasted there goes to the prompt too.

``ChatScreen`` gets all of this by deriving from :class:`PaneKeys`.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget

from thinkpane.tui.widgets.prompt_input import PromptInput
from thinkpane.tui.widgets.reasoning_pane import ReasoningPane
from thinkpane.tui.widgets.transcript import Transcript

# Where Tab goes, in this order; anything else focusable comes after them.
FOCUS_ORDER: tuple[type[Widget], ...] = (PromptInput, Transcript, ReasoningPane)


class PaneKeys(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pageup", "scroll_pane('page_up')", "Page up", id="chat.page_up", show=False, priority=True,
                tooltip="Scroll the Answer pane (or the focused pane) up a page; the prompt keeps the focus"),
        Binding("pagedown", "scroll_pane('page_down')", "Page down", id="chat.page_down", show=False,
                priority=True,
                tooltip="Scroll the Answer pane (or the focused pane) down a page; the prompt keeps the focus"),
        Binding("ctrl+home", "scroll_pane('home')", "Top", id="chat.scroll_home", show=False, priority=True,
                tooltip="Scroll the Answer pane (or the focused pane) to its start"),
        Binding("ctrl+end", "scroll_pane('end')", "Bottom", id="chat.scroll_end", show=False, priority=True,
                tooltip="Scroll the Answer pane (or the focused pane) to its end; it follows new text again"),
    ]

    @property
    def focus_chain(self) -> list[Widget]:
        groups = [widget for kind in FOCUS_ORDER for widget in self.query(kind).results(kind)]

        def rank(widget: Widget) -> int:
            for index, group in enumerate(groups):
                if widget is group or group in widget.ancestors:
                    return index
            return len(groups)

        return sorted(super().focus_chain, key=rank)  # stable: each group keeps Textual's order

    def _scroll_target(self) -> Widget:
        """The pane the focus is in, else the transcript (the focus is in the prompt)."""
        for widget in self.focused.ancestors_with_self if self.focused is not None else ():
            if isinstance(widget, Transcript):
                return widget
            if isinstance(widget, ReasoningPane):
                return widget.body
        return self.query_one(Transcript)

    def action_scroll_pane(self, where: str) -> None:
        pane = self._scroll_target()
        # The same calls as the pane's own keys: scrolling up stops following new text,
        # reaching the end again resumes it (following.py).
        {
            "page_up": pane.scroll_page_up,
            "page_down": pane.scroll_page_down,
            "home": pane.scroll_home,
            "end": pane.scroll_end,
        }[where]()

    def on_key(self, event: events.Key) -> None:
        # Keys typed in the prompt never get here (it takes them); a key bound where the
        # focus is runs its binding after this (the app checks bindings once the key has
        # bubbled up), so only unbound printable keys are taken.
        if not event.is_printable or event.character is None:
            return
        bound = self.active_bindings
        if any(key in bound for key in event.aliases):
            return
        prompt = self.query_one(PromptInput)
        event.stop()
        event.prevent_default()
        # Now, not on the next idle (Widget.focus): the keys after this one in a fast burst
        # must already find the prompt focused, or a bound one (y) would run its binding.
        self.set_focus(prompt)
        prompt.insert(event.character)

    def on_paste(self, event: events.Paste) -> None:
        # A paste reaches the screen from wherever the focus is (the prompt takes it and
        # lets it bubble on): only one pasted while a pane has the focus is moved.
        prompt = self.query_one(PromptInput)
        if self.focused is prompt or not event.text:
            return
        event.stop()
        self.set_focus(prompt)
        prompt.insert(event.text)
