"""One prompt answered by several backends at once: the figures that compare them, and what
is kept once the user picks a winner.

The compare screen's column headers and ``thinkpane compare``'s summary table and JSON show
the same :func:`figures` of each column's :class:`~thinkpane.tui.core.turn_record.TurnRecord`:
time to first token, thinking time, reasoning tokens and answer tokens. A count the provider
reported is shown as is; otherwise it is estimated from the text ("~812"), as the chat does.

:func:`save_comparison` stores the prompt and the winning answer as the conversation's next
turn, and keeps every other answer as its sibling (the conversation is a tree,
tui/core/branches.py), so nothing the user paid for is thrown away: the chat shows the
winner with ``‹ 2/3 ›`` and steps to the others like regenerated answers, and ``thinkpane
export --all-branches`` prints them all. The siblings are in column order; each answer
keeps which column it was (:data:`COLUMN_KEY` in its ``extra``).

No Textual here: ``thinkpane compare`` imports this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thinkpane.tui.core import branches
from thinkpane.tui.core.backend_conversation import title_from_prompt
from thinkpane.tui.core.turn_record import CHARS_PER_TOKEN, TurnRecord
from thinkpane.tui.core.turn_recorder import TurnRecorder

if TYPE_CHECKING:
    from thinkpane.tui.core.store import ConversationStore

# A comparison has this many columns (the screen's width and the reader's attention).
MIN_COLUMNS, MAX_COLUMNS = 2, 4
# In each compared answer's ``extra``: {"column": n, "of": columns, "label": what it ran}.
COLUMN_KEY = "thinkpane_compare_column"
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
    cost: str = ""  # "$0.0012" when the provider gave the price, else ""


def answer_token_count(record: TurnRecord) -> int | None:
    """The answer's tokens when the reported usage tells them apart from the reasoning's."""
    if record.output_tokens is None:
        return None
    if record.reasoning_tokens is not None:
        return max(0, record.output_tokens - record.reasoning_tokens)
    return record.output_tokens if not record.reasoning else None


def figures(record: TurnRecord, now: float | None = None) -> Figures:
    """What the header of a column (and a row of the summary) shows for ``record``."""
    seconds = record.reasoning_seconds(now)
    answer = answer_token_count(record)
    return Figures(
        ttft=f"{record.ttft_ms:,} ms" if record.ttft_ms is not None else NONE,
        thinking=f"{seconds:.1f} s" if seconds is not None else NONE,
        reasoning_tokens=(
            record.reasoning_tokens_label() if record.reasoning or record.reasoning_tokens is not None else NONE
        ),
        answer_tokens=(
            f"{answer:,}" if answer is not None
            else f"~{round(len(record.content) / CHARS_PER_TOKEN):,}" if record.content else NONE
        ),
        status=STATUS_WORDS.get(record.status, record.status),
        cost=cost_label(record.cost),
    )


def cost_label(cost: float | None) -> str:
    """ "$0.0012" (four decimals below a dollar, where compared answers differ), "$1.25"."""
    if cost is None:
        return ""
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"


def summary(number: int, label: str, backend: str, described: str, record: TurnRecord) -> dict[str, Any]:
    """One column of ``thinkpane compare --json``'s final ``summary`` event: with the model,
    thinking setting and effort the column ran with (as ``ask --save`` stores them)."""
    return {
        "column": number,
        "label": label,
        "described": described,
        "backend": backend,
        "model": record.model or None,
        "thinking": record.thinking,
        "effort": record.effort,
        "status": record.status,
        "ttft_ms": record.ttft_ms,
        "thinking_ms": record.reasoning_ms,
        "elapsed_ms": record.elapsed_ms,
        "reasoning_tokens": record.reasoning_tokens,
        "reasoning_tokens_estimated": record.estimated_reasoning_tokens if record.reasoning_tokens is None else None,
        "answer_tokens": answer_token_count(record),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cost": record.cost,
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
    """Store ``prompt`` at the end of the conversation's active path (a new conversation when
    ``conversation_id`` is None) and every answer under it, ``answers[winner]`` on the active
    path (see the module docstring). Returns the conversation's id. Raises StoreError."""
    chosen = answers[winner]
    if conversation_id is None:
        conversation_id = store.create_conversation(
            title_from_prompt(prompt), backend=chosen.backend, model=chosen.model, system=system,
        )
    turn = branches.new_prompt(store, conversation_id, prompt)
    kept = None
    for number, answer in enumerate(answers, 1):
        writer = turn.start_answer(store, backend=answer.backend, model=answer.model)
        writer.merge_extra({COLUMN_KEY: {"column": number, "of": len(answers), "label": answer.label}})
        answer.recorder.save(writer)
        if answer is chosen:
            kept = writer.message_id
    assert kept is not None
    store.activate(kept)
    return conversation_id
