"""The compare screen, driven through Pilot: columns of gated backends the test feeds one by one.

Each column builds its own backend through the registry (``gated`` is tests.tui_helpers.
GatedBackend), so a test reaches a column's backend as ``column.backend`` and puts events
into exactly that column's stream.
"""

from __future__ import annotations

import pytest
from textual.widgets import SelectionList

from tests.tui_helpers import GatedBackend, rendered_text, run_palette_command, wait_until
from thinkpane.backends import registry
from thinkpane.backends.errors import ConfigurationError, ServerError
from thinkpane.backends.events import ContentDelta, ErrorEvent, ReasoningDelta, Stop, Usage
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.comparison import COLUMN_KEY
from thinkpane.tui.core.config import Settings
from thinkpane.tui.core.profiles import parse_spec
from thinkpane.tui.screens.compare import CompareScreen
from thinkpane.tui.screens.compare.column import RENDER_INTERVAL_S
from thinkpane.tui.screens.compare.picker import ChooseColumns
from thinkpane.tui.screens.confirm import ConfirmScreen

PROFILES = {
    "alpha": {"backend": "gated", "model": "alpha-r1"},
    "beta": {"backend": "gated", "model": "beta-r1"},
    "gamma": {"backend": "gated", "model": "gamma-r1"},
}


class BrokenBackend(ScriptedBackend):
    """A backend whose model will not load (like a local model file that is broken)."""

    name = "broken"

    async def prepare(self) -> None:
        raise ConfigurationError("llama.cpp could not load the model", "Download it again.")


@pytest.fixture(autouse=True)
def test_backends(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "gated", "tests.tui_helpers:GatedBackend")
    monkeypatch.setitem(registry.BUILTIN, "broken", f"{__name__}:BrokenBackend")


def compare_app(store, *specs: str, profiles=PROFILES) -> ThinkpaneApp:
    settings = Settings(profiles=profiles)
    choices = [parse_spec(settings, spec) for spec in specs] if specs else None
    return ThinkpaneApp(settings, store, backend=GatedBackend(), compare=choices)


async def compare_screen(pilot) -> CompareScreen:
    """The compare screen once every column has built its backend (or failed to)."""
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), "the compare screen")
    screen = app.screen
    await wait_until(pilot, lambda: all(c.backend or c.backend_error for c in screen.columns), "the columns' backends")
    await pilot.pause()  # laid out: the headers have their width
    return screen


async def send(pilot, text: str) -> None:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.prompt.has_focus, "the prompt's focus")
    await pilot.press(*text, "enter")
    await wait_until(pilot, lambda: all(c.live for c in screen.columns if c.backend), "every column streaming")


def answer_text(column) -> str:
    """What the column's answer pane shows: the live Markdown's text, or the finished answer."""
    turns = column.transcript.answers()
    if not turns:
        return ""
    turn = turns[-1]
    return turn._live.source if turn._live is not None else rendered_text(turn)


def header(column) -> str:
    return rendered_text(column.header)


def finish(backend: GatedBackend, *events) -> None:
    backend.put(*events, Usage(input_tokens=9, output_tokens=30), Stop("end_turn"))
    backend.end()


async def both_answer(pilot, screen, prompt: str, first: tuple, second: tuple) -> None:
    """Send ``prompt``; the first column's stream gives ``first``, the second's ``second``."""
    one, two = screen.columns
    await send(pilot, prompt)
    finish(one.backend, *first)
    finish(two.backend, *second)
    await wait_until(pilot, lambda: not screen.streaming, "both answers")


async def test_each_column_streams_its_reasoning_and_answer_into_its_own_panes(store):
    app = compare_app(store, "alpha", "beta")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await compare_screen(pilot)
        one, two = screen.columns
        assert "1 · alpha · alpha-r1" in header(one) and "2 · beta · beta-r1" in header(two)
        await send(pilot, "Why is the sky blue?")
        # Columns render less often than the chat (three at once; bench_compare.py).
        assert one.transcript.answers()[-1].live_markdown().MIN_INTERVAL_S == RENDER_INTERVAL_S
        assert one.backend.received[0].messages[-1].content == "Why is the sky blue?"
        assert two.backend.received[0].messages[-1].content == "Why is the sky blue?"

        one.backend.put(ReasoningDelta("Alpha thinks about **Rayleigh**."))
        await wait_until(pilot, lambda: "Rayleigh" in one.reasoning_pane.live_text(), "column 1's reasoning")
        two.backend.put(ReasoningDelta("Beta thinks."), ContentDelta("Beta answers first."))
        await wait_until(pilot, lambda: answer_text(two) == "Beta answers first.", "column 2's answer")
        assert two.reasoning_pane.live_text() == "Beta thinks."
        assert answer_text(one) == ""  # nothing of column 2 leaked into column 1
        assert "Beta" not in one.reasoning_pane.live_text()
        await wait_until(pilot, lambda: "thinking" in header(one) and "answering" in header(two), "the states")

        finish(one.backend, ContentDelta("Alpha: short wavelengths scatter."))
        finish(two.backend)
        await wait_until(pilot, lambda: not screen.streaming, "both columns finished")
        await pilot.pause()
        assert "Alpha: short wavelengths scatter." in answer_text(one)
        assert "Beta answers first." in answer_text(two)
        for column in (one, two):
            shown = header(column)
            assert "answered" in shown and "TTFT" in shown and "thought" in shown, shown
            assert "reasoning ~" in shown and "answer ~" in shown, shown
        # Nothing is stored until the user keeps an answer.
        assert store.list_conversations() == []


async def test_a_column_header_shows_the_cost_when_the_provider_gives_it(store):
    app = compare_app(store, "alpha", "beta")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await compare_screen(pilot)
        one, two = screen.columns
        await both_answer(pilot, screen, "Price?", (ContentDelta("Priced."), Usage(cost=0.0012)),
                          (ContentDelta("Free."),))
        await wait_until(pilot, lambda: "$0.0012" in header(one), "column 1's cost")
        assert "$" not in header(two)  # no price given: none shown


async def test_a_failing_column_shows_its_error_and_the_others_finish(store):
    app = compare_app(store, "alpha", "beta", "gamma")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await compare_screen(pilot)
        one, two, three = screen.columns
        await send(pilot, "Hello")
        one.backend.put(ReasoningDelta("Alpha is thinking."))
        two.backend.put(ReasoningDelta("Beta starts"), ErrorEvent(ServerError("The server failed", "Try again later.")))
        await wait_until(pilot, lambda: two.live is None, "column 2's failure")
        shown = answer_text(two)
        assert "The server failed" in shown and "Try again later." in shown
        assert "error · The server failed" in header(two)
        assert one.live is not None and three.live is not None  # the others go on

        finish(one.backend, ContentDelta("Alpha answers."))
        finish(three.backend, ContentDelta("Gamma answers."))
        await wait_until(pilot, lambda: not screen.streaming, "the other columns")
        assert "Alpha answers." in answer_text(one) and "Gamma answers." in answer_text(three)
        assert "answered" in header(one) and "answered" in header(three)
        assert "error" in header(two)


async def test_a_column_whose_backend_cannot_start_says_why_and_the_others_run(store):
    app = compare_app(store, "alpha", "broken")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await compare_screen(pilot)
        one, two = screen.columns
        await wait_until(pilot, lambda: "could not load" in answer_text(two), "column 2's error")
        assert "Download it again." in answer_text(two)
        assert "error · llama.cpp could not load the model" in header(two)
        await send(pilot, "Hello")
        finish(one.backend, ContentDelta("Alpha answers."))
        await wait_until(pilot, lambda: not screen.streaming, "column 1")
        assert "Alpha answers." in answer_text(one)


async def test_x_stops_the_current_column_and_the_others_go_on(store):
    app = compare_app(store, "alpha", "beta")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await compare_screen(pilot)
        one, two = screen.columns
        await send(pilot, "Hello")
        one.backend.put(ContentDelta("Alpha part one. "))
        two.backend.put(ContentDelta("Beta part one. "))
        await wait_until(pilot, lambda: answer_text(two) == "Beta part one. ", "column 2's text")
        await pilot.click(f"#column-answer-{two.number}")
        assert screen.current is two
        await pilot.press("x")
        await wait_until(pilot, lambda: two.live is None, "column 2 stopped")
        assert two.recorder.record.status == "cancelled"
        assert "cancelled" in answer_text(two) and "Beta part one." in answer_text(two)
        await wait_until(pilot, lambda: two.backend.closed_streams == 1, "column 2's stream closed")

        one.backend.put(ContentDelta("Alpha part two."))
        await wait_until(pilot, lambda: "part two" in answer_text(one), "column 1 goes on")
        assert one.live is not None
        finish(one.backend)
        await wait_until(pilot, lambda: one.live is None, "column 1 finished")
        assert one.recorder.record.status == "complete"


async def test_escape_stops_every_column_then_leaving_asks_first(store):
    app = compare_app(store, "alpha", "beta")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await compare_screen(pilot)
        await send(pilot, "Hello")
        for column in screen.columns:
            column.backend.put(ContentDelta(f"Part of {column.number}."))
        await wait_until(pilot, lambda: all(answer_text(c) for c in screen.columns), "text in both")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.streaming, "every column stopped")
        assert [c.recorder.record.status for c in screen.columns] == ["cancelled", "cancelled"]
        assert app.screen is screen  # the first Esc only stops

        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen, "still comparing")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is app.chat, "back in the chat")
        assert store.list_conversations() == []


async def test_keeping_a_winner_stores_it_as_the_turn_and_the_others_beside_it(store):
    app = compare_app(store, "alpha", "beta")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await compare_screen(pilot)
        two = screen.columns[1]
        winner_backend = two.backend
        await both_answer(pilot, screen, "Which is faster?",
                          (ReasoningDelta("Alpha weighs it."), ContentDelta("Alpha says A.")),
                          (ReasoningDelta("Beta weighs it."), ContentDelta("Beta says B.")))
        await pilot.click(f"#column-answer-{two.number}")
        await pilot.press("w")
        await wait_until(pilot, lambda: app.screen is app.chat, "back in the chat")
        await wait_until(pilot, lambda: app.chat.transcript.answers(), "the kept turn in the chat")

        # The chat shows the prompt and the kept answer, and goes on with its backend.
        assert "Beta says B." in rendered_text(app.chat.transcript.answers()[-1])
        assert app.backend is winner_backend
        conversation = store.list_conversations()[0]
        user, answer = store.load_messages(conversation.id)  # the active path
        assert (user.role, user.content) == ("user", "Which is faster?")
        assert (answer.content, answer.reasoning, answer.model) == ("Beta says B.", "Beta weighs it.", "beta-r1")
        # The other column's answer is kept beside it, a sibling in column order: 2 of 2.
        first, second = store.siblings(answer.id)
        assert second == answer.id
        other = store.get_message(first)
        assert (other.content, other.reasoning, other.model, other.status) == (
            "Alpha says A.", "Alpha weighs it.", "alpha-r1", "complete")
        assert other.extra[COLUMN_KEY] == {"column": 1, "of": 2, "label": "alpha · alpha-r1"}
        assert "2/2" in rendered_text(app.chat.transcript.answers()[-1])

        # The next prompt goes to the winner, with the kept turn in its history.
        await pilot.press(*"And why?", "enter")
        await wait_until(pilot, lambda: len(winner_backend.received) == 2, "the next turn")
        sent = [(m.role, m.content) for m in winner_backend.received[1].messages]
        assert sent == [("user", "Which is faster?"), ("assistant", "Beta says B."), ("user", "And why?")]


async def test_keeping_a_winner_while_another_column_streams_keeps_that_one_too(store):
    app = compare_app(store, "alpha", "beta")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await compare_screen(pilot)
        one, two = screen.columns
        await send(pilot, "Hello")
        finish(one.backend, ContentDelta("Alpha is done."))
        two.backend.put(ContentDelta("Beta is half"))
        await wait_until(pilot, lambda: one.live is None and answer_text(two), "column 1 done, 2 streaming")
        await pilot.click(f"#column-answer-{one.number}")
        await pilot.press("w")
        await wait_until(pilot, lambda: app.screen is app.chat, "back in the chat")
        answer = store.load_messages(store.list_conversations()[0].id)[-1]
        assert answer.content == "Alpha is done."
        other = store.get_message(store.siblings(answer.id)[1])
        assert (other.content, other.status) == ("Beta is half", "cancelled")


async def test_a_narrow_terminal_shows_the_columns_as_tabs_and_streams_go_on(store):
    app = compare_app(store, "alpha", "beta")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await compare_screen(pilot)
        one, two = screen.columns
        await send(pilot, "Hello")
        one.backend.put(ContentDelta("Alpha before. "))
        await wait_until(pilot, lambda: answer_text(one) == "Alpha before. ", "column 1's text")
        assert not screen.query_one("#column-tabs").display or not screen.has_class("-narrow")
        assert one.display and two.display

        await pilot.resize_terminal(80, 30)
        await wait_until(pilot, lambda: screen.has_class("-narrow"), "the narrow layout")
        await pilot.pause()
        assert screen.query_one("#column-tabs").region.height > 0
        assert one.display and not two.display

        two.backend.put(ContentDelta("Beta while hidden."))
        await pilot.click("#column-tab-2")
        await wait_until(pilot, lambda: two.display and not one.display, "the second tab")
        await wait_until(pilot, lambda: answer_text(two) == "Beta while hidden.", "column 2's text")
        one.backend.put(ContentDelta("Alpha after."))
        await wait_until(pilot, lambda: answer_text(one) == "Alpha before. Alpha after.", "column 1 streamed on")

        await pilot.resize_terminal(160, 40)
        await wait_until(pilot, lambda: one.display and two.display, "side by side again")
        finish(one.backend)
        finish(two.backend)
        await wait_until(pilot, lambda: not screen.streaming, "both finished")


async def test_compare_from_the_palette_chooses_columns_in_list_order(store):
    app = compare_app(store)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, lambda: app.chat.prompt.has_focus, "the chat")
        await pilot.press(*"Draft prompt")
        await run_palette_command(pilot, "compare", "Compare…")
        await wait_until(pilot, lambda: isinstance(app.screen, ChooseColumns), "the column chooser")
        choose = app.screen
        await wait_until(pilot, lambda: choose.query_one(SelectionList).has_focus, "the list's focus")
        # The current backend, then alpha, beta, gamma: tick gamma, then alpha.
        await pilot.press("down", "down", "down", "space", "up", "up", "space")
        await wait_until(pilot, lambda: len(choose.query_one(SelectionList).selected) == 2, "two ticks")
        await pilot.press("f8")
        screen = await compare_screen(pilot)
        assert [column.choice.label for column in screen.columns] == ["alpha", "gamma"]
        assert screen.prompt.text == "Draft prompt"  # what was typed in the chat


async def test_compare_without_profiles_says_how_to_add_them(store):
    app = compare_app(store, profiles={})
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await pilot.press("f8")
        await wait_until(pilot, lambda: list(app.screen.query("Toast")), "a notification")
        toast = app.screen.query("Toast").first().render().plain
        assert "[profiles.NAME]" in toast and "--compare" in toast
        assert app.screen is app.chat


async def test_use_profile_from_the_palette_switches_the_chat_backend(store):
    app = compare_app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat.prompt.has_focus, "the chat")
        await run_palette_command(pilot, "use profile beta", "Use profile beta")
        await wait_until(pilot, lambda: app.backend is not None and app.backend.model == "beta-r1", "profile beta")
        await wait_until(pilot, lambda: "beta-r1" in app.chat.status.line_text().plain, "the status line")


def test_the_compare_keys_have_ids_tooltips_and_palette_entries() -> None:
    from thinkpane.tui.app.app import ThinkpaneApp as App
    from thinkpane.tui.screens.compare.picker import ChooseCommands
    from thinkpane.tui.screens.compare.screen import CompareCommands

    bindings = [*CompareScreen.BINDINGS, *ChooseColumns.BINDINGS,
                *[b for b in App.BINDINGS if b.id == "app.compare"]]
    assert len(bindings) == 6
    for binding in bindings:
        assert binding.id and binding.tooltip, binding
    assert CompareCommands in CompareScreen.COMMANDS and ChooseCommands in ChooseColumns.COMMANDS


async def test_ctrl_q_asks_before_quitting_with_answers_none_of_which_was_kept(store):
    app = compare_app(store, "alpha", "beta")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await compare_screen(pilot)
        one = screen.columns[0]
        await both_answer(pilot, screen, "Which is faster?", (ContentDelta("Alpha says A."),),
                          (ContentDelta("Beta says B."),))
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert "Quit without keeping an answer?" in rendered_text(app.screen)
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen, "still comparing")
        assert app.is_running and "Alpha says A." in answer_text(one)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running, "the app to quit")
    assert store.list_conversations() == []


async def test_ctrl_q_quits_at_once_when_nothing_was_sent(store):
    app = compare_app(store, "alpha", "beta")
    async with app.run_test(size=(160, 48)) as pilot:
        await compare_screen(pilot)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, "the app to quit")
