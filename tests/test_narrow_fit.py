"""Header and status lines at narrow widths: the most detailed form that fits, never a
number or unit cut in half (seen in tmux: "… · 3.2" at 120 columns, "tokens ~19" at 80)."""

from __future__ import annotations

import re

import pytest
from textual.app import App, ComposeResult

from tests.tui_helpers import rendered_text
from thinkpane.tui.core.turn_record import TurnRecord
from thinkpane.tui.widgets.reasoning_pane import ReasoningPane, reasoning_header
from thinkpane.tui.widgets.status_line import StatusLine
from thinkpane.tui.widgets.turn import ReasoningLink

REASONING = "x" * 352  # ~88 tokens at 4 characters a token


def finished(reasoning: str = REASONING, **extra) -> TurnRecord:
    return TurnRecord(reasoning=reasoning, content="Done.", status="done", reasoning_ms=3200, **extra)


def test_header_is_complete_when_there_is_room():
    header = reasoning_header(finished(), position=(2, 2), width=80).plain
    assert header == "Reasoning · answer 2 of 2 · ~88 tokens · 3.2 s"


@pytest.mark.parametrize("width", range(8, 60))
def test_header_never_cuts_a_part_in_half(width):
    header = reasoning_header(finished(), position=(2, 2), width=width).plain
    # Whole parts only: the label, then optionally the tokens, then optionally the time.
    assert re.fullmatch(r"Reasoning( · answer 2 of 2| 2/2)( · ~88 (tokens|tok)( · 3\.2 s)?)?", header), header
    if width >= len("Reasoning 2/2"):
        assert len(header) <= width


def test_header_keeps_the_time_at_the_width_of_the_wide_layout_pane():
    # 120 columns: the pane is 47 wide, 45 inside its padding; the long form is 46.
    assert reasoning_header(finished(), position=(2, 2), width=45).plain == "Reasoning 2/2 · ~88 tokens · 3.2 s"


def test_redacted_is_kept_before_the_size():
    record = finished(extra={"bedrock_reasoning": [{"redacted": "b3BhcXVl"}]})
    header = reasoning_header(record, position=(1, 3), width=45).plain
    assert "redacted by the provider" in header


class PaneHost(App):
    CSS = "#reasoning-header { height: 1; padding: 0 1; } ReasoningPane { width: 47; }"

    def compose(self) -> ComposeResult:
        yield ReasoningPane(id="reasoning")


async def test_pane_header_as_drawn_at_47_columns():
    app = PaneHost()
    async with app.run_test(size=(60, 10)) as pilot:
        pane = app.query_one(ReasoningPane)
        await pane.show_record(finished(), position=(2, 2))
        await pilot.pause()
        assert rendered_text(pane.header).strip() == "Reasoning 2/2 · ~88 tokens · 3.2 s"


def status_with_everything(line: StatusLine) -> None:
    line.set(backend="OpenAI-compatible", model="deepseek-reasoner", state="idle",
             elapsed_s=12.3, ttft_ms=1234, tokens_in="19", tokens_out="~295")


class StatusHost(App):
    CSS = "StatusLine { height: 1; padding: 0 1; }"

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")


@pytest.mark.parametrize("columns", [160, 120, 80, 60, 40])
async def test_status_line_keeps_whole_token_counts(columns):
    app = StatusHost()
    async with app.run_test(size=(columns, 3)) as pilot:
        line = app.query_one(StatusLine)
        status_with_everything(line)
        await pilot.pause()
        shown = rendered_text(line).strip()
        assert len(shown) <= columns - 2
        assert "tokens 19 in / ~295 out" in shown or shown.endswith("│ ↑19 ↓~295"), shown
        if columns >= 120:
            assert "TTFT 1,234 ms" in shown and "12.3 s" in shown and "tokens 19 in / ~295 out" in shown


async def test_status_line_picks_its_form_again_after_a_resize():
    app = StatusHost()
    async with app.run_test(size=(160, 3)) as pilot:
        line = app.query_one(StatusLine)
        status_with_everything(line)
        await pilot.pause()
        assert "tokens 19 in / ~295 out" in rendered_text(line)
        await pilot.resize_terminal(80, 3)
        await pilot.pause()
        assert rendered_text(line).strip().endswith("↑19 ↓~295")


def test_status_line_without_a_width_is_the_full_line():
    line = StatusLine()
    status_with_everything(line)
    assert line.line_text().plain.endswith("│ TTFT 1,234 ms │ tokens 19 in / ~295 out")


class LinkHost(App):
    def compose(self) -> ComposeResult:
        yield ReasoningLink(None)  # type: ignore[arg-type]  # the turn is only passed on when selected
        yield ReasoningPane(id="reasoning")


async def test_transcript_link_and_pane_header_count_in_the_same_unit():
    app = LinkHost()
    async with app.run_test(size=(120, 10)) as pilot:
        record = finished("one two three " * 25)  # 75 words, 350 characters: ~88 tokens
        link = app.query_one(ReasoningLink)
        link.show_record(record)
        await app.query_one(ReasoningPane).show_record(record)
        await pilot.pause()
        assert rendered_text(link).strip() == "▸ Thought for 3.2 s · ~88 tokens"
        assert "~88 tokens" in rendered_text(app.query_one(ReasoningPane).header)
