"""Screenshots of the chat and the conversation list (pytest-textual-snapshot).

Deterministic: fixed terminal size, scripted backends, a frozen clock (elapsed, TTFT and
reasoning times read 0.0) and a fixed date format. Regenerate after a deliberate UI change:
``pytest tests/test_snapshots.py --snapshot-update``, then look at the SVGs.
"""

from __future__ import annotations

import pytest

from tests.tui_helpers import GatedBackend, fixed_clock, wait_until
from thinkpane.backends.events import ContentDelta, ReasoningDelta, Stop, Usage
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.config import Settings
from thinkpane.tui.core.store import ConversationStore

REASONING = [
    "The user asks for a **Python** one-liner that reverses a string. ",
    "Slicing with a negative step does it: `s[::-1]`. ",
    "I should also mention `reversed()` and `''.join`.",
]
ANSWER = [
    "## Reversing a string\n\n",
    "Use slicing with a step of -1:\n\n",
    "```python\nprint('thinkpane'[::-1])\n```\n\n",
    "- `[::-1]` makes a reversed copy\n",
    "- `''.join(reversed(s))` works too\n",
]


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "snap.sqlite3")
    yield store
    store.close()


def make_app(store, backend) -> ThinkpaneApp:
    return ThinkpaneApp(
        Settings(), store, backend=backend, clock=fixed_clock(), format_date=lambda ts: "2026-01-02 09:30"
    )


async def send_prompt(pilot, text: str = "How do I reverse a string in Python?") -> None:
    # run_before can start before the chat screen has focused its prompt.
    await wait_until(pilot, lambda: pilot.app.chat.prompt.has_focus, "prompt focus")
    await pilot.press(*text)
    await pilot.press("enter")


def finished_turn_app(store) -> ThinkpaneApp:
    backend = ScriptedBackend()
    events = [ReasoningDelta(t) for t in REASONING] + [ContentDelta(t) for t in ANSWER]
    backend.enqueue(events + [Usage(input_tokens=18, output_tokens=96), Stop("end_turn")])
    return make_app(store, backend)


async def until_finished(pilot) -> None:
    app = pilot.app
    await send_prompt(pilot)
    await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "finished turn")
    await pilot.pause()


def test_chat_after_a_finished_turn(snap_compare, store):
    assert snap_compare(finished_turn_app(store), terminal_size=(120, 36), run_before=until_finished)


def test_chat_narrow_layout(snap_compare, store):
    assert snap_compare(finished_turn_app(store), terminal_size=(80, 40), run_before=until_finished)


def test_chat_mid_stream(snap_compare, store):
    backend = GatedBackend()

    async def mid_stream(pilot) -> None:
        app = pilot.app
        await send_prompt(pilot)
        backend.put(*[ReasoningDelta(t) for t in REASONING], *[ContentDelta(t) for t in ANSWER[:3]])
        await wait_until(pilot, lambda: "print(" in app.chat.transcript.answers()[-1].live_markdown().source,
                         "partial answer")
        # Both panes show everything sent so far (LiveMarkdown renders at most 8 times a second).
        await wait_until(pilot, lambda: app.chat.reasoning_pane.live_text() == "".join(REASONING), "reasoning")
        await wait_until(pilot, lambda: app.chat.transcript.answers()[-1].live_markdown().source == "".join(ANSWER[:3]),
                         "answer")
        # The counters follow the text at most 4 times a second; a pause brings them up to date.
        await wait_until(pilot, lambda: app.chat.status.info.tokens_out == app.chat.live.record.output_tokens_label(),
                         "counters")
        await pilot.pause()

    assert snap_compare(make_app(store, backend), terminal_size=(120, 36), run_before=mid_stream)


def test_conversation_list(snap_compare, store):
    for title, question in [
        ("Reversing strings in Python", "How do I reverse a string?"),
        ("Why is the sky blue?", "Why is the sky blue?"),
        ("[bold]Markup[/bold] in a title stays literal", "test"),
    ]:
        cid = store.create_conversation(title, backend="scripted", model="scripted-r1")
        store.add_message(cid, "user", question)
        store.add_message(cid, "assistant", "An answer.", reasoning="Some thoughts.")

    async def open_list(pilot) -> None:
        await pilot.press("ctrl+l")
        await pilot.pause()

    assert snap_compare(make_app(store, ScriptedBackend()), terminal_size=(120, 30), run_before=open_list)


def test_configuration_error_panel(snap_compare, store):
    app = ThinkpaneApp(Settings(backend="openai"), store, clock=fixed_clock())

    async def until_failed(pilot) -> None:
        await wait_until(pilot, lambda: pilot.app.backend_error is not None, "backend error")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 24), run_before=until_failed)


def test_compare_screen_three_columns(snap_compare, store, monkeypatch):
    """Three profiles after one prompt: one answered, one stopped by the user, one failed."""
    from thinkpane.backends import registry
    from thinkpane.backends.errors import ServerError
    from thinkpane.backends.events import ErrorEvent
    from thinkpane.tui.core.profiles import parse_spec

    monkeypatch.setitem(registry.BUILTIN, "gated", "tests.tui_helpers:GatedBackend")
    settings = Settings(profiles={
        "deep": {"backend": "gated", "model": "deep-r1"},
        "quick": {"backend": "gated", "model": "quick-v3"},
        "local": {"backend": "gated", "model": "qwen3-8b"},
    })
    app = ThinkpaneApp(settings, store, backend=GatedBackend(), clock=fixed_clock(),
                       compare=[parse_spec(settings, name) for name in ("deep", "quick", "local")])

    async def compared(pilot) -> None:
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "columns", None), "the compare screen")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: all(c.backend for c in screen.columns), "the columns' backends")
        await wait_until(pilot, lambda: screen.prompt.has_focus, "the prompt's focus")
        await pilot.press(*"How do I reverse a string in Python?", "enter")
        await wait_until(pilot, lambda: all(c.live for c in screen.columns), "three streams")
        deep, quick, local = (c.backend for c in screen.columns)
        deep.put(*[ReasoningDelta(t) for t in REASONING], *[ContentDelta(t) for t in ANSWER],
                 Usage(input_tokens=18, output_tokens=96), Stop("end_turn"))
        deep.end()
        quick.put(ReasoningDelta("Slicing. "), ContentDelta("Use `s[::-1]`"))
        await wait_until(pilot, lambda: "s[::-1]" in screen.columns[1].transcript.answers()[-1].live_markdown().source,
                         "the second column's text")
        screen.columns[1].cancel_turn()
        local.put(ErrorEvent(ServerError("The server failed (HTTP 500)", "Try again in a moment.")))
        await wait_until(pilot, lambda: not screen.streaming, "every column ended")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 36), run_before=compared)
