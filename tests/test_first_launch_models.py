"""First launch: "Use local model" runs a downloaded model that thinks, or says how to get one.

Pilot tests of the setup screen with THINKPANE_MODELS_DIR as the models store; the file
named like the catalogue's qwen3-0.6b is the bundled SmolLM2 copied (the screen only looks
for the file; `thinkpane models pull` itself is tested in tests/test_models_cli.py).
"""

from __future__ import annotations

import shutil

import pytest
from textual.widgets import Static

from tests.test_tui_setup import SIZE, Host, until
from thinkpane.backends.local.models import smollm2_gguf_path
from thinkpane.tui.core import setup_flow as setup_steps
from thinkpane.tui.core.config import load_settings
from thinkpane.tui.screens.setup import SetupScreen


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    if setup_steps.local_problem(load_settings()) is not None or smollm2_gguf_path() is None:
        pytest.skip("the local extra is not installed here")
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("THINKPANE_MODELS_DIR", str(folder))
    return folder


def note_of(app) -> str:
    return str(app.screen.query_one("#quick-start-note", Static).render())


async def test_with_a_thinking_model_downloaded_one_enter_chats_with_it(models_dir) -> None:
    shutil.copyfile(smollm2_gguf_path(), models_dir / "Qwen3-0.6B-Q8_0.gguf")
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")
        assert "Runs qwen3-0.6b here, offline: it thinks before it answers." in note_of(app)
        assert app.focused is not None and app.focused.id == "use-local"
        await pilot.press("enter")
        await until(pilot, lambda: app.results, "the screen to close")
    assert app.results[0].options["model"] == "qwen3-0.6b"
    saved = load_settings()
    assert saved.backend == "local" and saved.backends["local"]["model"] == "qwen3-0.6b"


async def test_without_one_it_runs_smollm2_and_says_how_to_get_a_model_that_thinks(models_dir) -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")
        assert "does not think" in note_of(app)
        assert "thinkpane models pull qwen3-0.6b" in note_of(app)
        await pilot.press("enter")
        await until(pilot, lambda: app.results, "the screen to close")
    assert "model" not in load_settings().backends.get("local", {})
