"""Where a new answer goes in a conversation's tree, for the chat screen and ``thinkpane ask``.

A conversation is a tree of messages with one active path (tui/core/store). Every way of
asking starts the same: a user message is in the store, and the answer is started under it
(``ConversationStore.start_answer(parent_id=...)``) with the path that ends at that message
as the history sent to the backend. What differs is which user message:

* :func:`new_prompt` — a new prompt at the end of the active path (sending, ``ask --continue``);
* :func:`edited_prompt` — an edited prompt, beside the one it replaces (edit and resend);
* :func:`prompt_to_ask_again` — the prompt of an answer, or the last prompt of the active
  path, asked again: the new answer becomes a sibling of the old one (regenerate, ``ask
  --continue --regenerate``).

Each returns a :class:`PendingTurn`. Starting the answer makes it the active leaf, so the
branch the user asked in is the one shown and continued afterwards.

No Textual import: ``thinkpane ask`` uses this without the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thinkpane.backends.errors import ThinkpaneError
from thinkpane.backends.events import Conversation
from thinkpane.tui.core.backend_conversation import backend_conversation


class NothingToAskAgain(ThinkpaneError):
    """There is no prompt to answer again (an empty conversation, an unknown answer)."""

    kind = "branch"


@dataclass(frozen=True)
class PendingTurn:
    """A stored user message about to be answered; ``path`` runs from a first message to it."""

    conversation_id: int
    path: list[Any]  # StoredMessage, oldest first; the last one is the prompt

    @property
    def prompt(self) -> Any:
        return self.path[-1]

    def conversation(self, system: str | None, *, backend: str, model: str, leave_out: int = 0) -> Conversation:
        """What ``backend`` running ``model`` is sent: this path, converted for it, without
        its ``leave_out`` oldest answered turns."""
        return backend_conversation(self.path, system, backend=backend, model=model, leave_out=leave_out)

    def start_answer(self, store: Any, *, backend: str, model: str) -> Any:
        """The AnswerWriter of a new answer under the prompt (now the active leaf)."""
        return store.start_answer(self.conversation_id, backend=backend, model=model, parent_id=self.prompt.id)


def new_prompt(store: Any, conversation_id: int, text: str) -> PendingTurn:
    """Store ``text`` at the end of the active path."""
    store.add_message(conversation_id, "user", text)
    return PendingTurn(conversation_id, store.load_messages(conversation_id))


def edited_prompt(store: Any, prompt_id: int, text: str) -> PendingTurn:
    """Store ``text`` as a sibling of user message ``prompt_id`` (same parent): a new branch."""
    original = store.get_message(prompt_id)
    if original is None or original.role != "user":
        raise NothingToAskAgain("That prompt is no longer in the conversation",
                                "Reopen the conversation (Ctrl+L) and edit a prompt shown there.")
    store.add_message(original.conversation_id, "user", text, parent_id=original.parent_id)
    return PendingTurn(original.conversation_id, store.load_messages(original.conversation_id))


def prompt_to_ask_again(store: Any, conversation_id: int, answer_id: int | None = None) -> PendingTurn:
    """The prompt to answer again: the one ``answer_id`` answered, else the last prompt of
    the active path. The path returned ends with it (anything after it is left out)."""
    if answer_id is None:
        path = store.load_messages(conversation_id)
        prompts = [index for index, message in enumerate(path) if message.role == "user"]
        if not prompts:
            raise NothingToAskAgain(f"Conversation {conversation_id} has no prompt to ask again",
                                    "Ask something first; --regenerate then asks it again.")
        return PendingTurn(conversation_id, path[: prompts[-1] + 1])
    path = store.path_through(answer_id)
    ids = [message.id for message in path]
    answer = path[ids.index(answer_id)] if answer_id in ids else None
    if answer is None or answer.role != "assistant" or answer.parent_id not in ids:
        raise NothingToAskAgain("That answer has no prompt to ask again",
                                "Regenerate an answer that follows one of your prompts.")
    return PendingTurn(conversation_id, path[: ids.index(answer.parent_id) + 1])
