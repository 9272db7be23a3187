"""``thinkpane doctor [--backend NAME …] [--json]``: print what :mod:`thinkpane.tui.core.doctor` finds.

Text: per backend a heading, one line per check (the marks of ``thinkpane setup``), the detail
and the fix under a failed one, then whether the backend answered and its reasoning channel.
``--json``: one document, ``{"ok": …, "backends": [{"backend", "label", "model", "answered",
"reasoning_channel", "checks": [{"name", "status", "message", "hint", "detail"}]}]}``.
Exit code: 0 when every backend answered, 1 otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from thinkpane.tui.cli.setup import ASCII_SYMBOLS, SYMBOLS, can_encode
from thinkpane.tui.core.doctor import Diagnosis, diagnose, exit_code
from thinkpane.tui.core.sanitize import sanitize_line


def run_doctor(names: list[str], settings: Any, overrides: Mapping[str, Any] | None, *,
               json_mode: bool, out: TextIO) -> int:
    """Diagnose each backend in ``names`` (flags in ``overrides`` apply when there is one)."""
    import asyncio

    async def all_of_them() -> list[Diagnosis]:
        return [await diagnose(name, settings, overrides if len(names) == 1 else None) for name in names]

    diagnoses = asyncio.run(all_of_them())
    if json_mode:
        document = {"ok": exit_code(diagnoses) == 0, "backends": [d.to_json() for d in diagnoses]}
        out.write(json.dumps(document, ensure_ascii=True, indent=2) + "\n")
    else:
        print_text(diagnoses, out)
    out.flush()
    return exit_code(diagnoses)


def print_text(diagnoses: list[Diagnosis], out: TextIO) -> None:
    symbols = SYMBOLS if can_encode(out, "✓✗–→") else ASCII_SYMBOLS
    arrow = "→" if symbols is SYMBOLS else "->"
    for diagnosis in diagnoses:
        heading = diagnosis.backend + (f" ({diagnosis.label})" if diagnosis.label else "")
        out.write(sanitize_line(heading) + "\n")
        for check in diagnosis.checks:
            out.write(f"  {symbols.get(check.status, '?')} {check.name:<14} {sanitize_line(check.message)}\n")
            if check.detail and check.status in ("fail", "warn"):
                out.write(f"      {sanitize_line(check.detail)}\n")
            if check.hint:
                out.write(f"      {arrow} {sanitize_line(check.hint)}\n")
        verdict = "answered" if diagnosis.answered else "did not answer"
        channel = f" · reasoning channel: {diagnosis.reasoning_channel}" if diagnosis.reasoning_channel else ""
        out.write(f"  {diagnosis.backend} {verdict}{channel}\n\n")
