"""The conversation tree in the chat screen (Pilot, real store): regenerate, edit and resend,
switching versions (keys, mouse, palette) during and after a stream, cancelling a
regenerate, switching backend or model mid-chat, and opening a search result's branch."""

from __future__ import annotations

import pytest

from tests.test_tui_chat import make_app, send
from tests.tui_helpers import GatedBackend, rendered_text, wait_until
from thinkpane.backends import registry
from thinkpane.backends.events import ContentDelta, MessageExtra, ReasoningDelta, Stop
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.screens.conversations import ConversationsScreen
from thinkpane.tui.screens.model import ModelScreen
from thinkpane.tui.widgets.turn import AnswerTurn, UserTurn

SIGNED = {"bedrock_reasoning": [{"text": "Think.", "signature": "c2ln"}]}


async def answer(pilot, backend: GatedBackend, reasoning: str, content: str, **extra) -> None:
    """Let the running stream say ``reasoning`` then ``content``, and finish."""
    chat = pilot.app.chat
    await wait_until(pilot, lambda: chat.live is not None, "a stream")
    backend.put(ReasoningDelta(reasoning), ContentDelta(content))
    if extra:
        backend.put(MessageExtra(extra))
    backend.put(Stop("end_turn"))
    backend.end()
    await wait_until(pilot, lambda: chat.live is None, "the stream to end")
    await pilot.pause()


async def regenerating(pilot, backend: GatedBackend, prompt: str, reasoning: str, content: str) -> None:
    """Ask ``prompt``, let ``content`` answer it, then regenerate: the new stream has started."""
    await send(pilot, prompt)
    await answer(pilot, backend, reasoning, content)
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: pilot.app.chat.live is not None, "the regenerate stream")


def turns(app) -> list[tuple[str, str]]:
    """What the transcript shows, turn by turn: ("you"/"answer", text) and its ‹ i/n › bar."""
    shown = []
    for turn in app.chat.transcript.children:
        bar = rendered_text(turn.bar).strip() if turn.bar.display else ""
        if isinstance(turn, UserTurn):
            shown.append(("you", rendered_text(turn.text).strip(), bar))
        else:
            body = turn._live.source if turn._live is not None else rendered_text(turn._body).strip()
            shown.append(("answer", body, bar))
    return shown


def reasoning_shown(app) -> str:
    pane = app.chat.reasoning_pane
    return pane.live_text() if pane.live is not None else rendered_text(pane.body.children[0]).strip()


async def test_regenerate_keeps_both_answers_and_alt_arrows_switch_between_them(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await send(pilot, "Name a fruit")
        await answer(pilot, backend, "Think of apples.", "Apple.")
        await pilot.press("ctrl+r")
        await answer(pilot, backend, "Think of pears.", "Pear.")

        # The backend was asked the same question again, without the first answer.
        assert [(m.role, m.content) for m in backend.received[1].messages] == [("user", "Name a fruit")]
        assert turns(app) == [("you", "Name a fruit", ""), ("answer", "Pear.", "‹ 2/2 › · gated · gated-r1")]
        assert reasoning_shown(app) == "Think of pears."

        await pilot.press("alt+left")
        await wait_until(pilot, lambda: turns(app)[-1][1] == "Apple.", "the first answer")
        assert turns(app)[-1] == ("answer", "Apple.", "‹ 1/2 › · gated · gated-r1")
        assert reasoning_shown(app) == "Think of apples."  # the Reasoning pane follows
        await pilot.press("alt+left")  # there is no earlier one: nothing changes
        await pilot.pause()
        assert turns(app)[-1][1] == "Apple." and "no earlier version" in chat.status.line_text().plain
        await pilot.press("alt+right")
        await wait_until(pilot, lambda: turns(app)[-1][1] == "Pear.", "the second answer")

        # The chosen version is the active path: the next prompt continues it.
        await pilot.press("alt+left")
        await wait_until(pilot, lambda: turns(app)[-1][1] == "Apple.", "the first answer again")
        await send(pilot, "Another")
        await answer(pilot, backend, "r", "Banana.")
        assert [m.content for m in backend.received[2].messages] == ["Name a fruit", "Apple.", "Another"]
    cid = store.list_conversations()[0].id
    assert [m.content for m in store.load_messages(cid)] == ["Name a fruit", "Apple.", "Another", "Banana."]
    assert len(store.load_tree(cid)) == 5


async def test_switching_versions_while_a_regenerated_answer_streams(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await regenerating(pilot, backend, "Count", "old thoughts", "one two three")
        backend.put(ReasoningDelta("new "), ContentDelta("uno "))
        await wait_until(pilot, lambda: turns(app)[-1][1] == "uno ", "the new answer streaming")
        assert turns(app)[-1][2] == "‹ 2/2 › · gated · gated-r1"

        await pilot.press("alt+left")  # the old answer, while the new one streams on
        await wait_until(pilot, lambda: turns(app)[-1][1] == "one two three", "the old answer")
        assert reasoning_shown(app) == "old thoughts"
        backend.put(ReasoningDelta("thoughts"), ContentDelta("dos "))
        await wait_until(pilot, lambda: chat.live is not None and "dos" in chat.live.record.content, "more text")
        await pilot.pause()
        assert turns(app)[-1][1] == "one two three"  # out of sight, not drawn here

        await pilot.press("alt+right")  # back to the live one: everything so far, still streaming
        await wait_until(pilot, lambda: turns(app)[-1][1] == "uno dos ", "the live answer again")
        assert reasoning_shown(app) == "new thoughts"
        backend.put(ContentDelta("tres"), Stop("end_turn"))
        backend.end()
        await wait_until(pilot, lambda: chat.live is None, "the end")
        await pilot.pause()
        assert turns(app)[-1][1] == "uno dos tres"

        # Switching away and letting it finish out of sight keeps it all too.
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: chat.live is not None, "a third stream")
        backend.put(ContentDelta("eins "))
        await wait_until(pilot, lambda: turns(app)[-1][1] == "eins ", "the third answer")
        await pilot.press("alt+left")
        await wait_until(pilot, lambda: turns(app)[-1][1] == "uno dos tres", "the second answer")
        backend.put(ContentDelta("zwei"), Stop("end_turn"))
        backend.end()
        await wait_until(pilot, lambda: chat.live is None, "the end, out of sight")
        await pilot.pause()
        assert turns(app)[-1] == ("answer", "uno dos tres", "‹ 2/3 › · gated · gated-r1")
        await pilot.press("alt+right")
        await wait_until(pilot, lambda: turns(app)[-1][1] == "eins zwei", "the third answer, finished")
    cid = store.list_conversations()[0].id
    tree = store.load_tree(cid)
    assert [(m.content, m.status) for m in tree[1:]] == [
        ("one two three", "complete"), ("uno dos tres", "complete"), ("eins zwei", "complete")]


async def test_cancelling_a_regenerate_keeps_the_partial_answer_as_its_own_version(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await regenerating(pilot, backend, "Tell a story", "plot", "Once upon a time.")
        backend.put(ContentDelta("Long ago"))
        await wait_until(pilot, lambda: turns(app)[-1][1] == "Long ago", "partial text")
        await pilot.press("escape")
        await wait_until(pilot, lambda: chat.live is None, "cancelled")
        await pilot.pause()
        last = chat.transcript.children[-1]
        assert turns(app)[-1] == ("answer", "Long ago", "‹ 2/2 › · gated · gated-r1")
        assert "cancelled" in rendered_text(last.note)
        await pilot.press("alt+left")
        await wait_until(pilot, lambda: turns(app)[-1][1] == "Once upon a time.", "the first answer")
    cid = store.list_conversations()[0].id
    assert [(m.content, m.status) for m in store.load_tree(cid)[1:]] == [
        ("Once upon a time.", "complete"), ("Long ago", "cancelled")]


async def test_edit_and_resend_starts_a_branch_beside_the_original_prompt(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await send(pilot, "First question")
        await answer(pilot, backend, "r1", "First answer.")
        await send(pilot, "Second question")
        await answer(pilot, backend, "r2", "Second answer.")

        await pilot.press(*"draft")
        await pilot.press("f2")
        assert chat.prompt.text == "Second question"
        assert "editing a prompt" in chat.status.line_text().plain
        assert chat.prompt.has_class("-editing") and chat.prompt.border_title == "editing a prompt"
        await pilot.press("escape")  # stop editing: the draft comes back
        assert chat.prompt.text == "draft" and chat.editing is None

        await pilot.press("f2")
        await pilot.press("end", *" (edited)", "enter")
        await answer(pilot, backend, "r3", "Edited answer.")
        assert chat.prompt.text == "" and chat.editing is None
        assert [m.content for m in backend.received[-1].messages] == [
            "First question", "First answer.", "Second question (edited)"]
        assert turns(app) == [
            ("you", "First question", ""), ("answer", "First answer.", "gated · gated-r1"),
            ("you", "Second question (edited)", "‹ 2/2 ›"), ("answer", "Edited answer.", "gated · gated-r1"),
        ]
        await pilot.press("alt+shift+left")  # the original prompt, and its answer below it
        await wait_until(pilot, lambda: turns(app)[2][1] == "Second question", "the original prompt")
        assert turns(app)[2:] == [("you", "Second question", "‹ 1/2 ›"),
                                  ("answer", "Second answer.", "gated · gated-r1")]
        assert reasoning_shown(app) == "r2"


async def test_clicking_the_arrows_switches_versions(store):
    cid = store.create_conversation("Clicks")
    question = store.add_message(cid, "user", "Q")
    store.add_message(cid, "assistant", "Answer A", backend="b", model="m")
    store.add_message(cid, "assistant", "Answer B", backend="b", model="m", parent_id=question)
    app = make_app(store, ScriptedBackend(), conversation_id=cid)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: len(turns(app)) == 2, "the conversation")
        assert turns(app)[-1] == ("answer", "Answer B", "‹ 2/2 › · b · m")
        bar = app.chat.transcript.children[-1].bar
        await pilot.click(bar, offset=(bar.styles.padding.left, 0))  # ‹
        await wait_until(pilot, lambda: turns(app)[-1][1] == "Answer A", "answer A")
        bar = app.chat.transcript.children[-1].bar
        await pilot.click(bar, offset=(bar.styles.padding.left + len("‹ 1/2 "), 0))  # ›
        await wait_until(pilot, lambda: turns(app)[-1][1] == "Answer B", "answer B")


async def test_palette_commands_regenerate_and_switch_versions(store):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await send(pilot, "Q")
        await answer(pilot, backend, "r", "First.")
        for command in ("Regenerate answer",):
            await pilot.press("ctrl+p", *command)
            await pilot.pause(0.3)
            await pilot.press("enter")
        await answer(pilot, backend, "r", "Second.")
        assert turns(app)[-1][1:] == ("Second.", "‹ 2/2 › · gated · gated-r1")
        await pilot.press("ctrl+p", *"Previous version of the answer")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: turns(app)[-1][1] == "First.", "the first answer")


@pytest.fixture
def scripted_in_registry(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "scripted", "thinkpane.backends.scripted:ScriptedBackend")


async def choose_model(pilot, backend_name: str, model: str) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, ModelScreen), "the model dialog")
    screen = app.screen
    screen.backend_list.highlighted = list(registry.available()).index(backend_name)
    await pilot.pause()
    screen.model_input.value = model
    screen.model_input.focus()
    await pilot.press("enter")


async def test_switching_model_mid_chat_keeps_the_conversation(store, scripted_in_registry):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await send(pilot, "Hello")
        await answer(pilot, backend, "r", "Signed answer.", **SIGNED)
        cid = chat.conversation_id
        await pilot.press("f3")
        await choose_model(pilot, "scripted", "scripted-r2")
        await wait_until(pilot, lambda: app.backend is not None and app.backend.name == "scripted", "the switch")
        assert "scripted-r2" in chat.status.line_text().plain
        await send(pilot, "And now?")
        await wait_until(pilot, lambda: chat.live is None and len(turns(app)) == 4, "the second answer")
        assert chat.conversation_id == cid  # the same chat
        assert [bar for *_, bar in turns(app)] == ["", "gated · gated-r1", "", "scripted · scripted-r2"]
        sent = app.backend.received[-1]
        assert [m.content for m in sent.messages] == ["Hello", "Signed answer.", "And now?"]
        assert sent.messages[1].extra == {}  # signed reasoning only goes back to its own model
    assert [(m.backend, m.model) for m in store.load_messages(cid)[1::2]] == [
        ("gated", "gated-r1"), ("scripted", "scripted-r2")]


async def test_regenerate_with_another_model(store, scripted_in_registry):
    backend = GatedBackend()
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await send(pilot, "Compare")
        await answer(pilot, backend, "r", "Gated says hi.")
        await pilot.press("ctrl+g")
        await choose_model(pilot, "scripted", "")
        await wait_until(pilot, lambda: chat.live is None and turns(app)[-1][1].startswith("You said"), "regenerated")
        assert turns(app)[-1] == ("answer", "You said: Compare", "‹ 2/2 › · scripted · scripted-r1")
        await pilot.press("alt+left")
        await wait_until(pilot, lambda: turns(app)[-1][1] == "Gated says hi.", "the first answer")
        assert turns(app)[-1][2] == "‹ 1/2 › · gated · gated-r1"


async def test_a_search_result_opens_the_branch_that_holds_it(store):
    cid = store.create_conversation("Fruit", backend="b", model="m")
    question = store.add_message(cid, "user", "Which fruit?")
    store.add_message(cid, "assistant", "The quince, surely.", backend="b", model="m")
    store.add_message(cid, "assistant", "An apple.", backend="b", model="m", parent_id=question)
    app = make_app(store, ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationsScreen), "the list")
        await pilot.press(*"quince")
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.chat and len(turns(app)) == 2, "opened")
        assert turns(app)[-1] == ("answer", "The quince, surely.", "‹ 1/2 › · b · m")
    assert store.load_messages(cid)[-1].content == "The quince, surely."  # now the active branch


async def test_a_long_branched_conversation_opens_with_its_versions(store):
    cid = store.create_conversation("Long")
    for n in range(60):
        question = store.add_message(cid, "user", f"q{n}")
        store.add_message(cid, "assistant", f"a{n}", backend="b", model="m")
        if n == 55:
            store.add_message(cid, "assistant", f"a{n} again", backend="b", model="m", parent_id=question)
    app = make_app(store, ScriptedBackend(), conversation_id=cid)
    async with app.run_test(size=(100, 30)) as pilot:
        transcript = app.chat.transcript
        await wait_until(pilot, lambda: transcript.children, "the conversation")
        assert transcript.answer_count() == 60
        assert "answer 60 of 60" in rendered_text(app.chat.reasoning_pane.header) or \
            "Reasoning 60/60" in rendered_text(app.chat.reasoning_pane.header)
        assert ("answer", "a55 again", "‹ 2/2 › · b · m") in turns(app)
        built = sum(isinstance(item, AnswerTurn) for item in transcript._older)
        assert built == 0  # older turns are not built until they are shown
