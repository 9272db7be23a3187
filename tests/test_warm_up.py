"""warm_up(): lexers compiled ahead; the app validates deferred settings in it, after the first
frame (the collector's part of that moment: test_collector.py)."""

from __future__ import annotations

import threading

from thinkpane.tui.render import warm_up


def test_common_lexers_are_compiled():
    from pygments.lexer import RegexLexer
    from pygments.lexers import get_lexer_by_name

    warm_up.warm_up()
    for name in warm_up.COMMON_LANGUAGES:
        lexer_class = type(get_lexer_by_name(name))
        if issubclass(lexer_class, RegexLexer):  # JSON's lexer is hand-written: nothing to compile
            # Pygments caches the compiled token table on the class the first time.
            assert "_tokens" in lexer_class.__dict__, name


async def test_the_app_validates_deferred_settings_after_its_first_frame(tmp_path, monkeypatch):
    # `thinkpane` hands the app settings read but not validated (config.read_settings); the
    # warm-up after the first frame validates them, so pydantic is imported off that path.
    from tests.tui_helpers import wait_until
    from thinkpane.backends.scripted import ScriptedBackend
    from thinkpane.tui.app import ThinkpaneApp
    from thinkpane.tui.core import paths
    from thinkpane.tui.core.config import DeferredSettings, read_settings
    from thinkpane.tui.core.store import ConversationStore

    paths.config_path().parent.mkdir(parents=True, exist_ok=True)
    paths.config_path().write_text('theme = "nord"\n')
    settings = read_settings()
    assert isinstance(settings, DeferredSettings)
    # Where validation first runs: the warm-up thread (started after the first frame), not
    # the event loop on its way to that frame.
    threads: list[str] = []
    validated = DeferredSettings.validated

    def recording(self):
        threads.append(threading.current_thread().name)
        return validated(self)

    monkeypatch.setattr(DeferredSettings, "validated", recording)
    store = ConversationStore(tmp_path / "chats.sqlite3")
    try:
        app = ThinkpaneApp(settings, store, backend=ScriptedBackend())
        async with app.run_test() as pilot:
            assert app.theme == "nord"
            await wait_until(pilot, lambda: settings.is_validated, "settings validated")
        assert threads and threads[0] != threading.main_thread().name
        assert app.settings_error is None and app.return_code in (None, 0)
    finally:
        store.close()


async def test_settings_refused_after_the_first_frame_stop_the_app_with_exit_code_2(tmp_path, monkeypatch):
    # read_settings defers only values that fit the model; were one to slip through (the two
    # checks disagreeing), the app stops with code 2 and the error naming the line, which
    # `thinkpane` prints (test_cli_setup.py), instead of failing later in the event loop.
    from tests.tui_helpers import wait_until
    from thinkpane.backends.scripted import ScriptedBackend
    from thinkpane.tui.app import ThinkpaneApp
    from thinkpane.tui.core import config, paths
    from thinkpane.tui.core.store import ConversationStore

    paths.config_path().parent.mkdir(parents=True, exist_ok=True)
    paths.config_path().write_text('theme = "nord"\nshow_reasoning = "maybe"\n')
    monkeypatch.setattr(config, "_plain_settings", lambda values: {**config.DEFAULTS, **values})
    settings = config.read_settings()
    assert isinstance(settings, config.DeferredSettings)
    store = ConversationStore(tmp_path / "chats.sqlite3")
    try:
        app = ThinkpaneApp(settings, store, backend=ScriptedBackend())
        async with app.run_test() as pilot:
            await wait_until(pilot, lambda: app.return_code == 2, "the app to exit with code 2")
        assert app.settings_error is not None
        assert f"Fix it in {paths.config_path()}:2 " in app.settings_error.hint
    finally:
        store.close()
