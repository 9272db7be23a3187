"""The turn recorder that ``thinkpane ask`` and the chat screen share, in plain pytest.

A real ConversationStore in a temp dir (the ``store`` fixture) stands behind it, so each test checks what a reopened
conversation would show, not what the recorder holds in private.
"""

from __future__ import annotations

import pytest

from thinkpane.backends.errors import IncompleteStreamError, InternalError, ServerError
from thinkpane.backends.events import (
    ContentDelta,
    ErrorEvent,
    MessageExtra,
    Notice,
    ReasoningDelta,
    Stop,
    Usage,
)
from thinkpane.tui.core.store import StoreError
from thinkpane.tui.core.turn_record import REASONING_MS_KEY, TurnRecord
from thinkpane.tui.core.turn_recorder import TurnRecorder


class Clock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def writer(store):
    conversation_id = store.create_conversation("t", backend="scripted", model="m")
    store.add_message(conversation_id, "user", "question")
    return store.start_answer(conversation_id, backend="scripted", model="m")


def stored_answer(store, writer):
    return store.load_messages(writer.conversation_id)[-1]


def feed(recorder: TurnRecorder, *events) -> list[str]:
    return [recorder.feed(event) for event in events]


def test_deltas_accumulate_in_the_record_and_the_store(store, writer):
    recorder = TurnRecorder(writer=writer, label="Scripted")
    kept = feed(recorder, ReasoningDelta("Think "), ReasoningDelta("hard."), ContentDelta("An "),
                ContentDelta(""), ContentDelta("answer."), Stop())
    assert kept == ["Think ", "hard.", "An ", "", "answer.", ""]
    assert recorder.end_of_stream() is None
    record = recorder.finish()
    assert (record.status, record.reasoning, record.content) == ("complete", "Think hard.", "An answer.")
    answer = stored_answer(store, writer)
    assert (answer.status, answer.reasoning, answer.content) == ("complete", "Think hard.", "An answer.")
    assert answer.stop_reason == "end_turn" and answer.error is None


def test_ttft_counts_from_the_start_to_the_first_text_and_timings_are_stored(store, writer):
    clock = Clock(100.0)
    recorder = TurnRecorder(writer=writer, clock=clock)
    clock.now = 100.4
    feed(recorder, Notice("Throttled; retrying"), Usage(input_tokens=5), ReasoningDelta(""))
    assert recorder.record.ttft_ms is None  # neither a notice, usage nor an empty delta is a token
    clock.now = 101.25
    feed(recorder, ReasoningDelta("hmm"))
    assert recorder.record.ttft_ms == 1250
    clock.now = 102.0
    feed(recorder, ReasoningDelta(" more"), ContentDelta("Yes."))
    clock.now = 103.5
    feed(recorder, Stop())
    record = recorder.finish()
    assert (record.ttft_ms, record.elapsed_ms, record.reasoning_ms) == (1250, 3500, 750)
    answer = stored_answer(store, writer)
    assert (answer.ttft_ms, answer.elapsed_ms) == (1250, 3500)
    assert answer.extra[REASONING_MS_KEY] == 750
    assert TurnRecord.from_stored(answer).reasoning_seconds() == 0.75


def test_a_stream_without_stop_is_an_incomplete_answer_and_keeps_the_partial_text(store, writer):
    recorder = TurnRecorder(writer=writer, label="Scripted")
    feed(recorder, ReasoningDelta("half a thought"), ContentDelta("Half an ans"))
    missing = recorder.end_of_stream()
    assert isinstance(missing, ErrorEvent) and isinstance(missing.error, IncompleteStreamError)
    assert missing.error.title == "Scripted stopped before the answer was finished"
    assert recorder.end_of_stream() is None  # reported once
    record = recorder.finish()
    assert (record.status, record.error_title, record.content) == ("error", missing.error.title, "Half an ans")
    answer = stored_answer(store, writer)
    assert (answer.status, answer.content, answer.reasoning) == ("error", "Half an ans", "half a thought")
    assert answer.error.startswith("Scripted stopped before the answer was finished")


def test_cancel_saves_the_partial_text_as_cancelled_and_ignores_late_deltas(store, writer):
    recorder = TurnRecorder(writer=writer)
    feed(recorder, ReasoningDelta("Counting."), ContentDelta("1, 2, 3"))
    record = recorder.finish("cancelled")
    assert recorder.feed(ContentDelta(", 4")) == ""  # the cancelled stream's last gasp
    assert recorder.finish("complete") is record  # only the first ending counts
    assert (record.status, record.content, record.stop_reason) == ("cancelled", "1, 2, 3", "cancelled")
    answer = stored_answer(store, writer)
    assert (answer.status, answer.content, answer.reasoning) == ("cancelled", "1, 2, 3", "Counting.")
    assert answer.stop_reason == "cancelled" and answer.error is None


def test_an_error_event_ends_as_error_with_title_hint_and_partial_text(store, writer):
    recorder = TurnRecorder(writer=writer)
    failure = ServerError("The server failed (HTTP 500)", "Try again in a minute.")
    feed(recorder, ContentDelta("Once upon a time"), ErrorEvent(failure))
    assert recorder.end_of_stream() is None  # the backend said what went wrong
    record = recorder.finish()
    assert (record.status, record.error_title, record.error_hint) == (
        "error", "The server failed (HTTP 500)", "Try again in a minute.")
    answer = stored_answer(store, writer)
    assert (answer.status, answer.content) == ("error", "Once upon a time")
    assert answer.error == "The server failed (HTTP 500) — Try again in a minute."


def test_the_front_end_can_name_the_error_when_its_own_code_failed(store, writer):
    recorder = TurnRecorder(writer=writer)
    feed(recorder, ContentDelta("partial"))
    bug = InternalError("The stream stopped unexpectedly", "This is a bug in Thinkpane.")
    record = recorder.finish("error", error=bug)
    assert (record.status, record.error_title) == ("error", "The stream stopped unexpectedly")
    assert stored_answer(store, writer).error.startswith("The stream stopped unexpectedly")


def test_usage_and_backend_extra_are_kept(store, writer):
    recorder = TurnRecorder(writer=writer)
    feed(recorder, Usage(input_tokens=12), MessageExtra({"bedrock_reasoning": [{"signature": "s1"}]}),
         ContentDelta("ok"), Usage(output_tokens=34), MessageExtra({"finish": "stop"}), Stop("max_tokens"))
    record = recorder.finish()
    assert (record.input_tokens, record.output_tokens, record.stop_reason) == (12, 34, "max_tokens")
    assert record.extra == {"bedrock_reasoning": [{"signature": "s1"}], "finish": "stop"}
    answer = stored_answer(store, writer)
    assert (answer.input_tokens, answer.output_tokens, answer.stop_reason) == (12, 34, "max_tokens")
    # The backend's data, and the answer time the record measured (first answer text to the end).
    assert answer.extra == {"bedrock_reasoning": [{"signature": "s1"}], "finish": "stop",
                            "thinkpane_answer_ms": record.answer_ms}


def test_notices_are_kept_in_order():
    recorder = TurnRecorder()
    feed(recorder, Notice("Throttled; retrying in 2 s"), ContentDelta("x"), Notice("slow", "warning"))
    assert [(n.text, n.level) for n in recorder.notices] == [
        ("Throttled; retrying in 2 s", "info"), ("slow", "warning")]


def test_without_a_writer_the_record_is_still_complete():
    clock = Clock(5.0)
    record = TurnRecord(started_at=4.0)  # a record the caller already shows
    recorder = TurnRecorder(record, clock=clock)
    feed(recorder, ContentDelta("hi"), Stop())
    assert recorder.finish() is record
    assert (record.status, record.content, record.ttft_ms, record.elapsed_ms) == ("complete", "hi", 1000, 1000)


def test_a_failed_save_raises_after_the_record_is_final(store, writer):
    recorder = TurnRecorder(writer=writer)
    feed(recorder, ContentDelta("kept on screen"), Stop())
    store._conn.execute("PRAGMA query_only = ON")  # the database refuses writes (a full disk)
    with pytest.raises(StoreError):
        recorder.finish()
    assert (recorder.record.status, recorder.record.content) == ("complete", "kept on screen")
    assert recorder.finish().status == "complete"  # not tried twice
