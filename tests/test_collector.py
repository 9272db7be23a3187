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


@pytest.fixture
def held_back(monkeypatch):
    """Full collections as a fresh process has them; restored whatever a test does."""
    threshold = gc.get_threshold()
    monkeypatch.setattr(collector, "_streams", 0)
    monkeypatch.setattr(collector, "_held_threshold", None)
    yield threshold
    gc.set_threshold(*threshold)
    if collector._allow_full_collections_when_idle in gc.callbacks:
        gc.callbacks.remove(collector._allow_full_collections_when_idle)


def young_collection() -> None:
    """What any allocation-heavy moment does: enough new containers for a young collection."""
    garbage = [[] for _ in range(gc.get_threshold()[0] * 3)]
    del garbage


def full_collections_allowed(threshold) -> bool:
    return gc.get_threshold()[2] == threshold[2]


def test_no_full_collections_until_every_stream_has_been_over_a_while(held_back, monkeypatch):
    monkeypatch.setattr(collector, "IDLE_S", 0.0)
    with collector.streaming():
        with collector.streaming():  # compare: several columns stream at once
            assert gc.get_threshold()[2] == collector.NO_FULL_COLLECTIONS
            young_collection()
        young_collection()  # one column done, another still streaming
        assert not full_collections_allowed(held_back)
    young_collection()
    assert full_collections_allowed(held_back)


def test_full_collections_wait_for_the_idle_time_after_a_stream(held_back, monkeypatch):
    monkeypatch.setattr(collector, "IDLE_S", 3600.0)
    with collector.streaming():
        pass
    young_collection()
    assert not full_collections_allowed(held_back)  # the final frame is not the moment
    monkeypatch.setattr(collector, "IDLE_S", 0.0)
    young_collection()
    assert full_collections_allowed(held_back)


async def test_a_streaming_answer_holds_back_full_collections(held_back, store, monkeypatch):
    from tests.tui_helpers import make_app, send, wait_until
    from thinkpane.backends.scripted import ScriptedBackend

    monkeypatch.setattr(collector, "IDLE_S", 0.0)
    backend = ScriptedBackend({"delay_s": 0.02})
    backend.enqueue_turn(["thinking "] * 20, ["answer "] * 20)
    app = make_app(store, backend)
    async with app.run_test() as pilot:
        await send(pilot, "hi")
        await wait_until(pilot, lambda: gc.get_threshold()[2] == collector.NO_FULL_COLLECTIONS, "a stream")
        await wait_until(pilot, lambda: app.screen.live is None, "the answer to end")
    young_collection()
    assert full_collections_allowed(held_back)
