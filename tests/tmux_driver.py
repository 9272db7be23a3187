"""Drive a real program in a real terminal: a private tmux server, keys in, screen text out.

Used by the end-to-end terminal tests: what they check is what a user would see in
xterm — the installed ``thinkpane`` script, a real pty, real escape sequences.

Each :class:`TmuxTerminal` runs its own tmux server (``-L <unique socket>``, ``-f
/dev/null``: no user config), so tests never touch the user's tmux and can run in
parallel. ``remain-on-exit`` keeps a pane after its program exits, so a test can read the
exit status and the terminal modes the program left behind (alternate screen, mouse
tracking, cursor visibility).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

POLL_INTERVAL_S = 0.05


class TmuxError(AssertionError):
    """A wait timed out or tmux failed; carries the last screen so the failure explains itself."""


def process_state(pid: str) -> str:
    """"state=S (sleeping) threads=3 ..." from /proc, to explain a program that will not exit."""
    proc = Path("/proc") / pid
    try:
        status = (proc / "status").read_text(encoding="ascii")
        tasks = list((proc / "task").iterdir())
        wchans = {(task / "wchan").read_text() for task in tasks}
    except OSError:
        return "(process gone)"
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    parent = fields.get("PPid", "?").strip()
    try:
        parent_cmd = (Path("/proc") / parent / "cmdline").read_bytes().replace(b"\0", b" ")[:80].decode()
    except OSError:
        parent_cmd = "?"
    return (f"state={fields.get('State', '?').strip()} threads={len(tasks)} waiting in {sorted(wchans)} "
            f"parent={parent} ({parent_cmd})")


def tmux_version() -> tuple[int, int] | None:
    """(major, minor) of the tmux on PATH, or None when there is none."""
    if shutil.which("tmux") is None:
        return None
    output = subprocess.run(["tmux", "-V"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"(\d+)\.(\d+)", output)
    return (int(match.group(1)), int(match.group(2))) if match else None


def tmux_available() -> bool:
    """tmux 3.2 or newer (``new-session -e`` sets the program's environment)."""
    version = tmux_version()
    return version is not None and version >= (3, 2)


class TmuxTerminal:
    def __init__(self, *, width: int = 120, height: int = 40, name: str = "thinkpane") -> None:
        self.width = width
        self.height = height
        self.socket = f"{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.target = f"{self.socket}:0.0"
        self.started = False
        self._env: dict[str, str] = {}
        self._workdir = Path(tempfile.mkdtemp(prefix="tmux-driver-"))
        self._runs = 0

    # ------------------------------------------------------------------ plumbing

    def tmux(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            env=self._env or None,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if check and result.returncode != 0:
            raise TmuxError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def fmt(self, format_string: str) -> str:
        """A tmux format evaluated for the pane, e.g. ``#{pane_dead}``."""
        return self.tmux("display-message", "-p", "-t", self.target, format_string).rstrip("\n")

    # ------------------------------------------------------------------ lifecycle

    def _wrapped(self, command: Sequence[str]) -> list[str]:
        """``command`` under a tiny shell that writes its exit status to a file.

        tmux records a pane's exit status itself (``#{pane_dead_status}``), but tmux 3.3
        sometimes misses the SIGCHLD of a program that exits right as its pty closes and
        leaves it a zombie with no status; the file does not depend on that.
        """
        self._runs += 1
        self.status_file = self._workdir / f"exit-{self._runs}"
        self.output_file = self._workdir / f"output-{self._runs}"
        script = 'status_file=$1; shift; "$@"; code=$?; echo "$code" > "$status_file"; exit "$code"'
        return ["/bin/sh", "-c", script, "sh", str(self.status_file), *command]

    def _session_env(self) -> list[str]:
        flags: list[str] = []
        for key, value in self._env.items():
            flags += ["-e", f"{key}={value}"]
        return flags

    def _record_output(self) -> None:
        # Everything the program writes, byte for byte: the tests read the escape sequences
        # it leaves the terminal with (cursor shown, mouse and paste modes off).
        self.tmux("pipe-pane", "-t", self.target, f"cat >> '{self.output_file}'")

    def start(self, command: Sequence[str], env: Mapping[str, str], *, cwd: str | None = None) -> None:
        """Start ``command`` (argv, no shell) in a fresh server with exactly ``env`` (+ TERM)."""
        env = {key: value for key, value in env.items() if not key.startswith("TMUX")}
        env["TERM"] = "xterm-256color"
        self._env = env
        # Options first (they must hold when the pane spawns), then the session, one command.
        self.tmux(
            "set-option", "-g", "default-terminal", "xterm-256color", ";",
            "set-option", "-g", "remain-on-exit", "on", ";",
            "set-option", "-g", "history-limit", "0", ";",
            "new-session", "-d", "-s", self.socket, "-x", str(self.width), "-y", str(self.height),
            *(["-c", cwd] if cwd else []), *self._session_env(), "--", *self._wrapped(command),
        )
        self.started = True
        self._record_output()

    def respawn(self, command: Sequence[str], *, cwd: str | None = None) -> None:
        """Run ``command`` in the same (dead) pane, with the same environment."""
        self.tmux("respawn-pane", "-k", "-t", self.target, *(["-c", cwd] if cwd else []),
                  *self._session_env(), "--", *self._wrapped(command))
        self._record_output()

    def close(self) -> None:
        if self.started:
            self.tmux("kill-server", check=False)
            self.started = False
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> TmuxTerminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ input

    def send(self, text: str) -> None:
        """Type ``text`` literally (no key-name lookup)."""
        self.tmux("send-keys", "-t", self.target, "-l", "--", text)

    def keys(self, *keys: str) -> None:
        """Press keys by tmux name: ``Enter``, ``Escape``, ``Tab``, ``C-q``, ``Down``..."""
        self.tmux("send-keys", "-t", self.target, *keys)

    def click(self, column: int, row: int) -> None:
        """A left click at a 0-based cell, as an xterm SGR mouse report (mode 1006)."""
        x, y = column + 1, row + 1
        self.send(f"\x1b[<0;{x};{y}M\x1b[<0;{x};{y}m")

    def click_text(self, text: str) -> None:
        """Click the middle of the first place ``text`` is on screen."""
        for row, line in enumerate(self.lines()):
            if text in line:
                self.click(line.index(text) + len(text) // 2, row)
                return
        raise TmuxError(f"{text!r} is not on screen:\n{self.screen()}")

    # ------------------------------------------------------------------ output

    def screen(self) -> str:
        """The visible screen as text (no colours), one line per row."""
        return self.tmux("capture-pane", "-p", "-t", self.target)

    def lines(self) -> list[str]:
        return self.screen().split("\n")

    def cursor(self) -> tuple[int, int]:
        """(column, row) of the terminal cursor; Textual parks it in the focused Input."""
        x, y = self.fmt("#{cursor_x} #{cursor_y}").split()
        return int(x), int(y)

    def wait_for(
        self,
        condition: str | Callable[[str], object],
        *,
        timeout: float = 20.0,
        what: str | None = None,
    ) -> str:
        """Poll the screen until ``condition`` (text on screen, or predicate(screen)) holds.

        Returns the screen that satisfied it; raises TmuxError with the last screen on timeout.
        """
        if isinstance(condition, str):
            needle = condition
            predicate: Callable[[str], object] = lambda screen: needle in screen
            what = what or repr(needle)
        else:
            predicate = condition
            what = what or getattr(condition, "__name__", "condition")
        deadline = time.monotonic() + timeout
        screen = ""
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if self.pane_dead():
                # One more look: the program may have drawn its last frame and exited.
                screen = self.screen()
                if predicate(screen):
                    return screen
                raise TmuxError(
                    f"the program exited (status {self.exit_status()}) while waiting for {what}; "
                    f"last screen:\n{screen}"
                )
            if time.monotonic() > deadline:
                raise TmuxError(f"timed out after {timeout:.0f} s waiting for {what}; last screen:\n{screen}")
            time.sleep(POLL_INTERVAL_S)

    def wait_until(self, predicate: Callable[[], object], *, timeout: float = 20.0, what: str = "condition") -> None:
        """Poll any predicate (cursor position, tmux formats) with the same deadline rules."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TmuxError(f"timed out after {timeout:.0f} s waiting for {what}; last screen:\n{self.screen()}")
            time.sleep(POLL_INTERVAL_S)

    # ------------------------------------------------------------------ the program's end

    def pane_dead(self) -> bool:
        return self.fmt("#{pane_dead}") == "1"

    def exit_status(self) -> int | None:
        """The program's exit status once it has exited (None while it runs)."""
        try:
            text = self.status_file.read_text().strip()
        except (OSError, AttributeError):
            return None
        return int(text) if text else None

    def wait_exit(self, *, timeout: float = 15.0) -> int:
        """Wait until the program has exited and its pane is dead; its exit status."""
        try:
            self.wait_until(lambda: self.exit_status() is not None and self.pane_dead(),
                            timeout=timeout, what="the program to exit")
        except TmuxError as error:
            state = self.fmt("pane_dead=#{pane_dead} pid=#{pane_pid}")
            raise TmuxError(f"{error}\n({state} {process_state(self.fmt('#{pane_pid}'))})") from None
        status = self.exit_status()
        assert status is not None
        return status

    def output(self) -> bytes:
        """Every byte the current program has written to the terminal so far."""
        try:
            return self.output_file.read_bytes()
        except OSError:
            return b""

    def last_mode_setting(self, mode: int) -> str | None:
        """"h" or "l": how the program last set DEC private mode ``mode`` (None: never)."""
        data = self.output()
        set_at = data.rfind(f"\x1b[?{mode}h".encode())
        reset_at = data.rfind(f"\x1b[?{mode}l".encode())
        if set_at < 0 and reset_at < 0:
            return None
        return "h" if set_at > reset_at else "l"
