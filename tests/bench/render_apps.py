"""The four renderers bench_render.py compares, each driven by the same PacedBackend.

* ``floor``: a minimal App whose worker consumes the stream and renders nothing. The cost
  of producing the tokens and running Textual idle: no renderer can go below it.
* ``naive``: a minimal App doing what elia and parllama do: ``Markdown.update(full_text)``
  on every token (one Markdown for reasoning, one for the answer).
* ``markdownstream``: a minimal App doing what Textual documents for streaming (its
  ``examples/mother.py``, the ``Markdown.get_stream`` docs): one ``MarkdownStream`` per pane
  gets every token (``await stream.write(token)``; the stream batches what arrives while the
  widget is busy), each pane's scroll container ``anchor()``-ed, ``stop()`` at the end.
* ``thinkpane``: the real ``ThinkpaneApp`` and its chat screen; a prompt is sent with
  ``ChatScreen.send`` (what pressing Enter in the prompt calls).
* ``compare`` (bench_compare.py): the real app at its compare screen, one column per
  backend; the prompt is sent with ``CompareScreen.send``. The floor then consumes as many
  streams at once.

Each runner returns the moment the stream started; the caller watches frames and timers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness import bench_settings, use_private_dirs
from paced_backend import PacedBackend
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static

from thinkpane.backends.base import guarded
from thinkpane.backends.events import ContentDelta, Conversation, Message, ReasoningDelta

PROMPT = "How should I batch SQLite writes while streaming tokens?"
SIZE = (120, 40)


class FloorApp(App):
    """Consumes the streams (one or several at once), renders nothing."""

    def __init__(self, *backends: PacedBackend) -> None:
        super().__init__()
        self.backends = backends
        self.reasoning: list[str] = []
        self.content: list[str] = []
        self.running = 0

    def compose(self) -> ComposeResult:
        yield Static("No rendering: the floor.")

    async def consume(self, backend: PacedBackend) -> None:
        try:
            async for event in guarded(backend, Conversation([Message("user", PROMPT)])):
                if isinstance(event, ReasoningDelta):
                    self.reasoning.append(event.text)
                elif isinstance(event, ContentDelta):
                    self.content.append(event.text)
        finally:
            self.running -= 1

    def start(self) -> None:
        self.running = len(self.backends)
        for number, backend in enumerate(self.backends):
            self.run_worker(self.consume(backend), group=f"stream-{number}", exit_on_error=False)

    @property
    def finished(self) -> bool:
        return self.running == 0


class _TwoPaneApp(App):
    """A reasoning pane above an answer pane, each a scroll container holding a Markdown."""

    CSS = "VerticalScroll { height: 1fr; }"

    def __init__(self, backend: PacedBackend) -> None:
        super().__init__()
        self.backend = backend
        self.done = False
        self.tokens_rendered = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="reasoning"):
            yield Markdown(id="reasoning-md")
        with VerticalScroll(id="answer"):
            yield Markdown(id="answer-md")

    def start(self) -> None:
        self.run_worker(self.consume(), exclusive=True, exit_on_error=False)

    async def consume(self) -> None:
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        return self.done


class NaiveApp(_TwoPaneApp):
    """elia/parllama style: re-render the whole Markdown document on every token."""

    async def consume(self) -> None:
        self.done = False
        reasoning_md = self.query_one("#reasoning-md", Markdown)
        answer_md = self.query_one("#answer-md", Markdown)
        await reasoning_md.update("")
        await answer_md.update("")
        reasoning, content = "", ""
        async for event in guarded(self.backend, Conversation([Message("user", PROMPT)])):
            if isinstance(event, ReasoningDelta):
                reasoning += event.text
                await reasoning_md.update(reasoning)
                self.query_one("#reasoning").scroll_end(animate=False)
            elif isinstance(event, ContentDelta):
                content += event.text
                await answer_md.update(content)
                self.query_one("#answer").scroll_end(animate=False)
            else:
                continue
            self.tokens_rendered += 1
        self.done = True


class MarkdownStreamApp(_TwoPaneApp):
    """Textual's documented way: ``Markdown.get_stream`` per pane, the panes anchored."""

    async def consume(self) -> None:
        self.done = False
        streams = []
        for pane_id in ("#reasoning", "#answer"):
            # Each turn a new Markdown in each pane (mother.py mounts one per response).
            pane = self.query_one(pane_id, VerticalScroll)
            await pane.remove_children()
            await pane.mount(markdown := Markdown())
            pane.anchor()
            streams.append(Markdown.get_stream(markdown))
        reasoning, answer = streams
        try:
            async for event in guarded(self.backend, Conversation([Message("user", PROMPT)])):
                if isinstance(event, ReasoningDelta):
                    await reasoning.write(event.text)
                elif isinstance(event, ContentDelta):
                    await answer.write(event.text)
                else:
                    continue
                self.tokens_rendered += 1
        finally:
            await reasoning.stop()
            await answer.stop()
        self.done = True


def thinkpane_app(backend: PacedBackend, *, conversation_id: int | None = None, store=None):
    """The real app with a private config/data dir and a file-backed store."""
    from thinkpane.tui.app import ThinkpaneApp
    from thinkpane.tui.core.store import ConversationStore

    if store is None:
        tmp = Path(tempfile.mkdtemp(prefix="thinkpane-bench-"))
        use_private_dirs(tmp)
        store = ConversationStore(tmp / "data" / "conversations.sqlite3")
    return ThinkpaneApp(bench_settings(), store, backend=backend, conversation_id=conversation_id)


async def start_thinkpane_turn(app, prompt: str = PROMPT) -> None:
    started = await app.chat.send(prompt)
    if not started:
        raise RuntimeError("the chat screen refused to send: " + app.chat.status.info.text)


def thinkpane_finished(app) -> bool:
    return app.chat.live is None


def compare_app(backends: list[PacedBackend]):
    """The real app opened at its compare screen, one column per backend (in this order)."""
    from thinkpane.backends import registry
    from thinkpane.tui.core.profiles import BackendChoice

    app = thinkpane_app(PacedBackend(None))  # the chat's own, never used here
    waiting = list(backends)
    # Each column builds its backend through the registry: hand out the paced ones.
    registry.create = lambda name, given=None, environ=None: waiting.pop(0)  # type: ignore[assignment]
    app.compare_at_start = [BackendChoice("bench", {}, label=f"column {n}") for n in range(1, len(backends) + 1)]
    return app


async def start_compare_turn(app, prompt: str = PROMPT) -> None:
    from thinkpane.tui.screens.compare import CompareScreen

    screen = app.screen
    if not isinstance(screen, CompareScreen) or not all(column.ready for column in screen.columns):
        raise RuntimeError("the compare screen is not ready")
    if not await screen.send(prompt):
        raise RuntimeError("the compare screen refused to send")


def compare_ready(app) -> bool:
    screen = app.screen
    return bool(getattr(screen, "columns", None)) and all(column.ready for column in screen.columns)


def compare_finished(app) -> bool:
    return not app.screen.streaming
