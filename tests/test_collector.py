"""The garbage collector around startup (tui/core/collector.py): paused by ``thinkpane`` until
the app's first frame, never left off afterwards, and the startup's objects frozen out of
later collections' walk."""

from __future__ import annotations

import gc

import pytest

from thinkpane.tui.core import collector


@pytest.fixture
def fresh_collector(monkeypatch):
    """As in a new process: nothing frozen yet; whatever a test does, the collector ends on."""
    gc.unfreeze()
    monkeypatch.setattr(collector, "_frozen", False)
    monkeypatch.setattr(collector, "_paused", False)
    yield
    gc.unfreeze()
    gc.enable()


def test_startup_done_collects_again_with_the_startup_objects_frozen(fresh_collector):
    collector.pause_for_startup()
    assert not gc.isenabled()
    collector.startup_done()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 1000  # modules, classes...: out of every later collection's walk


def test_a_collector_someone_else_turned_off_stays_off(fresh_collector):
    gc.disable()
    collector.pause_for_startup()
    collector.startup_done()
    assert not gc.isenabled()


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["--no-such-flag"]])
def test_thinkpane_without_a_command_that_never_opens_the_app_collects_again(fresh_collector, argv, capsys):
    from thinkpane.tui.cli.main import main

    main(argv)
    assert gc.isenabled()


async def test_the_app_turns_the_paused_collector_back_on_after_its_first_frame(fresh_collector, tmp_path):
    from tests.tui_helpers import wait_until
    from thinkpane.backends.scripted import ScriptedBackend
    from thinkpane.tui.app import ThinkpaneApp
    from thinkpane.tui.core.config import load_settings
    from thinkpane.tui.core.store import ConversationStore

    collector.pause_for_startup()  # as `thinkpane` does before it imports the app
    store = ConversationStore(tmp_path / "chats.sqlite3")
    try:
        app = ThinkpaneApp(load_settings(), store, backend=ScriptedBackend())
        async with app.run_test() as pilot:
            await wait_until(pilot, gc.isenabled, "the collector back on")
            assert gc.get_freeze_count() > 1000
    finally:
        store.close()
