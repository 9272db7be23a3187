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
