"""What a backend is sent from a stored conversation: the active path only, no reasoning,
and signed reasoning only to the backend and model that signed it."""

from __future__ import annotations

import pytest

from thinkpane.backends.bedrock.history import converse_messages
from thinkpane.tui.core import paths
from thinkpane.tui.core.backend_conversation import backend_conversation
from thinkpane.tui.core.store import ConversationStore

SIGNED = {"bedrock_reasoning": [{"text": "Think.", "signature": "c2ln"}]}


@pytest.fixture
def store():
    with ConversationStore(paths.database_path()) as opened:
        yield opened


def _answer(store, cid, content, *, backend, model, extra=None, parent_id=None, reasoning="thought"):
    kwargs = {} if parent_id is None else {"parent_id": parent_id}
    writer = store.start_answer(cid, backend=backend, model=model, **kwargs)
    writer.append_reasoning(reasoning)
    writer.append_content(content)
    if extra:
        writer.merge_extra(extra)
    writer.finish("complete")
    return writer.message_id


def test_only_the_active_path_is_sent_and_never_the_reasoning(store) -> None:
    cid = store.create_conversation()
    question = store.add_message(cid, "user", "Q1")
    _answer(store, cid, "first answer", backend="openai", model="r1")
    _answer(store, cid, "second answer", backend="openai", model="r1", parent_id=question)
    store.add_message(cid, "user", "Q2")
    conversation = backend_conversation(store.load_messages(cid), "sys", backend="openai", model="r1")
    assert [(m.role, m.content) for m in conversation.messages] == [
        ("user", "Q1"), ("assistant", "second answer"), ("user", "Q2")]
    assert conversation.history_without_reasoning()[2] == {"role": "assistant", "content": "second answer"}


def test_signed_reasoning_goes_only_to_the_backend_and_model_that_made_it(store) -> None:
    cid = store.create_conversation()
    store.add_message(cid, "user", "Q1")
    _answer(store, cid, "signed answer", backend="bedrock", model="claude", extra=SIGNED)
    store.add_message(cid, "user", "Q2")
    path = store.load_messages(cid)

    same = backend_conversation(path, backend="bedrock", model="claude")
    assert same.messages[1].extra == SIGNED
    blocks = converse_messages(same)[1]["content"]
    assert blocks[0]["reasoningContent"]["reasoningText"]["signature"] == "c2ln"

    for backend, model in [("bedrock", "deepseek.r1"), ("openai", "claude")]:
        other = backend_conversation(path, backend=backend, model=model)
        assert other.messages[1].extra == {}
        assert converse_messages(other)[1]["content"] == [{"text": "signed answer"}]
