"""The layers stay apart: backends/ and tui/core/ never load Textual, nothing imports bare
``tui``/``backends`` (they install as ``thinkpane.tui`` and ``thinkpane.backends``)."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import thinkpane.backends
import thinkpane.tui.core

REPO = Path(__file__).resolve().parent.parent
TEXTUAL_FREE = {"thinkpane.backends": thinkpane.backends, "thinkpane.tui.core": thinkpane.tui.core}


def _modules(package) -> list[str]:
    return [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]


@pytest.mark.parametrize("name", sorted(TEXTUAL_FREE))
def test_layer_never_imports_textual(name: str) -> None:
    """Importing every module of the layer, in a fresh interpreter, loads no textual module."""
    modules = _modules(TEXTUAL_FREE[name])
    assert len(modules) > 3, modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        if 'textual' in str(exc): raise\n"
        "leaked = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(leaked))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"{name} imported textual: {result.stdout}"


@pytest.mark.parametrize("folder", ["backends", "tui/core"])
def test_no_textual_import_statement(folder: str) -> None:
    offenders = [
        str(path)
        for path in (REPO / folder).rglob("*.py")
        if re.search(r"^\s*(from|import)\s+textual", path.read_text(), re.M)
    ]
    assert offenders == []


BARE = re.compile(r"^\s*(?:from|import)\s+(?:tui|backends)(?:\.|\s|$)", re.M)


def test_nothing_imports_bare_tui_or_backends() -> None:
    """Source, tests and scripts import ``thinkpane.tui`` / ``thinkpane.backends`` only."""
    files = [p for folder in ("tui", "backends", "tests", "scripts") for p in (REPO / folder).rglob("*.py")]
    assert len(files) > 50
    offenders = [str(p.relative_to(REPO)) for p in files if BARE.search(p.read_text())]
    assert offenders == []


def test_bare_import_check_catches_one() -> None:
    """The pattern above does find the imports it forbids (and not the allowed ones)."""
    assert BARE.search("import tui.app\n") and BARE.search("from backends import registry\n")
    assert BARE.search("    from tui.core import store\n")
    assert not BARE.search("from thinkpane.tui import core\nimport tuis\n")
