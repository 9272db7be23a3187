"""A long conversation opens with only its last turns mounted; older ones arrive on scroll.

Real store, real app (Pilot). The paging exists for speed (bench_long_conversation.py);
these tests pin what the user must never notice: every turn is reachable in order, the
view does not jump when a page is mounted above it, and "answer N of M" counts them all.
"""

from __future__ import annotations

import pytest

from tests.tui_helpers import rendered_text, wait_until
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.config import Settings
from thinkpane.tui.core.store import ConversationStore
from thinkpane.tui.widgets.transcript import Transcript
from thinkpane.tui.widgets.turn import AnswerTurn, UserTurn

EXCHANGES = 40


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "long.sqlite3")
    yield store
    store.close()


def long_chat(store) -> int:
    cid = store.create_conversation("Long", backend="scripted", model="scripted-r1")
    for n in range(EXCHANGES):
        store.add_message(cid, "user", f"question number {n}")
        store.add_message(cid, "assistant", f"Answer number {n}.\n\n" + "Some more text. " * 20,
                          reasoning=f"thinking about {n}", backend="scripted", model="scripted-r1")
    return cid


def mounted_prompts(transcript: Transcript) -> list[str]:
    return [turn.prompt for turn in transcript.children if isinstance(turn, UserTurn)]


async def test_opens_with_the_last_turns_and_counts_every_answer(store):
    cid = long_chat(store)
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend(), conversation_id=cid)
    async with app.run_test(size=(100, 30)) as pilot:
        transcript = app.chat.transcript
        await wait_until(pilot, lambda: len(transcript.children) > 0, "opened chat")
        assert len(transcript.children) == Transcript.INITIAL_TURNS
        assert mounted_prompts(transcript)[-1] == f"question number {EXCHANGES - 1}"
        answers = transcript.answers()
        assert len(answers) == EXCHANGES
        assert [a.record.content.split(".")[0] for a in answers] == [f"Answer number {n}" for n in range(EXCHANGES)]
        # The header counts every answer, mounted or not; at this width it uses the compact form.
        header = rendered_text(app.chat.reasoning_pane.header)
        assert "answer 40 of 40" in header or "Reasoning 40/40" in header, header


async def test_scrolling_up_mounts_older_turns_in_order_without_moving_the_view(store):
    cid = long_chat(store)
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend(), conversation_id=cid)
    async with app.run_test(size=(100, 30)) as pilot:
        transcript = app.chat.transcript
        await wait_until(pilot, lambda: len(transcript.children) > 0, "opened chat")
        await pilot.pause()
        first = transcript.children[0]
        offset_in_view = first.virtual_region.y  # at scroll_y 0, once scrolled home
        transcript.scroll_home(animate=False, immediate=True)
        await wait_until(pilot, lambda: transcript.children[0] is not first, "an older page")
        await pilot.pause()
        # The turn that was at the top of the view is still at the top of the view.
        assert transcript.scroll_y > 0
        assert first.virtual_region.y - transcript.scroll_y == offset_in_view

        for _ in range(EXCHANGES):
            if len(transcript.children) == 2 * EXCHANGES:
                break
            transcript.scroll_home(animate=False, immediate=True)
            await pilot.pause(0.05)
        assert mounted_prompts(transcript) == [f"question number {n}" for n in range(EXCHANGES)]
        assert len(transcript.answers()) == EXCHANGES


async def test_jumping_to_an_unmounted_answer_mounts_it(store):
    cid = long_chat(store)
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend(), conversation_id=cid)
    async with app.run_test(size=(100, 30)) as pilot:
        transcript = app.chat.transcript
        await wait_until(pilot, lambda: len(transcript.children) > 0, "opened chat")
        oldest = transcript.answers()[0]
        assert not oldest.is_attached
        transcript.scroll_to_widget(oldest, animate=False)
        await wait_until(pilot, lambda: oldest.is_attached, "the oldest answer mounted")
        await pilot.pause(0.1)
        assert isinstance(transcript.children[1], AnswerTurn) and transcript.children[1] is oldest
        assert transcript.scroll_y <= oldest.virtual_region.y <= transcript.scroll_y + transcript.size.height
