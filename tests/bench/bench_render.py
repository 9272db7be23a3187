"""Streaming render and time to first painted token: Thinkpane vs no rendering vs naive.

Run: ``python tests/bench/bench_render.py`` (about 6 minutes on 2 cores; ``--quick`` uses a
quarter of the tokens). Prints a table and, last, one JSON line.

The stream (stream_shapes.py): ~6,000 reasoning tokens, then ~2,000 Markdown answer tokens,
replayed by PacedBackend at 150 tokens/s and unthrottled through, in turn:

* floor     - the stream consumed, nothing rendered (the least any renderer can cost); at
              150 tokens/s Thinkpane runs twice, each time between two floor runs, and the
              CPU ratio is the mean of the two runs' ratios to their neighbouring floors;
* naive     - ``Markdown.update(full_text)`` per token, as elia and parllama do. It cannot
              keep up, so it runs for at most ``--naive-budget`` seconds and we report how
              far it got;
* thinkpane - the real ThinkpaneApp chat screen under ``run_test`` (120x40).

Each scenario runs in a fresh interpreter, one after the other. Measured over the stream
(send -> the screen settles): CPU seconds of the process, the lag of a 5 ms timer
(p50/p95/p99), how long callbacks wait in the chat screen's message queue, and the time
from the last token yielded to the final frame. Unthrottled: tokens / (first token ->
final frame). How "on screen" is decided is described in harness.py.

Time to first painted token: 30 short turns (every other one answers without reasoning),
the first delta 0.3 s after the request; for each, the time from the backend yielding the
first delta (a unique word) to the end of the first frame whose terminal bytes contain it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from harness import (
    FrameProbe,
    Measured,
    percentiles,
    perf,
    print_table,
    rss_mb,
    run_child,
    wait_until,
)
from paced_backend import PacedBackend
from render_apps import (
    SIZE,
    FloorApp,
    NaiveApp,
    start_thinkpane_turn,
    thinkpane_app,
    thinkpane_finished,
)
from stream_shapes import describe, recorded_stream, tokenize

END_MARKER = "qzxv"  # the last answer word; appears nowhere else in the stream
TARGETS = {
    "lag_p99_ms": 50.0,  # at 150 tokens/s
    "final_frame_ms": 100.0,
    "unthrottled_tps": 2000.0,
    "cpu_ratio": 3.0,  # thinkpane CPU / floor CPU at 150 tokens/s
    "ttft_p95_ms": 20.0,
}


def make_stream(scale: float):
    shape = recorded_stream(reasoning_tokens=int(6000 * scale), answer_tokens=int(2000 * scale))
    import random

    ending = tokenize(f"\n\nThat is the whole answer {END_MARKER}.\n", random.Random(0))
    return shape.reasoning, shape.answer + ending, shape


# --------------------------------------------------------------------------- one stream


async def run_stream(renderer: str, rate: float | None, scale: float, budget_s: float) -> dict:
    reasoning, answer, _ = make_stream(scale)
    backend = PacedBackend(rate)
    backend.enqueue(reasoning, answer)
    if renderer == "thinkpane":
        app = thinkpane_app(backend)
    elif renderer == "naive":
        app = NaiveApp(backend)
    else:
        app = FloorApp(backend)
    measured = Measured(app)
    frames = measured.frames
    total_tokens = len(reasoning) + len(answer)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await measured.begin(app.screen, END_MARKER)
        if renderer == "thinkpane":
            await start_thinkpane_turn(app)
            finished = lambda: thinkpane_finished(app) and backend.finished_at is not None
        else:
            app.start()
            finished = lambda: app.finished
        timeout = budget_s if renderer == "naive" else 600.0
        completed = await wait_until(finished, timeout, step=0.02)
        if completed:
            marker_at = await frames.wait_for(END_MARKER, 10.0) if renderer != "floor" else None
            settled_at = await frames.settle(quiet=0.5)
        else:
            marker_at = settled_at = None
            app.workers.cancel_all()  # the naive renderer ran out of time: stop it first
            await asyncio.sleep(0.05)
        cpu_used, wall = measured.end()
        rss = rss_mb()
        yields = backend.yield_times
        first = yields[0] if yields else None
        last = yields[-1] if yields else None
        rendered = len(yields) if renderer != "naive" else app.tokens_rendered
        if renderer == "floor" and completed:
            final_at = backend.finished_at
        else:
            final_at = settled_at
        result = {
            "renderer": renderer,
            "rate": rate or "unthrottled",
            "tokens": total_tokens,
            "tokens_done": rendered,
            "completed": completed,
            "stream_kb": round((len("".join(reasoning)) + len("".join(answer))) / 1024, 1),
            "cpu_s": round(cpu_used, 2),
            "wall_s": round(wall, 2),
            "lag_ms": percentiles(measured.lag.samples),
            "queue_ms": percentiles(measured.queue.samples),
            "frames": len([f for f in frames.frames if f >= measured.wall_start]),
            "frame_render_s": round(frames.render_s, 2),
            "last_token_painted_ms": round((marker_at - last) * 1000, 1) if marker_at and last else None,
            "final_frame_ms": round((final_at - last) * 1000, 1) if final_at and last else None,
            "tokens_per_s": round(rendered / (final_at - first), 1) if final_at and first else
            (round(rendered / (perf() - first), 1) if first else None),
            "rss_mb": round(rss, 1),
        }
        if renderer == "naive" and not completed:
            # How long the whole stream would take at the rate it managed (it slows as the
            # document grows, so this is optimistic).
            result["projected_s"] = round(total_tokens / max(rendered, 1) * budget_s, 1)
        await app.workers.wait_for_complete() if completed else None
    return result


# --------------------------------------------------------------------------- first token


async def run_ttft(renderer: str, turns: int) -> dict:
    import random

    rng = random.Random(5)
    # The first delta comes 0.3 s after the request (DeepSeek-R1 takes 0.5-5 s), so what is
    # timed is the path from a delta to the screen, not the turn's own setup.
    backend = PacedBackend(150.0, first_token_delay=0.3)
    markers = []
    for turn in range(turns):
        marker = f"tfm{turn:02d}q"
        markers.append(marker)
        filler = tokenize("Let me think about the question and check each part of it. " * 2, rng)
        answer = tokenize("Here is the short answer, with `code` and a list:\n\n- one\n- two\n", rng)
        if turn % 2 == 0:
            backend.enqueue([" " + marker] + filler, answer)
        else:
            backend.enqueue([], [marker + " "] + answer)
    app = thinkpane_app(backend) if renderer == "thinkpane" else NaiveApp(backend)
    frames = FrameProbe(app)
    samples: list[float] = []
    with_reasoning: list[float] = []
    answer_only: list[float] = []
    misses = 0
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for turn, marker in enumerate(markers):
            await frames.settle(quiet=0.1)
            frames.watch(marker, after=perf())
            if renderer == "thinkpane":
                await start_thinkpane_turn(app, f"question {turn}")
                done = lambda: thinkpane_finished(app) and backend.finished_at is not None
            else:
                app.start()
                done = lambda: app.finished
            seen = await frames.wait_for(marker, 10.0)
            await wait_until(done, 30.0)
            if seen is None or not backend.yield_times:
                misses += 1
                continue
            delay = seen - backend.yield_times[0]
            samples.append(delay)
            (with_reasoning if turn % 2 == 0 else answer_only).append(delay)
    return {
        "renderer": renderer,
        "turns": turns,
        "missed": misses,
        "ttft_ms": percentiles(samples),
        "ttft_reasoning_ms": percentiles(with_reasoning),
        "ttft_answer_only_ms": percentiles(answer_only),
        "samples_ms": [round(s * 1000, 1) for s in samples],
    }


# --------------------------------------------------------------------------- parent


def cpu_ratios(runs: list[dict]) -> list[float]:
    """Each Thinkpane run's CPU over the mean of the floor runs right before and after it."""
    ratios = []
    for i, run in enumerate(runs):
        if run["renderer"] != "thinkpane":
            continue
        floors = [r["cpu_s"] for r in (runs[i - 1] if i else None, runs[i + 1] if i + 1 < len(runs) else None)
                  if r is not None and r["renderer"] == "floor" and r["cpu_s"]]
        if floors:
            ratios.append(round(run["cpu_s"] / (sum(floors) / len(floors)), 2))
    return ratios


def summarize(runs: list[dict], ttft: list[dict]) -> dict:
    at150 = [r for r in runs if str(r["rate"]) == "150.0" and r["renderer"] in ("floor", "thinkpane")]
    tp150 = [r for r in at150 if r["renderer"] == "thinkpane"]
    tp_fast = [r for r in runs if r["renderer"] == "thinkpane" and r["rate"] == "unthrottled"]
    tt = next((t for t in ttft if t["renderer"] == "thinkpane"), None)
    checks = {}
    if tp150:
        # Of several Thinkpane runs, the worst figure.
        checks["lag_p99_ms"] = max(r["lag_ms"]["p99"] for r in tp150)
        checks["final_frame_ms"] = max(r["final_frame_ms"] or float("inf") for r in tp150)
    if tp_fast:
        checks["unthrottled_tps"] = min(r["tokens_per_s"] or 0.0 for r in tp_fast)
        checks["final_frame_ms_unthrottled"] = max(r["final_frame_ms"] or float("inf") for r in tp_fast)
    ratios = cpu_ratios(at150)
    if ratios:
        checks["cpu_ratio"] = round(sum(ratios) / len(ratios), 2)
    if tt:
        checks["ttft_p95_ms"] = tt["ttft_ms"]["p95"]
    verdicts = {}
    for key, value in checks.items():
        target = TARGETS.get(key.replace("_unthrottled", ""))
        if target is None or value is None:
            verdicts[key] = "MISS" if value is None else "-"
            continue
        ok = value >= target if key == "unthrottled_tps" else value <= target
        verdicts[key] = "PASS" if ok else "MISS"
    return {"checks": checks, "cpu_ratio_runs": ratios, "targets": TARGETS, "verdicts": verdicts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the tokens")
    parser.add_argument("--naive-budget", type=float, default=20.0,
                        help="seconds the naive renderer may run before we stop it")
    parser.add_argument("--ttft-turns", type=int, default=30)
    parser.add_argument("--only", choices=["floor", "naive", "thinkpane"], action="append")
    parser.add_argument("--child", choices=["stream", "ttft"], help=argparse.SUPPRESS)
    parser.add_argument("--renderer", default="thinkpane", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=150.0, help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "stream":
        rate = args.rate or None
        print(json.dumps(asyncio.run(run_stream(args.renderer, rate, args.scale, args.naive_budget))))
        return 0
    if args.child == "ttft":
        print(json.dumps(asyncio.run(run_ttft(args.renderer, args.ttft_turns))))
        return 0

    scale = 0.25 if args.quick else 1.0
    # At 150 tokens/s Thinkpane runs twice, each run between two floor runs, and the CPU
    # ratio is the mean of each run's CPU over its two neighbouring floors. This VM's speed
    # drifts by up to 40% between runs a minute apart (two floor runs around one Thinkpane
    # run took 1.61 and 1.15 CPU s); one pair of runs put the same code at 2.6x or 3.1x.
    renderers = args.only or ["floor", "thinkpane", "naive"]
    script = Path(__file__)
    runs, ttft = [], []
    for rate in (150.0, 0.0):
        order = list(renderers)
        if rate and "floor" in order and "thinkpane" in order:
            others = [r for r in order if r not in ("floor", "thinkpane")]
            order = ["floor", "thinkpane", "floor", "thinkpane", "floor", *others]
        elif not rate and "thinkpane" in order:
            # A burst's end is timed to the millisecond: three runs, the slowest one counts.
            at = order.index("thinkpane")
            order[at:at + 1] = ["thinkpane"] * 3
        for renderer in order:
            print(f"... {renderer} at {rate or 'unthrottled'} tokens/s", file=sys.stderr, flush=True)
            runs.append(run_child(script, ["--child", "stream", "--renderer", renderer,
                                           "--rate", str(rate), "--scale", str(scale),
                                           "--naive-budget", str(args.naive_budget)]))
    for renderer in [r for r in renderers if r != "floor"]:
        print(f"... first painted token, {renderer}", file=sys.stderr, flush=True)
        ttft.append(run_child(script, ["--child", "ttft", "--renderer", renderer,
                                       "--ttft-turns", str(args.ttft_turns)]))

    _, _, shape = make_stream(scale)
    stats = describe(shape)
    print(f"Stream: {stats['reasoning_tokens']:,} reasoning + {stats['answer_tokens']:,} answer tokens, "
          f"{stats['reasoning_kb'] + stats['answer_kb']:.1f} KB, {stats['code_blocks']} code blocks\n")
    rows = []
    for r in runs:
        done = "" if r["completed"] else f" (stopped: {r['tokens_done']:,}/{r['tokens']:,})"
        rows.append([r["renderer"] + done, r["rate"], r["cpu_s"], r["wall_s"], r["lag_ms"]["p50"],
                     r["lag_ms"]["p95"], r["lag_ms"]["p99"], r["queue_ms"]["p99"],
                     r["final_frame_ms"], r["tokens_per_s"], r["frames"], r["rss_mb"]])
    print_table("Streaming render (timer lag and queue wait in ms)",
                ["renderer", "tok/s in", "CPU s", "wall s", "lag p50", "lag p95", "lag p99",
                 "queue p99", "final frame ms", "tok/s out", "frames", "RSS MB"], rows)
    print_table("Time to first painted token (ms)",
                ["renderer", "turns", "p50", "p95", "p99", "max", "p95 reasoning", "p95 answer-only", "missed"],
                [[t["renderer"], t["turns"], t["ttft_ms"]["p50"], t["ttft_ms"]["p95"], t["ttft_ms"]["p99"],
                  t["ttft_ms"]["max"], t["ttft_reasoning_ms"]["p95"], t["ttft_answer_only_ms"]["p95"],
                  t["missed"]] for t in ttft])
    summary = summarize(runs, ttft)
    print_table("Targets", ["check", "value", "target", "verdict"],
                [[k, v, TARGETS.get(k.replace("_unthrottled", "")), summary["verdicts"][k]]
                 for k, v in summary["checks"].items()])
    if summary["cpu_ratio_runs"]:
        print("CPU ratio of each Thinkpane run to its neighbouring floor runs: "
              + ", ".join(f"{r}x" for r in summary["cpu_ratio_runs"]) + "\n")
    print(json.dumps({"bench": "render", "stream": stats, "runs": runs, "ttft": ttft, **summary}))
    return 0 if all(v != "MISS" for v in summary["verdicts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
