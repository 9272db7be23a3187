"""The conversation list: open, search, rename, delete (Pilot, real store in tmp_path)."""

from __future__ import annotations

import pytest

from tests.tui_helpers import rendered_text, wait_until
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.config import Settings
from thinkpane.tui.core.store import ConversationStore
from thinkpane.tui.screens.conversations import ConfirmDeleteScreen, ConversationsScreen


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


def add_chat(store, title: str, question: str, answer: str, reasoning: str = "") -> int:
    cid = store.create_conversation(title, backend="scripted", model="scripted-r1")
    store.add_message(cid, "user", question)
    store.add_message(cid, "assistant", answer, reasoning=reasoning, backend="scripted", model="scripted-r1")
    return cid


def table_titles(screen: ConversationsScreen) -> list[str]:
    table = screen.table
    return [str(table.get_row_at(row)[0]) for row in range(table.row_count)]


async def open_list(app, pilot) -> ConversationsScreen:
    await pilot.press("ctrl+l")
    await wait_until(pilot, lambda: isinstance(app.screen, ConversationsScreen), "the list")
    await pilot.pause()
    return app.screen


async def test_the_list_shows_conversations_newest_first_and_opens_one(store):
    add_chat(store, "Apples", "Tell me about apples", "Apples are red.", "Think about apples.")
    pears = add_chat(store, "Pears", "Tell me about pears", "Pears are green.", "Think about pears.")
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_list(app, pilot)
        assert table_titles(screen) == ["Pears", "Apples"]
        row = screen.table.get_row_at(0)
        assert str(row[2]) == "2" and str(row[3]) == "scripted-r1"

        await pilot.press("down", "down")  # search box -> list -> second row
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.chat and app.chat.transcript.answers(), "opened chat")
        await pilot.pause()
        assert app.chat.conversation_id != pears
        user = app.chat.query_one("UserTurn")
        assert "Tell me about apples" in rendered_text(user)
        assert "Apples are red." in rendered_text(app.chat.transcript.answers()[0]._body)
        assert "Think about apples." in rendered_text(app.chat.reasoning_pane.body.children[0])
        assert "Apples" in rendered_text(app.chat.query_one("#answer-header"))


async def test_typing_searches_titles_and_message_text(store):
    add_chat(store, "Fruit", "Tell me about kiwis", "Kiwis are fuzzy.")
    add_chat(store, "Weather", "Will it rain?", "Probably.")
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_list(app, pilot)
        await pilot.press(*"fuzzy")
        await pilot.pause()
        assert table_titles(screen) == ["Fruit"]
        await pilot.press(*["backspace"] * 5, *"rain")
        await pilot.pause()
        assert table_titles(screen) == ["Weather"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.chat and app.chat.transcript.answers(), "opened")
        assert "Probably." in rendered_text(app.chat.transcript.answers()[0]._body)


async def test_letters_typed_in_the_list_go_to_the_search_box(store):
    add_chat(store, "Kiwis", "kiwi", "yes")
    add_chat(store, "Other", "other", "no")
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_list(app, pilot)
        await pilot.press("down")
        assert screen.focused is screen.table
        await pilot.press(*"kiw")
        await pilot.pause()
        assert screen.search.value == "kiw" and screen.focused is screen.search
        assert table_titles(screen) == ["Kiwis"]


async def test_rename_in_place(store):
    cid = add_chat(store, "Old title", "q", "a")
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_list(app, pilot)
        await pilot.press("down", "r")
        await pilot.pause()
        assert screen.rename_input.display and screen.rename_input.value == "Old title"
        screen.rename_input.value = ""
        await pilot.press(*"New [b]title[/b]")
        screen.rename_input.insert_text_at_cursor("\x1b]0;pwned\x07 \x1b(B")  # as a paste would
        await pilot.press("enter")
        await pilot.pause()
        assert not screen.rename_input.display
        assert table_titles(screen) == ["New [b]title[/b]"]  # shown literally, not as markup
    assert store.get_conversation(cid).title == "New [b]title[/b]"  # stored as shown


async def test_escape_cancels_a_rename_then_closes_the_list(store):
    cid = add_chat(store, "Keep me", "q", "a")
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_list(app, pilot)
        await pilot.press("down", "r", "x", "escape")
        await pilot.pause()
        assert not screen.rename_input.display and app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.chat
    assert store.get_conversation(cid).title == "Keep me"


async def test_delete_asks_first(store):
    keep = add_chat(store, "Keep", "q", "a")
    doomed = add_chat(store, "Doomed", "q", "a")
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_list(app, pilot)
        await pilot.press("down", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), "confirmation")
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen and table_titles(screen) == ["Doomed", "Keep"]

        await pilot.press("delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), "confirmation")
        await pilot.press("y")
        await pilot.pause()
        assert app.screen is screen and table_titles(screen) == ["Keep"]
    assert store.get_conversation(doomed) is None
    assert store.get_conversation(keep) is not None


async def test_deleting_the_open_conversation_clears_the_chat(store):
    cid = add_chat(store, "Open one", "q", "the answer")
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend(), conversation_id=cid)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.chat.transcript.answers(), "loaded")
        await open_list(app, pilot)
        await pilot.press("down", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen), "confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.chat.transcript.children, "chat cleared")
        assert app.chat.conversation_id is None


async def test_an_empty_list_and_a_search_without_hits_say_so(store):
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_list(app, pilot)
        empty = screen.query_one("#conversations-empty")
        assert empty.display and "No conversations yet" in rendered_text(empty)
        await pilot.press(*"[zebra]")
        await pilot.pause()
        assert "No conversation matches “[zebra]”." in rendered_text(empty)


async def test_the_command_palette_opens_the_conversation_list(store):
    add_chat(store, "From the palette", "q", "a")
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"conversations")
        await wait_until(pilot, lambda: "Conversations" in str(
            app.screen.query("CommandList").first().get_option_at_index(0).prompt), "palette hit")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationsScreen), "the list")
        await pilot.pause()
        assert table_titles(app.screen) == ["From the palette"]
