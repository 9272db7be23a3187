"""Starting and stopping a real ``thinkpane serve`` process for the serve tests.

The server runs as the installed console script would run it (the CLI entry point's
``main()`` under this interpreter), in a process of its own, on a free loopback port
(``--port 0``); :func:`start_serve` returns once it has announced the address it is bound to.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ANNOUNCE = re.compile(r"Serving Thinkpane on (http://[^\s,:]+:\d+)[:,] ")
NO_TEXTUAL_SERVE = "needs textual-serve (pip install 'thinkpane[serve]')"


def textual_serve_installed() -> bool:
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    output: list[str] = field(default_factory=list)  # stdout and stderr, once stopped
    stopped: bool = False

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> str:
        """SIGTERM, wait, and return everything the server printed (stdout + stderr)."""
        if self.stopped:
            return "".join(self.output)
        self.stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        self.output.append(out + err)
        return "".join(self.output)


def serve_env(**extra: str) -> dict[str, str]:
    """This test's environment (conftest's private config and data dirs) for the server."""
    env = dict(os.environ)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    for var in ("PYTEST_CURRENT_TEST", "COLUMNS", "LINES", "TEXTUAL_DRIVER"):
        env.pop(var, None)
    env.update(extra)
    return env


def start_serve(*args: str, env: dict[str, str], cwd: Path, timeout: float = 30.0) -> Served:
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from thinkpane.tui.cli.main import main; sys.exit(main())",
         "serve", "--port", "0", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            seen += line
            if match := ANNOUNCE.search(line):
                return Served(process, match.group(1), [seen])
            if not line and process.poll() is not None:
                break
    process.kill()
    out, err = process.communicate()
    raise AssertionError(f"thinkpane serve did not start:\n{seen}{out}{err}")
