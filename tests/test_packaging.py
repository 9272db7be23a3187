"""What a user gets from `pip install thinkpane`: one package named thinkpane, a working command."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_installed_package_is_one_namespace(tmp_path: Path) -> None:
    """From a neutral directory ``thinkpane.*`` imports, and bare ``tui``/``backends`` do not."""
    code = (
        "import importlib.util, thinkpane.tui.cli, thinkpane.backends.base\n"
        "print(importlib.util.find_spec('tui'), importlib.util.find_spec('backends'))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None"]


def test_version_flag_prints_the_installed_version(tmp_path: Path) -> None:
    """`thinkpane --version` names the version pip installed."""
    exe = shutil.which("thinkpane") or pytest.skip("the thinkpane command is not on PATH")
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"thinkpane {importlib.metadata.version('thinkpane')}"


def test_entry_points_name_thinkpane_modules() -> None:
    """The console script and every built-in backend entry point load from thinkpane.*."""
    dist = importlib.metadata.distribution("thinkpane")
    points = [ep for ep in dist.entry_points if ep.group in ("console_scripts", "thinkpane.backends")]
    assert {ep.name for ep in points} >= {"thinkpane", "local", "openai", "bedrock", "opensearch"}
    for ep in points:
        assert ep.value.startswith("thinkpane."), ep
        assert callable(ep.load()), ep
