"""Export a stored conversation to Markdown or JSON; find the code blocks of an answer.

Markdown: ``# Title``, then per turn a ``## You`` or ``## Assistant`` heading (``(2 of 3)``
after it when the turn has siblings: regenerated answers, edited prompts), the assistant's
reasoning in a collapsible ``<details><summary>Reasoning</summary>`` block, and a metadata
line (model, thinking setting and effort, tokens with the reasoning and prompt-cache shares,
timing with the thinking time, how it ended). JSON: every message with its role, content,
reasoning, status, usage, backend, model and timestamps, exactly as stored, plus ``thinking``
(setting, effort) and ``timing`` (first token, first reasoning, thinking and answer time in
ms) as :class:`~thinkpane.tui.core.turn_record.TurnRecord` reads them from the message's extra
JSON.

By default only the active path is exported (the branch the app shows). With
``all_branches`` the whole tree is: the Markdown has one ``## Branch N of M`` section per
leaf, the active branch first and in full, each other one from where it leaves an earlier
branch; the JSON (version 2) lists every message with its ``id``, ``parent_id`` and
``children``, and the conversation's ``active_path``.

Hostile text cannot break the document's structure: a ``</details>`` (or ``<details>``,
``<summary>``) in a message is escaped, a fenced code block left open is closed at the end
of its message, and a line that would fake one of our turn headings is escaped. The
Markdown is sanitised like terminal output (escape sequences, control characters, bidi
overrides removed: ``cat export.md`` is safe); the JSON keeps the stored text exactly,
escaped. Model text is stored already sanitised (thinkpane.tui.core.sanitize), so both
formats hold what the app showed; the Markdown is sanitised again for prompts (stored as
typed) and for conversations stored by earlier versions, which kept the raw text.

Neither format holds settings or secrets: the store never receives them, and error texts
are passed through :func:`thinkpane.backends.secrets.redact` once more on the way out.

No Textual import: ``thinkpane export`` runs without the UI.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thinkpane.backends.errors import ThinkpaneError
from thinkpane.backends.files import write_private
from thinkpane.backends.secrets import redact
from thinkpane.tui.core.backend_conversation import title_from_prompt
from thinkpane.tui.core.fences import closes_fence, info_language, opening_fence
from thinkpane.tui.core.sanitize import sanitize, sanitize_line
from thinkpane.tui.core.turn_record import TurnRecord

FORMATS = ("md", "json")
JSON_FORMAT_ID = "thinkpane.conversation"
JSON_FORMAT_VERSION = 1
JSON_TREE_VERSION = 2  # --all-branches: ids, parents, children and the active path

# Tags that make up our reasoning section; escaped wherever they appear in message text.
_STRUCTURE_TAG = re.compile(r"<(/?\s*(?:details|summary)\b)", re.IGNORECASE)
# A line that would read as one of our own headings (# Title, ## You, ## Assistant), or
# that would start an HTML block (an unclosed <!-- or <pre> hides the rest of the file).
_FAKE_HEADING = re.compile(r"^( {0,3})(#{1,2})(?=[ \t]|$)")
_HTML_BLOCK_START = re.compile(r"^( {0,3})<")
_INLINE_SPECIALS = re.compile(r"([\\`*_\[\]<>#|~!&])")


# --------------------------------------------------------------------------- code blocks


@dataclass(frozen=True)
class CodeBlock:
    """One fenced code block: its info-string language (may be "") and its body."""

    language: str
    code: str


def code_blocks(markdown_text: str) -> list[str]:
    """The bodies of the fenced code blocks in ``markdown_text``, in order (for "copy code")."""
    return [block.code for block in fenced_code_blocks(markdown_text)]


def fenced_code_blocks(markdown_text: str) -> list[CodeBlock]:
    """The fenced code blocks in ``markdown_text``, in order, with their languages.

    Follows CommonMark: a fence is 3+ backticks or tildes indented at most 3 spaces; it
    closes with a fence of the same character at least as long, with nothing after it. An
    unclosed block runs to the end (a cut-off answer still has its code). The opener's
    indentation is removed from the body lines, as a renderer would. The language is the
    first word of the info string (```` ```python title="x" ```` -> ``python``).
    """
    blocks: list[CodeBlock] = []
    lines = markdown_text.splitlines()
    index = 0
    while index < len(lines):
        opening = opening_fence(lines[index])
        if opening is None:
            index += 1
            continue
        fence, info = opening
        indent = len(lines[index]) - len(lines[index].lstrip(" "))
        body: list[str] = []
        index += 1
        while index < len(lines):
            if closes_fence(lines[index], fence):
                break
            line = lines[index]
            strip = min(indent, len(line) - len(line.lstrip(" ")))
            body.append(line[strip:])
            index += 1
        blocks.append(CodeBlock(info_language(info), "\n".join(body)))
        index += 1
    return blocks


# --------------------------------------------------------------------------- Markdown


def conversation_markdown(summary: Any, messages: Sequence[Any]) -> str:
    """The conversation as a Markdown document (see the module docstring)."""
    out = _markdown_head(summary)
    for message in messages:
        out += _message_markdown(message)
    return "\n".join(out).rstrip("\n") + "\n"


def conversation_tree_markdown(summary: Any, messages: Sequence[Any], active_path: Sequence[int]) -> str:
    """Every branch of the conversation, the active one first (see the module docstring)."""
    by_id = {message.id: message for message in messages}
    has_children = {message.parent_id for message in messages}
    leaves = [message.id for message in messages if message.id not in has_children]
    active_leaf = active_path[-1] if active_path else None
    order = ([active_leaf] if active_leaf in by_id else []) + [leaf for leaf in leaves if leaf != active_leaf]
    out = _markdown_head(summary)
    branch_of: dict[int, int] = {}  # message id -> the branch that printed it
    for number, leaf in enumerate(order, start=1):
        path = _path_to(by_id, leaf)
        start = next((index for index, message in enumerate(path) if message.id not in branch_of), len(path))
        if len(order) > 1:
            out += [f"## Branch {number} of {len(order)}" + (" (active)" if leaf == active_leaf else ""), ""]
            if start == 0 and number > 1:
                out += ["_Starts from another first message._", ""]
            elif start > 0:
                parent = path[start - 1]
                out += [f"_Continues branch {branch_of[parent.id]} after “{_excerpt(parent.content)}”._", ""]
        for message in path[start:]:
            branch_of[message.id] = number
            out += _message_markdown(message)
    return "\n".join(out).rstrip("\n") + "\n"


def _markdown_head(summary: Any) -> list[str]:
    out: list[str] = [f"# {_inline(summary.title) or 'Untitled'}", ""]
    details = [f"Exported from Thinkpane · conversation {summary.id}",
               f"started {_iso(summary.created_at)}"]
    if summary.model or summary.backend:
        details.append(_inline(" · ".join(p for p in (summary.backend, summary.model) if p)))
    out += ["_" + " · ".join(details) + "_", ""]
    if getattr(summary, "system", None):
        out += ["## System", "", _block(summary.system), ""]
    return out


def _message_markdown(message: Any) -> list[str]:
    count = getattr(message, "sibling_count", 1)
    of = f" ({message.sibling_index} of {count})" if count > 1 else ""
    if message.role == "user":
        return [f"## You{of}", "", _block(message.content), ""]
    if message.role == "assistant":
        out = [f"## Assistant{of}", ""]
        if message.reasoning:
            out += ["<details><summary>Reasoning</summary>", "", _block(message.reasoning), "", "</details>", ""]
        if message.content:
            out += [_block(message.content), ""]
        return [*out, "_" + _metadata(message) + "_", ""]
    return [f"## {_inline(message.role.capitalize())}{of}", "", _block(message.content), ""]


def _path_to(by_id: dict[int, Any], leaf: int) -> list[Any]:
    path = [by_id[leaf]]
    while path[-1].parent_id in by_id:
        path.append(by_id[path[-1].parent_id])
    return path[::-1]


def _excerpt(text: str) -> str:
    """The start of a message on one line, as a conversation title is made from a prompt."""
    return _inline(title_from_prompt(text)) if sanitize_line(text).strip() else "(empty)"


def _block(text: str) -> str:
    """Message text made safe to embed: sanitised, our structure tags escaped, fences closed."""
    lines: list[str] = []
    open_fence: str | None = None
    for line in sanitize(text).split("\n"):
        if open_fence is None:
            opening = opening_fence(line)
            if opening is not None:
                open_fence = opening[0]
            else:
                line = _FAKE_HEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), line)
                line = _STRUCTURE_TAG.sub(r"&lt;\1", line)
                line = _HTML_BLOCK_START.sub(r"\1\\<", line)
        elif closes_fence(line, open_fence):
            open_fence = None
        lines.append(line)
    if open_fence is not None:
        lines.append(open_fence)  # an answer cut off inside a code block: close it here
    return "\n".join(lines).strip("\n")


def _inline(text: str) -> str:
    """One line of plain text in a heading or metadata: no newlines, no Markdown syntax."""
    return _INLINE_SPECIALS.sub(r"\\\1", sanitize_line(text))


def _metadata(message: Any) -> str:
    record = TurnRecord.from_stored(message)
    parts = [_inline(" · ".join(p for p in (message.backend, message.model) if p)) or "unknown model"]
    if setting := record.setting_label():
        parts.append(_inline(setting))
    if message.input_tokens is not None or message.output_tokens is not None:
        parts.append(f"{_count(message.input_tokens)} in / {_count(message.output_tokens)} out tokens")
    if record.reasoning_tokens is not None:
        parts.append(f"{record.reasoning_tokens:,} reasoning tokens")
    if record.cached_input_tokens:
        parts.append(f"{record.cached_input_tokens:,} cached input tokens")
    if record.cache_write_tokens:
        parts.append(f"{record.cache_write_tokens:,} written to the cache")
    if message.ttft_ms is not None:
        parts.append(f"first token {message.ttft_ms:,} ms")
    if record.first_reasoning_ms is not None and record.first_reasoning_ms != message.ttft_ms:
        parts.append(f"first reasoning {record.first_reasoning_ms:,} ms")
    if record.reasoning_ms is not None:
        parts.append(f"thought {record.reasoning_ms / 1000:.1f} s")
    if record.answer_ms is not None:
        parts.append(f"answer {record.answer_ms / 1000:.1f} s")
    if message.elapsed_ms is not None:
        parts.append(f"{message.elapsed_ms / 1000:.1f} s")
    if message.status != "complete":
        parts.append(message.status)
    elif message.stop_reason and message.stop_reason != "end_turn":
        parts.append(f"stopped: {_inline(message.stop_reason)}")
    if message.error:
        parts.append("error: " + _inline(redact(message.error)))
    parts.append(_iso(message.created_at))
    return " · ".join(parts)


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


# --------------------------------------------------------------------------- JSON


def conversation_json(
    summary: Any, messages: Sequence[Any], active_path: Sequence[int] | None = None
) -> dict[str, Any]:
    """The conversation as plain data: exact text, no settings, no secrets.

    With ``active_path`` (the whole tree in ``messages``): version 2, each message with its
    ``id``, ``parent_id`` and ``children``, and the conversation's ``active_path``.
    """
    tree = active_path is not None
    children: dict[int | None, list[int]] = {}
    for m in messages:
        children.setdefault(m.parent_id, []).append(m.id)
    conversation = {
        "id": summary.id,
        "title": summary.title,
        "backend": summary.backend,
        "model": summary.model,
        "system": getattr(summary, "system", None),
        "created_at": _iso(summary.created_at),
        "updated_at": _iso(summary.updated_at),
    }
    if active_path is not None:
        conversation["active_path"] = list(active_path)
    return {
        "format": JSON_FORMAT_ID,
        "version": JSON_TREE_VERSION if tree else JSON_FORMAT_VERSION,
        "conversation": conversation,
        "messages": [
            {
                **({"id": m.id, "parent_id": m.parent_id, "children": children.get(m.id, [])} if tree else {}),
                "role": m.role,
                "content": m.content,
                "reasoning": m.reasoning,
                "status": m.status,
                "backend": m.backend,
                "model": m.model,
                "usage": _usage_json(m),
                **_turn_json(m),
                "stop_reason": m.stop_reason,
                "error": redact(m.error) if m.error else m.error,
                "ttft_ms": m.ttft_ms,
                "elapsed_ms": m.elapsed_ms,
                "created_at": _iso(m.created_at),
                "finished_at": _iso(m.finished_at) if m.finished_at else None,
                "extra": _json_safe(m.extra),
            }
            for m in messages
        ],
    }


def _usage_json(message: Any) -> dict[str, Any]:
    """Input and output tokens, and the details the provider reported (only those)."""
    usage: dict[str, Any] = {"input_tokens": message.input_tokens, "output_tokens": message.output_tokens}
    if message.role != "assistant":
        return usage
    record = TurnRecord.from_stored(message)
    for name in ("reasoning_tokens", "cached_input_tokens", "cache_write_tokens"):
        if (value := getattr(record, name)) is not None:
            usage[name] = value
    return usage


def _turn_json(message: Any) -> dict[str, Any]:
    """An answer's thinking setting and timings (``{}`` for the user's messages)."""
    if message.role != "assistant":
        return {}
    record = TurnRecord.from_stored(message)
    return {"thinking": {"setting": record.thinking, "effort": record.effort}, "timing": record.timing_json()}


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return {}
    return value


def _iso(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    moment = _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- one call


def export_conversation(store: Any, conversation_id: int, fmt: str = "md", *, all_branches: bool = False) -> str:
    """The text of conversation ``conversation_id`` in format ``fmt`` ("md" or "json"): its
    active path, or with ``all_branches`` its whole tree.

    Raises :class:`ExportError` when there is no such conversation.
    """
    summary = store.get_conversation(conversation_id)
    if summary is None:
        raise ExportError(
            f"There is no conversation {conversation_id}",
            "Use `last` for the most recent one, or the id `thinkpane ask --save` printed.",
        )
    messages = store.load_messages(conversation_id)
    if all_branches:
        active_path = [message.id for message in messages]
        tree = store.load_tree(conversation_id)
        if fmt == "json":
            return json.dumps(conversation_json(summary, tree, active_path), ensure_ascii=True, indent=2) + "\n"
        return conversation_tree_markdown(summary, tree, active_path)
    if fmt == "json":
        return json.dumps(conversation_json(summary, messages), ensure_ascii=True, indent=2) + "\n"
    return conversation_markdown(summary, messages)


def format_for(path: str | None, fmt: str | None) -> str:
    """The format asked for, else guessed from the output file's suffix, else Markdown."""
    if fmt:
        return fmt
    if path and Path(path).suffix.lower() == ".json":
        return "json"
    return "md"


def suggested_filename(summary: Any, fmt: str = "md") -> str:
    """A safe file name for an export, e.g. ``thinkpane-12-is-7-prime.md`` (for the app's dialog)."""
    slug = re.sub(r"[^a-z0-9]+", "-", sanitize(summary.title or "").lower()).strip("-")[:40].rstrip("-")
    return f"thinkpane-{summary.id}" + (f"-{slug}" if slug else "") + f".{fmt}"


class ExportError(ThinkpaneError):
    kind = "export"


def run_export(
    target: str, *, fmt: str | None, output: str | None, out: Any, err: Any, all_branches: bool = False
) -> int:
    """``thinkpane export ID|last [--format md|json] [-o FILE] [--all-branches]``; the exit code.

    Store errors propagate as ThinkpaneErrors (the CLI prints their title and hint, exit 1).
    """
    from thinkpane.tui.core import paths
    from thinkpane.tui.core.store import ConversationStore

    if target != "last" and not target.isdigit():
        raise ExportError(
            f"{target!r} is not a conversation id",
            "Give a number (the id `thinkpane ask --save` printed) or `last`.",
        )
    if not paths.database_path().exists():
        raise ExportError("There are no saved conversations yet",
                          "Chat in the app, or use `thinkpane ask --save`, then export.")
    store = ConversationStore(paths.database_path())
    try:
        conversation_id = store.last_conversation_id() if target == "last" else int(target)
        if conversation_id is None:
            raise ExportError("There are no saved conversations yet",
                              "Chat in the app, or use `thinkpane ask --save`, then export.")
        text = export_conversation(store, conversation_id, format_for(output, fmt), all_branches=all_branches)
    finally:
        store.close()
    if output is None or output == "-":
        out.write(text)
        out.flush()
        return 0
    try:
        # 0600: a chat can be private. A mistyped folder is an error, not a new folder.
        written = write_private(output, text, make_folder=False)
    except OSError as error:
        raise ExportError(f"Could not write {output}", f"{error.strerror or error}. "
                          "Choose another file with -o, or leave -o out to print to stdout.") from None
    err.write(f"Exported conversation {conversation_id} to {written}\n")
    return 0
