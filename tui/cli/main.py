"""The ``thinkpane`` command: the TUI, ``ask``, ``compare``, ``setup``, ``teardown``, ``backends``,
``export``, ``models``, ``serve``, ``doctor``.

Startup speed matters (``llm --help`` takes 0.9 s, gptme took 8 s): this module imports
only argparse at the top. Settings (pydantic), backends (httpx, boto3...) and the TUI
(textual) are imported when a command needs them, never to print ``--help``. Launching the
TUI reads the settings without pydantic and checks the configured backend's options without
its SDK (config.read_settings; the app validates them after its first frame).

Backend options become flags (``--base-url``, ``--api-key``, ``--region``...), and which
options exist depends on the backend, so arguments are parsed twice: first just enough to
learn the command and the backend, then with that backend's option flags added. Those
flags, like ``--backend`` and ``--model``, may come before the command or after it.

``--profile NAME`` (the app, ``ask``) picks a profile from config.toml (tui/core/profiles.py):
its backend decides which option flags exist, so it is peeked at with ``--backend``; the two
are exclusive. ``--compare SPEC...`` opens the app at the compare screen.

Exit codes: 0 success; 1 the backend or a provisioning step failed (``compare``: a column
failed); 2 usage errors (an option value that does not fit, e.g. ``--timeout-s 0``, an
unknown profile, a malformed compare spec), an unknown backend, a broken config file or a
value in it that does not fit (and, when launching the TUI, an unusable backend given by
flags); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

COMMANDS = ("ask", "compare", "setup", "teardown", "backends", "export", "models", "serve", "doctor")
OPTION_DEST_PREFIX = "opt__"

BACKEND_HELP_NOTE = (
    "Backend options (--base-url, --api-key, --region...) depend on the backend: "
    "add --backend NAME to --help to list them, or run `thinkpane backends`."
)


# ThinkpaneError kinds that are the user's command line or config file at fault: exit 2.
USAGE_KINDS = ("config_file", "unknown_backend", "usage")


class UsageError(Exception):
    """A mistake in the command line: printed with the usage hint, exit code 2."""


class _VersionAction(argparse.Action):
    """``--version``: the version pip installed (package metadata), read only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import version

        print(f"thinkpane {version('thinkpane')}")
        parser.exit()

def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from thinkpane.backends.log_redaction import install as redact_log_records
    from thinkpane.tui.core import collector

    command = _find_command(argv)
    launching = command is None  # the app (or only --help, --version)
    if launching:
        collector.pause_for_startup()  # until the app's first frame (tui/core/collector.py)
    redact_log_records()  # libraries log requests (botocore DEBUG prints auth headers)
    try:
        return _run(argv, command)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted.\n")
        return 130
    except BrokenPipeError:
        # The reader closed the pipe (`thinkpane ask ... | head`). Point stdout at devnull so
        # the interpreter's final flush does not complain, and exit like a process killed
        # by SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except UsageError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 2
    except Exception as exc:
        from thinkpane.backends.errors import ThinkpaneError

        if not isinstance(exc, ThinkpaneError):
            raise
        from thinkpane.tui.cli.ask import print_error

        print_error(exc, sys.stderr)
        return 2 if exc.kind in USAGE_KINDS else 1
    finally:
        if launching:
            collector.resume()  # if the app ended before its first frame


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


# --------------------------------------------------------------------------- parsing


def _run(argv: list[str], command: str | None) -> int:
    """``command``: the one ``argv`` names (_find_command), None for the app."""
    wants_help = _wants_help(argv)
    backend_class = None
    settings = None
    if command == "doctor":
        names = _doctor_backends(argv)
        if not names and not wants_help:
            settings = _load_settings()
            names = [settings.backend]
        if len(names) == 1:  # its option flags (--base-url...) can be given
            backend_class = _load_backend_class(names[0], lenient=True)
    elif command in (None, "ask", "setup", "teardown"):
        backend_name = _peek_backend(argv, command)
        profile = _peek_profile(argv) if command in (None, "ask") else None
        if profile is not None:
            if backend_name is not None:
                raise UsageError("give --profile or --backend, not both: a profile names its backend")
            if not wants_help:
                settings = _load_settings()
                backend_name = _profile_backend(settings, profile)
        # Launching with the configured backend must not fail here (e.g. the local extra is
        # not installed on first launch): the app shows the problem and offers setup.
        lenient = wants_help or (command is None and backend_name is None)
        if backend_name is None and not wants_help and command in (None, "ask"):
            settings = _load_settings(deferred=command is None)
            backend_name = settings.backend
        if backend_name is not None:
            backend_class = _load_backend_class(backend_name, lenient=lenient)
    parser = build_parser(command, backend_class, with_commands=bool(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        return _launch(args, settings, backend_class)
    if args.command == "ask":
        return _ask(args, settings, backend_class)
    if args.command == "compare":
        return _compare(args, settings)
    if args.command == "setup":
        return _setup(args, backend_class)
    if args.command == "teardown":
        return _teardown(args, backend_class)
    if args.command == "backends":
        return _list_backends(sys.stdout)
    if args.command == "doctor":
        return _doctor(args, settings)
    if args.command == "models":
        from thinkpane.tui.cli.models import run as run_models

        return run_models(args)
    if args.command == "export":
        from thinkpane.tui.core.export import run_export

        return run_export(args.target, fmt=args.format, output=args.output, all_branches=args.all_branches,
                          out=sys.stdout, err=sys.stderr)
    if args.command == "serve":
        from thinkpane.tui.cli.serve import run_serve

        return run_serve(args, out=sys.stdout, err=sys.stderr)
    raise UsageError(f"unknown command {args.command!r}")  # pragma: no cover - argparse checks


def _find_command(argv: list[str]) -> str | None:
    for arg in argv:
        if arg == "--":
            return None
        if arg in COMMANDS:
            return arg
    return None


def _wants_help(argv: list[str]) -> bool:
    for arg in argv:
        if arg == "--":
            return False
        if arg in ("-h", "--help"):
            return True
    return False


def _doctor_backends(argv: list[str]) -> list[str]:
    """The backends ``doctor`` is asked about: every NAME after a ``--backend``, before or
    after the command (``thinkpane doctor --backend openai bedrock``)."""
    names: list[str] = []
    taking = False
    for arg in argv:
        if arg.startswith("--backend="):
            names.append(arg.split("=", 1)[1])
            taking = False
        elif arg == "--backend":
            taking = True
        elif arg.startswith("-") or arg in COMMANDS:
            taking = False
        elif taking:
            names.append(arg)
    return list(dict.fromkeys(names))


def _peek_backend(argv: list[str], command: str | None) -> str | None:
    """The backend named on the command line: ``--backend X``, or ``setup X`` / ``teardown X``."""
    if command in ("setup", "teardown"):
        rest = argv[argv.index(command) + 1 :]
        return next((arg for arg in rest if not arg.startswith("-")), None)
    pre = argparse.ArgumentParser(prog="thinkpane", add_help=False, allow_abbrev=False)
    pre.add_argument("--backend")
    known, _ = pre.parse_known_args([a for a in argv if a not in ("-h", "--help")])
    return known.backend


def _peek_profile(argv: list[str]) -> str | None:
    """The profile named with ``--profile``, before or after the command."""
    pre = argparse.ArgumentParser(prog="thinkpane", add_help=False, allow_abbrev=False)
    pre.add_argument("--profile")
    known, _ = pre.parse_known_args([a for a in argv if a not in ("-h", "--help")])
    return known.profile


def _profile_backend(settings, profile: str) -> str:
    """The backend profile ``profile`` names (a ChoiceError or ConfigFileError if it cannot)."""
    from thinkpane.tui.core.profiles import ChoiceError, profile_values

    try:
        return profile_values(settings, profile)[0]
    except ChoiceError as error:
        # Bedrock's and OpenSearch's AWS profile used to be --profile.
        if _declares_option(settings.backend, "profile"):
            error.hint += f" (The {settings.backend} backend's AWS profile is --aws-profile.)"
        raise


def _declares_option(backend: str, option: str) -> bool:
    from thinkpane.backends import registry
    from thinkpane.backends.errors import ConfigurationError

    try:
        return any(declared.name == option for declared in registry.load(backend).options)
    except ConfigurationError:
        return False


def _load_backend_class(name: str, *, lenient: bool):
    """The backend's class; with ``lenient``, None when it is unknown or not installed."""
    from thinkpane.backends import registry
    from thinkpane.backends.errors import ConfigurationError

    try:
        return registry.load(name)
    except ConfigurationError:
        if lenient:
            return None  # --help still works; the backend's flags are just not listed
        raise


def build_parser(command: str | None, backend_class=None, *, with_commands: bool = True) -> argparse.ArgumentParser:
    """The full parser; ``backend_class``'s options are added to ``command``'s parser.
    Without ``with_commands``, only the app's own flags (for a bare ``thinkpane``: its
    commands' parsers take longer to build than the first frame can spare)."""
    # No abbreviated flags: which flags exist depends on the backend, so `--ba` could mean
    # --backend today and something else tomorrow.
    parser = argparse.ArgumentParser(
        prog="thinkpane",
        allow_abbrev=False,
        description="A terminal chat app for reasoning models: the answer and the model's "
        "reasoning stream live into two panes. Without a command, opens the app.",
        epilog="Commands have their own --help, e.g. `thinkpane ask --help`.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the installed version and exit")
    parser.add_argument("--backend", metavar="NAME", help="backend for this session (default: from config)")
    parser.add_argument("--profile", metavar="NAME",
                        help="a profile from config.toml ([profiles.NAME]: a backend and its options) for this session")
    parser.add_argument("--model", help="model id for this session")
    parser.add_argument(
        "--compare", nargs="+", metavar="SPEC",
        help="open the compare screen with two to four columns, each a profile name, a backend "
        "name or BACKEND:key=value,key=value",
    )
    parser.add_argument(
        "--continue", dest="continue_", action="store_true",
        help="reopen the most recent conversation (with ask: add to it)"
    )
    parser.add_argument("--conversation", metavar="ID", type=int, help="open the conversation with this id")
    parser.add_argument(
        "--stall-notice-s", metavar="SECONDS", type=_positive_seconds,
        help="say so in the status line when an answer's stream stays silent this long "
        "(default: stall_notice_s from config, 30)",
    )
    # Also before a command: `thinkpane --backend openai --base-url URL ask hi`.
    _add_backend_option_flags(parser, backend_class)
    if not with_commands:
        parser.set_defaults(command=None)
        return parser

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = commands.add_parser(
        "ask",
        allow_abbrev=False,
        help="ask one question; the answer streams to stdout, the reasoning to stderr",
        description="Ask one question. The answer streams to stdout and the reasoning, dimmed, "
        "to stderr. The prompt comes from PROMPT, from stdin, or both (PROMPT first, then "
        "the piped text).",
        epilog=BACKEND_HELP_NOTE if backend_class is None else None,
    )
    ask.add_argument("prompt", nargs="?", metavar="PROMPT", help="the question; '-' reads stdin")
    ask.add_argument("--backend", metavar="NAME", default=argparse.SUPPRESS, help="backend to use (default: from config)")
    ask.add_argument("--profile", metavar="NAME", default=argparse.SUPPRESS,
                     help="a profile from config.toml ([profiles.NAME]) instead of --backend")
    ask.add_argument("--model", default=argparse.SUPPRESS, help="model id (default: from config)")
    ask.add_argument("--system", metavar="TEXT",
                     help="system prompt (default: system_prompt from config; when continuing, the conversation's own)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per stream event")
    ask.add_argument("--no-reasoning", action="store_true", help="do not print the reasoning")
    ask.add_argument(
        "--save", action=argparse.BooleanOptionalAction, default=None,
        help="keep the exchange in the conversation history (default: not saved, unless continuing)",
    )
    # SUPPRESS: `thinkpane --continue ask ...` (the flags before the command) works too.
    ask.add_argument(
        "--continue", dest="continue_", action="store_true", default=argparse.SUPPRESS,
        help="add the exchange to the most recent saved conversation, after the branch shown "
        "last (its active path); implies --save",
    )
    ask.add_argument(
        "--conversation", metavar="ID", type=int, default=argparse.SUPPRESS,
        help="continue the conversation with this id instead of the most recent one",
    )
    ask.add_argument(
        "--regenerate", action="store_true",
        help="ask the last prompt of the conversation again (no PROMPT); the new answer is kept "
        "beside the old one and becomes the active branch; implies --continue",
    )
    if command == "ask":
        _add_backend_option_flags(ask, backend_class)

    compare = commands.add_parser(
        "compare",
        allow_abbrev=False,
        help="ask two to four backends or profiles the same question at once; compare their reasoning and answers",
        description="Send one prompt to two to four columns at once, each a profile or a backend "
        "spec, and print each column's reasoning and answer, then a table of their figures "
        "(time to first token, thinking time, reasoning and answer tokens, outcome). The prompt "
        "comes from PROMPT, from stdin, or both. Exit status 0 when every column answered, 1 "
        "when any failed (the others still finish and print).",
        epilog="SPEC is a profile name (config.toml [profiles.NAME]), a backend name, or "
        "BACKEND:key=value,key=value, e.g. openai:base_url=http://127.0.0.1:8080/v1,model=a,"
        "reasoning_effort=high (commas separate the pairs).",
    )
    compare.add_argument("prompt", nargs="?", metavar="PROMPT", help="the question; '-' reads stdin")
    compare.add_argument("--with", dest="with_", metavar="SPEC", action="append", default=[],
                         help="one column; give it two to four times")
    compare.add_argument("--system", metavar="TEXT", help="system prompt (default: system_prompt from config)")
    compare.add_argument("--json", action="store_true",
                         help="print one JSON object per stream event, as `ask --json` does, each with its "
                         "column's number, then a summary object")
    compare.add_argument("--no-reasoning", action="store_true", help="do not print the reasoning")

    setup = commands.add_parser(
        "setup",
        allow_abbrev=False,
        help="configure a backend, test it (provision it for opensearch) and make it the default",
        description="Configure BACKEND from flags and the environment, test it with a short "
        "prompt (backends that need provisioning, like opensearch, are provisioned first), "
        "then save its options in config.toml and make it the default backend. Secrets are "
        "not saved unless --keep-secrets is given.",
        epilog=BACKEND_HELP_NOTE.replace("add --backend NAME to --help", "run `thinkpane setup NAME --help`")
        if backend_class is None else None,
    )
    setup.add_argument("backend", metavar="BACKEND", help="backend name (see `thinkpane backends`)")
    setup.add_argument("--keep-secrets", action="store_true", help="also save API keys and passwords in config.toml (mode 0600)")
    setup.add_argument("--yes", "-y", action="store_true", help="do not ask before creating resources")
    if command == "setup":
        _add_backend_option_flags(setup, backend_class)

    teardown = commands.add_parser(
        "teardown",
        allow_abbrev=False,
        help="remove what `thinkpane setup` created on the provider side",
        description="Remove every resource `thinkpane setup BACKEND` created (model, "
        "connector, pipeline...), using the saved provisioning state.",
    )
    teardown.add_argument("backend", metavar="BACKEND", help="backend name, e.g. opensearch")
    teardown.add_argument("--yes", "-y", action="store_true", help="do not ask before deleting")
    if command == "teardown":
        _add_backend_option_flags(teardown, backend_class)

    commands.add_parser("backends", allow_abbrev=False, help="list backends, their options and whether they are installed")

    doctor = commands.add_parser(
        "doctor", allow_abbrev=False,
        help="check a backend: configuration, credentials, TLS, a short probe and its reasoning channel",
        description="Check each backend (the configured one by default): its configuration, where its "
        "credentials come from (never printed), that its server answers (TLS included), then send a "
        "short prompt and report which channel the reasoning came by (reasoning_content, reasoning, "
        "think_tags, bedrock_reasoning or none) with the likely fix when none. Exit code 0 when every "
        "backend answered, 1 otherwise.",
        epilog=BACKEND_HELP_NOTE if backend_class is None else None,
    )
    doctor.add_argument("--backend", dest="doctor_backends", metavar="NAME", nargs="+", action="extend",
                        default=argparse.SUPPRESS, help="backends to check (default: from config)")
    doctor.add_argument("--json", action="store_true", help="print the findings as one JSON document")
    if command == "doctor":
        _add_backend_option_flags(doctor, backend_class)

    export = commands.add_parser(
        "export", allow_abbrev=False, help="export a saved conversation to Markdown or JSON",
        description="Print a saved conversation as Markdown (reasoning in collapsible sections) "
        "or JSON, or write it to FILE (mode 0600). The format follows FILE's suffix unless "
        "--format is given. Only the active branch (the one the app shows) is exported unless "
        "--all-branches is given.",
    )
    export.add_argument("target", metavar="ID|last", help="conversation id, or `last` for the most recent")
    export.add_argument("--format", choices=("md", "json"), help="output format (default: md, or json for *.json)")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    export.add_argument(
        "--all-branches", action="store_true",
        help="export every branch (regenerated answers, edited prompts), not only the active one",
    )

    from thinkpane.tui.cli import serve
    from thinkpane.tui.cli.models import add_parser as add_models_parser

    add_models_parser(commands)
    serve.add_parser(commands)
    return parser


def _positive_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("expected a number of seconds greater than 0")
    return value


def _add_backend_option_flags(parser: argparse.ArgumentParser, backend_class) -> None:
    if backend_class is None:
        return
    group = parser.add_argument_group(f"{backend_class.name} options ({backend_class.label})")
    for option in backend_class.options:
        if option.flag in parser._option_string_actions:  # --model is already a common flag
            continue
        # SUPPRESS: a flag left out of the command's part must not reset one given before it
        # (argparse copies a subcommand's defaults over the main parser's values).
        kwargs: dict[str, Any] = {
            "dest": OPTION_DEST_PREFIX + option.name, "default": argparse.SUPPRESS, "help": _option_help(option),
        }
        if option.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = _option_type(option)
            kwargs["metavar"] = "|".join(option.choices) if option.choices else option.kind.upper()
        group.add_argument(option.flag, **kwargs)


def _option_help(option) -> str:
    text = option.label
    if option.description:
        text += ". " + option.description
    details = []
    if option.env:
        details.append("env: " + ", ".join(option.env))
    if option.default is not None and option.kind != "bool":
        details.append(f"default: {option.default}")
    if option.is_secret:
        details.append("a flag is visible to other users in `ps`; prefer the env variable")
    if details:
        text += " [" + "; ".join(details) + "]"
    return text.replace("%", "%%")


def _option_type(option):
    def parse(raw: str) -> Any:
        from thinkpane.backends.options import InvalidValueError

        if not raw.strip():
            # Option.parse reads "" as "not set", which would quietly use the default.
            default = f"the default ({option.default})" if option.default not in (None, "") else "no value"
            raise argparse.ArgumentTypeError(f"the value is empty; leave {option.flag} out to use {default}")
        try:
            return option.parse(raw)
        except InvalidValueError as error:
            raise argparse.ArgumentTypeError(f"expected {error.expected}") from None

    parse.__name__ = option.kind  # argparse names the type in its error message
    return parse


def _option_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Option values given as flags (``--model`` included), already parsed."""
    overrides = {
        key[len(OPTION_DEST_PREFIX):]: value
        for key, value in vars(args).items()
        if key.startswith(OPTION_DEST_PREFIX) and value is not None
    }
    if getattr(args, "model", None):
        overrides["model"] = args.model
    return overrides


# --------------------------------------------------------------------------- shared steps


def _load_settings(*, deferred: bool = False):
    """The settings; ``deferred``: validated after the app's first frame if they can be
    (config.read_settings), for launching the app."""
    from thinkpane.tui.core.config import load_settings, read_settings

    settings = read_settings() if deferred else load_settings()  # a ConfigFileError: main() prints it, exit 2
    _print_warnings(settings.load_warnings)
    return settings


def _open_store():
    """The conversation history; its folder is made (0700) by the store, so a folder that
    cannot be made is a StoreError that says what to do, not an OSError."""
    from thinkpane.tui.core import paths
    from thinkpane.tui.core.store import ConversationStore

    return ConversationStore(paths.database_path())


def _read_stdin(prompt: str | None) -> str | None:
    """Piped input, if any. Never blocks on an interactive terminal or an idle stdin."""
    stdin = sys.stdin
    if stdin is None or getattr(stdin, "closed", False):
        return None
    try:
        if not stdin.readable() or stdin.isatty():
            return None
    except (OSError, ValueError):
        return None
    if prompt is None or prompt == "-":
        return stdin.read()
    # A PROMPT was given: only read input that is really there (a pipe or a file), so
    # `thinkpane ask "hi"` from cron or an IDE does not wait for an EOF that never comes.
    try:
        import stat

        mode = os.fstat(stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return stdin.read()  # an in-memory stream (tests, embedding)
    if stat.S_ISFIFO(mode) or stat.S_ISREG(mode):
        return stdin.read()
    return None


# --------------------------------------------------------------------------- commands


def _launch(args: argparse.Namespace, settings, backend_class) -> int:
    from thinkpane.backends import registry
    from thinkpane.backends.errors import ConfigurationError
    from thinkpane.tui.core.config import apply_session_overrides, backend_options, config_exists

    settings = settings or _load_settings(deferred=True)
    overrides = _option_overrides(args)
    first_launch = not config_exists() and not args.backend and not args.profile
    compare = None
    if args.stall_notice_s is not None:
        apply_session_overrides(settings, stall_notice_s=args.stall_notice_s)
    try:
        if args.profile:
            from thinkpane.tui.core.profiles import profile_values

            backend, values, _ = profile_values(settings, args.profile)  # warnings: the app shows them
            apply_session_overrides(settings, backend=backend, options={**values, **overrides})
            registry.create(settings.backend, backend_options(settings, settings.backend, check=True))
        elif args.backend or overrides:
            # For this session only; the app builds the backend from these settings (and loads
            # a local model in the background). Checked here so a bad flag fails fast, in the shell.
            apply_session_overrides(settings, backend=args.backend, options=overrides)
            registry.create(settings.backend, backend_options(settings, settings.backend, check=True))
        else:
            # A value in config.toml that does not fit is a config-file error, like bad TOML.
            backend_options(settings, settings.backend, check=True)
        if args.compare is not None:
            compare = _compare_choices(settings, args.compare, "--compare SPEC SPEC")
    except ConfigurationError as error:
        from thinkpane.tui.cli.ask import print_error

        print_error(error, sys.stderr)
        return 2
    from thinkpane.tui.core.store import MEMORY, ConversationStore, StoreError

    history_problem = None
    try:
        store = _open_store()
    except StoreError as error:
        # A read-only or full data folder, a damaged or locked file: chat anyway, in memory,
        # and say so in the app (a full disk during a chat is handled the same way).
        history_problem = error
        store = ConversationStore(MEMORY)
    try:
        conversation_id = args.conversation
        if history_problem is not None:
            conversation_id = None  # nothing to reopen; the app says why
        elif conversation_id is not None and store.get_conversation(conversation_id) is None:
            raise UsageError(
                f"there is no conversation {conversation_id}; `thinkpane --continue` reopens the latest"
            )
        elif args.continue_ and conversation_id is None:
            conversation_id = store.last_conversation_id()
            if conversation_id is None:
                sys.stderr.write("No saved conversation yet; starting a new one.\n")
        from thinkpane.tui.app import ThinkpaneApp

        app = ThinkpaneApp(
            settings, store, conversation_id=conversation_id, first_launch=first_launch,
            history_problem=history_problem, compare=compare,
        )
        app.run()
        if app.settings_error is not None:  # found after the first frame: told like one found before it
            from thinkpane.tui.cli.ask import print_error

            print_error(app.settings_error, sys.stderr)
            return 2
        return int(app.return_code or 0)
    finally:
        store.close()


def _ask(args: argparse.Namespace, settings, backend_class) -> int:
    import asyncio

    from thinkpane.backends import registry
    from thinkpane.backends.errors import BackendError
    from thinkpane.backends.events import ErrorEvent, event_to_json
    from thinkpane.tui.cli.ask import AskOptions, build_prompt, conversation_for, print_error, run_ask
    from thinkpane.tui.core.backend_conversation import title_from_prompt
    from thinkpane.tui.core.config import backend_options

    settings = settings or _load_settings()
    name = getattr(args, "backend", None) or settings.backend
    continuing = _continuing(args)
    if args.regenerate:
        if args.prompt is not None:
            raise UsageError("--regenerate asks the conversation's last prompt again, so it takes no PROMPT; "
                             "to ask something new, leave out --regenerate")
        prompt = ""
    else:
        prompt = build_prompt(None if args.prompt == "-" else args.prompt, _read_stdin(args.prompt))
        if not prompt.strip():
            raise UsageError('no prompt: give one as an argument (thinkpane ask "...") or pipe it in')
    options = AskOptions(json_mode=args.json, show_reasoning=not args.no_reasoning)
    try:
        profile = getattr(args, "profile", None)
        if profile:
            from thinkpane.tui.core.profiles import resolve_profile

            choice = resolve_profile(settings, profile, _option_overrides(args))
            _print_warnings(choice.warnings)
            name, backend_settings = choice.backend, choice.options
        else:
            backend_settings = backend_options(settings, name, _option_overrides(args), check=True)
        backend = registry.create(name, backend_settings)
    except BackendError as error:
        if args.json:
            print(json_line(event_to_json(ErrorEvent(error))), flush=True)
        print_error(error, sys.stderr)
        return 2 if error.kind in USAGE_KINDS else 1
    from thinkpane.backends.log_redaction import register_secrets

    register_secrets(backend.secrets())
    system = args.system if args.system is not None else settings.system_prompt
    conversation = conversation_for(prompt, system)

    store = writer = None
    saved_note = ""
    if continuing:
        store = _open_store()
        try:
            conversation, writer, saved_note = _continue_conversation(args, store, prompt, name, backend.model, system)
        except BaseException:
            store.close()
            raise
    elif args.save:
        store = _open_store()
        conversation_id = store.create_conversation(
            title_from_prompt(prompt), backend=name, model=backend.model, system=system)
        store.add_message(conversation_id, "user", prompt, backend=name, model=backend.model)
        writer = store.start_answer(conversation_id, backend=name, model=backend.model)
        saved_note = f"Saved as conversation {conversation_id} (thinkpane --conversation {conversation_id}).\n"

    async def ask_and_close() -> int:
        try:
            return await run_ask(backend, conversation, out=sys.stdout, err=sys.stderr, options=options, writer=writer)
        finally:
            await backend.aclose()

    try:
        code = asyncio.run(ask_and_close())
    finally:
        if store is not None:
            store.close()
    sys.stderr.write(saved_note)
    return code


def _compare(args: argparse.Namespace, settings) -> int:
    import asyncio

    from thinkpane.tui.cli.ask import AskOptions, build_prompt, conversation_for
    from thinkpane.tui.cli.compare import run_compare

    settings = settings or _load_settings()
    choices = _compare_choices(settings, args.with_, 'compare "PROMPT" --with SPEC --with SPEC')
    prompt = build_prompt(None if args.prompt == "-" else args.prompt, _read_stdin(args.prompt))
    if not prompt.strip():
        raise UsageError('no prompt: give one as an argument (thinkpane compare "..." --with ...) or pipe it in')
    for choice in choices:
        _print_warnings(choice.warnings)
    system = args.system if args.system is not None else settings.system_prompt
    options = AskOptions(json_mode=args.json, show_reasoning=not args.no_reasoning)
    return asyncio.run(run_compare(choices, conversation_for(prompt, system), out=sys.stdout, err=sys.stderr,
                                   options=options))


def _compare_choices(settings, specs: list[str], usage: str) -> list:
    """The columns ``specs`` name (profiles.parse_spec); UsageError unless two to four."""
    from thinkpane.tui.core.comparison import MAX_COLUMNS, MIN_COLUMNS
    from thinkpane.tui.core.profiles import parse_spec

    if not MIN_COLUMNS <= len(specs) <= MAX_COLUMNS:
        raise UsageError(
            f"compare needs {MIN_COLUMNS} to {MAX_COLUMNS} columns, got {len(specs)}: {usage}, where SPEC "
            "is a profile name, a backend name or BACKEND:key=value,key=value"
        )
    return [parse_spec(settings, spec) for spec in specs]


def _print_warnings(warnings) -> None:
    for warning in warnings:
        sys.stderr.write(f"Warning: {warning}\n")


def _continuing(args: argparse.Namespace) -> bool:
    """``ask --continue``, ``--conversation ID`` or ``--regenerate``: add to a saved conversation."""
    continuing = bool(getattr(args, "continue_", False) or getattr(args, "conversation", None) is not None
                      or args.regenerate)
    if continuing and args.save is False:
        flag = "--regenerate" if args.regenerate else "--continue"
        raise UsageError(f"{flag} adds to a saved conversation, so it is always saved; leave out --no-save")
    return continuing


def _continue_conversation(
    args: argparse.Namespace, store, prompt: str, backend_name: str, model: str, new_system: str | None
):
    """(the Conversation to send, the answer's writer, the note for stderr) for a continued chat.

    The prompt goes at the end of the active path (``--regenerate``: the last prompt is asked
    again, its new answer a sibling of the old one); the backend gets that path only, with
    the conversation's own system prompt unless ``--system`` replaces it for this turn.
    ``new_system``: the system prompt of a conversation started here (there was none yet).
    """
    from thinkpane.tui.core import branches
    from thinkpane.tui.core.backend_conversation import title_from_prompt

    conversation_id = getattr(args, "conversation", None)
    if conversation_id is not None:
        if store.get_conversation(conversation_id) is None:
            raise UsageError(f"there is no conversation {conversation_id}; "
                             "`thinkpane ask --continue` continues the most recent one")
    else:
        conversation_id = store.last_conversation_id()
    if conversation_id is None:
        if args.regenerate:
            raise UsageError("there is no saved conversation to ask again; "
                             'ask with --save (or --continue) first: thinkpane ask --save "..."')
        sys.stderr.write("No saved conversation yet; starting a new one.\n")
        conversation_id = store.create_conversation(title_from_prompt(prompt), backend=backend_name,
                                                    model=model, system=new_system)
    summary = store.get_conversation(conversation_id)
    try:
        if args.regenerate:
            turn = branches.prompt_to_ask_again(store, conversation_id)
        else:
            turn = branches.new_prompt(store, conversation_id, prompt)
    except branches.NothingToAskAgain as error:
        raise UsageError(f"{error.title}. {error.hint}") from None
    system = args.system if args.system is not None else summary.system
    writer = turn.start_answer(store, backend=backend_name, model=model)
    conversation = turn.conversation(system, backend=backend_name, model=model)
    siblings = store.get_message(writer.message_id).sibling_count
    what = f"answer {siblings} of {siblings} to its last prompt" if args.regenerate else "the next turn"
    note = (f"Saved as {what} in conversation {conversation_id} "
            f"(thinkpane --conversation {conversation_id}).\n")
    return conversation, writer, note


def json_line(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, ensure_ascii=True)


def _doctor(args: argparse.Namespace, settings) -> int:
    from thinkpane.tui.cli.doctor import run_doctor

    settings = settings or _load_settings()
    names = list(dict.fromkeys(getattr(args, "doctor_backends", None) or [args.backend or settings.backend]))
    return run_doctor(names, settings, _option_overrides(args), json_mode=args.json, out=sys.stdout)


def _setup(args: argparse.Namespace, backend_class) -> int:
    from thinkpane.tui.cli.setup import run_setup

    return run_setup(
        args.backend, backend_class, _option_overrides(args),
        keep_secrets=args.keep_secrets, assume_yes=args.yes, out=sys.stdout, err=sys.stderr,
    )


def _teardown(args: argparse.Namespace, backend_class) -> int:
    from thinkpane.tui.cli.setup import run_teardown

    return run_teardown(args.backend, backend_class, _option_overrides(args), assume_yes=args.yes, out=sys.stdout, err=sys.stderr)


def _list_backends(out: TextIO) -> int:
    import shutil
    import textwrap

    from thinkpane.backends import registry
    from thinkpane.backends.errors import ConfigurationError
    from thinkpane.tui.core import paths

    width = max(60, min(shutil.get_terminal_size().columns, 120))
    default = None
    try:
        from thinkpane.tui.core.config import load_settings

        default = load_settings().backend
    except Exception:
        pass
    for name in registry.available():
        marker = " (default)" if name == default else ""
        try:
            backend_class = registry.load(name)
        except ConfigurationError as error:
            out.write(f"{name}{marker}  not installed: {error.hint}\n\n")
            continue
        out.write(f"{name}{marker}  {backend_class.label}: installed\n")
        if backend_class.description:
            out.write(textwrap.fill(backend_class.description, width, initial_indent="    ",
                                    subsequent_indent="    ") + "\n")
        for option in backend_class.options:
            flag = f"{option.flag}/--no-{option.flag[2:]}" if option.kind == "bool" else option.flag
            help_text = _option_help(option).replace("%%", "%")
            out.write(textwrap.fill(help_text, width, initial_indent=f"    {flag:<22} ",
                                    subsequent_indent=" " * 27) + "\n")
        out.write("\n")
    out.write(f"Config file: {paths.config_path()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
