"""The user's [keymap] and theme from config.toml, driven through Pilot like a person would.

One remap per kind of binding: the app's (app.conversations), a screen's (chat.new, and the
conversation list's rename, a printable key the list also uses for type-to-search), and a
widget's that handles keys itself (prompt.send / prompt.newline). Entries that cannot work
are reported with the file and line; a theme picked in the palette is kept in config.toml.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

from tests.tui_helpers import GatedBackend, wait_until
from thinkpane.backends.events import ContentDelta, Stop
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.app.keymap import default_keys
from thinkpane.tui.core import paths
from thinkpane.tui.core.config import load_settings
from thinkpane.tui.core.store import ConversationStore
from thinkpane.tui.screens.conversations import ConversationsScreen

README = Path(__file__).resolve().parent.parent / "README.md"
SIZE = (120, 40)


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


def app_with_config(store, text: str, backend=None) -> ThinkpaneApp:
    """The app as `thinkpane` starts it, with ``text`` as config.toml."""
    path = paths.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return ThinkpaneApp(load_settings(), store, backend=backend or ScriptedBackend())


def toasts(app) -> list[str]:
    return [toast.render().plain for toast in app.screen.query("Toast")]


def test_the_readme_lists_every_binding_id_and_no_other() -> None:
    section = README.read_text(encoding="utf-8").split("Binding ids for `[keymap]`:", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", section))
    assert len(listed) >= 15
    assert listed == set(default_keys())  # none made up, none left out


def _own_keys(*classes: type) -> dict[str, list[str]]:
    """key -> the ids of Thinkpane's bindings on it, over ``classes`` and their bases."""
    from textual.binding import Binding

    keys: dict[str, list[str]] = {}
    for cls in classes:
        for base in cls.__mro__:
            if not base.__module__.startswith("thinkpane."):
                continue
            for binding in vars(base).get("BINDINGS", ()):
                if isinstance(binding, Binding):
                    for key in binding.key.split(","):
                        keys.setdefault(key.strip(), []).append(binding.id or binding.action)
    return keys


@pytest.mark.parametrize("screen", ["chat", "compare"])
def test_no_two_bindings_of_a_screen_share_a_key(screen) -> None:
    # E.g. the compare key is F8: F4/F5 are thinking/effort, Ctrl+G regenerate with.
    from thinkpane.tui.screens.chat.screen import ChatScreen
    from thinkpane.tui.screens.compare.screen import CompareScreen
    from thinkpane.tui.widgets.prompt_input import PromptInput

    keys = _own_keys(ThinkpaneApp, ChatScreen if screen == "chat" else CompareScreen, PromptInput)
    shared = {key: ids for key, ids in keys.items() if len(ids) > 1}
    assert not shared
    assert keys["f8"] == ["app.compare"]


# --------------------------------------------------------------------------- one remap per kind


async def test_an_app_binding_follows_the_keymap(store):
    app = app_with_config(store, '[keymap]\n"app.conversations" = "f9"\n')
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+l")  # the default key no longer opens the list
        await pilot.pause()
        assert app.screen is app.chat
        await pilot.press("f9")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationsScreen), "the list")


async def test_a_screen_binding_follows_the_keymap(store):
    backend = ScriptedBackend()
    backend.enqueue_turn(["hmm"], ["First answer."])
    app = app_with_config(store, '[keymap]\nchat.new = "f5"\n', backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"hi", "enter")
        await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer")
        await pilot.press("ctrl+n")  # the default key no longer starts a new chat
        await pilot.pause()
        assert app.chat.transcript.answers()
        await pilot.press("f5")
        await wait_until(pilot, lambda: not app.chat.transcript.answers(), "a new chat")


async def test_a_printable_key_remapped_in_the_conversation_list_runs_its_binding(store):
    cid = store.create_conversation("Old title")
    store.add_message(cid, "user", "q")
    app = app_with_config(store, '[keymap]\n"conversations.rename" = "e"\n')
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationsScreen), "the list")
        screen = app.screen
        await pilot.pause()
        assert "e rename" in screen.query_one("#conversations-help").render().plain
        await pilot.press("down", "e")  # into the list, then the new key
        await wait_until(pilot, lambda: screen.rename_input.display, "the rename box")
        assert screen.rename_input.value == "Old title"
        assert screen.search.value == ""  # not typed into the search box


async def test_send_and_newline_follow_the_keymap_and_the_placeholder_says_so(store):
    backend = GatedBackend()
    app = app_with_config(store, '[keymap]\n"prompt.send" = "ctrl+s"\n"prompt.newline" = "enter"\n', backend)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.chat.prompt
        await wait_until(pilot, lambda: "Ctrl+S sends" in prompt.placeholder, "placeholder")
        assert prompt.placeholder == "Ask something…  (Ctrl+S sends · Enter newline)"
        await pilot.press("a", "enter", "b")
        await pilot.pause()
        assert prompt.text == "a\nb" and not backend.received  # Enter made a newline
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: backend.received, "the send")
        assert backend.received[0].messages[-1].content == "a\nb"
        backend.put(ContentDelta("ok"), Stop())
        backend.end()
        await wait_until(pilot, lambda: app.chat.live is None, "stream end")


async def test_the_default_placeholder_names_the_default_keys(store):
    app = app_with_config(store, "")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.chat.prompt.placeholder == "Ask something…  (Enter sends · Ctrl+J newline)"


# --------------------------------------------------------------------------- entries that cannot work


async def test_unknown_ids_bad_keys_and_unknown_themes_are_reported_with_file_and_line(store):
    config = (
        'theme = "no-such-theme"\n'
        "[keymap]\n"
        '"chat.new" = "ctrl+shift+banana"\n'
        'chat.nwe = "f5"\n'
        '"chat.toggle_reasoning" = "f2"\n'
    )
    app = app_with_config(store, config)
    path = paths.config_path()
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await wait_until(pilot, lambda: len(toasts(app)) == 3, "three warnings")
        shown = "\n".join(toasts(app))
        assert f"{path}:3: 'ctrl+shift+banana' for chat.new is not a key: 'banana' is not a key name" in shown
        assert f"{path}:4: unknown binding id 'chat.nwe' ignored (did you mean 'chat.new'?)" in shown
        assert f"{path}:1: unknown theme 'no-such-theme'" in shown
        # The good entry still applies, and the bad one left chat.new on its default key.
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.chat.has_class("-hide-reasoning"), "f2 hides the reasoning")


async def test_unknown_settings_are_shown_in_the_app_with_their_line(store):
    app = app_with_config(store, 'theme = "nord"\ncolour = "blue"\n')
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await wait_until(pilot, lambda: toasts(app), "a warning")
        assert f"{paths.config_path()}:2: unknown setting 'colour' ignored" in toasts(app)[0]


# --------------------------------------------------------------------------- theme


async def test_a_theme_picked_in_the_palette_is_kept_for_the_next_start(store):
    app = app_with_config(store, 'backend = "scripted"\n')
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"theme")
        await wait_until(pilot, lambda: app.screen.query("CommandList") and "Theme" in str(
            app.screen.query_one("CommandList").get_option_at_index(0).prompt), "the Theme command")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Search for themes" in str(app.screen.query_one("CommandInput").placeholder), "themes")
        await pilot.press(*"nord")
        await wait_until(pilot, lambda: str(app.screen.query_one("CommandList").get_option_at_index(0).prompt) == "nord", "nord")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.theme == "nord", "the theme applied")
        await wait_until(pilot, lambda: "nord" in paths.config_path().read_text(), "the theme saved")
    assert tomllib.loads(paths.config_path().read_text()) == {"backend": "scripted", "theme": "nord"}

    again = ThinkpaneApp(load_settings(), store, backend=ScriptedBackend())
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "nord"


async def test_starting_with_the_configured_theme_writes_nothing(store):
    app = app_with_config(store, 'theme = "nord"\n')
    before = paths.config_path().stat().st_mtime_ns
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.theme == "nord", "the theme")
        await pilot.pause()
    assert paths.config_path().stat().st_mtime_ns == before
    assert paths.config_path().read_text() == 'theme = "nord"\n'
