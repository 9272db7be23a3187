"""First launch: "Download a thinking model" beside "Use the bundled SmolLM2", in the setup screen.

Pilot tests of the setup screen with the real download code (:mod:`thinkpane.tui.core.download`
around ``hub.pull``, i.e. huggingface_hub's own HTTP code) against the Hub stand-in
(:mod:`tests.servers.hf_hub`) on 127.0.0.1. huggingface_hub read HF_ENDPOINT when it was
imported, but Thinkpane passes ``hub.endpoint()`` (the variable as it is now) to every call,
so setting it per test works in-process. The bytes served as Qwen/Qwen3-0.6B-GGUF are the
bundled SmolLM2 GGUF: the download, its progress and the remembered choice are under test,
not Qwen's weights. Models go to THINKPANE_MODELS_DIR (a plain folder), where
``FolderStore.find`` is what the local backend looks at.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time

import pytest
from huggingface_hub.constants import DOWNLOAD_CHUNK_SIZE
from textual.widgets import Button, ProgressBar, Static

from tests.servers.hf_hub import Fault, serve
from tests.test_tui_setup import SIZE, Host, fully_shown, until
from thinkpane.backends.local.models import smollm2_gguf_path
from thinkpane.tui.core import setup_flow as setup_steps
from thinkpane.tui.core.config import config_exists, load_settings
from thinkpane.tui.core.download import DOWNLOAD_THREAD_NAME
from thinkpane.tui.screens.setup import SetupScreen

QWEN_REPO, QWEN_FILE = "Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf"
SMOLLM2_SIZE_TEXT = "98.4 MB"  # the SmolLM2 GGUF's size as human_bytes shows it (the stand-in serves it)
STALL_AT = 5 * DOWNLOAD_CHUNK_SIZE  # whole chunks of the library reach the disk before the stall


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    if setup_steps.local_problem(load_settings()) is not None or smollm2_gguf_path() is None:
        pytest.skip("the local extra is not installed here")
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("THINKPANE_MODELS_DIR", str(folder))
    return folder


@pytest.fixture
def hub(models_dir, monkeypatch):
    with serve() as server:
        server.add(QWEN_REPO, QWEN_FILE, smollm2_gguf_path())
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def button(app, name: str) -> Button:
    return app.screen.query_one(f"#{name}", Button)


def status(app) -> str:
    return text_of(app, "#download-status")


def screen_of(app) -> SetupScreen:
    assert isinstance(app.screen, SetupScreen)
    return app.screen


def download_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == DOWNLOAD_THREAD_NAME and t.is_alive()]


def partials(models_dir) -> list:
    return sorted(models_dir.rglob("*.incomplete"))


async def while_downloading(app, pilot, predicate, what: str, *, seconds: float = 60.0) -> None:
    """``until`` with a clock deadline well inside pytest's timeout, and the screen's download
    status and the live threads in the message, so a failure in CI explains itself."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            shown = status(app) if isinstance(app.screen, SetupScreen) else type(app.screen).__name__
            threads = sorted(t.name for t in threading.enumerate())
            raise AssertionError(f"timed out waiting for {what}; the screen shows {shown!r}; threads: {threads}")
        await pilot.pause()


async def open_setup(app, pilot) -> None:
    await until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")


# --------------------------------------------------------------------------- the offer


async def test_with_a_thinking_model_downloaded_it_is_offered_and_one_enter_chats_with_it(models_dir) -> None:
    shutil.copyfile(smollm2_gguf_path(), models_dir / QWEN_FILE)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await open_setup(app, pilot)
        assert str(button(app, "use-thinking").label) == "Use qwen3-0.6b (downloaded)"
        assert "It runs here, offline, and thinks before it answers." in text_of(app, "#thinking-note")
        assert str(button(app, "use-local").label) == "Use the bundled SmolLM2 (does not think)"
        assert app.focused is not None and app.focused.id == "use-thinking"
        await pilot.press("enter")
        await until(pilot, lambda: app.results, "the screen to close")
    assert app.results[0].options["model"] == "qwen3-0.6b"
    saved = load_settings()
    assert saved.backend == "local" and saved.backends["local"]["model"] == "qwen3-0.6b"


async def test_without_one_it_offers_the_download_with_the_hubs_size_beside_smollm2(hub) -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_setup(app, pilot)
        download, smollm2 = button(app, "use-thinking"), button(app, "use-local")
        assert str(download.label) == "Download a thinking model"
        # Side by side at 80 columns, both whole on screen.
        assert download.region.y == smollm2.region.y and download.region.right <= smollm2.region.x
        assert fully_shown(app, download) and fully_shown(app, smollm2)
        # Size from the stand-in's tree API; RAM = the file + a 4096-token KV cache (models list says the same).
        await until(pilot, lambda: SMOLLM2_SIZE_TEXT in text_of(app, "#thinking-note"), "the size from the Hub")
        assert f"qwen3-0.6b, {SMOLLM2_SIZE_TEXT}, needs 568 MB of RAM" in text_of(app, "#thinking-note")
        assert any(r.path.startswith(f"/api/models/{QWEN_REPO}/tree/main") for r in hub.requests)
        # One Enter still chats at once, with SmolLM2: nothing is downloaded unasked.
        assert app.focused is smollm2
        await pilot.press("enter")
        await until(pilot, lambda: app.results, "the screen to close")
    assert hub.downloads() == []
    assert "model" not in load_settings().backends.get("local", {})


async def test_when_the_hub_does_not_answer_the_offer_says_the_size_is_unknown(models_dir) -> None:
    app = Host()  # conftest: HF_ENDPOINT is a closed port
    async with app.run_test(size=SIZE) as pilot:
        await open_setup(app, pilot)
        await until(pilot, lambda: "did not answer" in text_of(app, "#thinking-note"), "the Hub's silence")
        assert "size unknown (http://127.0.0.1:9 did not answer)" in text_of(app, "#thinking-note")
        assert not button(app, "use-thinking").disabled


# --------------------------------------------------------------------------- downloading


async def test_download_shows_progress_then_remembers_the_model_and_the_chat_uses_it(hub, models_dir) -> None:
    """The real app: choose the download, watch bytes/rate/ETA, and the chat opens on the
    downloaded model; the config says so, so the next launch goes straight to that chat."""
    from thinkpane.backends.scripted import ScriptedBackend
    from thinkpane.tui.app import ThinkpaneApp
    from thinkpane.tui.core.store import ConversationStore
    from thinkpane.tui.screens.chat import ChatScreen

    hub.fault(QWEN_REPO, QWEN_FILE, Fault(stall_at=STALL_AT))
    store = ConversationStore(":memory:")
    app = ThinkpaneApp(load_settings(), store, backend=ScriptedBackend(), first_launch=True)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await open_setup(app, pilot)
            button(app, "use-thinking").press()
            await while_downloading(app, pilot, lambda: f"of {SMOLLM2_SIZE_TEXT}" in status(app), "download progress")
            await while_downloading(app, pilot, lambda: "/s" in status(app) and "ETA" in status(app), "rate and time left")
            bar = app.screen.query_one("#download-bar", ProgressBar)
            assert bar.total == hub.state.files[(QWEN_REPO, QWEN_FILE)].size and bar.progress > 0
            assert fully_shown(app, app.screen.query_one("#download-status"))
            assert app.focused is not None and app.focused.id == "download-cancel"
            assert fully_shown(app, app.focused)
            assert button(app, "use-local").disabled and button(app, "use-thinking").disabled
            assert not config_exists() or "model" not in load_settings().backends.get("local", {})
            hub.release()  # the stalled connection drops; the library resumes it with a Range request
            await while_downloading(app, pilot, lambda: isinstance(app.screen, ChatScreen), "the chat")
            await asyncio.wait_for(app.workers.wait_for_complete(), 60)  # the model's load
            await pilot.pause()
            assert app.backend_error is None, app.backend_error
            assert app.backend is not None and app.backend.name == "local"
            assert app.backend.model == "qwen3-0.6b"
    finally:
        store.close()
    assert (models_dir / QWEN_FILE).read_bytes() == smollm2_gguf_path().read_bytes()
    assert partials(models_dir) == []
    assert hub.downloads()[-1].headers["range"] == f"bytes={STALL_AT}-"
    saved = load_settings()
    assert saved.backend == "local" and saved.backends["local"]["model"] == "qwen3-0.6b"
    # The next launch: the config exists, so no setup (tui/cli/main.py), and the offer
    # would be "Use qwen3-0.6b (downloaded)".
    assert config_exists()
    assert setup_steps.thinking_choice(ask_hub=False).label == "Use qwen3-0.6b (downloaded)"


async def test_esc_cancels_the_download_keeps_the_partial_and_retry_resumes_it(hub, models_dir) -> None:
    hub.fault(QWEN_REPO, QWEN_FILE, Fault(stall_at=STALL_AT))
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_setup(app, pilot)
        button(app, "use-thinking").press()
        await while_downloading(app, pilot, lambda: partials(models_dir) and partials(models_dir)[0].stat().st_size >= STALL_AT,
                                "half the file on disk")
        await pilot.press("escape")
        await until(pilot, lambda: screen_of(app).download_phase == "cancelled", "the cancel")
        assert "Download cancelled" in status(app) and "resumes" in status(app)
        assert isinstance(app.screen, SetupScreen), "Esc during a download stops it, not the screen"
        assert str(button(app, "use-thinking").label) == "Retry download"
        assert not button(app, "use-local").disabled
        assert not (models_dir / QWEN_FILE).exists(), "a partial download must never look complete"
        assert not config_exists() or "model" not in load_settings().backends.get("local", {})

        # The stalled connection now drops and the library would resume it: the cancelled
        # download must stop at its next chunk instead of finishing and installing the file.
        hub.clear_faults()
        hub.release()
        await while_downloading(app, pilot, lambda: not download_threads(), "the cancelled download's thread to end")
        assert not (models_dir / QWEN_FILE).exists()
        (partial,) = partials(models_dir)
        full = hub.state.files[(QWEN_REPO, QWEN_FILE)].size
        assert STALL_AT <= partial.stat().st_size <= STALL_AT + DOWNLOAD_CHUNK_SIZE < full, "it went on after Esc"

        button(app, "use-thinking").press()
        await while_downloading(app, pilot, lambda: app.results, "the download to finish")
    assert app.results[0].options["model"] == "qwen3-0.6b"
    assert (models_dir / QWEN_FILE).read_bytes() == smollm2_gguf_path().read_bytes()
    assert partials(models_dir) == []
    resumed = hub.downloads()[-1].headers.get("range", "")
    assert resumed.startswith("bytes=") and int(resumed[len("bytes="):-1]) >= STALL_AT, resumed


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no network", "Error: Cannot reach the Hugging Face Hub at http://127.0.0.1:9"),
        ("offline", "Error: Offline mode is on (HF_HUB_OFFLINE), so qwen3-0.6b cannot be downloaded"),
        ("gated", f"Error: {QWEN_REPO} is gated: its authors want you to accept their terms first"),
        ("disk space", "Error: Not enough disk space: the download needs 10000 TB more"),
    ],
)
async def test_a_failed_download_shows_the_clis_message_and_saves_nothing(case, expected, models_dir, monkeypatch) -> None:
    with serve() as server:
        server.add(QWEN_REPO, QWEN_FILE, smollm2_gguf_path(), gated=case == "gated")
        if case == "disk space":
            server.fault(QWEN_REPO, QWEN_FILE, Fault(advertised_size=10**16))
        if case != "no network":
            monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        if case == "offline":
            from huggingface_hub import constants

            monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_setup(app, pilot)
            button(app, "use-thinking").press()
            await while_downloading(app, pilot, lambda: screen_of(app).download_phase == "failed", "the failure")
            assert expected in status(app)
            assert "Traceback" not in status(app)
            assert app.screen.query_one("#download-panel").has_class("-failed")
            assert fully_shown(app, app.screen.query_one("#download-status"))
            assert str(button(app, "use-thinking").label) == "Retry download"
            assert app.results == []
        assert server.downloads() == []
    assert not (models_dir / QWEN_FILE).exists() and partials(models_dir) == []
    assert not config_exists()


async def test_without_huggingface_hub_the_download_is_offered_with_what_to_install(models_dir, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    choice = setup_steps.thinking_choice()
    assert choice.problem.startswith("Downloading and finding models needs huggingface_hub")
    assert "pip install 'thinkpane[local]'" in choice.note


async def test_when_the_offer_grows_the_focused_field_stays_in_view(models_dir, monkeypatch) -> None:
    """The Hub's answer arrives seconds after the screen opens and changes the note's height;
    at 60x20 the page scrolls, and the field being typed in must not slide out of view."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the screen's own question is answered at once
    app = Host(backend="openai")
    async with app.run_test(size=(60, 20)) as pilot:
        await until(pilot, lambda: "HF_HUB_OFFLINE is set" in text_of(app, "#thinking-note"), "the first answer")
        await until(pilot, lambda: app.focused is not None and app.focused.id == "option-base_url", "the form")
        run = button(app, "run")
        run.focus()
        await until(pilot, lambda: fully_shown(app, run), "Test connection in view")
        longer = setup_steps.ThinkingChoice("qwen3-0.6b", "A summary long enough to take many lines. " * 20, False,
                                            size=98_362_432, ram=568_000_000)
        screen_of(app).post_message(SetupScreen.ThinkingChoiceReady(longer))
        await until(pilot, lambda: "many lines" in text_of(app, "#thinking-note"), "the new note")
        await until(pilot, lambda: fully_shown(app, run), "Test connection still in view")
        assert app.focused is run


async def test_a_failed_downloads_server_text_is_sanitised_and_cut(models_dir, monkeypatch) -> None:
    """README › Guarantees: server text reaches the screen without escape sequences, cut after
    1,000 characters with where to read it all."""
    from thinkpane.backends.errors import ServerError
    from thinkpane.tui.core.download import DownloadOutcome, ModelDownload

    hostile = ServerError("The Hub said \x1b]52;c;aGk=\x07hello\x1b[31m", "Try again.", detail="\x1b[2J" + "x" * 3000)
    monkeypatch.setattr(ModelDownload, "_pull", lambda self, *callbacks: DownloadOutcome(error=hostile))
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await open_setup(app, pilot)
        button(app, "use-thinking").press()
        await until(pilot, lambda: screen_of(app).download_phase == "failed", "the failure")
        shown = status(app)
    assert "Error: The Hub said hello" in shown and "\x1b" not in shown and "\x07" not in shown
    assert "x" * 1000 in shown and "x" * 1001 not in shown
    assert "more characters; `thinkpane models pull` in a terminal prints all" in shown
