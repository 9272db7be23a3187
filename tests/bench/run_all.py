"""Run every benchmark and print one summary: each target, PASS/MISS, and the ratio to baseline.

Run: ``python tests/bench/run_all.py`` (about 45 minutes on 2 cores, of which ``--long`` is 15,
``--ab`` 12 and ``bench_compare.py`` 5; ``--quick`` is about 15).
Scripts run one after the other, each in its own interpreter; their full tables go to
stderr as they finish, the summary table and one JSON line to stdout. Latency numbers are
wall-clock: run on an otherwise idle machine (the load average is printed with the summary).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from harness import print_table

HERE = Path(__file__).resolve().parent


def run(script: str, args: list[str]) -> dict | None:
    print(f"=== {script} {' '.join(args)}", file=sys.stderr, flush=True)
    completed = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True,
                               text=True, cwd=str(HERE.parents[1]), check=False)
    sys.stderr.write(completed.stdout.rsplit("\n{", 1)[0] + "\n")
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    sys.stderr.write(f"{script} printed no results (exit {completed.returncode}):\n"
                     + completed.stderr[-3000:])
    return None


def ratio(value, baseline) -> float | None:
    if isinstance(value, (int, float)) and isinstance(baseline, (int, float)) and baseline:
        return round(value / baseline, 2)
    return None


def verdict(value, target, higher_is_better: bool = False) -> str:
    if value is None:
        return "MISS"
    return "PASS" if (value >= target if higher_is_better else value <= target) else "MISS"


def render_rows(data: dict) -> list[list]:
    """The targets as bench_render.py judged them (several Thinkpane runs: the worst figure,
    and the CPU ratio against each run's neighbouring floor runs); every baseline ran in the
    same session: the floor (no rendering), markdownstream (Textual's Markdown.get_stream() +
    anchor(), as oterm, Toad and Textual's docs do) and the naive renderer (elia, parllama)."""
    checks, targets, verdicts = data["checks"], data["targets"], data["verdicts"]
    runs = data["runs"]

    def of(renderer: str, rate: str) -> list[dict]:
        return [r for r in runs if r["renderer"] == renderer and str(r["rate"]) == rate]

    def mean_cpu(group: list[dict]) -> float | None:
        return round(sum(r["cpu_s"] for r in group) / len(group), 2) if group else None

    tp, floors, ms = of("thinkpane", "150.0"), of("floor", "150.0"), of("markdownstream", "150.0")
    naive = next(iter(of("naive", "150.0")), None)
    fast_floor = of("floor", "unthrottled")[0]
    ttft = next(t for t in data["ttft"] if t["renderer"] == "thinkpane")
    naive_ttft = next((t for t in data["ttft"] if t["renderer"] == "naive"), None)
    naive_note = ""
    if naive and not naive["completed"]:
        naive_note = f"naive: stopped at {naive['tokens_done']:,}/{naive['tokens']:,} tokens"
    floor_lag = max(r["lag_ms"]["p99"] for r in floors)
    ms_lag = max(r["lag_ms"]["p99"] for r in ms) if ms else None
    ms_final = max((r["final_frame_ms"] for r in ms if r["final_frame_ms"] is not None), default=None)
    ms_fast = next(iter(of("markdownstream", "unthrottled")), None)
    ms_ttft = next((t for t in data["ttft"] if t["renderer"] == "markdownstream"), None)
    ms_ttft_p95 = ms_ttft["ttft_ms"]["p95"] if ms_ttft else None
    tp_cpu, floor_cpu, ms_cpu = mean_cpu(tp), mean_cpu(floors), mean_cpu(ms)
    runs_note = " / ".join(f"{r}x" for r in data.get("cpu_ratio_runs", []))
    return [
        ["1 stream: timer lag p99 @150 tok/s (ms)", checks["lag_p99_ms"], "< 50", verdict(checks["lag_p99_ms"], 50),
         floor_lag, ratio(checks["lag_p99_ms"], floor_lag),
         "baseline = floor" + (f"; naive {naive['lag_ms']['p99']}" if naive else ""), ms_lag],
        ["1 stream: timer lag p99 against markdownstream's (ms)", checks["lag_p99_ms"], "below it",
         verdicts.get("lag_p99_vs_markdownstream", "MISS"), ms_lag, checks.get("lag_p99_vs_markdownstream"),
         "baseline = markdownstream", ms_lag],
        ["1 stream: final frame after last token (ms)", checks["final_frame_ms"], "< 100",
         verdict(checks["final_frame_ms"], 100), None, None,
         f"unthrottled {checks['final_frame_ms_unthrottled']} ms "
         f"({verdict(checks['final_frame_ms_unthrottled'], 100)})", ms_final],
        ["1 stream: unthrottled tokens/s", checks["unthrottled_tps"], ">= 2000",
         verdict(checks["unthrottled_tps"], 2000, higher_is_better=True), fast_floor["tokens_per_s"],
         ratio(checks["unthrottled_tps"], fast_floor["tokens_per_s"]), "baseline = floor",
         ms_fast["tokens_per_s"] if ms_fast else None],
        ["1 stream: CPU s @150 tok/s against the floor", tp_cpu, f"<= {targets['cpu_ratio']}x floor",
         verdicts.get("cpu_ratio", "MISS"), floor_cpu, checks.get("cpu_ratio"),
         f"runs {runs_note}; " + (f"naive {naive['cpu_s']} s; " if naive else "") + naive_note, ms_cpu],
        ["1 stream: CPU s @150 tok/s against markdownstream", tp_cpu,
         f"<= {targets['cpu_ratio_markdownstream']}x markdownstream", verdicts.get("cpu_ratio_markdownstream", "MISS"),
         ms_cpu, checks.get("cpu_ratio_markdownstream"), "baseline = markdownstream", ms_cpu],
        ["2 first painted token p95 (ms)", ttft["ttft_ms"]["p95"], f"< {targets['ttft_p95_ms']:g}",
         verdicts.get("ttft_p95_ms", "MISS"), None, None, f"p50 {ttft['ttft_ms']['p50']} ms", ms_ttft_p95],
        ["2 first painted token p95 against naive's", ttft["ttft_ms"]["p95"], f"<= {targets['ttft_ratio_naive']}x naive",
         verdicts.get("ttft_ratio_naive", "MISS"), naive_ttft["ttft_ms"]["p95"] if naive_ttft else None,
         checks.get("ttft_ratio_naive"), "baseline = naive renderer", ms_ttft_p95],
    ]


def long_stream_rows(data: dict) -> list[list]:
    """bench_render.py --long: the last tenth of a 60,000 + 4,000-token stream against its
    first; markdownstream's figures beside Thinkpane's."""
    by = {s["renderer"]: s for s in data["summaries"]}
    tp, ms = by.get("thinkpane", {}), by.get("markdownstream", {})
    targets, verdicts = data["targets"], data["verdicts"]

    def pair(summary: dict, key: str) -> str:
        return " -> ".join(str(v) for v in summary.get(key, [])) or "-"

    return [
        ["6 long stream: CPU per frame, last tenth / first", tp.get("cpu_per_frame_growth"),
         f"<= {targets['cpu_per_frame_growth']}", verdicts.get("cpu_per_frame_growth", "MISS"),
         ms.get("cpu_per_frame_growth"), None,
         f"ms/frame {pair(tp, 'cpu_per_frame_ms')}; markdownstream {pair(ms, 'cpu_per_frame_ms')}",
         ms.get("cpu_per_frame_growth")],
        ["6 long stream: timer lag p99, last tenth / first", tp.get("lag_p99_growth"),
         f"<= {targets['lag_p99_growth']}", verdicts.get("lag_p99_growth", "MISS"), ms.get("lag_p99_growth"), None,
         f"ms {pair(tp, 'lag_p99_ms')}; markdownstream {pair(ms, 'lag_p99_ms')}", ms.get("lag_p99_growth")],
        ["6 long stream: RSS growth per 10k tokens (MB)", tp.get("rss_mb_per_10k_tokens"), "reported", "-",
         ms.get("rss_mb_per_10k_tokens"), ratio(tp.get("rss_mb_per_10k_tokens"), ms.get("rss_mb_per_10k_tokens")),
         f"final frame {tp.get('final_frame_ms')} ms; markdownstream {ms.get('final_frame_ms')} ms",
         ms.get("rss_mb_per_10k_tokens")],
    ]


AB_PREFIX = "7 A/B: "


def ab_figures(cost: dict) -> dict[str, float]:
    """The figures of one A/B configuration (off / all on), without its notes."""
    return {key: value for key, value in cost.items() if isinstance(value, (int, float))}


def worst_figure(cost: dict) -> tuple[str | None, float | None]:
    """The figure switching a mechanism off made worst, and by how much (off / all on)."""
    figures = ab_figures(cost)
    worst = max(figures, key=lambda key: figures[key]) if figures else None
    return worst, figures.get(worst) if worst else None


def buys_enough(cost: dict) -> str:
    """PASS if switching the mechanism off costs more than 5% of some figure."""
    return verdict(worst_figure(cost)[1], 1.05, higher_is_better=True)


def ab_rows(data: dict) -> list[list]:
    """bench_render.py --ab: each render mechanism switched off alone (public Textual in its
    place); it stays if switching it off costs more than 5% of some figure."""
    rows = []
    for name, cost in data["off_over_on"].items():
        if name == "all on":
            continue
        worst, value = worst_figure(cost)
        is_mechanism = name.startswith("no ")
        label = f"{name.removeprefix('no ')} off" if is_mechanism else f"{name} (every mechanism off)"
        rows.append([f"{AB_PREFIX}{label}", value, "> 1.05 on some figure" if is_mechanism else "reported",
                     buys_enough(cost) if is_mechanism else "-", 1.0, value,
                     f"worst: {worst}; " + ", ".join(f"{k} {v}" for k, v in ab_figures(cost).items())])
    return rows


def startup_rows(data: dict) -> list[list]:
    first = data["first_frame"]
    sdks = data["sdks_imported"]
    lazy = {k: v for k, v in sdks.items() if k in ("boto3", "opensearchpy", "llama_cpp")} if isinstance(sdks, dict) else sdks
    return [
        ["3 startup: first frame (s)", first["thinkpane_median_s"], "< 0.6", data["verdicts"]["first_frame_s"],
         first["bare_app_median_s"], ratio(first["thinkpane_median_s"], first["bare_app_median_s"]),
         "baseline = bare Textual App"],
        ["3 startup: first frame against a bare Textual app", first["thinkpane_median_s"],
         f"<= {data['targets']['first_frame_ratio']}x bare", data["verdicts"]["first_frame_ratio"],
         first["bare_app_median_s"], data["checks"]["first_frame_ratio"], "same run"],
        ["3 startup: nothing before the first frame it does not need",
         ", ".join(data["importtime_first_frame"]["later_before_first_frame"]) or "none", "none",
         data["verdicts"]["nothing_later_before_first_frame"], None, None,
         "pydantic, markdown_it, rich.markdown/syntax, lexers, SDKs..."],
        ["3 startup: ask --help (s)", data["ask_help_median_s"], "< 0.3", data["verdicts"]["ask_help_s"],
         data["python_pass_median_s"], ratio(data["ask_help_median_s"], data["python_pass_median_s"]),
         "baseline = python -c pass"],
        ["3 startup: SDKs imported only when used", "none" if data["verdicts"]["lazy_sdks"] == "PASS" else lazy,
         "none", data["verdicts"]["lazy_sdks"], None, None, "openai configured; boto3/opensearchpy/llama_cpp"],
    ]


def long_rows(data: dict) -> list[list]:
    """bench_long_conversation.py: a 300-turn conversation and a 2,000-turn tree, each
    against an empty chat."""
    empty = data["empty"]
    rows = []
    for name, label in (("long", "300 turns"), ("branched", "2,000-turn tree")):
        run, target = data["runs"][name], data["targets"][name]
        rows += [
            [f"4 {label}: time to interactive (s)", run["interactive_s"], f"< {target['interactive_s']:g}",
             verdict(run["interactive_s"], target["interactive_s"]), empty["interactive_s"],
             ratio(run["interactive_s"], empty["interactive_s"]), "baseline = empty chat"],
            [f"4 {label}: RSS (MB)", run["rss_mb"], f"< {target['rss_mb']:g}", verdict(run["rss_mb"], target["rss_mb"]),
             empty["rss_mb"], ratio(run["rss_mb"], empty["rss_mb"]), f"peak {run['rss_peak_mb']} MB"],
            [f"4 {label}: scroll timer lag p99 (ms)", run["scroll_lag_ms"]["p99"], f"< {target['scroll_lag_p99_ms']:g}",
             verdict(run["scroll_lag_ms"]["p99"], target["scroll_lag_p99_ms"]), empty["scroll_lag_ms"]["p99"],
             ratio(run["scroll_lag_ms"]["p99"], empty["scroll_lag_ms"]["p99"]), ""],
            [f"4 {label}: new stream timer lag p99 (ms)", run["stream_lag_ms"]["p99"],
             f"< {target['stream_lag_p99_ms']:g}", verdict(run["stream_lag_ms"]["p99"], target["stream_lag_p99_ms"]),
             empty["stream_lag_ms"]["p99"], ratio(run["stream_lag_ms"]["p99"], empty["stream_lag_ms"]["p99"]), ""],
        ]
    return rows


def store_rows(data: dict) -> list[list]:
    rows = []
    for key in ("list_newest_200", "search_common_word", "search_rare_word"):
        value = data[key]["median_ms"]
        rows.append([f"5 store: {key} @{data['conversations']:,} (ms)", value, "< 100", verdict(value, 100),
                     None, None, f"max {data[key]['max_ms']} ms"])
    s = data["stream"]
    rows.append(["5 store: appends+flushes during a stream (ms)", s["writer_total_ms"],
                 "doesn't slow it", "PASS" if s["writer_total_ms"] < s["stream_time_at_rate_s"] * 1000 * 0.02 else "MISS",
                 s["baseline_string_appends_ms"], s.get("total_ratio"),
                 f"over a {s['stream_time_at_rate_s']} s stream; baseline = string appends"])
    return rows


def compare_rows(data: dict) -> list[list]:
    """Three compare columns at once, as bench_compare.py judged them."""
    checks, verdicts = data["checks"], data["verdicts"]
    floors = [r for r in data["runs"] if r["renderer"] == "floor"]
    floor_lag = max(r["lag_ms"]["p99"] for r in floors)
    floor_cpu = round(sum(r["cpu_s"] for r in floors) / len(floors), 2)
    compared = [r for r in data["runs"] if r["renderer"] == "compare"]
    cpu = round(sum(r["cpu_s"] for r in compared) / len(compared), 2)
    runs_note = " / ".join(f"{r}x" for r in data.get("cpu_ratio_runs", []))
    return [
        ["6 compare x3: timer lag p99 @150 tok/s (ms)", checks["lag_p99_ms"], "< 50", verdicts["lag_p99_ms"],
         floor_lag, ratio(checks["lag_p99_ms"], floor_lag), "160x48"],
        ["6 compare x3: final frame after the last token (ms)", checks["final_frame_ms"], "< 100",
         verdicts["final_frame_ms"], None, None, "last token of the last column"],
        ["6 compare x3: CPU s @150 tok/s (mean of runs)", cpu, "<= 2.5x floor", verdicts.get("cpu_ratio", "MISS"),
         floor_cpu, checks.get("cpu_ratio"), f"runs {runs_note}; floor = 3 streams, no UI"],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    parser.add_argument("--only", metavar="NAMES", type=lambda text: set(text.split(",")),
                        help="run only these parts, comma-separated: " + ", ".join(PARTS)
                        + " (e.g. a before/after check of what an older run_all covered)")
    parser.add_argument("--summarize", metavar="FILE",
                        help="print the summary again from an earlier run's output (its JSON line), running nothing")
    parser.add_argument("--markdown", action="store_true",
                        help="with --summarize: print the summary as the Markdown table README.md shows")
    args = parser.parse_args()
    if args.markdown and not args.summarize:
        parser.error("--markdown prints a saved run's summary: give --summarize FILE too")
    quick = args.quick
    if args.summarize:
        saved = json.loads([line for line in Path(args.summarize).read_text().splitlines() if line.startswith("{")][-1])
        return summarize(saved["results"], saved["quick"], saved["load_average"], markdown=args.markdown)
    unknown = (args.only or set()) - set(PARTS)
    if unknown:
        parser.error(f"--only: no part named {', '.join(sorted(unknown))} (the parts: {', '.join(PARTS)})")
    results = {name: run(script, (quick_args if quick else full_args)) for name, (script, full_args, quick_args)
               in PARTS.items() if args.only is None or name in args.only}
    return summarize(results, quick, os.getloadavg()[0])


# Each part: its script, its arguments, and its arguments with --quick.
PARTS: dict[str, tuple[str, list[str], list[str]]] = {
    "render": ("bench_render.py", [], ["--quick", "--naive-budget", "8"]),
    "render_long": ("bench_render.py", ["--long"], ["--long", "--quick"]),
    "render_ab": ("bench_render.py", ["--ab"], ["--ab", "--quick"]),
    "startup": ("bench_startup.py", [], ["--runs", "3"]),
    "long_conversation": ("bench_long_conversation.py", [], ["--turns", "100"]),
    "store": ("bench_store.py", [], ["--conversations", "2000"]),
    "compare": ("bench_compare.py", [], ["--quick"]),
}


COLUMNS = ["target", "value", "goal", "verdict", "baseline", "ratio", "notes", "markdownstream"]


def summarize(results: dict, quick: bool, load: float, *, markdown: bool = False) -> int:
    """The summary table and JSON line for ``results`` (one JSON object per script);
    ``markdown``: the table as README.md's Performance section shows it, and nothing else."""
    rows: list[list] = []
    for name, build in (("render", render_rows), ("startup", startup_rows),
                        ("long_conversation", long_rows), ("store", store_rows), ("compare", compare_rows),
                        ("render_long", long_stream_rows), ("render_ab", ab_rows)):
        if name not in results:
            continue  # not run (--only)
        data = results[name]
        if data is None:
            rows.append([f"{name}: the script failed (see above)", None, "", "MISS", None, None, ""])
            continue
        try:
            rows += build(data)
        except (KeyError, StopIteration, TypeError) as exc:
            rows.append([f"{name}: incomplete results ({exc!r})", None, "", "MISS", None, None, ""])
    rows = [row + [None] * (len(COLUMNS) - len(row)) for row in rows]  # markdownstream: where it ran
    if markdown:
        print_markdown(rows)
        if results.get("render_ab"):
            print()
            print_ab_markdown(results["render_ab"])
        return 0
    print_table(f"Thinkpane performance summary ({'quick' if quick else 'full'} run; load average "
                f"{load:.1f} on {os.cpu_count()} CPUs)",
                ["target", "value", "target", "verdict", "baseline", "x baseline", "notes", "markdownstream"], rows)
    print(json.dumps({"bench": "all", "quick": quick, "load_average": load,
                      "summary": [dict(zip(COLUMNS, r)) for r in rows], "results": results}))
    return 0 if all(r[3] in ("PASS", "-") for r in rows) else 1  # "-": reported, no target


def print_markdown(rows: list[list]) -> None:
    """The summary rows as a Markdown table: what README.md's Performance section shows."""
    def cell(value: object) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}".rstrip("0").rstrip(".")
        return (f"{value:,}" if isinstance(value, int) else str(value)).replace("|", "\\|")

    print("| Target | Thinkpane | Baseline (same run) | × baseline | markdownstream | Goal | Verdict | Notes |")
    print("|---|---|---|---|---|---|---|---|")
    for target, value, goal, verdict_, baseline, times, notes, markdownstream in rows:
        if target.startswith(AB_PREFIX):
            continue  # the A/B table (print_ab_markdown) shows them whole
        mark = {"PASS": "✓", "MISS": "✗"}.get(verdict_, verdict_)
        print("| " + " | ".join(cell(v) for v in (target, value, baseline, times, markdownstream, goal, mark, notes or None))
              + " |")


AB_HEADINGS = {"cpu_ratio": "CPU × floor", "frames": "frames", "lag_p99_ms": "lag p99 (ms)",
               "final_frame_ms": "final frame (ms)", "final_frame_ms_unthrottled": "final frame unthrottled (ms)",
               "ttft_p95_ms": "first token p95 (ms)", "ttft_p50_ms": "first token p50 (ms)"}


def print_ab_markdown(data: dict) -> None:
    """bench_render.py --ab as a Markdown table: the figures with every mechanism on, then each
    configuration's figures over those (above 1.05: switching it off costs more than 5%)."""
    base = data["figures"]["all on"]
    keys = list(base)
    print("| Switched off | " + " | ".join(AB_HEADINGS.get(key, key) for key in keys) + " | Buys > 5% of a figure |")
    print("|---|" + "---|" * (len(keys) + 1))
    print("| nothing (all on): the figures | " + " | ".join(str(base[k]) for k in keys) + " | |")
    for name, cost in data["off_over_on"].items():
        if name == "all on":
            continue
        values = [cost.get(k) for k in keys]
        label = f"`{name.removeprefix('no ')}`" if name.startswith("no ") else f"every mechanism ({name})"
        mark = ("yes ✓" if buys_enough(cost) == "PASS" else "no ✗") if name.startswith("no ") else ""
        print(f"| {label} | " + " | ".join("–" if v is None else f"{v}×" for v in values) + f" | {mark} |")


if __name__ == "__main__":
    sys.exit(main())
