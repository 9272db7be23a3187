"""``thinkpane serve``: the flags, the safety checks on them, and starting the web server.

The whole app runs in a browser tab through Textualize's textual-serve: each tab gets its
own ``thinkpane`` process (the installed app, run by this Python), with the user's normal
config and history (``THINKPANE_CONFIG_DIR``, ``THINKPANE_DATA_DIR``... pass through, since
the app processes inherit this process's environment).

Safety, checked here before anything listens:

* Loopback (127.0.0.1) by default. ``--host`` with any other address is refused (exit 2)
  unless ``--password-env VAR`` names an environment variable holding a password; the
  password itself never goes on the command line, where ``ps`` would show it. The variable
  is removed from the environment before any app process starts.
* ``--public-url`` (the address browsers use, behind a proxy or tunnel) may not carry a
  user or password: it is written into the page.

The server itself (textual-serve's, with authentication and request guards added) is in
:mod:`thinkpane.tui.cli.web_server`, imported only when serving: this module is imported
to build ``thinkpane --help`` and must stay cheap (argparse only at the top).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
INSTALL_HINT = "pip install 'thinkpane[serve]'"

# What textual-serve runs for each browser tab: the installed app, exactly as the
# `thinkpane` console script starts it, with the interpreter running `thinkpane serve`.
APP_BOOT = "import sys; from thinkpane.tui.cli.main import main; sys.exit(main())"


class ServeUsageError(Exception):
    """A flag ``thinkpane serve`` cannot accept: printed as ``Error: ...``, exit code 2."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        allow_abbrev=False,
        help="serve the app to web browsers (textual-serve); one app process per tab",
        description="Serve Thinkpane to web browsers: every browser tab runs its own Thinkpane "
        "with your config and conversation history. Listens on 127.0.0.1 only, unless --host "
        "says otherwise, which needs a password (--password-env).",
        epilog="Without TLS a password crosses the network in clear: to reach a remote "
        "machine, prefer an SSH tunnel (ssh -L 8000:127.0.0.1:8000 HOST, then thinkpane "
        "serve there and open http://127.0.0.1:8000 here).",
    )
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help=f"address to listen on (default: {DEFAULT_HOST}); any non-loopback "
                       "address needs --password-env")
    serve.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                       help=f"TCP port (default: {DEFAULT_PORT}; 0 picks a free one)")
    serve.add_argument("--public-url", metavar="URL",
                       help="the address browsers open, when it differs from where the server "
                       "listens (a reverse proxy with TLS, e.g. https://chat.example.org); "
                       "default: whatever address the browser used")
    serve.add_argument("--password-env", metavar="VAR",
                       help="name of the environment variable holding the password every request "
                       "must give (HTTP Basic auth; any user name). Required for a non-loopback --host")


def port_number(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {raw!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 0 and 65535")
    return port


# --------------------------------------------------------------------------- checks


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the server on this machine."""
    import ipaddress

    name = host.strip().rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public interface


def check_public_url(url: str) -> str:
    """``url`` without a trailing slash; ServeUsageError unless it is a plain http(s) origin."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServeUsageError(f"--public-url must be an http:// or https:// address, like "
                              f"https://chat.example.org (got {url!r})")
    if parts.username is not None or parts.password is not None:
        raise ServeUsageError("--public-url must not contain a user name or password: it is "
                              "written into the page. Use --password-env for a password.")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ServeUsageError(f"--public-url must be just scheme://host[:port], without a path "
                              f"(got {url!r}): the app is served from the root")
    return f"{parts.scheme}://{parts.netloc}"


def take_password(var: str, environ: dict[str, str] | os._Environ[str]) -> str:
    """The password in ``$var``, removed from ``environ`` so app processes do not inherit it."""
    if not var.isidentifier() or var.startswith("-"):
        raise ServeUsageError(f"--password-env takes the NAME of an environment variable, like "
                              f"THINKPANE_PASSWORD, not {var!r}")
    password = environ.pop(var, "")
    if not password:
        raise ServeUsageError(f"the environment variable {var} is not set or is empty: set it "
                              f"first (e.g. `read -rs {var} && export {var}`), then run "
                              f"thinkpane serve --password-env {var}")
    return password


def listen_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


# --------------------------------------------------------------------------- command


def run_serve(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    try:
        public_url = check_public_url(args.public_url) if args.public_url else None
        password = take_password(args.password_env, os.environ) if args.password_env else None
        if password is None and not is_loopback(args.host):
            raise ServeUsageError(
                f"refusing to serve on {args.host!r} without a password: anyone who can reach "
                f"it could read your conversations and use your backend. Keep the default "
                f"--host {DEFAULT_HOST} (and use an SSH tunnel from elsewhere), or set a "
                f"password: export THINKPANE_PASSWORD=..., then add --password-env THINKPANE_PASSWORD"
            )
    except ServeUsageError as error:
        err.write(f"Error: {error}\n")
        return 2
    try:
        from thinkpane.tui.cli.web_server import ThinkpaneServer
    except ImportError as error:
        err.write(f"Error: thinkpane serve needs textual-serve, which is not installed "
                  f"({error.name}). Install it: {INSTALL_HINT}\n")
        return 1
    if password is not None and not (public_url or "").startswith("https://"):
        err.write("Warning: without TLS the password (and every conversation) crosses the "
                  "network in clear. Prefer an SSH tunnel to a loopback server, or put a "
                  "TLS proxy in front and give its address with --public-url https://...\n")

    import shlex

    def announce(url: str) -> None:
        where = f"{url}, for browsers at {public_url}" if public_url else url
        out.write(f"Serving Thinkpane on {where}: open it in a browser "
                  "(each tab runs its own Thinkpane). Ctrl+C stops.\n")
        out.flush()

    server = ThinkpaneServer(
        shlex.join([sys.executable, "-c", APP_BOOT]),
        host=args.host, port=args.port, public_url=public_url, password=password,
        announce=announce, log_stream=err,
    )
    try:
        server.run()
    except OSError as error:
        err.write(f"Error: cannot listen on {listen_url(args.host, args.port)}: "
                  f"{error.strerror or error}. Pick another --port or --host.\n")
        return 1
    out.write("Stopped.\n")
    return 0
