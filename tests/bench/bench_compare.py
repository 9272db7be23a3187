"""The compare screen with three columns streaming at once, against three streams rendered nowhere.

Run: ``python tests/bench/bench_compare.py`` (about 5 minutes on 2 cores; ``--quick`` uses a
quarter of the tokens). Prints a table and, last, one JSON line.

Each of the three columns streams bench_render.py's stream (~6,000 reasoning tokens, then
~2,000 Markdown answer tokens) at 150 tokens/s, all three at once, in the real ThinkpaneApp's
compare screen at 160x48 (three columns side by side). The floor consumes the same three
streams at once and renders nothing. The runs alternate floor, compare, floor, compare,
floor, each in a fresh interpreter, and the CPU ratio is the mean of each compare run's CPU
over its two neighbouring floor runs (this VM's speed drifts between runs a minute apart;
see bench_render.py). Measured over the streams (send -> the screen settles), as in
bench_render.py: CPU seconds, the lag of a 5 ms timer (p50/p95/p99), how long callbacks wait
in the screen's message queue, and the time from the last token any column yielded to the
final frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bench_render import END_MARKER, make_stream
from harness import Measured, percentiles, print_table, rss_mb, run_child, wait_until
from paced_backend import PacedBackend
from render_apps import FloorApp, compare_app, compare_finished, compare_ready, start_compare_turn
from stream_shapes import describe

SIZE = (160, 48)
COLUMNS = 3
RATE = 150.0
TARGETS = {
    "lag_p99_ms": 50.0,
    "final_frame_ms": 100.0,  # after the last token of the last column
    "cpu_ratio": 2.5,  # compare CPU / the floor's (three streams, no rendering)
}


async def run(renderer: str, scale: float) -> dict:
    reasoning, answer, _ = make_stream(scale)
    backends = []
    for _ in range(COLUMNS):
        backend = PacedBackend(RATE)
        backend.enqueue(reasoning, answer)
        backends.append(backend)
    app = compare_app(backends) if renderer == "compare" else FloorApp(*backends)
    measured = Measured(app)
    async with app.run_test(size=SIZE) as pilot:
        if renderer == "compare" and not await wait_until(lambda: compare_ready(app), 30.0):
            raise RuntimeError("the compare screen never became ready")
        await pilot.pause()
        screen = app.screen
        await measured.begin(screen, END_MARKER)
        if renderer == "compare":
            await start_compare_turn(app)
            finished = lambda: compare_finished(app) and all(b.finished_at is not None for b in backends)
        else:
            app.start()
            finished = lambda: app.finished
        completed = await wait_until(finished, 900.0, step=0.02)
        settled_at = await measured.frames.settle(quiet=0.5) if completed and renderer == "compare" else None
        cpu_used, wall = measured.end()
        last = max(b.yield_times[-1] for b in backends if b.yield_times)
        final_at = settled_at if renderer == "compare" else max(b.finished_at or 0.0 for b in backends)
        result = {
            "renderer": renderer,
            "columns": COLUMNS,
            "rate": RATE,
            "tokens_per_column": len(reasoning) + len(answer),
            "completed": completed,
            "cpu_s": round(cpu_used, 2),
            "wall_s": round(wall, 2),
            "lag_ms": percentiles(measured.lag.samples),
            "queue_ms": percentiles(measured.queue.samples),
            "frames": len([f for f in measured.frames.frames if f >= measured.wall_start]),
            "final_frame_ms": round((final_at - last) * 1000, 1) if final_at and renderer == "compare" else None,
            "rss_mb": round(rss_mb(), 1),
        }
        if renderer == "compare":
            result["answers_complete"] = [c.recorder.record.status for c in screen.columns if c.recorder]
        await app.workers.wait_for_complete() if completed else None
    return result


def cpu_ratios(runs: list[dict]) -> list[float]:
    """Each compare run's CPU over the mean of the floor runs right before and after it."""
    ratios = []
    for i, run_ in enumerate(runs):
        if run_["renderer"] != "compare":
            continue
        floors = [r["cpu_s"] for r in (runs[i - 1] if i else None, runs[i + 1] if i + 1 < len(runs) else None)
                  if r is not None and r["renderer"] == "floor" and r["cpu_s"]]
        if floors:
            ratios.append(round(run_["cpu_s"] / (sum(floors) / len(floors)), 2))
    return ratios


def summarize(runs: list[dict]) -> dict:
    compared = [r for r in runs if r["renderer"] == "compare"]
    checks = {
        "lag_p99_ms": max(r["lag_ms"]["p99"] for r in compared),
        "final_frame_ms": max(r["final_frame_ms"] or float("inf") for r in compared),
    }
    ratios = cpu_ratios(runs)
    if ratios:
        checks["cpu_ratio"] = round(sum(ratios) / len(ratios), 2)
    verdicts = {key: "PASS" if value <= TARGETS[key] else "MISS" for key, value in checks.items()}
    return {"checks": checks, "cpu_ratio_runs": ratios, "targets": TARGETS, "verdicts": verdicts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the tokens")
    parser.add_argument("--child", choices=["floor", "compare"], help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(run(args.child, args.scale))))
        return 0

    scale = 0.25 if args.quick else 1.0
    script = Path(__file__)
    runs = []
    for renderer in ["floor", "compare", "floor", "compare", "floor"]:
        print(f"... {renderer}, {COLUMNS} streams at {RATE:.0f} tokens/s", file=sys.stderr, flush=True)
        runs.append(run_child(script, ["--child", renderer, "--scale", str(scale)], timeout=1800))
    _, _, shape = make_stream(scale)
    stats = describe(shape)
    print(f"Each column: {stats['reasoning_tokens']:,} reasoning + {stats['answer_tokens']:,} answer tokens "
          f"at {RATE:.0f} tokens/s; {COLUMNS} columns at once, {SIZE[0]}x{SIZE[1]}\n")
    print_table("Three streams at once (timer lag and queue wait in ms)",
                ["renderer", "CPU s", "wall s", "lag p50", "lag p95", "lag p99", "queue p99", "final frame ms",
                 "frames", "RSS MB"],
                [[r["renderer"], r["cpu_s"], r["wall_s"], r["lag_ms"]["p50"], r["lag_ms"]["p95"], r["lag_ms"]["p99"],
                  r["queue_ms"]["p99"], r["final_frame_ms"], r["frames"], r["rss_mb"]] for r in runs])
    summary = summarize(runs)
    print_table("Targets", ["check", "value", "target", "verdict"],
                [[k, v, TARGETS[k], summary["verdicts"][k]] for k, v in summary["checks"].items()])
    if summary["cpu_ratio_runs"]:
        print("CPU ratio of each compare run to its neighbouring floor runs: "
              + ", ".join(f"{r}x" for r in summary["cpu_ratio_runs"]) + "\n")
    print(json.dumps({"bench": "compare", "stream": stats, "runs": runs, **summary}))
    return 0 if all(v != "MISS" for v in summary["verdicts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
