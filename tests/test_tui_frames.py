"""What the terminal is sent, frame by frame, when text arrives in a burst.

A fast backend or a gateway flushing its buffer hands the screen a whole answer at once.
The panes follow the end of the text, so no frame may show a burst from its top and then
jump; and the end of a turn (last text, reasoning link, status line) lands in one frame,
not spread over several screen ticks (tests/bench/bench_render.py measures how soon).
"""
from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import pytest

from tests.tui_helpers import GatedBackend, wait_until
from thinkpane.backends.events import ContentDelta, ReasoningDelta, Stop
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.config import Settings
from thinkpane.tui.core.store import ConversationStore


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


class Frames:
    """The text of every frame the app sends to the terminal, and what ``watch()`` returned
    right after each (e.g. a pane's scroll position)."""

    def __init__(self, app: ThinkpaneApp, watch: Callable[[], object] | None = None) -> None:
        self.texts: list[str] = []
        self.watched: list[object] = []
        original = app._display

        def display(screen, update) -> None:
            original(screen, update)
            if update is not None and not app._batch_count:
                self.texts.append(update.render_segments(app.console))
                if watch is not None:
                    self.watched.append(watch())

        app._display = display

    def first_with(self, marker: str) -> int | None:
        return next((i for i, text in enumerate(self.texts) if marker in text), None)


def burst(tag: str, lines: int = 80) -> str:
    """Markdown taller than the pane, with a marker in its first and last lines."""
    body = "".join(f"- {tag} item {n}\n" for n in range(lines))
    return f"{tag}-START\n\n{body}\n{tag}-END"


async def start(pilot, text: str = "go") -> None:
    await pilot.press(*text)
    await pilot.press("enter")


async def test_a_burst_is_shown_from_its_end_in_both_panes(store):
    backend = GatedBackend()
    app = ThinkpaneApp(Settings(), store, backend=backend)
    frames = Frames(app)
    async with app.run_test(size=(120, 30)) as pilot:
        await start(pilot)
        backend.put(ReasoningDelta(burst("THINK")))
        await wait_until(pilot, lambda: frames.first_with("THINK-END") is not None, "reasoning burst shown")
        backend.put(ContentDelta(burst("SAY")))
        await wait_until(pilot, lambda: frames.first_with("SAY-END") is not None, "answer burst shown")
        await pilot.pause(0.1)
        # Following: the end is in view from the first frame that shows any of the burst;
        # the top never is (80 lines do not fit in 30 rows).
        assert frames.first_with("THINK-START") is None
        assert frames.first_with("SAY-START") is None
        assert app.chat.transcript.scroll_y == app.chat.transcript.max_scroll_y > 0
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "turn ended")


async def test_short_text_stays_at_the_top_of_a_following_pane(store):
    backend = GatedBackend()
    app = ThinkpaneApp(Settings(), store, backend=backend)
    async with app.run_test(size=(120, 30)) as pilot:
        await start(pilot, "hi")
        backend.put(ReasoningDelta("A short thought."), ContentDelta("A short answer."))
        chat = app.chat
        await wait_until(pilot, lambda: "short answer" in chat.transcript.answers()[-1]._live.source, "answer")
        await pilot.pause(0.1)
        transcript, body = chat.transcript, chat.reasoning_pane.body
        assert transcript.is_anchored and body.is_anchored  # following from the start
        # An anchored content shorter than its pane is not pushed to the bottom.
        for pane in (transcript, body):
            top = pane.children[0]
            assert top.region.y == pane.content_region.y + top.styles.margin.top
        assert transcript.scroll_y == 0 and body.scroll_y == 0
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: chat.live is None, "turn ended")


async def test_the_end_of_a_turn_lands_in_one_frame(store):
    backend = GatedBackend()
    app = ThinkpaneApp(Settings(), store, backend=backend)
    frames = Frames(app)
    async with app.run_test(size=(120, 30)) as pilot:
        await start(pilot)
        backend.put(ReasoningDelta("Hmm. "))
        await wait_until(pilot, lambda: frames.first_with("Hmm.") is not None, "first token on screen")
        # Then everything at once: a stream that was faster than the screen.
        backend.put(ReasoningDelta(burst("THINK")), ContentDelta(burst("SAY")), Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "turn ended")
        await pilot.pause(0.2)
        first = frames.first_with("SAY-END")
        assert first is not None
        # The frame that shows the answer's end also shows the turn's end: the rest of the
        # reasoning, the status line back to idle with the final count, the final header.
        assert "THINK-END" in frames.texts[first]
        status = app.chat.status.line_text().plain
        header = app.chat.reasoning_pane.header.render().plain
        assert "idle" in status and status.split("│")[-1].strip() in frames.texts[first]
        assert header.strip() in frames.texts[first]


async def test_a_following_pane_scrolls_half_its_height_at_a_time(store):
    """Text that streams past the bottom moves up in steps, not a line per frame (easier to
    read, and a frame that only adds words repaints a few rows); at the end the pane is
    exactly as tall as its text, its last line at the bottom."""
    backend = GatedBackend()
    app = ThinkpaneApp(Settings(), store, backend=backend)
    # (A following pane with short text keeps a negative offset: it is shown from the top.)
    frames = Frames(app, watch=lambda: max(0, app.chat.reasoning_pane.body.scroll_y))
    async with app.run_test(size=(120, 30)) as pilot:
        await start(pilot)
        body = app.chat.reasoning_pane.body
        step = body.size.height // 2
        assert step >= 4
        for n in range(60):
            backend.put(ReasoningDelta(f"Line {n} of the thought.\n\n"))
            await pilot.pause(0.02)
        await wait_until(pilot, lambda: "Line 59" in app.chat.reasoning_pane.live_text(), "all reasoning")
        await pilot.pause(0.2)
        positions = frames.watched
        moves = [b - a for a, b in pairwise(positions) if b != a]
        assert len(moves) >= 5, positions
        # Past the first screenful every move is a whole step (or several, if text came fast).
        assert all(move > 0 and move % step == 0 for move in moves), (step, moves)
        live = app.chat.reasoning_pane.live
        assert live.size.height % step == 0 and live.size.height > len(live._lines) - step
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "turn ended")
        await pilot.pause(0.1)
        assert live.size.height == len(live._lines)
        assert body.scroll_y == body.max_scroll_y
        last_row = body.content_region.bottom - 1
        assert "Line 59" in "".join(seg.text for seg in app.screen._compositor.render_strips()[last_row])


async def test_a_new_turn_follows_its_end_after_the_user_scrolled_away_in_the_last(store):
    backend = GatedBackend()
    app = ThinkpaneApp(Settings(), store, backend=backend)
    async with app.run_test(size=(120, 30)) as pilot:
        transcript = app.chat.transcript
        await start(pilot, "first")
        backend.put(ContentDelta(burst("ONE")))
        await wait_until(pilot, lambda: transcript.max_scroll_y > 20 and transcript.scroll_y == transcript.max_scroll_y,
                         "following the first answer")
        transcript.scroll_up(animate=False)  # the user scrolls away: the anchor is released
        transcript.scroll_to(y=3, animate=False)
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "first turn ended")
        assert transcript.scroll_y == 3

        await start(pilot, "second")
        await wait_until(pilot, lambda: app.chat.live is not None, "second turn started")
        backend.put(ContentDelta(burst("TWO")))
        await wait_until(pilot, lambda: "TWO-END" in transcript.answers()[-1].live_markdown().source, "second answer")
        await wait_until(pilot, lambda: transcript.scroll_y == transcript.max_scroll_y > 3, "following the second")
        backend.put(Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "second turn ended")
