"""Every ``--flag`` a message names can be typed: the real command-line parser accepts it.

The texts are the string literals of ``backends/`` and ``tui/`` (hints, error titles, help
texts, notices); docstrings are left out, since they may describe other programs' flags.
Each flag is tried on the parsers ``thinkpane.tui.cli.main.build_parser`` builds for every
command, with every built-in backend's declared options as flags. A flag written with a
true/false word after it (``--verify-tls false``) must accept that word: a switch such as
``--verify-tls`` takes none (it is ``--no-verify-tls``).
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

import pytest

from thinkpane.backends import registry
from thinkpane.tui.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w-])(?:[ =]([\w.:/-]+))?")
BOOL_WORDS = {"true", "false", "yes", "no", "on", "off"}
# A command line that reaches each parser; the flag under test is added at the end.
COMMANDS = {None: [], "ask": ["ask", "a prompt"], "setup": ["setup", "{backend}"],
            "teardown": ["teardown", "{backend}"], "export": ["export", "last"], "backends": ["backends"],
            "serve": ["serve"], "models": ["models", "list"]}


def _texts() -> list[tuple[str, int, str]]:
    """(file, line, text) of every string literal that is not a docstring."""
    found = []
    for path in sorted([*(ROOT / "backends").rglob("*.py"), *(ROOT / "tui").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str)
        }
        found += [
            (str(path.relative_to(ROOT)), node.lineno, node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        ]
    return found


def _mentions() -> list[tuple[str, str | None, str]]:
    """(flag, the word written after it or None, where) for every flag a text names."""
    mentions = {}
    for path, line, text in _texts():
        for match in FLAG.finditer(text):
            flag, word = match.group(1), (match.group(2) or "").rstrip(".:").lower()
            key = (flag, word if word in BOOL_WORDS else None)  # "--verify-tls false." ends a sentence
            mentions.setdefault(key, f"{path}:{line}")
    return [(flag, word, where) for (flag, word), where in sorted(mentions.items(), key=str)]


def _usage_error(argv: list[str], command: str | None, backend_class) -> str:
    """argparse's complaint about ``argv`` ('' when it parses; --help and --version count as parsing)."""
    parser = build_parser(command, backend_class)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            return "" if exc.code == 0 else err.getvalue() or "error"
    return ""


def _known(error: str, flag: str) -> bool:
    """The parser knows ``flag``: it did not list it as unrecognized (it may dislike its value)."""
    unrecognized = error.partition("unrecognized arguments:")[2].split()
    return not any(arg.partition("=")[0] == flag for arg in unrecognized) and f"ambiguous option: {flag}" not in error


def _accepted(flag: str, word: str | None) -> bool:
    backends = [registry.load(name) for name in registry.BUILTIN]
    for command, base in COMMANDS.items():
        for backend_class in [None, *backends] if command in (None, "ask", "setup", "teardown") else [None]:
            name = backend_class.name if backend_class else "openai"
            prefix = [part.format(backend=name) for part in base]
            if command in (None, "ask") and backend_class is not None:
                prefix = ["--backend", name, *prefix]
            if word is not None:  # written with a true/false word: exactly that must parse
                if not _usage_error([*prefix, flag, word], command, backend_class):
                    return True
            elif _known(_usage_error([*prefix, f"{flag}=1"], command, backend_class), flag):
                return True
    return False


MENTIONS = _mentions()


def test_the_texts_name_flags_at_all() -> None:
    flags = {flag for flag, _, _ in MENTIONS}
    assert {"--timeout-s", "--request-timeout-s", "--ca-bundle", "--no-verify-tls", "--url"} <= flags


@pytest.mark.parametrize(("flag", "word", "where"), MENTIONS, ids=[f"{f} {w or ''}".strip() for f, w, _ in MENTIONS])
def test_every_flag_a_message_names_exists(flag: str, word: str | None, where: str) -> None:
    written = f"{flag} {word}" if word else flag
    assert _accepted(flag, word), f"{where} names `{written}`, which `thinkpane` does not accept"
