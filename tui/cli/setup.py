"""Provisioning progress as text lines, for ``thinkpane setup`` and ``thinkpane teardown``.

One line per finished step (``✓ step  message  (1.2 s)``, ``✗ step  message`` followed by
``  hint: ...``). On a terminal the line of a running step is redrawn in place as its
progress events arrive; in a pipe or a log only start lines, finished steps and an
occasional progress line are printed, so the output stays readable and diffable.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any, TextIO

from thinkpane.backends.events import ProgressEvent
from thinkpane.tui.core.sanitize import sanitize

SYMBOLS = {"ok": "✓", "fail": "✗", "warn": "!", "skip": "–", "info": "·", "start": "…", "progress": "…"}
ASCII_SYMBOLS = {"ok": "OK", "fail": "FAIL", "warn": "WARN", "skip": "SKIP", "info": "-", "start": "..", "progress": ".."}

# In a pipe, a step's progress lines are printed at most this often.
PLAIN_PROGRESS_INTERVAL_S = 2.0


class ProgressPrinter:
    """Writes ProgressEvents to ``out``; remembers whether any step failed."""

    def __init__(
        self, out: TextIO, *, tty: bool | None = None, clock=time.monotonic, width: int | None = None
    ) -> None:
        import shutil

        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.width = width or shutil.get_terminal_size().columns
        self.clock = clock
        self.failed = False
        self.failures: list[ProgressEvent] = []
        self._live_line = False  # a step's line is on screen without its newline yet
        self._last_plain_progress: dict[str, float] = {}
        self._symbols = SYMBOLS if _can_encode(out, "✓✗–…·") else ASCII_SYMBOLS

    def show(self, event: ProgressEvent) -> None:
        if event.status == "fail":
            self.failed = True
            self.failures.append(event)
        line = self._format(event)
        if event.status in ("start", "progress"):
            if self.tty:
                self._redraw(line)
            elif event.status == "start" or self._plain_progress_due(event.step):
                self._print(line)
            return
        self._print(line)
        if event.hint and event.status in ("fail", "warn"):
            self._print("  hint: " + sanitize(event.hint))

    async def show_all(self, events: AsyncIterator[ProgressEvent]) -> bool:
        """Print every event; True when no step failed."""
        try:
            async for event in events:
                self.show(event)
        finally:
            self.end_live_line()
        return not self.failed

    # ------------------------------------------------------------------ formatting

    def _format(self, event: ProgressEvent) -> str:
        symbol = self._symbols.get(event.status, "·")
        message = sanitize(event.message).replace("\n", " ").replace("\t", " ")
        line = f"{symbol} {event.step}  {message}"
        if self.tty and event.status in ("start", "progress"):
            # A redrawn line must fit on one screen row, or "erase line" leaves debris above.
            room = self.width - len(symbol) - len(event.step) - 4
            if len(message) > room:
                more = "…" if self._symbols is SYMBOLS else "."
                message = more + message[-(room - 1):] if room > 1 else ""
            line = f"{symbol} {event.step}  {message}"
        if event.duration_s is not None and event.status in ("ok", "fail", "warn", "skip"):
            line += f"  ({event.duration_s:.1f} s)"
        return line

    def _plain_progress_due(self, step: str) -> bool:
        now = self.clock()
        last = self._last_plain_progress.get(step)
        if last is not None and now - last < PLAIN_PROGRESS_INTERVAL_S:
            return False
        self._last_plain_progress[step] = now
        return True

    def _redraw(self, line: str) -> None:
        # \r + "erase line" keeps one line per running step on a terminal.
        self.out.write("\r\x1b[2K" + line)
        self.out.flush()
        self._live_line = True

    def _print(self, line: str) -> None:
        if self._live_line:
            self.out.write("\r\x1b[2K")
            self._live_line = False
        self.out.write(line + "\n")
        self.out.flush()

    def end_live_line(self) -> None:
        if self._live_line:
            self.out.write("\n")
            self.out.flush()
            self._live_line = False


def _can_encode(out: TextIO, text: str) -> bool:
    encoding = getattr(out, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# --------------------------------------------------------------------------- commands


def state_path_for(name: str):
    """Where a backend's provisioning state (created resource ids) is kept."""
    from thinkpane.tui.core import paths

    return paths.ensure_private_dir(paths.state_dir()) / f"{name}.json"


def run_setup(
    name: str,
    backend_class,
    overrides: dict[str, Any],
    *,
    keep_secrets: bool,
    assume_yes: bool,
    out: TextIO,
    err: TextIO,
    confirm=None,
) -> int:
    """``thinkpane setup NAME``: provision (which ends with a test) or test; then save config.

    Saved: the options given as flags (secrets only with ``keep_secrets``) and what the
    provisioner reports (e.g. the model id); NAME becomes the default backend. Nothing is
    saved when the test fails. Returns the exit code.
    """
    import asyncio

    from thinkpane.backends import registry
    from thinkpane.backends.base import probe
    from thinkpane.tui.core.config import backend_options, load_settings, save_settings

    settings = load_settings()
    options = backend_options(settings, name, overrides)
    saved: dict[str, Any] = {}
    printer = ProgressPrinter(out)
    if backend_class.NEEDS_PROVISIONING:
        if not assume_yes and not _confirm(
            f"This creates resources for {backend_class.label} (`thinkpane teardown {name}` "
            "removes them). Continue?", err, confirm,
        ):
            err.write("Nothing was changed. Add --yes to skip this question.\n")
            return 2
        provisioner = _provisioner(name, backend_class, options)
        ok = asyncio.run(printer.show_all(provisioner.provision()))
        saved = dict(provisioner.saved_settings()) if ok else {}
    else:
        backend = registry.create(name, options)  # a ConfigurationError is printed by main()

        async def test_and_close() -> bool:
            try:
                return await printer.show_all(probe(backend))
            finally:
                await backend.aclose()

        ok = asyncio.run(test_and_close())
    if not ok:
        _explain_failure(printer, err, f"thinkpane setup {name}")
        return 1
    stored = dict(settings.backends.get(name, {}))
    stored.update({k: v for k, v in {**overrides, **saved}.items() if v is not None})
    settings.backends[name] = stored
    settings.backend = name
    path = save_settings(settings, keep_secrets=keep_secrets)
    out.write(f"Saved to {path}; `thinkpane` now uses {name}.\n")
    for option in backend_class.options:
        if option.is_secret and option.name in overrides and not keep_secrets:
            where = " or ".join(option.env) if option.env else option.flag
            out.write(
                f"Not saved: {option.label} (add --keep-secrets to keep it in the config file, "
                f"or set {where} in your environment).\n"
            )
    return 0


def run_teardown(
    name: str,
    backend_class,
    overrides: dict[str, Any],
    *,
    assume_yes: bool,
    out: TextIO,
    err: TextIO,
    confirm=None,
) -> int:
    """``thinkpane teardown NAME``: delete what setup created. 0 when nothing is left.

    The settings setup saved for those resources (e.g. ``model_id``) leave the config too.
    """
    import asyncio

    from thinkpane.tui.core.config import backend_options, load_settings, save_settings

    if not backend_class.NEEDS_PROVISIONING:
        err.write(f"Error: {name} creates nothing on the provider side, so there is nothing to tear down.\n")
        return 2
    if not assume_yes and not _confirm(f"Delete the resources `thinkpane setup {name}` created?", err, confirm):
        err.write("Nothing was deleted. Add --yes to skip this question.\n")
        return 2
    settings = load_settings()
    provisioner = _provisioner(name, backend_class, backend_options(settings, name, overrides))
    created_keys = set(provisioner.saved_settings())
    printer = ProgressPrinter(out)
    if not asyncio.run(printer.show_all(provisioner.teardown())):
        _explain_failure(printer, err, f"thinkpane teardown {name}")
        return 1
    stored = settings.backends.get(name, {})
    removed = sorted(key for key in created_keys if key in stored)
    if removed:
        settings.backends[name] = {k: v for k, v in stored.items() if k not in removed}
        save_settings(settings)
        out.write(f"Removed {', '.join(removed)} from the {name} settings in the config file.\n")
    return 0


def _provisioner(name: str, backend_class, options: dict[str, Any]):
    from thinkpane.backends.options import resolve_options

    resolved = resolve_options(backend_class.options, options, os.environ)
    return backend_class.provisioner(resolved, state_path_for(name))


def _explain_failure(printer: ProgressPrinter, err: TextIO, command: str) -> None:
    if printer.failures:
        err.write(f"Failed at step {printer.failures[0].step!r}; fix the cause above and run `{command}` again.\n")
    else:
        err.write(f"Failed; run `{command}` again.\n")
    err.flush()


def _confirm(question: str, err: TextIO, confirm=None) -> bool:
    """Ask on the terminal; a non-interactive run must say --yes instead."""
    if confirm is not None:
        return bool(confirm(question))
    import sys

    if not sys.stdin or not sys.stdin.isatty():
        return False
    err.write(question + " [y/N] ")
    err.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")
