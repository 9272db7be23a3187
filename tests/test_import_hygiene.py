"""`backends` must stay usable without the TUI: importing any backend module never loads textual."""

import pkgutil
import subprocess
import sys

import backends


def _backend_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(backends.__path__, "backends.")]


def test_backends_never_import_textual() -> None:
    modules = _backend_modules()
    assert "backends.base" in modules
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
    assert result.stdout.strip() == "", f"backends imported textual: {result.stdout}"


def test_no_textual_import_statement_in_backends() -> None:
    import pathlib
    import re

    root = pathlib.Path(backends.__file__).parent
    offenders = [
        str(path)
        for path in root.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+textual", path.read_text(), re.M)
    ]
    assert offenders == []
