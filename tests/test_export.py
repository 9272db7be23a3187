"""Conversation export (Markdown, JSON), ``code_blocks`` and ``thinkpane export``.

Markdown structure is checked with a real CommonMark parser (markdown-it, which Textual
ships): the turn headings and the reasoning ``<details>`` sections must be exactly ours,
whatever the messages contain.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from markdown_it import MarkdownIt

from tests.hostile import ALL_IN_ONE, assert_inert
from tests.servers.openai_sse import serve
from thinkpane.tui.cli.main import main
from thinkpane.tui.core import paths
from thinkpane.tui.core.export import (
    code_blocks,
    conversation_json,
    conversation_markdown,
    export_conversation,
    suggested_filename,
)
from thinkpane.tui.core.store import ConversationStore


@pytest.fixture
def store():
    paths.ensure_private_dir(paths.data_dir())
    store = ConversationStore(paths.database_path())
    yield store
    store.close()


def add_turn(store, cid, question, answer, reasoning="", **finish):
    store.add_message(cid, "user", question)
    writer = store.start_answer(cid, backend="openai", model="deepseek-reasoner")
    writer.append_reasoning(reasoning)
    writer.append_content(answer)
    writer.set_usage(12, 34)
    writer.set_timing(250, 1500)
    writer.finish(finish.pop("status", "complete"), **finish)


def structure(markdown: str) -> list[tuple[str, str]]:
    """(kind, text) of the blocks that make up an export's skeleton."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    skeleton = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            skeleton.append((token.tag, tokens[index + 1].content))
        elif token.type == "html_block":
            skeleton.append(("html", token.content.strip()))
    return skeleton


def export_md(store, cid) -> str:
    return export_conversation(store, cid, "md")


# --------------------------------------------------------------------------- Markdown


def test_markdown_has_turn_headings_reasoning_details_and_metadata(store) -> None:
    cid = store.create_conversation("Primes", backend="openai", model="deepseek-reasoner")
    add_turn(store, cid, "Is 7 prime?", "Yes, **7** is prime.", "7 has no divisors but 1 and 7.")
    add_turn(store, cid, "And 8?", "No.", "")
    text = export_md(store, cid)
    assert structure(text) == [
        ("h1", "Primes"),
        ("h2", "You"), ("h2", "Assistant"),
        ("html", "<details><summary>Reasoning</summary>"), ("html", "</details>"),
        ("h2", "You"), ("h2", "Assistant"),
    ]
    assert "7 has no divisors but 1 and 7." in text
    assert "Yes, **7** is prime." in text
    assert "openai · deepseek-reasoner · 12 in / 34 out tokens · first token 250 ms · 1.5 s" in text
    assert text.count("<details>") == 1  # no empty reasoning section for the second answer


def test_thinking_setting_usage_details_and_telemetry_are_exported(store) -> None:
    cid = store.create_conversation("Telemetry", backend="openai", model="deepseek-v4-flash")
    store.add_message(cid, "user", "q")
    writer = store.start_answer(cid, backend="openai", model="deepseek-v4-flash")
    writer.append_reasoning("Let me think.")
    writer.append_content("A.")
    writer.merge_extra({"thinkpane_thinking": "on", "thinkpane_effort": "high"})
    writer.set_usage(2000, 500)
    writer.merge_extra({"thinkpane_reasoning_tokens": 420, "thinkpane_cached_input_tokens": 1536,
                        "thinkpane_reasoning_ms": 12300, "thinkpane_first_reasoning_ms": 800,
                        "thinkpane_answer_ms": 3200})
    writer.set_timing(800, 16300)
    writer.finish("complete", stop_reason="end_turn")
    text = export_md(store, cid)
    assert ("openai · deepseek-v4-flash · thinking on · effort high · 2,000 in / 500 out tokens · "
            "420 reasoning tokens · 1,536 cached input tokens · first token 800 ms · thought 12.3 s · "
            "answer 3.2 s · 16.3 s") in text
    answer = conversation_json(store.get_conversation(cid), store.load_messages(cid))["messages"][1]
    assert answer["usage"] == {"input_tokens": 2000, "output_tokens": 500, "reasoning_tokens": 420,
                               "cached_input_tokens": 1536}
    assert answer["thinking"] == {"setting": "on", "effort": "high"}
    assert answer["timing"] == {"first_token_ms": 800, "first_reasoning_ms": 800, "thinking_ms": 12300,
                                "answer_ms": 3200}


def test_cancelled_and_failed_answers_say_so(store) -> None:
    cid = store.create_conversation("t")
    add_turn(store, cid, "q1", "partial", status="cancelled", stop_reason="cancelled")
    add_turn(store, cid, "q2", "half", status="error", error="Server error — try again")
    text = export_md(store, cid)
    assert "· cancelled ·" in text
    assert "· error · error: Server error — try again" in text


HOSTILE_REASONING = (
    "Close it early: </details> and </DETAILS > and <details open><summary>x</summary>\n"
    "## You\n"
    "# Fake title\n"
    "<!-- an HTML comment that never ends\n"
    "```python\nprint('unclosed fence in the reasoning')\n"
)
HOSTILE_ANSWER = "## Assistant\n<pre>\nnever closed\n~~~~\nstill open " + ALL_IN_ONE


def test_hostile_text_cannot_break_the_structure(store) -> None:
    cid = store.create_conversation("# [title](http://x) \x1b]0;pwned\x07\n## You", backend="b", model="m")
    add_turn(store, cid, "## Assistant\n</details>", HOSTILE_ANSWER, HOSTILE_REASONING)
    add_turn(store, cid, "second question", "second answer", "second reasoning")
    text = export_md(store, cid)
    skeleton = structure(text)
    assert [kind for kind, _ in skeleton] == ["h1", "h2", "h2", "html", "html", "h2", "h2", "html", "html"]
    assert [t for kind, t in skeleton if kind == "h2"] == ["You", "Assistant", "You", "Assistant"]
    assert skeleton[3:5] == [("html", "<details><summary>Reasoning</summary>"), ("html", "</details>")]
    assert "second answer" in text and "second reasoning" in text
    assert "\x1b" not in text and "pwned" not in text and "\u202e" not in text
    assert_inert(text, markers=["TITLEOK", "BIDIOK"])
    # The hostile pieces are still there to read, escaped.
    assert "&lt;/details>" in text and "&lt;/DETAILS >" in text
    assert "\\## You" in text and "\\<!-- an HTML comment" in text


def test_unclosed_fence_is_closed_at_the_end_of_its_message(store) -> None:
    cid = store.create_conversation("t")
    add_turn(store, cid, "q", "Here:\n````js\nlet a = 1\n```\nstill code", "")
    add_turn(store, cid, "next", "after", "")
    text = export_md(store, cid)
    assert [t for kind, t in structure(text) if kind == "h2"] == ["You", "Assistant", "You", "Assistant"]
    assert code_blocks(text)[0] == "let a = 1\n```\nstill code"


# --------------------------------------------------------------------------- JSON


def test_json_keeps_exact_text_usage_timestamps_and_no_secrets(store) -> None:
    cid = store.create_conversation(ALL_IN_ONE, backend="openai", model="deepseek-reasoner", system="Be brief.")
    add_turn(store, cid, ALL_IN_ONE, ALL_IN_ONE, ALL_IN_ONE, stop_reason="end_turn")
    add_turn(store, cid, "q", "a", status="error",
             error="Authentication failed — key sk-exportsecret1234567890 is invalid")
    raw = export_conversation(store, cid, "json")
    assert raw.isascii() and "\x1b" not in raw
    data = json.loads(raw)
    assert data["format"] == "thinkpane.conversation" and data["version"] == 1
    assert data["conversation"]["title"] == ALL_IN_ONE and data["conversation"]["system"] == "Be brief."
    user, answer, _, failed = data["messages"]
    assert user == {**user, "role": "user", "content": ALL_IN_ONE}
    assert answer["content"] == ALL_IN_ONE and answer["reasoning"] == ALL_IN_ONE
    assert answer["usage"] == {"input_tokens": 12, "output_tokens": 34}
    assert (answer["status"], answer["backend"], answer["model"]) == ("complete", "openai", "deepseek-reasoner")
    assert (answer["ttft_ms"], answer["elapsed_ms"], answer["stop_reason"]) == (250, 1500, "end_turn")
    assert answer["created_at"].endswith("Z") and answer["finished_at"].endswith("Z")
    assert "sk-exportsecret1234567890" not in raw
    assert failed["status"] == "error" and "********" in failed["error"]
    assert "sk-exportsecret" not in export_conversation(store, cid, "md")


def test_conversation_functions_take_store_records(store) -> None:
    cid = store.create_conversation("x")
    add_turn(store, cid, "q", "a", "r")
    summary, messages = store.get_conversation(cid), store.load_messages(cid)
    assert conversation_json(summary, messages)["messages"][1]["reasoning"] == "r"
    assert conversation_markdown(summary, messages).startswith("# x\n")


def test_suggested_filename_is_safe(store) -> None:
    cid = store.create_conversation("Is 7 prime? ../../etc/passwd \x1b]0;x\x07 ünï")
    summary = store.get_conversation(cid)
    name = suggested_filename(summary, "json")
    assert name.startswith(f"thinkpane-{cid}-is-7-prime-etc-passwd") and name.endswith(".json")
    assert "/" not in name and "\x1b" not in name
    assert suggested_filename(store.get_conversation(store.create_conversation("???")), "md") == f"thinkpane-{cid + 1}.md"


# --------------------------------------------------------------------------- code blocks


def test_code_blocks_finds_fenced_blocks_in_order() -> None:
    text = (
        "Intro `inline ``` not a fence`\n\n"
        "```python\nprint(1)\n\nprint(2)\n```\n\n"
        "~~~\ntilde block\n~~~\n\n"
        "````markdown\n```\nnested fence\n```\n````\n\n"
        "  ```\n  indented\n    more\n  ```\n\n"
        "``` not closed by a fence with text after it\nbody\n``` x\n```\n\n"
        "```\nunclosed at the end\n"
    )
    assert code_blocks(text) == [
        "print(1)\n\nprint(2)",
        "tilde block",
        "```\nnested fence\n```",
        "indented\n  more",
        "body\n``` x",
        "unclosed at the end",
    ]


def test_code_blocks_of_text_without_fences_is_empty() -> None:
    assert code_blocks("") == []
    assert code_blocks("just `code` and text\n    indented code is not fenced") == []
    assert code_blocks("``` \n```") == [""]


# --------------------------------------------------------------------------- thinkpane export


def saved_conversation(capsys) -> int:
    with serve() as server:
        assert main(["ask", "--backend", "openai", "--base-url", server.base_url, "--save", "hello export"]) == 0
    err = capsys.readouterr().err
    return int(err.split("Saved as conversation ")[1].split()[0])


def test_cli_exports_last_as_markdown_to_stdout(capsys) -> None:
    saved_conversation(capsys)
    assert main(["export", "last"]) == 0
    out = capsys.readouterr().out
    assert [t for kind, t in structure(out) if kind == "h2"] == ["You", "Assistant"]
    assert "hello export" in out and "You said: hello export" in out
    assert "<summary>Reasoning</summary>" in out and "I should echo it back." in out


def test_cli_exports_an_id_to_a_private_json_file(capsys, tmp_path) -> None:
    cid = saved_conversation(capsys)
    target = tmp_path / "chat.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    assert main(["export", str(cid), "-o", str(target)]) == 0
    assert f"Exported conversation {cid} to" in capsys.readouterr().err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    data = json.loads(target.read_text())
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][1]["content"] == "You said: hello export"
    assert main(["export", str(cid), "--format", "md", "-o", str(tmp_path / "chat.txt")]) == 0
    assert (tmp_path / "chat.txt").read_text().startswith("# hello export")


@pytest.mark.parametrize("args, words", [
    (["export", "last"], "no saved conversations"),
    (["export", "abc"], "not a conversation id"),
])
def test_cli_export_errors_without_history(capsys, args, words) -> None:
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and words in err and "Traceback" not in err


def test_cli_export_unknown_id_and_unwritable_file(capsys, tmp_path) -> None:
    saved_conversation(capsys)
    assert main(["export", "999"]) == 1
    assert "There is no conversation 999" in capsys.readouterr().err
    assert main(["export", "last", "-o", str(tmp_path / "missing-dir" / "x.md")]) == 1
    err = capsys.readouterr().err
    assert "Could not write" in err and "-o" in err
