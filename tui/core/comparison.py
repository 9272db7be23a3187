"""One prompt answered by several backends at once: the figures that compare them, and what
is kept once the user picks a winner.

The compare screen's column headers and ``thinkpane compare``'s summary table and JSON show
the same :func:`figures` of each column's :class:`~thinkpane.tui.core.turn_record.TurnRecord`:
time to first token, thinking time, reasoning tokens and answer tokens. A count the provider
reported is shown as is; otherwise it is estimated from the text ("~812"). Usage fields a
newer ``Usage`` carries (``reasoning_tokens``) are read when the record has them.

:func:`save_comparison` stores the prompt and the winning answer as the conversation's next
turn, and keeps every other answer, so nothing the user paid for is thrown away. Until the
store keeps conversations as trees, the other answers are kept in the winning message's
``extra`` under :data:`ALTERNATIVES_KEY` (text, reasoning, figures, outcome; exports and
``thinkpane export --format json`` include them); with trees they become its siblings.

No Textual here: ``thinkpane compare`` imports this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thinkpane.tui.core.backend_conversation import title_from_prompt
from thinkpane.tui.core.turn_record import CHARS_PER_TOKEN, TurnRecord
from thinkpane.tui.core.turn_recorder import TurnRecorder

if TYPE_CHECKING:
    from thinkpane.tui.core.store import ConversationStore

# A comparison has this many columns (the screen's width and the reader's attention).
MIN_COLUMNS, MAX_COLUMNS = 2, 4
# Where the answers that lost are kept on the winning message (see the module docstring).
ALTERNATIVES_KEY = "thinkpane_compared"
NONE = "–"
# What a column's outcome is called where people read it.
STATUS_WORDS = {"complete": "answered", "streaming": "streaming", "cancelled": "cancelled", "error": "error"}


@dataclass(frozen=True)
class Figures:
    """A column's figures as shown: "312 ms", "4.1 s", "812" (reported) or "~812" (estimated)."""

    ttft: str
    thinking: str
    reasoning_tokens: str
    answer_tokens: str
    status: str


def reported_reasoning_tokens(record: TurnRecord) -> int | None:
    """The reasoning tokens the provider reported, when the record carries them."""
    value = getattr(record, "reasoning_tokens", None)
    return value if isinstance(value, int) else None


def answer_token_count(record: TurnRecord) -> int | None:
    """The answer's tokens when the reported usage tells them apart from the reasoning's."""
    if record.output_tokens is None:
        return None
    reasoning = reported_reasoning_tokens(record)
    if reasoning is not None:
        return max(0, record.output_tokens - reasoning)
    return record.output_tokens if not record.reasoning else None


def figures(record: TurnRecord, now: float | None = None) -> Figures:
    """What the header of a column (and a row of the summary) shows for ``record``."""
    seconds = record.reasoning_seconds(now)
    reasoning = reported_reasoning_tokens(record)
    answer = answer_token_count(record)
    return Figures(
        ttft=f"{record.ttft_ms:,} ms" if record.ttft_ms is not None else NONE,
        thinking=f"{seconds:.1f} s" if seconds is not None else NONE,
        reasoning_tokens=(
            f"{reasoning:,}" if reasoning is not None
            else f"~{record.estimated_reasoning_tokens:,}" if record.reasoning else NONE
        ),
        answer_tokens=(
            f"{answer:,}" if answer is not None
            else f"~{round(len(record.content) / CHARS_PER_TOKEN):,}" if record.content else NONE
        ),
        status=STATUS_WORDS.get(record.status, record.status),
    )


def summary(number: int, label: str, described: str, record: TurnRecord) -> dict[str, Any]:
    """One column of ``thinkpane compare --json``'s final ``summary`` event."""
    reasoning = reported_reasoning_tokens(record)
    return {
        "column": number,
        "label": label,
        "described": described,
        "status": record.status,
        "ttft_ms": record.ttft_ms,
        "thinking_ms": record.reasoning_ms,
        "elapsed_ms": record.elapsed_ms,
        "reasoning_tokens": reasoning,
        "reasoning_tokens_estimated": record.estimated_reasoning_tokens if reasoning is None else None,
        "answer_tokens": answer_token_count(record),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "stop_reason": record.stop_reason,
        "error": {"title": record.error_title, "hint": record.error_hint} if record.status == "error" else None,
    }


# --------------------------------------------------------------------------- the winner


@dataclass(frozen=True)
class ComparedAnswer:
    """One column's finished turn: who answered (``label``, backend name, model) and how."""

    label: str
    backend: str
    model: str
    recorder: TurnRecorder


def save_comparison(
    store: ConversationStore,
    conversation_id: int | None,
    prompt: str,
    answers: Sequence[ComparedAnswer],
    winner: int,
    *,
    system: str | None = None,
) -> int:
    """Store ``prompt`` and ``answers[winner]`` as the conversation's next turn (a new
    conversation when ``conversation_id`` is None), the other answers kept with it (see the
    module docstring). Returns the conversation's id. Raises StoreError."""
    chosen = answers[winner]
    if conversation_id is None:
        conversation_id = store.create_conversation(
            title_from_prompt(prompt), backend=chosen.backend, model=chosen.model, system=system,
        )
    store.add_message(conversation_id, "user", prompt)
    writer = store.start_answer(conversation_id, backend=chosen.backend, model=chosen.model)
    writer.merge_extra({ALTERNATIVES_KEY: [
        _alternative(number, answer) for number, answer in enumerate(answers, 1) if answer is not chosen
    ]})
    chosen.recorder.save(writer)
    return conversation_id


def _alternative(column: int, answer: ComparedAnswer) -> dict[str, Any]:
    record = answer.recorder.record
    error = answer.recorder.error
    return {
        "column": column,
        "label": answer.label,
        "backend": answer.backend,
        "model": answer.model,
        "status": record.status,
        "content": record.content,
        "reasoning": record.reasoning,
        "ttft_ms": record.ttft_ms,
        "elapsed_ms": record.elapsed_ms,
        "reasoning_ms": record.reasoning_ms,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "stop_reason": record.stop_reason,
        "error": str(error) if record.status == "error" and error is not None else None,
    }
