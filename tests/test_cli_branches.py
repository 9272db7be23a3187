"""``thinkpane ask --continue / --regenerate`` and ``thinkpane export --all-branches``: the
conversation tree from the command line, through the real OpenAI backend and its SSE
stand-in over 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from tests.servers.openai_sse import DONE, chunk, serve
from tests.test_cli_ask import ask
from thinkpane.tui.cli.main import main
from thinkpane.tui.core import paths
from thinkpane.tui.core.store import ConversationStore


@pytest.fixture
def server():
    """The OpenAI stand-in, answering "You said: <prompt>" unless a script is queued."""
    with serve() as running:
        yield running


def answer_script(text: str, reasoning: str = "Thinking again.") -> list:
    return [chunk(role=True, reasoning=""), chunk(reasoning=reasoning), chunk(content=text),
            chunk(content="", finish="stop"), DONE]


def sent(server, index: int = -1) -> list[tuple[str, str]]:
    """(role, content) of the messages the server received in request ``index``."""
    body = server.chat_requests[index].body
    return [(m["role"], m["content"]) for m in body["messages"]]


def stored_path(conversation_id: int | None = None) -> list[tuple[str, str, int, int]]:
    with ConversationStore(paths.database_path()) as store:
        cid = conversation_id or store.last_conversation_id()
        return [(m.role, m.content, m.sibling_index, m.sibling_count) for m in store.load_messages(cid)]


def test_continue_adds_a_turn_and_sends_the_history_without_reasoning(server, capsys) -> None:
    assert ask(server, "--save", "first") == 0
    capsys.readouterr()
    assert ask(server, "--continue", "second") == 0
    out, err = capsys.readouterr()
    assert out == "You said: second\n"
    assert "Saved as the next turn in conversation 1 (thinkpane --conversation 1)." in err
    assert sent(server) == [("user", "first"), ("assistant", "You said: first"), ("user", "second")]
    assert "reasoning_content" not in json.dumps(server.chat_requests[-1].body)
    assert stored_path() == [("user", "first", 1, 1), ("assistant", "You said: first", 1, 1),
                             ("user", "second", 1, 1), ("assistant", "You said: second", 1, 1)]


def test_continuing_keeps_the_conversations_system_prompt_unless_replaced(server, capsys) -> None:
    assert ask(server, "--save", "--system", "Be brief.", "first") == 0
    assert ask(server, "--continue", "second") == 0
    assert server.chat_requests[-1].body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert ask(server, "--continue", "--system", "Be verbose.", "third") == 0
    assert server.chat_requests[-1].body["messages"][0] == {"role": "system", "content": "Be verbose."}


def test_regenerate_asks_the_last_prompt_again_and_keeps_both_answers(server, capsys) -> None:
    assert ask(server, "--save", "first") == 0
    assert ask(server, "--continue", "second") == 0
    capsys.readouterr()
    server.enqueue(answer_script("Another take."))
    assert ask(server, "--continue", "--regenerate") == 0
    out, err = capsys.readouterr()
    assert out == "Another take.\n"
    assert "Saved as answer 2 of 2 to its last prompt in conversation 1" in err
    # The old answer to "second" is not part of what is asked again.
    assert sent(server) == [("user", "first"), ("assistant", "You said: first"), ("user", "second")]
    assert stored_path()[-1] == ("assistant", "Another take.", 2, 2)
    with ConversationStore(paths.database_path()) as store:
        assert len(store.load_tree(1)) == 5

    # The regenerated answer is now the active path: --continue goes on from it.
    assert ask(server, "--continue", "third") == 0
    assert sent(server)[-2:] == [("assistant", "Another take."), ("user", "third")]


def test_continue_follows_the_branch_chosen_last(server, capsys) -> None:
    assert ask(server, "--save", "first") == 0
    server.enqueue(answer_script("Second answer."))
    assert ask(server, "--regenerate") == 0  # implies --continue
    with ConversationStore(paths.database_path()) as store:
        original = store.siblings(store.load_messages(1)[-1].id)[0]
        store.activate(original)  # what choosing ‹ 1/2 › in the app does
    assert ask(server, "--continue", "next") == 0
    assert sent(server) == [("user", "first"), ("assistant", "You said: first"), ("user", "next")]


def test_conversation_picks_which_one_to_continue(server, capsys) -> None:
    assert ask(server, "--save", "alpha") == 0
    assert ask(server, "--save", "beta") == 0
    assert ask(server, "--conversation", "1", "gamma") == 0  # implies --continue
    assert sent(server)[0] == ("user", "alpha")
    assert [m[1] for m in stored_path(1)][-2:] == ["gamma", "You said: gamma"]
    assert [m[1] for m in stored_path(2)] == ["beta", "You said: beta"]
    # The flags may come before the command, as for the app.
    assert main(["--continue", "ask", "--backend", "openai", "--base-url", server.base_url, "delta"]) == 0
    assert sent(server)[-1] == ("user", "delta") and len(sent(server)) == 5


def test_continue_with_no_saved_conversation_starts_one(server, capsys) -> None:
    assert ask(server, "--continue", "hello") == 0
    assert "No saved conversation yet; starting a new one." in capsys.readouterr().err
    assert stored_path() == [("user", "hello", 1, 1), ("assistant", "You said: hello", 1, 1)]


@pytest.mark.parametrize(("args", "message"), [
    (["--regenerate", "a new prompt"], "--regenerate asks the conversation's last prompt again, so it takes no PROMPT"),
    (["--continue", "--no-save", "hi"], "--continue adds to a saved conversation, so it is always saved"),
    (["--conversation", "99", "hi"], "there is no conversation 99; `thinkpane ask --continue` continues"),
    (["--regenerate"], "there is no saved conversation to ask again; ask with --save"),
])
def test_mistakes_are_usage_errors_that_say_what_to_do(server, capsys, args, message) -> None:
    assert ask(server, *args) == 2
    assert message in capsys.readouterr().err
    assert server.chat_requests == []


def test_regenerate_in_a_conversation_without_a_prompt_says_so(server, capsys) -> None:
    with ConversationStore(paths.database_path()) as store:
        store.create_conversation("Empty")
    assert ask(server, "--regenerate") == 2
    assert "Conversation 1 has no prompt to ask again" in capsys.readouterr().err
    assert server.chat_requests == []


# --------------------------------------------------------------------------- export


def branched_conversation() -> dict[str, int]:
    """Q1 -> A1 (active: A1b, regenerated) and an edited Q1b -> A1c."""
    with ConversationStore(paths.database_path()) as store:
        cid = store.create_conversation("Branches")
        ids = {"Q1": store.add_message(cid, "user", "Question apple")}
        ids["A1"] = store.add_message(cid, "assistant", "Answer banana", reasoning="r1", model="m1")
        ids["Q1b"] = store.add_message(cid, "user", "Question cherry", parent_id=None)
        ids["A1c"] = store.add_message(cid, "assistant", "Answer damson", model="m2")
        ids["A1b"] = store.add_message(cid, "assistant", "Answer elderberry", parent_id=ids["Q1"], model="m3")
    return ids


def export(capsys, *args: str) -> str:
    assert main(["export", "last", *args]) == 0
    return capsys.readouterr().out


def test_export_without_the_flag_is_the_active_path(capsys) -> None:
    branched_conversation()
    markdown = export(capsys)
    assert "Question apple" in markdown and "Answer elderberry" in markdown
    assert "## Assistant (2 of 2)" in markdown and "## You (1 of 2)" in markdown
    for other in ("banana", "cherry", "damson", "## Branch"):
        assert other not in markdown
    data = json.loads(export(capsys, "--format", "json"))
    assert data["version"] == 1
    assert [m["content"] for m in data["messages"]] == ["Question apple", "Answer elderberry"]
    assert "id" not in data["messages"][0]


def test_export_all_branches_as_json_lists_the_tree(capsys) -> None:
    ids = branched_conversation()
    data = json.loads(export(capsys, "--all-branches", "--format", "json"))
    assert data["version"] == 2
    assert data["conversation"]["active_path"] == [ids["Q1"], ids["A1b"]]
    tree = {m["id"]: (m["parent_id"], m["children"], m["content"]) for m in data["messages"]}
    assert tree == {
        ids["Q1"]: (None, [ids["A1"], ids["A1b"]], "Question apple"),
        ids["A1"]: (ids["Q1"], [], "Answer banana"),
        ids["Q1b"]: (None, [ids["A1c"]], "Question cherry"),
        ids["A1c"]: (ids["Q1b"], [], "Answer damson"),
        ids["A1b"]: (ids["Q1"], [], "Answer elderberry"),
    }
    assert data["messages"][1]["reasoning"] == "r1"


def test_export_all_branches_as_markdown_marks_each_branch(capsys) -> None:
    branched_conversation()
    markdown = export(capsys, "--all-branches")
    sections = markdown.split("## Branch ")[1:]
    assert [section.split("\n", 1)[0] for section in sections] == ["1 of 3 (active)", "2 of 3", "3 of 3"]
    active, regenerated_before, edited = sections
    assert "Question apple" in active and "Answer elderberry" in active
    # The older answer to the same prompt: only what differs, and where it leaves branch 1.
    assert "_Continues branch 1 after “Question apple”._" in regenerated_before
    assert "Answer banana" in regenerated_before and "## You" not in regenerated_before
    assert "_Starts from another first message._" in edited
    assert "Question cherry" in edited and "Answer damson" in edited
    assert markdown.count("Question apple") == 2  # once as a message, once in the note


def test_export_all_branches_of_a_line_has_no_branch_headings(capsys) -> None:
    with ConversationStore(paths.database_path()) as store:
        cid = store.create_conversation("Line")
        store.add_message(cid, "user", "just one")
    assert "## Branch" not in export(capsys, "--all-branches")
    assert export(capsys, "--all-branches").count("## You") == 1
