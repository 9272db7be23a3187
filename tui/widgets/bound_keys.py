"""Which keys a binding has now (the user's ``[keymap]`` applied), written as people write them.

Textual applies the keymap inside its own key dispatch, so code that reads a widget's
``BINDINGS`` sees the defaults. Widgets that handle keys before that dispatch (the prompt,
the conversation list's type-to-search) ask :func:`active_binding`, which is what the
dispatch would run; widgets that name their keys in text (the prompt's placeholder, the
list's help line) ask :func:`bound_keys`, which applies the app's ``keymap`` (the entries
``ThinkpaneApp`` passed to ``set_keymap``) to their declared bindings, wherever the focus is.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode
from textual.keys import key_to_character

# Names shorter than their capitalised key name, as the app's help texts print them.
SHORT_NAMES = {"escape": "Esc"}


def active_binding(node: DOMNode, key: str) -> Binding | None:
    """The binding of ``node`` itself that ``key`` runs now, if any.

    Only bindings in the focus chain are active, so ask for a focused widget or a screen.
    """
    active = node.screen.active_bindings.get(key)
    return active.binding if active is not None and active.node is node else None


def bound_keys(node: DOMNode, binding_id: str) -> list[str]:
    """The keys of ``node``'s binding ``binding_id`` with the app's keymap applied, in order."""
    bindings = BindingsMap(node.BINDINGS)
    bindings.apply_keymap(getattr(node.app, "keymap", {}))
    return [key for key, found in bindings.key_to_bindings.items() if any(b.id == binding_id for b in found)]


def key_hints(node: DOMNode, actions: Sequence[tuple[str, str]]) -> list[str]:
    """``[("prompt.send", "sends")]`` -> ``["Enter sends"]``: each binding's first key, then
    what it does; a binding left without keys is left out."""
    return [
        f"{key_label(keys[0])} {what}" for binding_id, what in actions if (keys := bound_keys(node, binding_id))
    ]


def key_label(key: str) -> str:
    """``ctrl+j`` -> ``Ctrl+J``, ``enter`` -> ``Enter``, ``question_mark`` -> ``?``, ``r`` -> ``r``."""
    *modifiers, name = key.split("+")
    if name in SHORT_NAMES:
        name = SHORT_NAMES[name]
    elif len(name) > 1:
        character = key_to_character(name)
        printable = character is not None and character.isascii() and character.isprintable()
        name = character if character is not None and printable and not character.isspace() else name.capitalize()
    elif modifiers:
        name = name.upper()  # Ctrl+J, as keyboards and menus print it
    return "+".join([*(modifier.capitalize() for modifier in modifiers), name])
