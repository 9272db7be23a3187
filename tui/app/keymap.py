"""The user's ``[keymap]``, checked before the app applies it: known binding ids, real keys.

Textual's ``App.set_keymap`` skips an id no binding has and binds a key no terminal sends,
so a typo (``chat.nwe``, ``ctrl+shift+banana``) would silently do nothing. :func:`check_keymap`
keeps the entries that can work and says what is wrong with each other one; the app shows
that with the file and line (``config.setting_location``), as it shows unknown settings.

The binding ids are read from the ``BINDINGS`` of Thinkpane's own widgets, screens and app,
so a binding added with an ``id=`` can be remapped without touching this file.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import Keys, key_to_character

MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
# Key names Textual reports besides characters: escape, enter, tab, up, pageup, f1...f24.
NAMED_KEYS = frozenset(key.value.rsplit("+", 1)[-1] for key in Keys if not key.value.startswith("<"))
KEY_EXAMPLES = "write keys like ctrl+s, f5, alt+up or question_mark, several separated by commas"


def default_keys() -> dict[str, str]:
    """Binding id -> its declared keys, for every binding of Thinkpane's that has an id."""
    # Loaded for their classes: every screen and widget with bindings is imported by these.
    for module in ("thinkpane.tui.app.app", "thinkpane.tui.screens.conversations", "thinkpane.tui.screens.setup"):
        importlib.import_module(module)

    keys: dict[str, str] = {}
    pending: list[type] = [DOMNode]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__module__.startswith("thinkpane."):
            continue
        for binding in vars(cls).get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id:
                keys.setdefault(binding.id, binding.key)
    return keys


def key_problem(key: str) -> str | None:
    """What is wrong with one key such as ``ctrl+s``; None when a terminal can send it."""
    *modifiers, name = key.strip().split("+")
    for modifier in modifiers:
        if modifier not in MODIFIERS:
            return f"{modifier!r} is not a modifier (use {', '.join(MODIFIERS)})"
    if len(set(modifiers)) != len(modifiers):
        return "a modifier is repeated"
    if len(name) == 1 or name in NAMED_KEYS:
        return None
    character = key_to_character(name) if name else None
    if character is not None and character.isascii() and character.isprintable():
        return None  # a character's name: question_mark, full_stop, slash...
    return f"{name!r} is not a key name" if name else "a key is missing"


def check_keymap(keymap: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the entries that can work, binding id -> what is wrong with its entry)."""
    if not keymap:
        return {}, {}  # default_keys() imports every screen, the setup screen's pydantic too
    known = default_keys()
    usable: dict[str, str] = {}
    problems: dict[str, str] = {}
    for binding_id, keys in keymap.items():
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, known, n=1)
            problems[binding_id] = f"unknown binding id {binding_id!r} ignored" + (
                f" (did you mean {close[0]!r}?)" if close else "; the ids are " + ", ".join(sorted(known))
            )
            continue
        keeps = f"{binding_id} keeps {known[binding_id]}"
        if not keys.strip():
            problems[binding_id] = f"no key given for {binding_id}; {keeps}"
            continue
        for key in keys.split(","):
            if problem := key_problem(key):
                problems[binding_id] = f"{key.strip()!r} for {binding_id} is not a key: {problem}; {keeps} ({KEY_EXAMPLES})"
                break
        else:
            usable[binding_id] = ",".join(key.strip() for key in keys.split(","))
    return usable, problems
