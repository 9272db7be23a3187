"""The <think> splitter: unit cases for each rule, and hypothesis for "cuts don't matter"."""

from __future__ import annotations

import pytest

from tests.hypothesis_or_skip import given, settings, st
from thinkpane.backends.events import ContentDelta, ReasoningDelta
from thinkpane.backends.think_split import ThinkSplitter


def run(chunks: list[str], mode: str = "auto", lookahead: int = 256) -> tuple[str, str, list]:
    splitter = ThinkSplitter(mode, lookahead)  # type: ignore[arg-type]
    events: list = []
    for piece in chunks:
        events += splitter.feed(piece)
    events += splitter.flush()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    return reasoning, content, events


def test_leading_think_block_is_reasoning_and_tag_whitespace_is_dropped() -> None:
    reasoning, content, _ = run(["<think>\nOkay, a greeting.\n</think>\n\nHello!"])
    assert reasoning == "Okay, a greeting.\n"
    assert content == "Hello!"


def test_tags_cut_across_chunks() -> None:
    reasoning, content, _ = run(["<thi", "nk>", "Hm", "m.</th", "ink", ">", "\n", "Hi"])
    assert (reasoning, content) == ("Hmm.", "Hi")


def test_reasoning_streams_before_the_closing_tag_arrives() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<think>") == []
    assert splitter.feed("step one") == [ReasoningDelta("step one")]
    # A possible tag start is held back, then released when it turns out not to be one.
    assert splitter.feed(" </t") == [ReasoningDelta(" ")]
    assert splitter.feed("able>") == [ReasoningDelta("</table>")]


def test_closer_without_opener_seen_early_makes_the_prefix_reasoning() -> None:
    reasoning, content, _ = run(["Okay, the user", " says hi.\n</thi", "nk>\n\nHello!"])
    assert reasoning == "Okay, the user says hi.\n"
    assert content == "Hello!"


def test_closer_after_the_lookahead_is_literal_answer_text() -> None:
    text = "x" * 40 + "</think>tail"
    reasoning, content, _ = run([text], lookahead=16)
    assert reasoning == ""
    assert content == text


def test_plain_answer_without_tags_is_content_and_held_at_most_the_lookahead() -> None:
    splitter = ThinkSplitter("auto", lookahead=10)
    out = splitter.feed("Hello")  # could still be followed by an early </think>
    assert out == []
    out = splitter.feed(" world, how are you")
    assert out == [ContentDelta("Hello world, how are you")]
    assert splitter.feed(" today") == [ContentDelta(" today")]
    assert splitter.flush() == []


def test_short_plain_answer_is_released_by_flush() -> None:
    reasoning, content, _ = run(["Hi!"])
    assert (reasoning, content) == ("", "Hi!")


def test_missing_closer_keeps_everything_as_reasoning() -> None:
    reasoning, content, _ = run(["<think>I am still", " thinking </thi"])
    assert reasoning == "I am still thinking </thi"
    assert content == ""


def test_open_mode_streams_reasoning_until_closer() -> None:
    splitter = ThinkSplitter("open")
    assert splitter.feed("Okay, let me see") == [ReasoningDelta("Okay, let me see")]
    assert splitter.feed("</think>\n\nAnswer") == [ContentDelta("Answer")]


def test_open_mode_drops_a_repeated_opener() -> None:
    reasoning, content, _ = run(["<think>\nfoo</think>bar"], mode="open")
    assert (reasoning, content) == ("foo", "bar")


def test_off_mode_passes_everything_through() -> None:
    reasoning, content, _ = run(["<think>a</think>b"], mode="off")
    assert (reasoning, content) == ("", "<think>a</think>b")


def test_only_the_first_think_block_is_interpreted() -> None:
    reasoning, content, _ = run(["<think>r</think>Use <think> tags</think> like this."])
    assert reasoning == "r"
    assert content == "Use <think> tags</think> like this."


def test_empty_think_block() -> None:
    reasoning, content, _ = run(["<think>\n\n</think>\n\nJust the answer."])
    assert (reasoning, content) == ("", "Just the answer.")


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError):
        ThinkSplitter("sometimes")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties

# Text built from pieces that collide with the tags in every way that matters.
_pieces = st.sampled_from(
    ["<think>", "</think>", "<", "</", "<th", "</thi", "nk>", ">", "\n", " ", "a", "bc", "é", "思考"]
)
_texts = st.lists(_pieces, max_size=40).map("".join)


@st.composite
def text_and_cuts(draw):
    text = draw(_texts)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    chunks, last = [], 0
    for cut in cuts:
        chunks.append(text[last:cut])
        last = cut
    chunks.append(text[last:])
    return text, chunks


@settings(max_examples=400, deadline=None)
@given(text_and_cuts(), st.sampled_from(["auto", "open", "off"]), st.integers(0, 24))
def test_output_does_not_depend_on_where_the_stream_was_cut(case, mode, lookahead) -> None:
    text, chunks = case
    whole = run([text], mode, lookahead)
    split = run(chunks, mode, lookahead)
    assert split[0] == whole[0]
    assert split[1] == whole[1]


@settings(max_examples=300, deadline=None)
@given(text_and_cuts(), st.sampled_from(["auto", "open", "off"]))
def test_nothing_is_lost_only_tags_and_tag_whitespace_are_dropped(case, mode) -> None:
    text, chunks = case
    reasoning, content, events = run(chunks, mode)
    assert all(e.text for e in events), "no empty deltas"
    # Every character of the output comes from the input, in order: a subsequence.
    remaining = iter(text)
    assert all(ch in remaining for ch in reasoning + content)
    # And only whitespace plus at most one opener and one closer are missing.
    def visible(s: str) -> int:
        return len("".join(s.split()))
    dropped = visible(text) - visible(reasoning + content)
    assert dropped in {0, len("<think>"), len("</think>"), len("<think></think>")}


@given(st.text(alphabet=st.characters(blacklist_characters="<"), max_size=200))
def test_text_without_tags_is_all_content(text) -> None:
    reasoning, content, _ = run([text])
    assert reasoning == ""
    assert content == text
