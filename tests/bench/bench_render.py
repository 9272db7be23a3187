"""Streaming render and time to first painted token: Thinkpane against no rendering, the naive
renderer and Textual's own ``MarkdownStream``, each figure beside a baseline of the same run.

Run: ``python tests/bench/bench_render.py`` (about 7 minutes on 2 cores; ``--quick`` uses a
quarter of the tokens). Prints tables and, last, one JSON line.

The stream (stream_shapes.py): ~6,000 reasoning tokens, then ~2,000 Markdown answer tokens,
replayed by PacedBackend at 150 tokens/s and unthrottled through the renderers of
render_apps.py, each scenario in a fresh interpreter, one after the other:

* floor          - the stream consumed, nothing rendered (the least any renderer can cost); at
                   150 tokens/s Thinkpane runs twice, each time between two floor runs, and the
                   CPU ratio is the mean of the two runs' ratios to their neighbouring floors;
* markdownstream - Textual's documented way: ``Markdown.get_stream()`` per pane, anchored;
* naive          - ``Markdown.update(full_text)`` per token, as elia and parllama do. It cannot
                   keep up, so it runs for at most ``--naive-budget`` seconds and we report how
                   far it got;
* thinkpane      - the real ThinkpaneApp chat screen under ``run_test`` (120x40).

Measured over the stream (send -> the screen settles): CPU seconds of the process, the lag
of a 5 ms timer (p50/p95/p99), how long callbacks wait in the screen's message queue, and the
time from the last token yielded to the final frame. Unthrottled: tokens / (first token ->
final frame). How "on screen" is decided is described in harness.py.

Time to first painted token: 30 short turns (every other one answers without reasoning),
the first delta 0.3 s after the request; for each, the time from the backend yielding the
first delta (a unique word) to the end of the first frame whose terminal bytes contain it.

``--long``: cost must not grow with length. A 60,000-token reasoning, then a 4,000-token
answer, at 150 tokens/s (about 7 minutes a renderer) through Thinkpane and markdownstream.
The stream is cut into tenths by tokens; per tenth: CPU per frame, frames, timer lag p99 and
RSS. Reported: the last tenth over the first (target at most 1.2x) and RSS growth per 10,000
tokens (after the first tenth).

``--ab``: what each mechanism of tui/render buys (gate.py), in one run: Thinkpane with all
of them, with the gate closed (public Textual only), and with each one switched off alone
(``THINKPANE_RENDER_OFF``), floor runs in between; per configuration the CPU ratio to the
floor, frames, lag p99, the final frame (150 tokens/s and unthrottled) and first-token p95.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
from pathlib import Path

from harness import (
    FrameProbe,
    LagProbe,
    Measured,
    cpu_s,
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
    MarkdownStreamApp,
    NaiveApp,
    start_thinkpane_turn,
    thinkpane_app,
    thinkpane_finished,
)
from stream_shapes import describe, recorded_stream, tokenize

from thinkpane.tui.render import gate

END_MARKER = "qzxv"  # the last answer word; appears nowhere else in the stream
TARGETS = {
    "lag_p99_ms": 50.0,  # at 150 tokens/s
    "lag_p99_vs_markdownstream": 1.0,  # Thinkpane's lag p99 / markdownstream's: below it
    "final_frame_ms": 100.0,
    "unthrottled_tps": 2000.0,
    "cpu_ratio": 2.0,  # Thinkpane CPU / floor CPU at 150 tokens/s
    "cpu_ratio_markdownstream": 0.3,  # Thinkpane CPU / markdownstream CPU at 150 tokens/s
    "ttft_p95_ms": 12.0,
    "ttft_ratio_naive": 1.5,  # Thinkpane's first-token p95 / the naive renderer's
}
HIGHER_IS_BETTER = {"unthrottled_tps"}
LONG_TARGETS = {"cpu_per_frame_growth": 1.2, "lag_p99_growth": 1.2}  # last tenth / first tenth
RENDERERS = ("floor", "thinkpane", "markdownstream", "naive")
# --ab: each configuration's environment (what gate.py reads).
AB_CONFIGS: dict[str, dict[str, str]] = {
    "all on": {},
    "gate closed": {gate.ENV_VAR: "off"},
    **{f"no {name}": {gate.MECHANISMS_OFF_VAR: name} for name in gate.USES},
}


def make_stream(scale: float, *, long: bool = False):
    reasoning_tokens, answer_tokens = (60_000, 4_000) if long else (6_000, 2_000)
    shape = recorded_stream(reasoning_tokens=int(reasoning_tokens * scale), answer_tokens=int(answer_tokens * scale))
    ending = tokenize(f"\n\nThat is the whole answer {END_MARKER}.\n", random.Random(0))
    return shape.reasoning, shape.answer + ending, shape


def make_app(renderer: str, backend: PacedBackend):
    if renderer == "thinkpane":
        return thinkpane_app(backend)
    return {"naive": NaiveApp, "markdownstream": MarkdownStreamApp, "floor": FloorApp}[renderer](backend)


# --------------------------------------------------------------------------- one stream


class Timeline:
    """Samples (time, CPU s, frames so far, tokens yielded, RSS MB) every ``interval`` s."""

    def __init__(self, frames: FrameProbe, backend: PacedBackend, interval: float = 0.25) -> None:
        self.frames, self.backend, self.interval = frames, backend, interval
        self.samples: list[tuple[float, float, int, int, float]] = []
        self._task: asyncio.Task | None = None

    def sample(self) -> None:
        self.samples.append((perf(), cpu_s(), len(self.frames.frames), len(self.backend.yield_times), rss_mb()))

    def start(self) -> None:
        async def run() -> None:
            while True:
                self.sample()
                await asyncio.sleep(self.interval)

        self._task = asyncio.get_running_loop().create_task(run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.sample()

    def at(self, moment: float, column: int) -> float:
        """``column`` of the samples interpolated at ``moment``."""
        samples = self.samples
        for before, after in itertools.pairwise(samples):
            if before[0] <= moment <= after[0]:
                span = after[0] - before[0]
                share = (moment - before[0]) / span if span else 0.0
                return before[column] + share * (after[column] - before[column])
        return samples[-1][column] if moment > samples[-1][0] else samples[0][column]


def tenths(timeline: Timeline, frames: FrameProbe, lag: LagProbe, yields: list[float], end: float) -> list[dict]:
    """The stream cut into tenths by tokens: CPU per frame, lag p99 and RSS in each."""
    count = len(yields)
    bounds = [yields[min(count - 1, count * k // 10)] for k in range(10)] + [end]
    parts = []
    for k in range(10):
        start, stop = bounds[k], bounds[k + 1]
        cpu = timeline.at(stop, 1) - timeline.at(start, 1)
        painted = sum(1 for f in frames.frames if start <= f < stop)
        lags = [s for t, s in zip(lag.times, lag.samples) if start <= t < stop]
        parts.append({
            "tokens": count * (k + 1) // 10 - count * k // 10,
            "seconds": round(stop - start, 1),
            "cpu_s": round(cpu, 3),
            "frames": painted,
            "cpu_per_frame_ms": round(cpu / painted * 1000, 2) if painted else None,
            "lag_p99_ms": percentiles(lags)["p99"],
            "rss_mb": round(timeline.at(stop, 4), 1),
        })
    return parts


async def run_stream(renderer: str, rate: float | None, scale: float, budget_s: float, long: bool = False) -> dict:
    reasoning, answer, _ = make_stream(scale, long=long)
    backend = PacedBackend(rate)
    backend.enqueue(reasoning, answer)
    app = make_app(renderer, backend)
    measured = Measured(app)
    frames, lag = measured.frames, measured.lag
    total_tokens = len(reasoning) + len(answer)
    timeline = Timeline(frames, backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await measured.begin(app.screen, END_MARKER)
        timeline.start()
        if renderer == "thinkpane":
            await start_thinkpane_turn(app)
            finished = lambda: thinkpane_finished(app) and backend.finished_at is not None
        else:
            app.start()
            finished = lambda: app.finished
        expected_s = total_tokens / rate if rate else 30.0
        timeout = budget_s if renderer == "naive" else max(600.0, 2 * expected_s)
        completed = await wait_until(finished, timeout, step=0.02)
        if completed:
            marker_at = await frames.wait_for(END_MARKER, 10.0) if renderer != "floor" else None
            settled_at = await frames.settle(quiet=0.5)
        else:
            marker_at = settled_at = None
            app.workers.cancel_all()  # the naive renderer ran out of time: stop it first
            await asyncio.sleep(0.05)
        timeline.stop()
        cpu_used, wall = measured.end()
        rss = rss_mb()
        yields = backend.yield_times
        first = yields[0] if yields else None
        last = yields[-1] if yields else None
        rendered = len(yields) if renderer not in ("naive", "markdownstream") else app.tokens_rendered
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
        if long and completed and last:
            result["tenths"] = tenths(timeline, frames, lag, yields, last)
        if renderer == "naive" and not completed:
            # How long the whole stream would take at the rate it managed (it slows as the
            # document grows, so this is optimistic).
            result["projected_s"] = round(total_tokens / max(rendered, 1) * budget_s, 1)
        await app.workers.wait_for_complete() if completed else None
    return result


# --------------------------------------------------------------------------- first token


async def run_ttft(renderer: str, turns: int) -> dict:
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
    app = make_app(renderer, backend)
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


def stream_child(script: Path, renderer: str, rate: float, scale: float, budget: float,
                 *, long: bool = False, env: dict[str, str] | None = None) -> dict:
    print(f"... {renderer} at {rate or 'unthrottled'} tokens/s" + (f" ({env})" if env else ""),
          file=sys.stderr, flush=True)
    args = ["--child", "stream", "--renderer", renderer, "--rate", str(rate), "--scale", str(scale),
            "--naive-budget", str(budget)] + (["--long"] if long else [])
    return run_child(script, args, timeout=3600, env=env)


def ttft_child(script: Path, renderer: str, turns: int, env: dict[str, str] | None = None) -> dict:
    print(f"... first painted token, {renderer}" + (f" ({env})" if env else ""), file=sys.stderr, flush=True)
    return run_child(script, ["--child", "ttft", "--renderer", renderer, "--ttft-turns", str(turns)], env=env)


def floor_ratios(runs: list[dict]) -> list[float | None]:
    """Each run's CPU over the mean of the floor runs nearest before and after it (None for
    the floor runs themselves)."""
    ratios: list[float | None] = []
    for i, run in enumerate(runs):
        if run["renderer"] == "floor":
            ratios.append(None)
            continue
        before = next((r for r in reversed(runs[:i]) if r["renderer"] == "floor"), None)
        after = next((r for r in runs[i + 1:] if r["renderer"] == "floor"), None)
        floors = [r["cpu_s"] for r in (before, after) if r is not None and r["cpu_s"]]
        ratios.append(round(run["cpu_s"] / (sum(floors) / len(floors)), 2) if floors else None)
    return ratios


def verdicts_for(checks: dict, targets: dict) -> dict:
    verdicts = {}
    for key, value in checks.items():
        target = targets.get(key.replace("_unthrottled", ""))
        if target is None or value is None:
            verdicts[key] = "MISS" if value is None else "-"
            continue
        ok = value >= target if key in HIGHER_IS_BETTER else value <= target
        verdicts[key] = "PASS" if ok else "MISS"
    return verdicts


def summarize(runs: list[dict], ttft: list[dict]) -> dict:
    at150 = [r for r in runs if str(r["rate"]) == "150.0"]
    tp150 = [r for r in at150 if r["renderer"] == "thinkpane"]
    ms150 = [r for r in at150 if r["renderer"] == "markdownstream"]
    tp_fast = [r for r in runs if r["renderer"] == "thinkpane" and r["rate"] == "unthrottled"]
    tt = {t["renderer"]: t for t in ttft}
    checks: dict[str, float | None] = {}
    if tp150:
        # Of several Thinkpane runs, the worst figure.
        checks["lag_p99_ms"] = max(r["lag_ms"]["p99"] for r in tp150)
        if ms150:
            checks["lag_p99_vs_markdownstream"] = round(
                checks["lag_p99_ms"] / max(r["lag_ms"]["p99"] for r in ms150), 2)
        checks["final_frame_ms"] = max(r["final_frame_ms"] or float("inf") for r in tp150)
    if tp_fast:
        checks["unthrottled_tps"] = min(r["tokens_per_s"] or 0.0 for r in tp_fast)
        checks["final_frame_ms_unthrottled"] = max(r["final_frame_ms"] or float("inf") for r in tp_fast)
    ratios = [ratio for run, ratio in zip(at150, floor_ratios(at150)) if run["renderer"] == "thinkpane"]
    ratios = [r for r in ratios if r is not None]
    if ratios:
        checks["cpu_ratio"] = round(sum(ratios) / len(ratios), 2)
    if tp150 and ms150:
        tp_cpu = sum(r["cpu_s"] for r in tp150) / len(tp150)
        checks["cpu_ratio_markdownstream"] = round(tp_cpu / (sum(r["cpu_s"] for r in ms150) / len(ms150)), 3)
    if "thinkpane" in tt:
        checks["ttft_p95_ms"] = tt["thinkpane"]["ttft_ms"]["p95"]
        if "naive" in tt:
            checks["ttft_ratio_naive"] = round(checks["ttft_p95_ms"] / tt["naive"]["ttft_ms"]["p95"], 2)
    return {"checks": checks, "cpu_ratio_runs": ratios, "targets": TARGETS,
            "verdicts": verdicts_for(checks, TARGETS)}


def print_stream_tables(runs: list[dict], ttft: list[dict], labels: list[str] | None = None) -> None:
    ratios = floor_ratios([r for r in runs if str(r["rate"]) == "150.0"])
    ratio_of = {id(r): x for r, x in zip([r for r in runs if str(r["rate"]) == "150.0"], ratios)}
    rows = []
    for i, r in enumerate(runs):
        name = labels[i] if labels else r["renderer"]
        done = "" if r["completed"] else f" (stopped: {r['tokens_done']:,}/{r['tokens']:,})"
        rows.append([name + done, r["rate"], r["cpu_s"], ratio_of.get(id(r)), r["wall_s"], r["lag_ms"]["p50"],
                     r["lag_ms"]["p95"], r["lag_ms"]["p99"], r["queue_ms"]["p99"], r["final_frame_ms"],
                     r["tokens_per_s"], r["frames"], r["rss_mb"]])
    print_table("Streaming render (timer lag and queue wait in ms)",
                ["renderer", "tok/s in", "CPU s", "x floor", "wall s", "lag p50", "lag p95", "lag p99",
                 "queue p99", "final frame ms", "tok/s out", "frames", "RSS MB"], rows)
    if ttft:
        print_table("Time to first painted token (ms)",
                    ["renderer", "turns", "p50", "p95", "p99", "max", "p95 reasoning", "p95 answer-only", "missed"],
                    [[t["renderer"], t["turns"], t["ttft_ms"]["p50"], t["ttft_ms"]["p95"], t["ttft_ms"]["p99"],
                      t["ttft_ms"]["max"], t["ttft_reasoning_ms"]["p95"], t["ttft_answer_only_ms"]["p95"],
                      t["missed"]] for t in ttft])


# --------------------------------------------------------------------------- modes


def run_targets(args, script: Path) -> int:
    scale = 0.25 if args.quick else 1.0
    renderers = args.only or list(RENDERERS)
    runs, ttft = [], []
    for rate in (150.0, 0.0):
        order = list(renderers)
        if rate and "floor" in order and "thinkpane" in order:
            # Two Thinkpane runs, each between two floor runs: this VM's speed drifts by up to
            # 40% between runs a minute apart (two floor runs around one Thinkpane run took
            # 1.61 and 1.15 CPU s).
            others = [r for r in order if r not in ("floor", "thinkpane")]
            order = ["floor", "thinkpane", "floor", "thinkpane", "floor", *others]
        elif not rate and "thinkpane" in order:
            # A burst's end is timed to the millisecond: three runs, the slowest one counts.
            at = order.index("thinkpane")
            order[at:at + 1] = ["thinkpane"] * 3
        for renderer in order:
            runs.append(stream_child(script, renderer, rate, scale, args.naive_budget))
    for renderer in [r for r in renderers if r != "floor"]:
        ttft.append(ttft_child(script, renderer, args.ttft_turns))

    _, _, shape = make_stream(scale)
    stats = describe(shape)
    print(f"Stream: {stats['reasoning_tokens']:,} reasoning + {stats['answer_tokens']:,} answer tokens, "
          f"{stats['reasoning_kb'] + stats['answer_kb']:.1f} KB, {stats['code_blocks']} code blocks\n")
    print_stream_tables(runs, ttft)
    summary = summarize(runs, ttft)
    print_table("Targets", ["check", "value", "target", "verdict"],
                [[k, v, TARGETS.get(k.replace("_unthrottled", "")), summary["verdicts"][k]]
                 for k, v in summary["checks"].items()])
    if summary["cpu_ratio_runs"]:
        print("CPU ratio of each Thinkpane run to its neighbouring floor runs: "
              + ", ".join(f"{r}x" for r in summary["cpu_ratio_runs"]) + "\n")
    print(json.dumps({"bench": "render", "stream": stats, "runs": runs, "ttft": ttft, **summary}))
    return 0 if all(v != "MISS" for v in summary["verdicts"].values()) else 1


def long_summary(run: dict) -> dict:
    parts = run.get("tenths") or []
    if len(parts) < 10:
        return {"renderer": run["renderer"], "completed": run["completed"]}
    first, last = parts[0], parts[-1]
    tokens_after_first = sum(p["tokens"] for p in parts[1:])

    def growth(key: str) -> float | None:
        return round(last[key] / first[key], 2) if first[key] and last[key] is not None else None

    return {
        "renderer": run["renderer"],
        "completed": run["completed"],
        "cpu_per_frame_ms": [first["cpu_per_frame_ms"], last["cpu_per_frame_ms"]],
        "cpu_per_frame_growth": growth("cpu_per_frame_ms"),
        "lag_p99_ms": [first["lag_p99_ms"], last["lag_p99_ms"]],
        "lag_p99_growth": growth("lag_p99_ms"),
        "rss_mb_per_10k_tokens": round((last["rss_mb"] - first["rss_mb"]) / tokens_after_first * 10_000, 2)
        if tokens_after_first else None,
        "final_frame_ms": run["final_frame_ms"],
    }


def run_long(args, script: Path) -> int:
    scale = 0.25 if args.quick else 1.0
    renderers = [r for r in (args.only or ["thinkpane", "markdownstream"]) if r in ("thinkpane", "markdownstream", "floor")]
    runs = [stream_child(script, renderer, 150.0, scale, args.naive_budget, long=True) for renderer in renderers]
    _, _, shape = make_stream(scale, long=True)
    stats = describe(shape)
    print(f"Long stream: {stats['reasoning_tokens']:,} reasoning + {stats['answer_tokens']:,} answer tokens, "
          f"{stats['reasoning_kb'] + stats['answer_kb']:.1f} KB, at 150 tokens/s\n")
    for run in runs:
        print_table(f"{run['renderer']}: the stream in tenths (by tokens)",
                    ["tenth", "tokens", "s", "CPU s", "frames", "CPU/frame ms", "lag p99 ms", "RSS MB"],
                    [[k + 1, p["tokens"], p["seconds"], p["cpu_s"], p["frames"], p["cpu_per_frame_ms"],
                      p["lag_p99_ms"], p["rss_mb"]] for k, p in enumerate(run.get("tenths") or [])])
    summaries = [long_summary(run) for run in runs]
    print_table("Last tenth against the first",
                ["renderer", "CPU/frame ms first -> last", "growth", "lag p99 ms first -> last", "growth",
                 "RSS MB per 10k tokens", "final frame ms"],
                [[s["renderer"], " -> ".join(map(str, s.get("cpu_per_frame_ms", []))), s.get("cpu_per_frame_growth"),
                  " -> ".join(map(str, s.get("lag_p99_ms", []))), s.get("lag_p99_growth"),
                  s.get("rss_mb_per_10k_tokens"), s.get("final_frame_ms")] for s in summaries])
    thinkpane = next((s for s in summaries if s["renderer"] == "thinkpane"), None)
    checks = {key: thinkpane.get(key) for key in LONG_TARGETS} if thinkpane else {}
    verdicts = verdicts_for(checks, LONG_TARGETS)
    print_table("Targets (Thinkpane)", ["check", "value", "target", "verdict"],
                [[k, v, LONG_TARGETS[k], verdicts[k]] for k, v in checks.items()])
    print(json.dumps({"bench": "render_long", "stream": stats, "runs": runs, "summaries": summaries,
                      "checks": checks, "targets": LONG_TARGETS, "verdicts": verdicts}))
    return 0 if all(v != "MISS" for v in verdicts.values()) else 1


def run_ab(args, script: Path) -> int:
    scale = 0.25 if args.quick else 1.0
    names = list(AB_CONFIGS)
    runs: list[dict] = []
    labels: list[str] = []
    for index, name in enumerate(names):
        if index % 2 == 0:
            runs.append(stream_child(script, "floor", 150.0, scale, args.naive_budget))
            labels.append("floor")
        runs.append(stream_child(script, "thinkpane", 150.0, scale, args.naive_budget, env=AB_CONFIGS[name]))
        labels.append(name)
    runs.append(stream_child(script, "floor", 150.0, scale, args.naive_budget))
    labels.append("floor")
    ratios = floor_ratios(runs)
    fast = {name: stream_child(script, "thinkpane", 0.0, scale, args.naive_budget, env=AB_CONFIGS[name]) for name in names}
    ttft = {name: ttft_child(script, "thinkpane", args.ttft_turns, env=AB_CONFIGS[name]) for name in names}
    print_stream_tables(runs, [], labels)
    by_name = {label: (run, ratio) for label, run, ratio in zip(labels, runs, ratios) if label != "floor"}
    figures = {}
    rows = []
    for name in names:
        run, ratio = by_name[name]
        figure = {
            "cpu_ratio": ratio,
            "frames": run["frames"],
            "lag_p99_ms": run["lag_ms"]["p99"],
            "final_frame_ms": run["final_frame_ms"],
            "final_frame_ms_unthrottled": fast[name]["final_frame_ms"],
            "ttft_p95_ms": ttft[name]["ttft_ms"]["p95"],
            "ttft_p50_ms": ttft[name]["ttft_ms"]["p50"],
        }
        figures[name] = figure
        rows.append([name, *figure.values()])
    base = figures["all on"]
    # What switching a mechanism off costs: its figure over the all-on one (1.10 = 10% worse).
    cost = {name: {key: (round(value / base[key], 2) if isinstance(value, (int, float)) and base[key] else None)
                   for key, value in figure.items()} for name, figure in figures.items()}
    print_table("Per configuration (150 tokens/s unless marked)",
                ["configuration", "CPU x floor", "frames", "lag p99 ms", "final frame ms",
                 "final frame ms unthrottled", "first token p95 ms", "first token p50 ms"], rows)
    print_table("Off / all on (above 1.05: the mechanism buys more than 5% of that figure)",
                ["configuration", *base.keys()], [[name, *cost[name].values()] for name in names])
    print(json.dumps({"bench": "render_ab", "runs": runs, "labels": labels, "unthrottled": fast, "ttft": ttft,
                      "figures": figures, "off_over_on": cost}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the tokens")
    parser.add_argument("--long", action="store_true", help="60,000 + 4,000 tokens: does the cost grow with length?")
    parser.add_argument("--ab", action="store_true", help="what each render mechanism buys (gate.py)")
    parser.add_argument("--naive-budget", type=float, default=20.0,
                        help="seconds the naive renderer may run before we stop it")
    parser.add_argument("--ttft-turns", type=int, default=30)
    parser.add_argument("--only", choices=RENDERERS, action="append")
    parser.add_argument("--child", choices=["stream", "ttft"], help=argparse.SUPPRESS)
    parser.add_argument("--renderer", default="thinkpane", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=150.0, help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "stream":
        rate = args.rate or None
        print(json.dumps(asyncio.run(run_stream(args.renderer, rate, args.scale, args.naive_budget, args.long))))
        return 0
    if args.child == "ttft":
        print(json.dumps(asyncio.run(run_ttft(args.renderer, args.ttft_turns))))
        return 0
    script = Path(__file__)
    if args.long:
        return run_long(args, script)
    if args.ab:
        return run_ab(args, script)
    return run_targets(args, script)


if __name__ == "__main__":
    sys.exit(main())
