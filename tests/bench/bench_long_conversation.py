"""A long stored conversation: time to interactive, memory, scrolling and a new stream.

Run: ``python tests/bench/bench_long_conversation.py`` (about 2 minutes). Prints a table and
one JSON line. ``--turns`` changes the size of the line (default 300 turns = 600 messages),
``--branched-turns`` that of the tree (default 2,000 turns; 0 leaves it out).

The stores are built once through the public ConversationStore API: every turn is a user
prompt and an answer with reasoning (from stream_shapes, ~400 reasoning and ~250 answer
tokens each, ~0.8 MB of text per 300 turns). The tree has branches all along: every tenth
prompt was asked again (a second answer beside the first), and every fiftieth was edited
(a second version of the prompt, which the conversation then goes on from). Then, each in
a fresh interpreter:

* ``long``     - the real ThinkpaneApp opens the line (what ``thinkpane --continue`` does);
* ``branched`` - the same with the 2,000-turn tree (its active path: 2,000 turns);
* ``empty``    - baseline: the same app with no conversation.

Measured: time to interactive (app constructed -> the first frame that shows the end of
the last answer; for the baseline, the first frame), then the time for a key press to be
echoed in the prompt; VmRSS (and VmHWM, the peak) once interactive; timer lag while
PageUp is pressed 30 times and then End; and timer lag, final frame and first painted
token while a new 150 tokens/s answer streams (2,000 tokens) at the end of the conversation.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import tempfile
from pathlib import Path

from harness import (
    FrameProbe,
    LagProbe,
    cpu_s,
    percentiles,
    perf,
    print_table,
    rss_mb,
    run_child,
    use_private_dirs,
    wait_until,
)
from paced_backend import PacedBackend
from render_apps import SIZE, start_thinkpane_turn, thinkpane_app, thinkpane_finished
from stream_shapes import recorded_stream, tokenize

LAST_MARKER = "lastturnqzx"
STREAM_MARKER = "streamendqzx"
FIRST_MARKER = "firstdeltaqzx"
TARGETS = {"interactive_s": 1.0, "rss_mb": 120.0, "scroll_lag_p99_ms": 50.0, "stream_lag_p99_ms": 50.0}
# The 2,000-turn tree: the same time to interactive, a little more memory (its text alone is
# ~5 MB, held once as the stored messages the transcript builds its older turns from).
BRANCHED_TARGETS = {**TARGETS, "rss_mb": 150.0}
REGENERATED_EVERY = 10  # every tenth prompt has a second answer
EDITED_EVERY = 50  # every fiftieth prompt has a second version


def vm_hwm_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build_store(path: Path, turns: int, *, branched: bool = False) -> dict:
    from thinkpane.tui.core.store import ConversationStore

    rng = random.Random(3)
    chars = 0
    messages = 0
    started = perf()
    with ConversationStore(path) as store:
        cid = store.create_conversation("A very long chat about batching", backend="bench", model="bench-r1")
        for turn in range(turns):
            shape = recorded_stream(reasoning_tokens=rng.randint(250, 550),
                                    answer_tokens=rng.randint(150, 350), seed=turn)
            prompt = f"Question {turn}: how would you batch the writes in case {turn}?"
            answer = shape.answer_text
            if turn == turns - 1:
                answer += f"\n\nThe end {LAST_MARKER}.\n"
            if branched and turn % EDITED_EVERY == EDITED_EVERY // 2:
                # A first version of the prompt, answered; the edited one below replaces it.
                first = store.add_message(cid, "user", prompt + " (first version)")
                store.add_message(cid, "assistant", shape.answer_text[:400], reasoning=shape.reasoning_text[:400],
                                  backend="bench", model="bench-r1")
                store.add_message(cid, "user", prompt, parent_id=store.get_message(first).parent_id)
                messages += 3
            else:
                store.add_message(cid, "user", prompt)
                messages += 1
            if branched and turn % REGENERATED_EVERY == REGENERATED_EVERY // 2:
                # An earlier answer to the same prompt, now the other version.
                earlier = store.add_message(cid, "assistant", shape.answer_text[::-1],
                                            reasoning=shape.reasoning_text[::-1], backend="bench", model="bench-r0")
                store.add_message(cid, "assistant", answer, reasoning=shape.reasoning_text,
                                  backend="bench", model="bench-r1", parent_id=store.get_message(earlier).parent_id)
                messages += 2
            else:
                store.add_message(cid, "assistant", answer, reasoning=shape.reasoning_text,
                                  backend="bench", model="bench-r1")
                messages += 1
            chars += len(prompt) + len(answer) + len(shape.reasoning_text)
    return {"conversation_id": cid, "turns": turns, "messages": messages, "text_mb": round(chars / 1e6, 2),
            "build_s": round(perf() - started, 1), "branched": branched}


async def run_scenario(db: Path | None, conversation_id: int | None) -> dict:
    from thinkpane.tui.core.store import ConversationStore

    tmp = Path(tempfile.mkdtemp(prefix="thinkpane-long-"))
    use_private_dirs(tmp)
    rss_before = rss_mb()
    backend = PacedBackend(150.0)
    shape = recorded_stream(reasoning_tokens=1500, answer_tokens=500, seed=99)
    ending = tokenize(f"\n\nDone {STREAM_MARKER}.\n", random.Random(0))
    backend.enqueue([" " + FIRST_MARKER] + shape.reasoning, shape.answer + ending)

    started = perf()
    store = ConversationStore(db if db is not None else tmp / "data" / "conversations.sqlite3")
    app = thinkpane_app(backend, conversation_id=conversation_id, store=store)
    frames = FrameProbe(app)
    if conversation_id is not None:
        frames.watch(LAST_MARKER)
    lag = LagProbe()
    result: dict = {"scenario": "conversation" if conversation_id is not None else "empty"}
    async with app.run_test(size=SIZE) as pilot:
        if conversation_id is not None:
            shown = await frames.wait_for(LAST_MARKER, 60.0)
        else:
            await wait_until(lambda: bool(frames.frames), 60.0)
            shown = frames.frames[0] if frames.frames else None
        result["interactive_s"] = round(shown - started, 3) if shown else None
        # A key press echoed: from sending it to the frame that shows it.
        before = perf()
        await pilot.press("x")
        await wait_until(lambda: app.chat.prompt.text == "x", 10.0, step=0.001)
        echo = next((f for f in frames.frames if f > before), None) or (
            await frames.settle(quiet=0.05) and frames.frames[-1])
        result["first_key_echo_ms"] = round((echo - before) * 1000, 1) if echo else None
        await frames.settle(quiet=0.3)
        gc.collect()
        result["rss_mb"] = round(rss_mb(), 1)
        result["rss_peak_mb"] = round(vm_hwm_mb(), 1)
        result["rss_at_start_mb"] = round(rss_before, 1)
        result["widgets"] = len(list(app.screen.walk_children()))
        await pilot.press("ctrl+a", "delete")  # leave an empty prompt behind

        # Scrolling: PageUp x30 with the transcript focused, then End.
        app.chat.transcript.focus()
        await pilot.pause()
        lag.start()
        lag.record(True)
        key_frames: list[float] = []
        scroll_cpu = cpu_s()
        for key in ["pageup"] * 30 + ["end"]:
            pressed = perf()
            await pilot.press(key)
            await frames.settle(quiet=0.03, timeout=5)
            after = [f for f in frames.frames if f > pressed]
            if after:
                key_frames.append(after[0] - pressed)
        result["scroll_cpu_s"] = round(cpu_s() - scroll_cpu, 2)
        result["scroll_lag_ms"] = percentiles(lag.samples)
        result["scroll_key_to_frame_ms"] = percentiles(key_frames)
        lag.samples.clear()

        # A new answer streams at the end of the conversation.
        app.chat.prompt.focus()
        await frames.settle(quiet=0.2)
        frames.watch(FIRST_MARKER, after=perf())
        frames.watch(STREAM_MARKER, after=perf())
        stream_cpu = cpu_s()
        await start_thinkpane_turn(app, "One more question")
        first = await frames.wait_for(FIRST_MARKER, 30.0)
        await wait_until(lambda: thinkpane_finished(app) and backend.finished_at is not None, 300.0, step=0.02)
        await frames.wait_for(STREAM_MARKER, 10.0)
        settled = await frames.settle(quiet=0.5)
        lag.record(False)
        lag.stop()
        yields = backend.yield_times
        result["stream_cpu_s"] = round(cpu_s() - stream_cpu, 2)
        result["stream_lag_ms"] = percentiles(lag.samples)
        result["stream_ttft_ms"] = round((first - yields[0]) * 1000, 1) if first and yields else None
        result["stream_final_frame_ms"] = round((settled - yields[-1]) * 1000, 1) if settled and yields else None
        result["stream_tokens"] = len(yields)
    store.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--branched-turns", type=int, default=2000)
    parser.add_argument("--child", choices=["conversation", "empty"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--conversation-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        db = Path(args.db) if args.db else None
        cid = args.conversation_id if args.child == "conversation" else None
        print(json.dumps(asyncio.run(run_scenario(db, cid))))
        return 0

    script = Path(__file__)
    with tempfile.TemporaryDirectory(prefix="thinkpane-long-store-") as name:
        stores = {"long": build_store(Path(name) / "long.sqlite3", args.turns)}
        if args.branched_turns:
            stores["branched"] = build_store(Path(name) / "branched.sqlite3", args.branched_turns, branched=True)
        for label, built in stores.items():
            print(f"... built {label}: {built['turns']} turns, {built['messages']} messages "
                  f"({built['text_mb']} MB of text) in {built['build_s']} s", file=sys.stderr, flush=True)
        empty = run_child(script, ["--child", "empty"])
        runs = {label: run_child(script, ["--child", "conversation", "--db", str(Path(name) / f"{label}.sqlite3"),
                                          "--conversation-id", str(built["conversation_id"])])
                for label, built in stores.items()}

    targets = {"long": TARGETS, "branched": BRANCHED_TARGETS}
    measures = [
        ("time to interactive (s)", "interactive_s", None, "interactive_s"),
        ("first key echo (ms)", "first_key_echo_ms", None, None),
        ("RSS once interactive (MB)", "rss_mb", None, "rss_mb"),
        ("RSS peak (MB)", "rss_peak_mb", None, None),
        ("widgets on the screen", "widgets", None, None),
        ("scroll: timer lag p99 (ms)", "scroll_lag_ms", "p99", "scroll_lag_p99_ms"),
        ("scroll: key -> frame p95 (ms)", "scroll_key_to_frame_ms", "p95", None),
        ("scroll: CPU s", "scroll_cpu_s", None, None),
        ("new stream: timer lag p99 (ms)", "stream_lag_ms", "p99", "stream_lag_p99_ms"),
        ("new stream: first token (ms)", "stream_ttft_ms", None, None),
        ("new stream: final frame (ms)", "stream_final_frame_ms", None, None),
        ("new stream: CPU s", "stream_cpu_s", None, None),
    ]

    def value(result: dict, key: str, sub: str | None):
        found = result.get(key)
        return (found or {}).get(sub) if sub else found

    verdicts: dict[str, str] = {}
    rows = []
    for label, key, sub, target_key in measures:
        row: list[object] = [label]
        for run_label in runs:
            measured = value(runs[run_label], key, sub)
            target = targets[run_label].get(target_key) if target_key else None
            row.append(measured)
            if target is not None:
                verdict = "PASS" if measured is not None and measured <= target else "MISS"
                verdicts[f"{run_label}: {label}"] = verdict
                row.append(f"{target} {verdict}")
            else:
                row.append("-")
        row.append(value(empty, key, sub))
        rows.append(row)
    columns = ["measure"]
    for built in stores.values():
        columns += [f"{built['turns']} turns" + (" (tree)" if built["branched"] else ""), "target"]
    columns.append("empty")
    print_table("Long conversations with reasoning vs an empty chat", columns, rows)
    print(json.dumps({"bench": "long_conversation", "stores": stores, "runs": runs, "empty": empty,
                      "targets": targets, "verdicts": verdicts}))
    return 0 if all(v == "PASS" for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
