"""The app's copy-a-code-block and export features, log redaction of a ready backend's
secrets, switching backend mid-stream, and the keymap for the reasoning steps (Pilot)."""

from __future__ import annotations

import json
import logging
import stat

import pytest

from tests.tui_helpers import GatedBackend, rendered_text, wait_until
from thinkpane.backends.base import Backend
from thinkpane.backends.events import ContentDelta, ReasoningDelta, Stop
from thinkpane.backends.options import Option
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.app import ThinkpaneApp
from thinkpane.tui.core.config import Settings
from thinkpane.tui.core.store import ConversationStore
from thinkpane.tui.screens.chat.messages import BackendReady

PYTHON_CODE = 'print("[/] is not markup")\nfor n in range(3):\n    print(n)'
SHELL_CODE = "echo hi\tthere\nls -la"
TWO_BLOCKS = f"Here:\n\n```python\n{PYTHON_CODE}\n```\n\nand\n\n~~~bash\n{SHELL_CODE}\n~~~\n"


@pytest.fixture
def store(tmp_path):
    store = ConversationStore(tmp_path / "chats.sqlite3")
    yield store
    store.close()


def make_app(store, backend, **settings) -> ThinkpaneApp:
    return ThinkpaneApp(Settings(**settings), store, backend=backend)


async def ask(pilot, text: str, answers: int = 1) -> None:
    await pilot.press(*text, "enter")
    chat = pilot.app.chat
    await wait_until(pilot, lambda: chat.live is None and len(chat.transcript.answers()) == answers, "answer")


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def palette_options(app) -> list[str]:
    command_list = app.screen.query("CommandList")
    if not command_list:
        return []
    options = command_list.first()
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def run_palette_command(pilot, query: str, expected: str) -> None:
    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: bool(pilot.app.screen.query("CommandInput")), "command palette")
    await pilot.press(*query)
    await wait_until(pilot, lambda: palette_options(pilot.app)[:1] and expected in palette_options(pilot.app)[0],
                     f"palette hit {expected!r}")
    await pilot.press("enter")


# --------------------------------------------------------------------------- copy code


async def test_the_palette_lists_the_code_blocks_and_copies_the_chosen_one(store):
    backend = ScriptedBackend()
    backend.enqueue_turn(["thinking"], [TWO_BLOCKS])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await ask(pilot, "code please")
        await run_palette_command(pilot, "copy a code block", "Copy a code block…")
        # A second palette lists each block: number, language, first line (literal text).
        await wait_until(pilot, lambda: len(palette_options(app)) == 2, "the code block list")
        first, second = palette_options(app)
        assert first.startswith('1 · python · print("[/] is not markup")') and "3 lines" in first
        assert second.startswith("2 · bash · echo hi") and "2 lines" in second

        await pilot.press(*"bash")
        await wait_until(pilot, lambda: len(palette_options(app)) == 1, "filtered to one block")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.clipboard == SHELL_CODE, "clipboard")
        assert "Copied 2 lines to the clipboard." in notes(app)


async def test_y_in_the_transcript_copies_the_only_code_block_at_once(store):
    backend = ScriptedBackend()
    backend.enqueue_turn(["hmm"], [f"Only one:\n\n```python\n{PYTHON_CODE}\n```\nDone."])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await ask(pilot, "one block")
        app.chat.transcript.focus()
        await pilot.press("y")
        await wait_until(pilot, lambda: app.clipboard == PYTHON_CODE, "clipboard")
        assert "Copied 3 lines to the clipboard." in notes(app)
        assert app.chat.prompt.text == ""  # the y went to the transcript, not the prompt


async def test_copy_code_says_so_when_the_answer_has_none(store):
    backend = ScriptedBackend()
    backend.enqueue_turn(["hmm"], ["Just prose, with `inline code` only."])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_copy_code_block()
        await wait_until(pilot, lambda: "There is no answer to copy code from yet." in notes(app), "no answer")
        await ask(pilot, "no code")
        app.chat.transcript.focus()
        await pilot.press("y")
        await wait_until(pilot, lambda: "The last answer has no code blocks." in notes(app), "notice")
        assert app.clipboard == ""


async def test_copied_code_carries_no_escape_sequences(store):
    backend = ScriptedBackend()
    backend.enqueue_turn([], ["```sh\nrm \x1b[8mhidden\x1b[0m -i x\u202e\n```"])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await ask(pilot, "q")
        app.action_copy_code_block()
        await wait_until(pilot, lambda: app.clipboard != "", "clipboard")
        assert app.clipboard == "rm hidden -i x"


# --------------------------------------------------------------------------- export


async def test_the_palette_exports_the_conversation_as_private_markdown(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = ScriptedBackend()
    backend.enqueue_turn(["Primes have two divisors; 7 has 1 and 7."], ["Yes, 7 is prime."])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await ask(pilot, "Is 7 prime?")
        await run_palette_command(pilot, "export markdown", "Export conversation as Markdown")
        path = tmp_path / f"thinkpane-{app.chat.conversation_id}-is-7-prime.md"
        await wait_until(pilot, lambda: path.exists(), "the exported file")
        assert f"Exported to {path}" in notes(app)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "# Is 7 prime?" in text and "## You" in text and "Yes, 7 is prime." in text
    details = text.index("<details><summary>Reasoning</summary>")
    assert text.index("Primes have two divisors; 7 has 1 and 7.", details) < text.index("</details>", details)


async def test_in_a_browser_the_export_is_a_download_not_a_file_on_the_server(store, tmp_path, monkeypatch):
    # Under `thinkpane serve` the app runs on the server: a file in its directory would be
    # out of the user's reach, so the export goes to the browser (App.deliver_text).
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ThinkpaneApp, "is_web", property(lambda app: True))
    delivered: list[tuple[str, str | None]] = []
    monkeypatch.setattr(ThinkpaneApp, "deliver_text",
                        lambda app, file, save_filename=None, **kw: delivered.append((file.read(), save_filename)))
    backend = ScriptedBackend()
    backend.enqueue_turn(["Primes have two divisors."], ["Yes, 7 is prime."])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await ask(pilot, "Is 7 prime?")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: bool(app.screen.query("CommandInput")), "command palette")
        await pilot.press(*"export markdown")
        await wait_until(pilot, lambda: palette_options(app)[:1] and "a download in your browser" in palette_options(app)[0],
                         "the palette hit, saying where the export goes")
        await pilot.press("enter")
        filename = f"thinkpane-{app.chat.conversation_id}-is-7-prime.md"
        await wait_until(pilot, lambda: f"Sent {filename} to your browser as a download." in notes(app), "notice")
    ((text, saved_as),) = delivered
    assert saved_as == filename
    assert "# Is 7 prime?" in text and "Yes, 7 is prime." in text and "Primes have two divisors." in text
    assert list(tmp_path.glob("thinkpane-*")) == [], "nothing is written on the server"


async def test_export_as_json_and_nothing_to_export(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = ScriptedBackend()
    backend.enqueue_turn(["thought"], ["answer"])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_export_conversation("json")
        await wait_until(pilot, lambda: "There is nothing to export yet: send a prompt first." in notes(app),
                         "nothing to export")
        assert list(tmp_path.glob("*.json")) == []
        await ask(pilot, "[q]")
        app.action_export_conversation("json")
        (path,) = tmp_path.glob("thinkpane-*.json")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = json.loads(path.read_text())
        assert [(m["role"], m["content"], m["reasoning"]) for m in data["messages"]] == [
            ("user", "[q]", ""), ("assistant", "answer", "thought")]


async def test_an_export_that_cannot_be_written_is_reported_not_raised(store, tmp_path, monkeypatch):
    odd = tmp_path / "[odd] dir"  # a path that would be markup: shown literally
    odd.mkdir()
    monkeypatch.chdir(odd)
    backend = ScriptedBackend()
    backend.enqueue_turn([], ["answer"])
    app = make_app(store, backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await ask(pilot, "q")
        (odd / f"thinkpane-{app.chat.conversation_id}-q.md").mkdir()  # the file name is taken by a folder
        app.action_export_conversation("md")
        await wait_until(pilot, lambda: any(n.severity == "error" for n in app._notifications), "error")
        (error,) = [n for n in app._notifications if n.severity == "error"]
        assert error.title.startswith(f"Could not write {odd}/thinkpane-") and not error.markup
        assert app.screen is app.chat  # no crash


# --------------------------------------------------------------------------- secrets in logs


class ResolvingBackend(Backend):
    """A backend that resolves a credential itself (like an AWS profile): never a Secret."""

    name, label = "resolving", "Resolving"
    options = (Option("api_key", "API key", kind="secret"),)
    RESOLVED = "resolved-9f3c2a7b41d0e5"

    async def stream(self, conversation):
        yield Stop()

    def secrets(self) -> list[str]:
        return [*super().secrets(), self.RESOLVED]


async def test_a_ready_backends_secrets_are_redacted_from_log_records(store, caplog):
    from thinkpane.backends.log_redaction import install

    install()
    app = make_app(store, ScriptedBackend())
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(BackendReady(ResolvingBackend({})))
        await wait_until(pilot, lambda: isinstance(app.backend, ResolvingBackend), "backend ready")
        with caplog.at_level(logging.WARNING):
            logging.getLogger("some.library").warning(f"request failed, key={ResolvingBackend.RESOLVED}")
    (record,) = [r for r in caplog.records if r.name == "some.library"]
    assert ResolvingBackend.RESOLVED not in record.getMessage()
    assert "key=********" in record.getMessage()


# --------------------------------------------------------------------------- switching backend


class ClosingGatedBackend(GatedBackend):
    def __init__(self) -> None:
        super().__init__()
        self.streams_closed_at_aclose: int | None = None

    async def aclose(self) -> None:
        self.streams_closed_at_aclose = self.closed_streams


async def test_switching_backend_mid_stream_cancels_the_answer_before_closing_the_backend(store):
    from thinkpane.tui.screens.setup import SetupResult, SetupScreen

    old = ClosingGatedBackend()
    app = make_app(store, old)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.chat
        await pilot.press(*"long answer", "enter")
        old.put(ReasoningDelta("Let me think."), ContentDelta("The first half"))
        await wait_until(pilot, lambda: chat.live is not None and chat.live.record.content == "The first half",
                         "partial answer")
        app.action_setup()
        await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen) and app.screen.query("#backend-list"),
                         "setup screen")
        app.screen.dismiss(SetupResult("openai", {"base_url": "http://127.0.0.1:9/v1", "model": "deepseek-reasoner"}))

        await wait_until(pilot, lambda: chat.live is None, "the stream stopped")
        await wait_until(pilot, lambda: old.streams_closed_at_aclose is not None, "old backend closed")
        assert old.streams_closed_at_aclose == 1  # the stream ended before its backend closed
        await wait_until(pilot, lambda: app.backend is not None and app.backend.name == "openai", "new backend")
        turn = chat.transcript.answers()[-1]
        assert turn.record.status == "cancelled"
        assert "cancelled" in rendered_text(turn.note)
    answer = store.load_messages(store.list_conversations()[0].id)[-1]
    assert (answer.status, answer.content, answer.reasoning) == ("cancelled", "The first half", "Let me think.")


# --------------------------------------------------------------------------- keymap


async def test_a_keymap_rebinds_the_previous_and_next_reasoning_keys(store, tmp_path):
    from thinkpane.tui.core.config import load_settings

    # Written as a user writes TOML: a dotted binding id unquoted (a nested table), and quoted.
    config = tmp_path / "config.toml"
    config.write_text('[keymap]\nchat.previous_reasoning = "f3"\n"chat.next_reasoning" = "f4"\n')
    settings = load_settings(path=config)
    assert settings.keymap == {"chat.previous_reasoning": "f3", "chat.next_reasoning": "f4"}
    backend = ScriptedBackend()
    backend.enqueue_turn(["First thoughts."], ["A."])
    backend.enqueue_turn(["Second thoughts."], ["B."])
    app = ThinkpaneApp(settings, store, backend=backend)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.chat.reasoning_pane
        await ask(pilot, "a")
        await ask(pilot, "b", answers=2)
        await pilot.press("f3")
        await wait_until(pilot, lambda: "answer 1 of 2" in rendered_text(pane.header), "previous reasoning")
        assert "First thoughts." in rendered_text(pane.body.children[0])
        await pilot.press("f4")
        await wait_until(pilot, lambda: "answer 2 of 2" in rendered_text(pane.header), "next reasoning")
        assert "Second thoughts." in rendered_text(pane.body.children[0])
        await pilot.press("ctrl+up")  # rebound: the default key no longer steps
        await pilot.pause()
        assert "answer 2 of 2" in rendered_text(pane.header)
