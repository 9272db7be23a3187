"""The chat screen's keyboard at 80x24 (tui/screens/chat/keys.py): the Answer pane scrolls
from the prompt, Tab goes prompt -> Answer -> Reasoning, and keys typed while a pane has
the focus reach the prompt unless the pane binds them."""

from __future__ import annotations

import pytest
from textual import events

from tests.tui_helpers import wait_until
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.config import Settings
from thinkpane.tui.widgets.reasoning_pane import ReasoningPane
from thinkpane.tui.widgets.transcript import Transcript

SIZE = (80, 24)
CODE = "print('copied')"


def answering(store, *, content: str, reasoning: str = "Thinking it over.") -> ThinkpaneApp:
    """The app, its backend scripted to answer the first prompt with ``content``."""
    backend = ScriptedBackend()
    backend.enqueue_turn([reasoning], [content])
    return ThinkpaneApp(Settings(), store, backend=backend)


async def ask(app, pilot, prompt: str = "question") -> None:
    await pilot.press(*prompt, "enter")
    await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "the answer")
    await pilot.pause()


def focus_is_in(app) -> str:
    """"prompt", "answer" or "reasoning": where the focus is, as the user sees it."""
    focused = app.focused
    if focused is None:
        return "nowhere"
    if focused is app.chat.prompt:
        return "prompt"
    for widget in focused.ancestors_with_self:
        if isinstance(widget, Transcript):
            return "answer"
        if isinstance(widget, ReasoningPane):
            return "reasoning"
    return focused.id or type(focused).__name__


async def test_page_keys_scroll_the_answer_pane_while_the_prompt_keeps_the_focus(store):
    long_answer = "".join(f"- line {n}\n" for n in range(120))
    app = answering(store, content=long_answer)
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        transcript = app.chat.transcript
        await wait_until(pilot, lambda: transcript.max_scroll_y > 50 and transcript.scroll_y == transcript.max_scroll_y,
                         "the answer overflowing, shown at its end")
        await pilot.press(*"a draft")
        bottom = transcript.scroll_y

        await pilot.press("pageup")
        await wait_until(pilot, lambda: transcript.scroll_y < bottom - 5, "a page up")
        await pilot.press("ctrl+home")
        await wait_until(pilot, lambda: transcript.scroll_y == 0, "the top")
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: transcript.scroll_y > 5, "a page down")
        await pilot.press("ctrl+end")
        await wait_until(pilot, lambda: transcript.scroll_y == transcript.max_scroll_y, "the end")

        assert focus_is_in(app) == "prompt"
        assert app.chat.prompt.text == "a draft"


async def test_page_keys_scroll_the_focused_pane(store):
    long_reasoning = "\n\n".join(f"Thought {n}." for n in range(80))
    app = answering(store, content="Short.", reasoning=long_reasoning)
    async with app.run_test(size=(120, 30)) as pilot:
        await ask(app, pilot)
        body = app.chat.reasoning_pane.body
        await wait_until(pilot, lambda: body.max_scroll_y > 20, "the reasoning overflowing")
        body.focus()
        await pilot.press("ctrl+end")
        await wait_until(pilot, lambda: body.scroll_y == body.max_scroll_y, "the reasoning's end")
        assert focus_is_in(app) == "reasoning"


async def test_tab_goes_from_the_prompt_to_the_answer_then_the_reasoning(store):
    app = answering(store, content="An answer.")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        assert focus_is_in(app) == "prompt"
        stops = []
        for _ in range(4):
            await pilot.press("tab")
            stops.append(focus_is_in(app))
        # The answer pane has two stops: the transcript and its "▸ Reasoning" link.
        assert stops == ["answer", "answer", "reasoning", "prompt"]
        await pilot.press("shift+tab")
        assert focus_is_in(app) == "reasoning"


@pytest.mark.parametrize("pane", ["answer", "reasoning"])
async def test_keys_typed_while_a_pane_has_the_focus_go_to_the_prompt(store, pane):
    # A terminal delivers fast typing as one burst: the keys are posted back to back, so
    # the focus must be in the prompt before the next key is routed ("y" is bound in the
    # Answer pane: it copies a code block).
    app = answering(store, content=f"Code:\n\n```python\n{CODE}\n```\n")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        target = app.chat.transcript if pane == "answer" else app.chat.reasoning_pane.body
        target.focus()
        await wait_until(pilot, lambda: focus_is_in(app) == pane, f"the focus in the {pane} pane")
        for character in "hey, why":
            key = "space" if character == " " else ("comma" if character == "," else character)
            app.post_message(events.Key(key, character))
        await wait_until(pilot, lambda: app.chat.prompt.text == "hey, why", "every key in the prompt")
        assert focus_is_in(app) == "prompt"
        assert CODE not in (app.clipboard or ""), "a typed y copied a code block"


async def test_the_answer_panes_own_key_still_copies_and_is_in_the_footer(store):
    app = answering(store, content=f"Code:\n\n```python\n{CODE}\n```\n")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        app.chat.transcript.focus()
        await wait_until(pilot, lambda: focus_is_in(app) == "answer", "the focus in the answer pane")
        footer_keys = {key for key, active in app.screen.active_bindings.items() if active.binding.show}
        assert "y" in footer_keys
        await pilot.press("y")
        await wait_until(pilot, lambda: app.clipboard == CODE, "the code block copied")
        assert app.chat.prompt.text == "" and focus_is_in(app) == "answer"


async def test_text_pasted_while_a_pane_has_the_focus_goes_to_the_prompt_once(store):
    app = answering(store, content="An answer.")
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        app.chat.transcript.focus()
        await wait_until(pilot, lambda: focus_is_in(app) == "answer", "the focus in the answer pane")
        app.post_message(events.Paste("pasted words"))
        await wait_until(pilot, lambda: app.chat.prompt.text == "pasted words", "the paste in the prompt")
        assert focus_is_in(app) == "prompt"
        app.post_message(events.Paste(" and more"))  # pasted in the prompt itself: once
        await wait_until(pilot, lambda: "more" in app.chat.prompt.text, "the second paste")
        await pilot.pause()
        assert app.chat.prompt.text == "pasted words and more"
