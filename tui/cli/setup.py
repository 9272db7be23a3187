"""``thinkpane setup`` and ``thinkpane teardown``: the setup flow's events as text lines.

The steps themselves are the setup screen's (:mod:`thinkpane.tui.core.setup_flow`), so both
show the same steps, messages and warnings. This module only asks for confirmation, prints
the events and saves the config.

One line per finished step (``✓ step  message  (1.2 s)``, ``✗ step  message`` followed by
the server's message, whole (the setup screen cuts it and points here), and
``  hint: ...``). On a terminal the line of a running step is redrawn in place as its
progress events arrive; in a pipe or a log only start lines, finished steps and an
occasional progress line are printed, so the output stays readable and diffable. Unusable
options (the flow's ``options`` step) are printed like any other CLI error,
``Error: <title>`` on stderr.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, TextIO

from thinkpane.backends.events import ProgressEvent
from thinkpane.tui.core import setup_flow
from thinkpane.tui.core.error_text import shown_detail
from thinkpane.tui.core.sanitize import sanitize

SYMBOLS = {"ok": "✓", "fail": "✗", "warn": "!", "skip": "–", "info": "·", "start": "…", "progress": "…"}
ASCII_SYMBOLS = {"ok": "OK", "fail": "FAIL", "warn": "WARN", "skip": "SKIP", "info": "-", "start": "..", "progress": ".."}

# In a pipe, a step's progress lines are printed at most this often.
PLAIN_PROGRESS_INTERVAL_S = 2.0


class ProgressPrinter:
    """Writes ProgressEvents to ``out`` (unusable options to ``err``); remembers whether any step failed."""

    def __init__(
        self, out: TextIO, *, err: TextIO | None = None, tty: bool | None = None, clock=time.monotonic,
        width: int | None = None,
    ) -> None:
        import shutil

        self.out = out
        self.err = err
        self.tty = out.isatty() if tty is None else tty
        self.width = width or shutil.get_terminal_size().columns
        self.clock = clock
        self.failed = False
        self.failures: list[ProgressEvent] = []
        self._live_line = False  # a step's line is on screen without its newline yet
        self._last_plain_progress: dict[str, float] = {}
        self._symbols = SYMBOLS if can_encode(out, "✓✗–…·") else ASCII_SYMBOLS

    def show(self, event: ProgressEvent) -> None:
        if event.status == "fail":
            self.failed = True
            self.failures.append(event)
            if event.step == setup_flow.OPTIONS_STEP and self.err is not None:
                self._print_error(event)
                return
        line = self._format(event)
        if event.status in ("start", "progress"):
            if self.tty:
                self._redraw(line)
            elif event.status == "start" or self._plain_progress_due(event.step):
                self._print(line)
            return
        self._print(line)
        if event.status in ("fail", "warn"):
            detail = shown_detail(str(event.data.get("detail") or "") if event.data else "")
            if detail:
                self._print("  " + detail.replace("\n", "\n  "))
            if event.hint:
                self._print("  hint: " + sanitize(event.hint))

    async def show_all(self, events: AsyncIterator[ProgressEvent], secrets: Sequence[str] = ()) -> bool:
        """Print every event, ``secrets`` masked, a crash as a failed line; True when no step failed."""
        try:
            return await setup_flow.report(events, self.show, secrets)
        finally:
            self.end_live_line()

    @property
    def explained(self) -> bool:
        """The first failure was unusable options, already printed as ``Error: ...``."""
        return bool(self.failures) and self.failures[0].step == setup_flow.OPTIONS_STEP and self.err is not None

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

    def _print_error(self, event: ProgressEvent) -> None:
        from thinkpane.backends.errors import ConfigurationError
        from thinkpane.tui.cli.ask import print_error

        assert self.err is not None
        self.end_live_line()
        detail = str(event.data.get("detail") or "") if event.data else ""
        print_error(ConfigurationError(event.message, event.hint, detail=detail), self.err)

    def end_live_line(self) -> None:
        if self._live_line:
            self.out.write("\n")
            self.out.flush()
            self._live_line = False


def can_encode(out: TextIO, text: str) -> bool:
    encoding = getattr(out, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# --------------------------------------------------------------------------- commands


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
    """``thinkpane setup NAME``: the setup screen's run (provision if needed, then a test); then save config.

    Saved: the options given as flags (secrets only with ``keep_secrets``) and what the
    provisioner reports (e.g. the model id); NAME becomes the default backend. With
    ``keep_secrets``, a secret read from its environment variable (``DEEPSEEK_API_KEY``...)
    is saved too, and the output says so. Nothing is saved when a step fails. Returns the
    exit code.
    """
    import asyncio

    from thinkpane.tui.core.config import backend_options, load_settings, save_settings

    settings = load_settings()
    given = backend_options(settings, name, overrides, check=True)
    if backend_class.NEEDS_PROVISIONING and not assume_yes and not _confirm(
        f"This creates resources for {backend_class.label} (`thinkpane teardown {name}` "
        "removes them). Continue?", err, confirm,
    ):
        err.write("Nothing was changed. Add --yes to skip this question.\n")
        return 2
    saved: dict[str, Any] = {}
    events = setup_flow.setup_events(backend_class, given, state_path=setup_flow.state_path_for(name), saved=saved)
    printer = ProgressPrinter(out, err=err)
    if not asyncio.run(printer.show_all(events, setup_flow.given_secrets(given))):
        _explain_failure(printer, err, f"thinkpane setup {name}")
        return 1
    stored = dict(settings.backends.get(name, {}))
    stored.update({k: v for k, v in {**overrides, **saved}.items() if v is not None})
    from_env = _secrets_from_env(backend_class, overrides, given) if keep_secrets else {}
    stored.update({option_name: value for option_name, (_, value) in from_env.items()})
    settings.backends[name] = stored
    settings.backend = name
    path = save_settings(settings, keep_secrets=keep_secrets)
    out.write(f"Saved to {path}; `thinkpane` now uses {name}.\n")
    for option_name, (var, _) in from_env.items():
        label = next(o.label for o in backend_class.options if o.name == option_name)
        out.write(f"Saved {label} from ${var} in the config file (--keep-secrets).\n")
    for option in backend_class.options:
        if option.is_secret and option.name in overrides and not keep_secrets:
            where = " or ".join(option.env) if option.env else option.flag
            out.write(
                f"Not saved: {option.label} (add --keep-secrets to keep it in the config file, "
                f"or set {where} in your environment).\n"
            )
    return 0


def _secrets_from_env(backend_class, overrides: dict[str, Any], options: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Secret option -> (its environment variable, the value) for each secret the setup used
    from that variable (in the environment or .env) rather than from a flag."""
    from thinkpane.backends.options import resolve_options
    from thinkpane.tui.core.config import env_file_values

    used = resolve_options(backend_class.options, options, os.environ)
    env_file = env_file_values()
    found = {}
    for option in backend_class.options:
        value = used.get(option.name)
        if not option.is_secret or option.name in overrides or not value:
            continue
        var = next((v for v in option.env if (os.environ.get(v) or env_file.get(v)) == value.get()), None)
        if var is not None:
            found[option.name] = (var, value)
    return found


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
    """``thinkpane teardown NAME``: the setup screen's teardown. 0 when nothing is left.

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
    given = backend_options(settings, name, overrides)
    created: dict[str, Any] = {}
    events = setup_flow.teardown_events(backend_class, given, state_path=setup_flow.state_path_for(name),
                                        created=created)
    printer = ProgressPrinter(out, err=err)
    if not asyncio.run(printer.show_all(events, setup_flow.given_secrets(given))):
        _explain_failure(printer, err, f"thinkpane teardown {name}")
        return 1
    stored = settings.backends.get(name, {})
    removed = sorted(key for key in created if key in stored)
    if removed:
        settings.backends[name] = {k: v for k, v in stored.items() if k not in removed}
        save_settings(settings)
        out.write(f"Removed {', '.join(removed)} from the {name} settings in the config file.\n")
    return 0


def _explain_failure(printer: ProgressPrinter, err: TextIO, command: str) -> None:
    if printer.explained:
        return
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
