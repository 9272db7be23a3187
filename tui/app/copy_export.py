"""The app's copy-a-code-block and export actions (a mixin of ``ThinkpaneApp``).

Copy: the code blocks of the last answer; one is copied at once, several are offered in a
command palette (first line and language of each) and the chosen one is copied with
``App.copy_to_clipboard`` (OSC 52, so it also works over SSH). The code is sanitised like
terminal output: a pasted block cannot carry an escape sequence or a bidi override.

Export: the open conversation, as stored, as ``thinkpane-<id>-<title>.md|json``. In a
terminal it is written to the current directory (where ``thinkpane export -o`` would write
too), readable by the owner only; the notification names the full path, as plain text (a
path may contain [brackets]). In a browser (``thinkpane serve``: Textual's web driver,
``App.is_web``) the file would land on the server, so it is delivered to the browser as a
download instead (``App.deliver_text``).
"""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.command import (
    CommandPalette,
    DiscoveryHit,
    Hit,
    Hits,
    SimpleCommand,
    SimpleProvider,
)
from textual.content import Content

from thinkpane.backends.errors import ThinkpaneError
from thinkpane.backends.files import write_private
from thinkpane.tui.core.export import (
    CodeBlock,
    export_conversation,
    fenced_code_blocks,
    suggested_filename,
)
from thinkpane.tui.core.sanitize import sanitize, sanitize_line

if TYPE_CHECKING:
    from textual.app import App

    from thinkpane.tui.core.store import ConversationStore
    from thinkpane.tui.screens.chat import ChatScreen

    _AppBase = App[None]
else:
    _AppBase = object

LABEL_WIDTH = 60


class LiteralCommands(SimpleProvider):
    """Palette entries whose names are model text: shown literally, never parsed as markup."""

    async def discover(self) -> Hits:
        for command in self._commands:
            yield DiscoveryHit(Content(command.name), command.callback, text=command.name,
                               help=command.help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands:
            if (score := matcher.match(command.name)) > 0:
                yield Hit(score, Content(command.name), command.callback, text=command.name,
                          help=command.help_text)


def code_block_label(number: int, block: CodeBlock) -> str:
    """``2 · python · def fib(n):`` — which block this is, at a glance, on one line."""
    first = next((line for line in block.code.splitlines() if line.strip()), "")
    first = sanitize_line(first).strip() or "(empty)"
    if len(first) > LABEL_WIDTH:
        first = first[: LABEL_WIDTH - 1] + "…"
    language = sanitize_line(block.language)[:20] or "text"
    return f"{number} · {language} · {first}"


def line_count(code: str) -> int:
    return len(code.splitlines()) if code else 0


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


class CopyExportActions(_AppBase):
    """Actions mixed into ThinkpaneApp (which provides chat, store, notify, push_screen…)."""

    chat: ChatScreen
    store: ConversationStore

    def action_copy_code_block(self) -> None:
        text = self.chat.last_answer_text()
        if not text:
            self.notify("There is no answer to copy code from yet.")
            return
        blocks = fenced_code_blocks(text)
        if not blocks:
            self.notify("The last answer has no code blocks.")
            return
        if len(blocks) == 1:
            self.copy_code(blocks[0].code)
            return
        commands = [
            SimpleCommand(code_block_label(number, block), partial(self.copy_code, block.code),
                          plural(line_count(block.code), "line"))
            for number, block in enumerate(blocks, start=1)
        ]
        # A provider instance with its commands: Textual accepts one (SimpleProvider is made
        # to be), though CommandPalette's annotation names only classes and factories.
        provider = LiteralCommands(self.screen, commands)  # type: ignore[arg-type]
        self.push_screen(CommandPalette(providers=[provider],  # type: ignore[list-item]
                                        placeholder="Copy which code block?"))

    def copy_code(self, code: str) -> None:
        code = sanitize(code)
        self.copy_to_clipboard(code)
        self.notify(f"Copied {plural(line_count(code), 'line')} to the clipboard.")

    def action_export_conversation(self, fmt: str = "md") -> None:
        conversation_id = self.chat.conversation_id
        if conversation_id is None:
            self.notify("There is nothing to export yet: send a prompt first.")
            return
        self.chat.flush_live_answer()  # an answer still streaming is exported as far as it got
        target: Path | None = None
        try:
            summary = self.store.get_conversation(conversation_id)
            text = export_conversation(self.store, conversation_id, fmt)  # no such id: ExportError
            filename = suggested_filename(summary, fmt)
            if self.is_web:
                self.deliver_text(io.StringIO(text), save_filename=filename, encoding="utf-8")
                self.notify(f"Sent {filename} to your browser as a download.", markup=False)
                return
            target = Path.cwd() / filename
            written = write_private(target, text)
        except ThinkpaneError as error:
            self.notify(error.hint or error.title, title=error.title, severity="error", markup=False)
        except OSError as error:
            where = str(target) if target is not None else "the current directory"
            self.notify(f"{error.strerror or error}", title=f"Could not write {where}",
                        severity="error", markup=False)
        else:
            self.notify(f"Exported to {written.resolve()}", markup=False)
