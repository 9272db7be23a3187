"""``thinkpane serve`` in a real browser: headless Chromium driven by Playwright.

A real ``thinkpane serve`` process (password on, as for a remote user), the openai backend
pointed at the stand-in SSE server (tests/servers/openai_sse.py) by the user's config file,
and Debian's Chromium started with the flags that keep it off the network. The test does
what a person would: opens the page, waits for the app, types a prompt, presses Enter.
Then it checks what the user got: the conversation in the SQLite history (prompt, the
stand-in's reasoning and answer), the answer on the screen, the copied answer in the
browser's clipboard, a link opening in a new tab, and the export arriving as a download.

The terminal draws on a canvas, so what is on the screen is rebuilt from the websocket
frames the page receives (:class:`BrowserScreen`). The screenshot goes to
``screenshots/web.png``.

Skipped, with the reason, when Playwright or a Chromium is missing (apt-get install chromium;
Playwright's own browser download is never used).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.serve_helpers import NO_TEXTUAL_SERVE, REPO, Served, serve_env, start_serve, textual_serve_installed
from tests.servers.openai_sse import DONE, chunk, deepseek_usage, serve

pytestmark = pytest.mark.slow

PASSWORD = "browser-test-Secret-9"
PASSWORD_VAR = "THINKPANE_SERVE_PASSWORD"
SCREENSHOT = REPO / "screenshots" / "web.png"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# Flags that keep Chromium off the network (no Google hosts, no QUIC). Playwright adds
# --headless and a fresh --user-data-dir of its own for every launch.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
# What Textual writes besides text: CSI sequences (cursor position kept), OSC (hyperlinks,
# clipboard) and a few two-byte escapes.
ESCAPE = re.compile(
    r"\x1b\[(?:(?P<row>\d*)(?:;(?P<col>\d*))?H|[0-9;?<>=:]*[ -/]*[@-~])"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>78MDEc]"
)

REASONING = ["The user greets ", "the browser. ", "Answer with a link."]


def find_chromium() -> str | None:
    if chosen := os.environ.get("THINKPANE_TEST_CHROMIUM"):
        return chosen if Path(chosen).is_file() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


def why_skip() -> str | None:
    if not textual_serve_installed():
        return NO_TEXTUAL_SERVE
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs Playwright (pip install playwright); its browser download is not needed"
    if find_chromium() is None:
        return "needs a Chromium (apt-get install chromium, or THINKPANE_TEST_CHROMIUM=/path/to/chrome)"
    return None


class BrowserScreen:
    """What the app shows in the page, as rows of text.

    The terminal draws on a canvas, so the screen is rebuilt from the websocket frames the
    page receives, by a small terminal model that knows what Textual writes: cursor moves
    (``ESC[row;colH``) and text; colours and modes are skipped.
    """

    def __init__(self, page) -> None:
        self.page = page
        self.cells: dict[tuple[int, int], str] = {}
        self.cursor = (0, 0)
        self._pending = ""
        page.on("websocket", lambda ws: ws.on("framereceived", self._received))

    def _received(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            return  # JSON control messages (pong, open_url, downloads), not screen output
        data = self._pending + payload.decode("utf-8", "replace")
        last_escape = data.rfind("\x1b")
        if last_escape != -1 and not ESCAPE.match(data, last_escape):
            data, self._pending = data[:last_escape], data[last_escape:]  # cut mid-sequence
        else:
            self._pending = ""
        position = 0
        for match in ESCAPE.finditer(data):
            self._write(data[position:match.start()])
            if match.group("row") is not None:
                self.cursor = (int(match.group("row") or 1) - 1, int(match.group("col") or 1) - 1)
            position = match.end()
        self._write(data[position:])

    def _write(self, text: str) -> None:
        row, col = self.cursor
        for char in text:
            if char == "\r":
                col = 0
            elif char == "\n":
                row += 1
            elif char >= " ":
                self.cells[(row, col)] = char
                col += 1
        self.cursor = (row, col)

    def rows(self) -> list[str]:
        height = max((row for row, _ in self.cells), default=-1) + 1
        width = max((col for _, col in self.cells), default=-1) + 1
        return ["".join(self.cells.get((row, col), " ") for col in range(width)).rstrip() for row in range(height)]

    def text(self) -> str:
        return "\n".join(self.rows())

    def find(self, text: str) -> tuple[int, int]:
        """(row, column) of the first cell of ``text`` on the screen."""
        for row, line in enumerate(self.rows()):
            if text in line:
                return row, line.index(text)
        raise AssertionError(f"{text!r} is not on the screen:\n{self.text()}")

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
        """Poll ``condition``; Playwright's own wait lets the page's events in meanwhile."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{self.text()}")
            self.page.wait_for_timeout(100)

    def wait_for_text(self, text: str, what: str, timeout: float = 60.0) -> None:
        self.wait_for(lambda: text in self.text(), what, timeout)


@pytest.fixture
def stand_in() -> Iterator:
    with serve() as server:
        yield server


@pytest.fixture
def served(stand_in, tmp_path) -> Iterator[Served]:
    config_dir = Path(os.environ["THINKPANE_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text(
        f'backend = "openai"\n\n[backends.openai]\nbase_url = "{stand_in.base_url}"\nmodel = "deepseek-reasoner"\n',
        encoding="utf-8",
    )
    served = start_serve("--password-env", PASSWORD_VAR, env=serve_env(**{PASSWORD_VAR: PASSWORD}), cwd=tmp_path)
    yield served
    assert PASSWORD not in served.stop()


@pytest.fixture
def browser_page(served) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(
                viewport=VIEWPORT, accept_downloads=True,
                http_credentials={"username": "me", "password": PASSWORD},
            )
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.url)
            yield context.new_page()
        finally:
            browser.close()


@pytest.mark.skipif(why_skip() is not None, reason=why_skip() or "")
def test_chat_in_a_browser_tab(served, stand_in, browser_page, tmp_path) -> None:
    page = browser_page
    link_origin = f"http://127.0.0.1:{stand_in.port}"
    link = f"{link_origin}/docs/tabs"
    answer = f"Hello, browser! See [the docs]({link}) for tabs."
    stand_in.enqueue(
        [chunk(role=True, reasoning="")]
        + [chunk(reasoning=piece) for piece in REASONING]
        + [chunk(content="Hello, browser! See "), chunk(content=f"[the docs]({link}) for tabs."),
           chunk(content="", finish="stop", usage=deepseek_usage()), DONE]
    )
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    screen = BrowserScreen(page)

    page.goto(served.url)
    screen.wait_for_text("Enter sends", "the chat screen")
    # The app takes keys once the prompt has the focus: Textual then parks the terminal
    # cursor in it, at the bottom of the screen (xterm.js moves its input textarea there).
    screen.wait_for(lambda: cursor_row(page) > screen.find("Enter sends")[0] - 1, "the cursor in the prompt box")
    click_text(screen, "Ask something")  # the page takes keys once clicked, like any page
    page.keyboard.type("Hello from a browser tab")
    page.keyboard.press("Enter")
    screen.wait_for(lambda: "for tabs." in screen.text() and "idle" in screen.rows()[-2], "the whole answer")
    assert "Answer with a link." in screen.text(), "the reasoning is shown"

    # ---- the history (the user's normal data dir) holds the whole exchange
    database = Path(os.environ["THINKPANE_DATA_DIR"]) / "conversations.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as db:
        def rows() -> list[tuple[str, str, str, str]]:
            return db.execute("SELECT role, content, reasoning, status FROM messages ORDER BY id").fetchall()

        screen.wait_for(lambda: [row[3] for row in rows()] == ["complete", "complete"], "the answer saved")
        assert rows() == [
            ("user", "Hello from a browser tab", "", "complete"),
            ("assistant", answer, "".join(REASONING), "complete"),
        ]
    assert stand_in.chat_requests[0].body["messages"][-1] == {"role": "user", "content": "Hello from a browser tab"}
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    # ---- copy (OSC 52) lands in the browser's clipboard
    run_palette_command(screen, "Copy last answer")
    screen.wait_for(lambda: page.evaluate("navigator.clipboard.readText()") == answer,
                    "the answer in the browser's clipboard")

    # ---- a link in the answer opens in a new tab (after the terminal asks: the model made it)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    with page.context.expect_page() as new_tab:
        click_text(screen, "the docs")
    new_tab.value.wait_for_url(link)  # xterm.js opens a blank tab, then sends it to the link
    assert len(dialogs) == 1 and link in dialogs[0]
    new_tab.value.close()

    # ---- an export arrives as a download; nothing is written on the server
    with page.expect_download() as download:
        run_palette_command(screen, "Export conversation as Markdown")
    assert re.fullmatch(r"thinkpane-\d+-hello-from-a-browser-tab\.md", download.value.suggested_filename)
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Hello from a browser tab" in exported and "".join(REASONING) in exported and answer in exported
    assert list(tmp_path.glob("thinkpane-*")) == []

    # Everything the page loaded came from this server, but the link the user followed.
    loaded = {re.match(r"\w+://[^/]+", url).group(0) for url in requests if url.startswith(("http", "ws"))}
    assert loaded <= {served.url, served.url.replace("http://", "ws://"), link_origin}, loaded


def cursor_row(page) -> int:
    """The terminal cursor's row: xterm.js keeps its input textarea on the cursor cell."""
    box = page.evaluate("(() => { const t = document.querySelector('.xterm-helper-textarea');"
                        " return [parseFloat(t.style.top || '0'), parseFloat(t.style.height || '1')]; })()")
    return int(box[0] // box[1])


def run_palette_command(screen: BrowserScreen, name: str) -> None:
    """Ctrl+P, type the command's name, Enter once the palette lists it (the only hit)."""
    screen.page.keyboard.press("Control+p")
    screen.wait_for_text("Search for commands", "the command palette")
    screen.page.keyboard.type(name)
    # Drawn twice: in the search box and as the (first and only) hit below it.
    screen.wait_for(lambda: sum(name in row for row in screen.rows()) >= 2, f"the palette to list {name!r}")
    screen.page.keyboard.press("Enter")


def click_text(screen: BrowserScreen, text: str) -> None:
    """Click the middle of the first cell of ``text``, as drawn on the page."""
    row, col = screen.find(text)
    page = screen.page
    cell = page.evaluate("(() => { const t = document.querySelector('.xterm-helper-textarea');"
                         " return [parseFloat(t.style.width), parseFloat(t.style.height)]; })()")
    page.locator(".xterm-screen").click(position={"x": (col + 1.5) * cell[0], "y": (row + 0.5) * cell[1]})
