"""The web server behind ``thinkpane serve``: textual-serve's ``Server`` with guards in front.

textual-serve (aiohttp) serves a page with a terminal (xterm.js) and, per websocket, starts
one app process and relays its screen, keys, OSC 52 clipboard writes, ``open_url`` and
``deliver_text`` downloads. It has no authentication; this subclass adds, as one aiohttp
middleware that runs before every route (page, static files, downloads, websocket):

* **Password** (``--password-env``): HTTP Basic auth, any user name, compared in constant
  time (SHA-256 of both sides, then ``hmac.compare_digest``). Without it: 401.
* **Host check** when there is no password: only loopback names (and ``--public-url``'s
  host) are served, so a web page whose DNS name is re-pointed at 127.0.0.1 (DNS
  rebinding) cannot read the app.
* **Origin check** on the websocket: browsers let any page open a websocket anywhere, so a
  handshake whose ``Origin`` is not this server's own is refused (403).

And two changes to what textual-serve serves:

* The page's URLs (websocket, static files) follow the address the browser used (or
  ``--public-url``), so an SSH tunnel to another local port works without a flag.
* The page loads nothing from other hosts: textual-serve's template links a Google Fonts
  stylesheet, dropped here (the terminal falls back to the local monospace font).

Listening is done here too (an ``AppRunner`` rather than ``web.run_app``) to announce the
real address once the socket is bound (``--port 0`` picks one) and to stop on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import hashlib
import hmac
import logging
import re
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server

from thinkpane.tui.cli.serve import is_loopback, listen_url

REALM = "Thinkpane"
WEBSOCKET_PATH = "/ws"
# Seconds open tabs get to close their app processes when the server stops.
SHUTDOWN_TIMEOUT_S = 10.0

# The address (scheme://host:port) the browser used for the request being handled.
_REQUEST_ORIGIN: contextvars.ContextVar[str] = contextvars.ContextVar("thinkpane_request_origin", default="")

_EXTERNAL_FONT_LINK = re.compile(r"<link\b[^>]*fonts\.googleapis\.com[^>]*>\s*", re.IGNORECASE)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_template(templates_path: Path) -> jinja2.BaseLoader:
    """textual-serve's own templates, with the external font stylesheet left out and a title."""

    def load(name: str) -> str:
        text = (templates_path / name).read_text(encoding="utf-8")
        text = _EXTERNAL_FONT_LINK.sub("", text)
        return text.replace("<head>", f"<head>\n    <title>{REALM}</title>", 1)

    return jinja2.FunctionLoader(load)


def password_matches(authorization: str, password: str) -> bool:
    """Whether an ``Authorization: Basic ...`` header carries ``password`` (any user name)."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    _, colon, given = decoded.partition(b":")
    if not colon:
        return False
    # Digests first: compare_digest is constant-time only for inputs of equal length.
    return hmac.compare_digest(hashlib.sha256(given).digest(),
                               hashlib.sha256(password.encode("utf-8")).digest())


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class ThinkpaneServer(Server):
    """textual-serve's Server, guarded (see the module docstring); :meth:`run` blocks."""

    def __init__(
        self,
        command: str,
        *,
        host: str,
        port: int,
        public_url: str | None,
        password: str | None,
        announce: Callable[[str], None],
        log_stream: TextIO,
    ) -> None:
        super().__init__(command, host=host, port=port, title=REALM)
        self._public_url = public_url
        self._password = password
        self._announce = announce
        self._log_stream = log_stream
        allowed = {"localhost", "127.0.0.1", "::1", host.strip("[]").lower()}
        if public_url:
            allowed.add((urlsplit(public_url).hostname or "").lower())
        self._allowed_hostnames = frozenset(allowed)

    # textual-serve builds the page's websocket and static URLs from ``public_url``.
    @property
    def public_url(self) -> str:
        return self._public_url or _REQUEST_ORIGIN.get()

    @public_url.setter
    def public_url(self, value: str) -> None:
        pass  # Server.__init__ sets a default derived from host and port: the request's is better

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        aiohttp_jinja2.setup(app, loader=page_template(self.templates_path))
        app.middlewares.append(self._guard)
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Nothing: textual-serve prints a banner here, before the socket is even bound."""

    # ----------------------------------------------------------------- guard

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._password is not None:
            if not password_matches(request.headers.get("Authorization", ""), self._password):
                raise web.HTTPUnauthorized(
                    text="Thinkpane: this server needs a password.\n",
                    headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
                )
        else:
            try:
                hostname = (urlsplit(f"//{request.host}").hostname or "").lower()
            except ValueError:  # a Host header that is no host name
                hostname = ""
            if hostname not in self._allowed_hostnames and not is_loopback(hostname):
                raise web.HTTPMisdirectedRequest(
                    text=f"Thinkpane: not served under the name {hostname!r}. Open "
                    f"{listen_url(self.host, self.port)} or start the server with --public-url.\n"
                )
        own_origin = self._public_url or f"{request.scheme}://{request.host}"
        if request.path == WEBSOCKET_PATH:
            given = request.headers.get("Origin")
            if given is not None and origin_of(given) != origin_of(own_origin):
                raise web.HTTPForbidden(text="Thinkpane: websocket from another site refused.\n")
        token = _REQUEST_ORIGIN.set(own_origin)
        try:
            return await handler(request)
        finally:
            _REQUEST_ORIGIN.reset(token)

    # ----------------------------------------------------------------- running

    def run(self) -> None:
        """Listen until SIGINT or SIGTERM. OSError if the address cannot be bound."""
        handler = logging.StreamHandler(self._log_stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        loggers = [logging.getLogger(name) for name in ("aiohttp.access", "aiohttp.server", "textual-serve")]
        for logger in loggers:
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
        try:
            asyncio.run(self._serve())
        finally:
            for logger in loggers:
                logger.removeHandler(handler)

    async def _serve(self) -> None:
        runner = web.AppRunner(await self._make_app(), shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            address: Any = runner.addresses[0]
            self.port = int(address[1])
            self._announce(listen_url(self.host, self.port))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()
