"""Store benchmark: listing and search over a big history, and what saving costs a stream.

Run: ``python tests/bench/bench_store.py`` (``--conversations 2000`` for a quick run).
Builds a store of N conversations x 5 messages in a temp dir through the public API, then
prints a table and one JSON object with the timings. Budget: list/search < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from thinkpane.tui.core.store import ConversationStore

BUDGET_MS = 100.0
RARE_WORD = "quixotically"  # planted in a handful of conversations
WORDS = [
    "the", "model", "answer", "reasoning", "think", "step", "because", "therefore", "python",
    "code", "function", "error", "value", "list", "string", "number", "table", "query",
    "search", "result", "token", "stream", "window", "context", "memory", "file", "path",
    "system", "user", "prompt", "data", "test", "case", "example", "output", "input", "first",
    "second", "last", "paris", "london", "berlin", "tokyo", "river", "mountain", "ocean",
    "forest", "music", "history", "science", "language",
]


def _sentence(rng: random.Random, n: int) -> str:
    # Zipf-like: early words are much more common, as in real text.
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    return " ".join(rng.choices(WORDS, weights=weights, k=n)) + "."


def build(store: ConversationStore, conversations: int, rng: random.Random) -> float:
    started = time.perf_counter()
    rare = set(rng.sample(range(conversations), 5))
    for i in range(conversations):
        cid = store.create_conversation(_sentence(rng, 4), backend="bench", model="r1")
        for turn in range(5):
            text = _sentence(rng, rng.randint(20, 120))
            if i in rare and turn == 3:
                text += f" {RARE_WORD}"
            if turn % 2 == 0:
                store.add_message(cid, "user", text)
            else:
                store.add_message(cid, "assistant", text, reasoning=_sentence(rng, 60),
                                  backend="bench", model="r1")
    return time.perf_counter() - started


def timed(fn, repeat: int) -> dict[str, float]:
    samples = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "median_ms": round(statistics.median(samples), 2),
        "max_ms": round(max(samples), 2),
        "rows": len(result) if result is not None else 0,
    }


def bench_stream(store: ConversationStore, deltas: int, tokens_per_s: float) -> dict[str, float]:
    """Append ``deltas`` deltas, flushing every 0.25 s worth of them, vs plain string appends."""
    pieces = [f"tok{i % 97} " for i in range(deltas)]
    per_flush = max(1, round(0.25 * tokens_per_s))

    started = time.perf_counter()
    baseline = ""
    for piece in pieces:
        baseline += piece
    baseline_s = time.perf_counter() - started

    cid = store.create_conversation("stream bench")
    writer = store.start_answer(cid, backend="bench", model="r1")
    flushes: list[float] = []
    # Only flushes are timed one by one; appends are the loop time minus the flushes, so
    # the timer's own overhead does not inflate the cost of an append.
    started = time.perf_counter()
    for index, piece in enumerate(pieces, 1):
        writer.append_content(piece)
        if index % per_flush == 0:
            t0 = time.perf_counter()
            writer.flush()
            flushes.append((time.perf_counter() - t0) * 1000)
    loop_s = time.perf_counter() - started
    t0 = time.perf_counter()
    writer.finish("complete")
    finish_ms = (time.perf_counter() - t0) * 1000
    total_s = time.perf_counter() - started
    append_s = loop_s - sum(flushes) / 1000
    assert store.load_messages(cid)[-1].content == baseline  # the bench checks itself
    flushes.sort()
    return {
        "deltas": deltas,
        "deltas_per_flush": per_flush,
        "flushes": len(flushes),
        "baseline_string_appends_ms": round(baseline_s * 1000, 3),
        "writer_appends_only_ms": round(append_s * 1000, 3),
        "append_ratio": round(append_s / baseline_s, 1) if baseline_s else None,
        "writer_total_ms": round(total_s * 1000, 2),
        "total_ratio": round(total_s / baseline_s, 1) if baseline_s else None,
        "flush_median_ms": round(statistics.median(flushes), 3),
        "flush_p95_ms": round(flushes[int(len(flushes) * 0.95) - 1], 3),
        "flush_max_ms": round(flushes[-1], 3),  # includes WAL auto-checkpoints
        "finish_ms": round(finish_ms, 3),
        "stream_time_at_rate_s": round(deltas / tokens_per_s, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--deltas", type=int, default=2_000)
    parser.add_argument("--tokens-per-s", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--like", action="store_true", help="use the LIKE fallback, not FTS5")
    args = parser.parse_args()

    rng = random.Random(1234)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        with ConversationStore(path, full_text_search=not args.like) as store:
            build_s = build(store, args.conversations, rng)
        # Reopen, as the app does at launch; time it (includes crash recovery scan).
        started = time.perf_counter()
        store = ConversationStore(path)
        open_ms = (time.perf_counter() - started) * 1000
        try:
            results = {
                "conversations": args.conversations,
                "messages": args.conversations * 5,
                "search": "like" if args.like else "fts5",
                "db_mb": round(path.stat().st_size / 1e6, 1),
                "build_s": round(build_s, 1),
                "open_ms": round(open_ms, 2),
                # Timings scale with machine load; keep it next to them.
                "load_average_1m": round(os.getloadavg()[0], 2),
                "list_newest_200": timed(lambda: store.list_conversations(limit=200), args.repeat),
                "search_common_word": timed(lambda: store.list_conversations("answer"), args.repeat),
                "search_two_words": timed(lambda: store.list_conversations("paris river"), args.repeat),
                "search_rare_word": timed(lambda: store.list_conversations(RARE_WORD), args.repeat),
                "search_no_match": timed(lambda: store.list_conversations("zzzzqqq"), args.repeat),
                "load_messages": timed(lambda: store.load_messages(args.conversations // 2), args.repeat),
                "stream": bench_stream(store, args.deltas, args.tokens_per_s),
            }
        finally:
            store.close()

    print(f"Store benchmark: {results['conversations']:,} conversations, "
          f"{results['messages']:,} messages, {results['search']}, {results['db_mb']} MB, "
          f"built in {results['build_s']} s, reopened in {results['open_ms']} ms, "
          f"load average {results['load_average_1m']}")
    print(f"{'operation':<22}{'median ms':>11}{'max ms':>10}{'rows':>7}  budget {BUDGET_MS:.0f} ms")
    over_budget = False
    for key in ("list_newest_200", "search_common_word", "search_two_words", "search_rare_word",
                "search_no_match", "load_messages"):
        row = results[key]
        ok = row["median_ms"] < BUDGET_MS
        over_budget |= not ok
        print(f"{key:<22}{row['median_ms']:>11.2f}{row['max_ms']:>10.2f}{row['rows']:>7}  "
              f"{'ok' if ok else 'OVER'}")
    s = results["stream"]
    print(f"stream: {s['deltas']} deltas, flush every {s['deltas_per_flush']} "
          f"(0.25 s at {args.tokens_per_s:g} tok/s), {s['flushes']} flushes")
    print(f"  in-memory string appends (baseline) {s['baseline_string_appends_ms']:>9.3f} ms")
    print(f"  AnswerWriter appends only           {s['writer_appends_only_ms']:>9.3f} ms"
          f"  ratio {s['append_ratio']}x")
    print(f"  appends + flushes + finish          {s['writer_total_ms']:>9.2f} ms"
          f"  ratio {s['total_ratio']}x  (stream itself lasts {s['stream_time_at_rate_s']} s)")
    print(f"  flush median {s['flush_median_ms']} ms, p95 {s['flush_p95_ms']} ms, "
          f"max {s['flush_max_ms']} ms; "
          f"finish {s['finish_ms']} ms")
    print(json.dumps(results))
    return 1 if over_budget else 0


if __name__ == "__main__":
    raise SystemExit(main())
