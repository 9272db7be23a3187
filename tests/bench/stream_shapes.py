"""A deterministic stream with the shape of a recorded DeepSeek-R1 reply.

About 6,000 tokens of reasoning prose ("Okay, so the user wants… Hmm, wait…"), then about
2,000 tokens of Markdown answer with headings, lists, fenced code blocks and a table. Text is
cut into tokens the way a BPE tokenizer cuts it: a leading space stays on the word, long
words split into 3-4 character pieces, punctuation and newlines are their own tokens.
The same seed always gives the same tokens, so runs compare like with like.

Run it to see the numbers: ``python tests/bench/stream_shapes.py``.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

DEFAULT_SEED = 20250120  # R1's release date; any fixed value would do
REASONING_TOKENS = 6_000
ANSWER_TOKENS = 2_000

# A run of word characters with its leading space, a run of punctuation, newlines, spaces.
_PIECE = re.compile(r" ?[A-Za-z0-9_]+| ?[^\sA-Za-z0-9_]+|\n+|[ \t]+")


@dataclass(frozen=True)
class StreamShape:
    reasoning: list[str]
    answer: list[str]

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)

    @property
    def answer_text(self) -> str:
        return "".join(self.answer)

    @property
    def tokens(self) -> int:
        return len(self.reasoning) + len(self.answer)


def tokenize(text: str, rng: random.Random) -> list[str]:
    """Split like a BPE tokenizer would, roughly: 3-4 characters a token on average."""
    tokens: list[str] = []
    for piece in _PIECE.findall(text):
        word = piece.strip(" ")
        if len(word) <= 6 or not word[0].isalnum():
            tokens.append(piece)
            continue
        # Long words: the leading space and the first 3-5 letters, then 3-5 letter pieces.
        first = rng.randint(3, 5) + (1 if piece.startswith(" ") else 0)
        tokens.append(piece[:first])
        rest = piece[first:]
        while rest:
            size = rng.randint(3, 5)
            tokens.append(rest[:size])
            rest = rest[size:]
    return tokens


# --------------------------------------------------------------------------- reasoning

_TOPICS = [
    "the cache eviction policy", "the retry loop", "the SQLite write path", "the parser state",
    "the token budget", "the connection pool", "the rate limiter", "the event loop",
    "the migration order", "the index on updated_at", "the streaming buffer", "the tokenizer",
]
_OPENERS = [
    "Okay, so the user wants to know how {t} behaves when the input grows.",
    "Hmm, wait. Let me reconsider {t} before I commit to an answer.",
    "Alternatively, maybe {t} is not the bottleneck at all.",
    "Let me think step by step about {t}.",
    "But then again, {t} might interact with the timeout in a subtle way.",
    "So, first, I should check what {t} does on the happy path.",
    "Wait, actually, I think I misread the question about {t}.",
    "Right, so if {t} holds a lock, the second request would block.",
]
_MIDDLES = [
    "If the buffer holds {n} items and each one takes {m} milliseconds, the total is about {p} ms, which is fine.",
    "That means the worst case is roughly {n} times {m}, so around {p}, unless the retries stack up.",
    "The documentation says the default is {n}, but the example in the README uses {m}.",
    "Let me double-check: {n} plus {m} gives {p}, yes, that matches what I expected.",
    "Maybe I can use a `dict` keyed by id, so a lookup is O(1) instead of scanning {n} rows.",
    "Hmm, the function returns early when the list is empty, so the edge case with {n} is handled.",
    "On the other hand, a generator would keep memory flat even for {p} entries.",
    "I need to be careful here: the user said Python 3.{m}, so `match` statements are available.",
    "The error message mentions line {n}, which is inside the `finally` block.",
    "So the answer should explain why, then show a short example, then mention the trade-offs.",
]
_CLOSERS = [
    "Okay, that seems consistent.", "I think that's right.", "Let me move on.",
    "Good, so that part is settled.", "Hmm, no, that can't be it.", "Yes.",
    "Wait, let me verify that once more.", "That makes sense now.",
]


def _reasoning_paragraph(rng: random.Random) -> str:
    topic = rng.choice(_TOPICS)
    sentences = [rng.choice(_OPENERS).format(t=topic)]
    for _ in range(rng.randint(2, 5)):
        n, m = rng.randint(2, 500), rng.randint(2, 12)
        sentences.append(rng.choice(_MIDDLES).format(n=n, m=m, p=n * m))
    sentences.append(rng.choice(_CLOSERS))
    return " ".join(sentences)


# --------------------------------------------------------------------------- answer

_HEADINGS = [
    "Why it happens", "A minimal fix", "Step by step", "Trade-offs", "Testing the change",
    "Performance notes", "Common pitfalls", "Putting it together", "Alternatives", "Summary",
]
_PROSE = [
    "The short version: the writer holds the connection while it waits, so every other call queues behind it.",
    "You can avoid that by batching the writes and committing on a timer instead of per item.",
    "This keeps the **hot path** free of I/O, and the *cold path* runs at most four times a second.",
    "Note that `executemany` is much faster than a Python loop of `execute` calls.",
    "If you need durability on every token, use WAL mode and `synchronous=NORMAL`.",
    "The numbers below come from a laptop; your mileage will vary with the disk.",
]
_CODE = [
    ("python", [
        "import sqlite3",
        "",
        "def flush(conn: sqlite3.Connection, rows: list[tuple[int, str]]) -> None:",
        "    # One transaction for the whole batch: one fsync instead of hundreds.",
        "    with conn:",
        "        conn.executemany(\"UPDATE messages SET content = content || ? WHERE id = ?\", rows)",
        "",
        "class Batcher:",
        "    def __init__(self, conn, interval=0.25):",
        "        self.conn, self.interval, self.pending = conn, interval, []",
        "",
        "    def add(self, message_id: int, text: str) -> None:",
        "        self.pending.append((text, message_id))",
        "        if len(self.pending) > 64:",
        "            flush(self.conn, self.pending)",
        "            self.pending.clear()",
    ]),
    ("bash", [
        "python -m venv .venv && . .venv/bin/activate",
        "pip install -e '.[test]'",
        "pytest -q tests/test_store.py -k batch",
    ]),
    ("python", [
        "async def stream(client, prompt):",
        "    async with client.stream(\"POST\", \"/v1/chat/completions\", json=prompt) as response:",
        "        async for line in response.aiter_lines():",
        "            if line.startswith(\"data: \") and line != \"data: [DONE]\":",
        "                yield json.loads(line[6:])",
    ]),
]


def _table(rng: random.Random) -> str:
    rows = ["| Strategy | Writes/s | p95 latency | Notes |", "|---|---:|---:|---|"]
    for name in ("per token", "per 10 tokens", "timer 250 ms", "on finish only"):
        rows.append(f"| {name} | {rng.randint(50, 9000):,} | {rng.randint(1, 90)} ms | "
                    f"{rng.choice(['simple', 'safe', 'fast', 'risky on crash'])} |")
    return "\n".join(rows)


def _answer_block(rng: random.Random, index: int) -> str:
    kind = index % 5
    if kind == 0:
        return f"## {_HEADINGS[(index // 5) % len(_HEADINGS)]}\n\n" + " ".join(rng.sample(_PROSE, 3))
    if kind == 1:
        items = rng.sample(_PROSE, 4)
        if rng.random() < 0.5:
            return "\n".join(f"- {item}" for item in items)
        return "\n".join(f"{n}. {item}" for n, item in enumerate(items, 1))
    if kind == 2:
        language, lines = _CODE[(index // 5) % len(_CODE)]
        return f"```{language}\n" + "\n".join(lines) + "\n```"
    if kind == 3 and (index // 5) % 2 == 0:
        return "### Comparison\n\n" + _table(rng)
    if kind == 3:
        language, lines = _CODE[(index // 5 + 1) % len(_CODE)]
        return f"```{language}\n" + "\n".join(lines) + "\n```"
    return " ".join(rng.sample(_PROSE, 2)) + " > Tip: measure before and after."


# --------------------------------------------------------------------------- the stream


def recorded_stream(
    *,
    reasoning_tokens: int = REASONING_TOKENS,
    answer_tokens: int = ANSWER_TOKENS,
    seed: int = DEFAULT_SEED,
) -> StreamShape:
    """The benchmark stream. Reasoning stops at a paragraph end, the answer at a block end
    (never inside a code fence), so the counts are approximate: within a paragraph/block."""
    rng = random.Random(seed)
    reasoning: list[str] = []
    while len(reasoning) < reasoning_tokens:
        paragraph = _reasoning_paragraph(rng)
        reasoning += tokenize(paragraph + "\n\n", rng)
    answer: list[str] = []
    index = 0
    while len(answer) < answer_tokens:
        answer += tokenize(_answer_block(rng, index) + "\n\n", rng)
        index += 1
    return StreamShape(reasoning, answer)


def describe(shape: StreamShape) -> dict[str, float]:
    chars = len(shape.reasoning_text) + len(shape.answer_text)
    return {
        "reasoning_tokens": len(shape.reasoning),
        "answer_tokens": len(shape.answer),
        "reasoning_kb": round(len(shape.reasoning_text.encode()) / 1024, 1),
        "answer_kb": round(len(shape.answer_text.encode()) / 1024, 1),
        "chars_per_token": round(chars / shape.tokens, 2),
        "code_blocks": shape.answer_text.count("```") // 2,
        "tables": shape.answer_text.count("| Strategy |"),
    }


if __name__ == "__main__":
    shape = recorded_stream()
    stats = describe(shape)
    for key, value in stats.items():
        print(f"{key:<18}{value:>10}")
    print("first tokens:", shape.reasoning[:16])
    print(json.dumps(stats))
