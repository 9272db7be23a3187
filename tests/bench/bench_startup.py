"""Startup: the installed ``thinkpane`` to its first frame, and ``thinkpane ask --help``.

Run: ``python tests/bench/bench_startup.py`` (about 30 s). Prints tables and one JSON line.

* First frame: ``thinkpane`` is spawned on a pseudo-terminal (120x40, TERM=xterm-256color)
  with a saved config (backend ``openai`` at 127.0.0.1) in a temp THINKPANE_CONFIG_DIR /
  THINKPANE_DATA_DIR. The clock runs from just before the spawn to the moment the pty
  delivers the first frame's text (the "Reasoning" pane header); then Ctrl+Q quits it.
  Baseline in the same run, started the same way: a bare ``textual.app.App`` with one
  ``Static("Reasoning")``. Runs alternate between the two; medians are reported, and their
  ratio is the check (``first_frame_ratio``, at most 1.5).
* ``ask --help``: wall time of the installed ``thinkpane ask --help`` vs ``python -c pass``.
* Lazy SDKs: the app is started through a wrapper that, at exit, records which of boto3,
  opensearchpy, llama_cpp (and the openai backend's httpx) were imported; the app runs
  1.5 s after its first frame so the backend worker has built the configured backend.
* ``python -X importtime``: the top 10 offenders of the TUI launch (read off the pty, since
  Textual and importtime share stderr) and of ``ask --help``, by package and by import.
  The launch's imports are also cut at the first frame (the first "Reasoning" on the pty):
  those before it are what the first frame waited for, and none of ``LATER_PACKAGES`` (what
  the first frame does not need: settings validation, Markdown, syntax highlighting, SDKs)
  may be among them (``later_before_first_frame``).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections import defaultdict
from pathlib import Path

from harness import bench_env, median, print_table

TARGETS = {"first_frame_s": 0.6, "first_frame_ratio": 1.5, "ask_help_s": 0.3}
FIRST_FRAME_TEXT = b"Reasoning"
SDKS = ("boto3", "botocore", "opensearchpy", "llama_cpp", "httpx", "openai")
# Imported after the first frame, never before it (top-level package names; "pygments.lexers."
# is any one lexer module, while Pygments' lexer table alone is Rich's, imported by Textual).
LATER_PACKAGES = ("pydantic", "pydantic_core", "pydantic_settings", "markdown_it", "rich.markdown",
                  "rich.syntax", "pygments.lexers.", "dotenv", "tomli_w", *SDKS)
BIN = Path(sys.executable).parent
CONFIG = """\
backend = "openai"

[backends.openai]
base_url = "http://127.0.0.1:9/v1"
model = "deepseek-reasoner"
"""
BARE_APP = """\
from textual.app import App
from textual.widgets import Static


class Bare(App):
    def compose(self):
        yield Static("Reasoning")


Bare().run()
"""
WRAPPER = f"""\
import atexit, json, os, sys

def _record():
    with open(os.environ["BENCH_MODULES_OUT"], "w") as out:
        json.dump(sorted(m for m in sys.modules if m.split(".")[0] in {SDKS!r}), out)

atexit.register(_record)
from thinkpane.tui.cli.main import main
sys.exit(main([]))
"""


def thinkpane_command() -> list[str]:
    found = BIN / "thinkpane"
    if not found.exists():
        found = Path(shutil.which("thinkpane") or "thinkpane")
    return [str(found)]


# --------------------------------------------------------------------------- pty runs


def child_env(env: dict[str, str]) -> dict[str, str]:
    """This environment plus ``env``, bytecode caching on (see first_frames)."""
    full = {**os.environ, **env}
    full.pop("PYTHONDONTWRITEBYTECODE", None)
    return full


def run_on_pty(argv: list[str], env: dict[str, str], *, linger: float = 0.0,
               timeout: float = 20.0) -> tuple[float | None, bytes, int | None]:
    """Spawn ``argv`` on a pty; seconds to the first frame, everything it wrote, exit code."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    full_env = child_env({**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
    full_env.pop("TEXTUAL", None)
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=full_env,
                               start_new_session=True, close_fds=True)
    os.close(slave)
    output = bytearray()
    first_frame: float | None = None
    quit_at: float | None = None
    deadline = started + timeout
    try:
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.02)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break  # the child closed the pty
                if not chunk:
                    break
                output += chunk
                if first_frame is None and FIRST_FRAME_TEXT in output:
                    first_frame = time.perf_counter() - started
                    quit_at = time.perf_counter() + linger
            if quit_at is not None and time.perf_counter() >= quit_at:
                os.write(master, b"\x11")  # Ctrl+Q
                quit_at = time.perf_counter() + 2.0  # ask again if it did not hear
            if process.poll() is not None:
                break
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code = process.wait()
    finally:
        os.close(master)
    return first_frame, bytes(output), code


def first_frames(tmp: Path, env: dict[str, str], runs: int) -> dict:
    bare = tmp / "bare_app.py"
    bare.write_text(BARE_APP)
    # Untimed, once each: Python writes the bytecode an installed copy has (the children run
    # without PYTHONDONTWRITEBYTECODE; with it, every launch compiled Thinkpane's modules anew,
    # ~100 ms the bare app, all of whose modules come compiled, never paid).
    run_on_pty(thinkpane_command(), env)
    run_on_pty([sys.executable, str(bare)], env)
    thinkpane, baseline, failures = [], [], []
    for _ in range(runs):
        seconds, output, _ = run_on_pty(thinkpane_command(), env)
        if seconds is None:
            failures.append(output[-600:].decode(errors="replace"))
        else:
            thinkpane.append(seconds)
        seconds, _, _ = run_on_pty([sys.executable, str(bare)], env)
        if seconds is not None:
            baseline.append(seconds)
    return {"thinkpane_s": [round(s, 3) for s in thinkpane], "bare_app_s": [round(s, 3) for s in baseline],
            "thinkpane_median_s": round(median(thinkpane), 3), "bare_app_median_s": round(median(baseline), 3),
            "failures": failures[:1]}


def sdk_imports(tmp: Path, env: dict[str, str]) -> dict:
    """Which SDKs the running TUI imported, with the saved openai config."""
    wrapper = tmp / "wrapper.py"
    wrapper.write_text(WRAPPER)
    out = tmp / "modules.json"
    _, _, code = run_on_pty([sys.executable, str(wrapper)], {**env, "BENCH_MODULES_OUT": str(out)},
                                  linger=1.5)
    modules = json.loads(out.read_text()) if out.exists() else None
    if modules is None:
        return {"error": f"the wrapper wrote no module list (exit {code})"}
    top = {name.split(".")[0] for name in modules}
    return {sdk: sdk in top for sdk in SDKS}


# --------------------------------------------------------------------------- --help


def timed_runs(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=child_env(env), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        samples.append(time.perf_counter() - started)
    return samples


# --------------------------------------------------------------------------- importtime

_IMPORT_LINE = re.compile(rb"import time:\s+(\d+) \|\s+(\d+) \| ( *)([\w.]+)")


def parse_importtime(raw: bytes) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) for every import time line in ``raw``."""
    return [(int(m[1]), int(m[2]), len(m[3]) // 2, m[4].decode())
            for m in _IMPORT_LINE.finditer(raw)]


def offenders(rows: list[tuple[int, int, int, str]], n: int = 10) -> dict:
    by_package: dict[str, int] = defaultdict(int)
    for self_us, _, _, module in rows:
        by_package[module.split(".")[0]] += self_us
    packages = sorted(by_package.items(), key=lambda kv: -kv[1])[:n]
    top_level = sorted((r for r in rows if r[2] == 0), key=lambda r: -r[1])[:n]
    return {
        "total_ms": round(sum(r[0] for r in rows) / 1000, 1),
        "modules": len(rows),
        "by_package_ms": [[name, round(us / 1000, 1)] for name, us in packages],
        "top_level_cumulative_ms": [[r[3], round(r[1] / 1000, 1)] for r in top_level],
        "sdks_imported": sorted({r[3].split(".")[0] for r in rows} & set(SDKS)),
    }


def importtime_launch(env: dict[str, str]) -> tuple[dict, dict]:
    """Import times of a real TUI launch, up to 1.5 s after its first frame; and of the imports
    before the first frame only, with those of LATER_PACKAGES among them."""
    _, output, _ = run_on_pty(thinkpane_command(), {**env, "PYTHONPROFILEIMPORTTIME": "1"}, linger=1.5)
    cut = output.find(FIRST_FRAME_TEXT)
    before = parse_importtime(output[:cut] if cut >= 0 else b"")
    early = offenders(before)
    early["later_before_first_frame"] = sorted(
        {row[3] for row in before
         if any(row[3] == name or row[3].startswith(name if name.endswith(".") else name + ".")
                for name in LATER_PACKAGES)})
    return offenders(parse_importtime(output)), early


def importtime_ask_help(env: dict[str, str]) -> dict:
    completed = subprocess.run(thinkpane_command() + ["ask", "--help"],
                               env=child_env({**env, "PYTHONPROFILEIMPORTTIME": "1"}),
                               capture_output=True, check=False)
    return offenders(parse_importtime(completed.stderr))


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="thinkpane-startup-") as name:
        tmp = Path(name)
        env = bench_env(tmp)
        (tmp / "config").mkdir()
        (tmp / "data").mkdir()
        Path(env["THINKPANE_CONFIG"]).write_text(CONFIG)
        os.chmod(env["THINKPANE_CONFIG"], 0o600)

        frames = first_frames(tmp, env, args.runs)
        help_runs = timed_runs(thinkpane_command() + ["ask", "--help"], env, args.runs * 2)
        pass_runs = timed_runs([sys.executable, "-c", "pass"], env, args.runs * 2)
        sdks = sdk_imports(tmp, env)
        launch_imports, first_frame_imports = importtime_launch(env)
        help_imports = importtime_ask_help(env)

    ask_help_s = round(median(help_runs), 3)
    python_s = round(median(pass_runs), 3)
    first = frames["thinkpane_median_s"]
    bare = frames["bare_app_median_s"]
    ratio = round(first / bare, 2) if bare and not math.isnan(bare) else float("nan")
    checks = {"first_frame_s": first, "first_frame_ratio": ratio, "ask_help_s": ask_help_s}
    lazy_ok = isinstance(sdks, dict) and not any(sdks.get(s) for s in ("boto3", "opensearchpy", "llama_cpp"))
    verdicts = {k: ("PASS" if not math.isnan(v) and v <= TARGETS[k] else "MISS") for k, v in checks.items()}
    verdicts["lazy_sdks"] = "PASS" if lazy_ok else "MISS"
    verdicts["nothing_later_before_first_frame"] = (
        "PASS" if not first_frame_imports["later_before_first_frame"] else "MISS")

    print_table("Startup (median seconds)", ["what", "thinkpane", "baseline", "baseline is", "ratio", "target", "verdict"], [
        ["first frame", first, bare, "bare Textual App", ratio,
         f"{TARGETS['first_frame_s']} s, {TARGETS['first_frame_ratio']}x",
         "PASS" if verdicts["first_frame_s"] == verdicts["first_frame_ratio"] == "PASS" else "MISS"],
        ["ask --help", ask_help_s, python_s, "python -c pass", round(ask_help_s / python_s, 2),
         TARGETS["ask_help_s"], verdicts["ask_help_s"]],
    ])
    print("SDK modules imported by the running TUI (openai backend configured):",
          ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in sdks.items()) if isinstance(sdks, dict) else sdks,
          f"-> {verdicts['lazy_sdks']}\n")
    print(f"Imported before the first frame: {first_frame_imports['modules']} modules; of the packages "
          f"it does not need: {', '.join(first_frame_imports['later_before_first_frame']) or 'none'} "
          f"-> {verdicts['nothing_later_before_first_frame']}\n")
    for label, data in (("TUI launch, up to 1.5 s after the first frame", launch_imports),
                        ("TUI launch, before the first frame", first_frame_imports),
                        ("ask --help", help_imports)):
        print(f"python -X importtime, {label}: {data['modules']} modules, {data['total_ms']} ms "
              f"(self times summed; importtime inflates them)")
        rows = [[i + 1, *a, *b] for i, (a, b) in enumerate(
            zip(data["by_package_ms"], data["top_level_cumulative_ms"]))]
        print_table("", ["#", "package", "self ms", "top-level import", "cumulative ms"], rows)
    if frames["failures"]:
        print("a thinkpane run showed no first frame; its last output:\n", frames["failures"][0])
    print(json.dumps({"bench": "startup", "first_frame": frames, "ask_help_s": help_runs and
                      [round(s, 3) for s in help_runs], "ask_help_median_s": ask_help_s,
                      "python_pass_median_s": python_s, "sdks_imported": sdks,
                      "importtime_launch": launch_imports, "importtime_first_frame": first_frame_imports,
                      "importtime_ask_help": help_imports,
                      "checks": checks, "targets": TARGETS, "verdicts": verdicts}))
    return 0 if all(v == "PASS" for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
