"""``thinkpane setup``/``teardown`` and the setup screen run one flow (tui/core/setup_flow.py).

The same setup goes through the CLI (its printed lines) and through the flow generator the
screen drives (its events, via ``report`` as the screen does); both must show the same
steps, statuses and messages, warnings included. Real clients over real HTTP against the
stand-ins.
"""

from __future__ import annotations

import asyncio
import re
import stat
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.servers.mlcommons import TEST_API_KEY, MLCommonsServer, make_self_signed_cert
from tests.servers.openai_sse import serve
from tests.test_cli_setup import ProvisionedBackend
from thinkpane.backends import registry
from thinkpane.backends.base import Provisioner
from thinkpane.backends.events import ProgressEvent
from thinkpane.backends.options import Option
from thinkpane.backends.secrets import MASK
from thinkpane.tui.cli.main import main
from thinkpane.tui.cli.setup import SYMBOLS
from thinkpane.tui.core import paths, setup_flow

STATUS_OF = {symbol: status for status, symbol in SYMBOLS.items() if status not in ("start", "progress")}
RUNNING = SYMBOLS["start"]  # start and progress lines share it
LINE = re.compile(r"^(\S) (\w+)  (.*?)(?:  \(\d+\.\d s\))?$")


def cli_outline(output: str) -> list[tuple[str, str, str]]:
    """(step, status, message) of the CLI's plain output, progress lines left out.

    A step's first running line is its start; later running lines are (throttled) progress.
    """
    rows: list[tuple[str, str, str]] = []
    started: set[str] = set()
    for line in output.splitlines():
        match = LINE.match(line)
        if match is None:
            continue  # hints, "Saved to ..."
        symbol, step, message = match.groups()
        if symbol == RUNNING:
            if step in started:
                continue
            started.add(step)
            rows.append((step, "start", message))
        else:
            rows.append((step, STATUS_OF[symbol], message))
    return rows


def flow_outline(backend_name: str, given: dict[str, Any], state_path) -> list[tuple[str, str, str]]:
    """(step, status, message) of what the setup screen is handed for the same run."""
    events: list[ProgressEvent] = []
    run = setup_flow.setup_events(registry.load(backend_name), given, state_path=state_path, saved={})
    assert asyncio.run(setup_flow.report(run, events.append, setup_flow.given_secrets(given)))
    return [(e.step, e.status, e.message) for e in events if e.status != "progress"]


def test_openai_setup_shows_the_same_steps_in_the_cli_and_the_screen_flow(capsys, tmp_path):
    with serve() as server:
        assert main(["setup", "openai", "--base-url", server.base_url, "--no-verify-tls"]) == 0
    out = capsys.readouterr().out
    with serve() as server:
        given = {"base_url": server.base_url, "verify_tls": False}
        expected = flow_outline("openai", given, tmp_path / "openai.json")
    assert cli_outline(out) == expected
    assert expected[0] == ("tls", "warn", "TLS verification is off")
    assert expected[-1] == ("test", "ok", "Reply: You said: Say hello in five words.")
    assert "! tls  TLS verification is off\n  hint: " + setup_flow.TLS_OFF_HINT + "\n" in out


def test_opensearch_setup_shows_the_same_steps_in_the_cli_and_the_screen_flow(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPSEEK_API_KEY", TEST_API_KEY)
    cert, key = make_self_signed_cert(tmp_path / "tls")
    with MLCommonsServer(tls=(str(cert), str(key))) as cluster:
        code = main(["setup", "opensearch", "--url", cluster.url, "--auth", "none", "--no-verify-tls", "--yes"])
        assert code == 0
    out = capsys.readouterr().out
    with MLCommonsServer(tls=(str(cert), str(key))) as cluster:
        given = {"url": cluster.url, "auth": "none", "verify_tls": False}
        expected = flow_outline("opensearch", given, tmp_path / "opensearch.json")
    assert cli_outline(out) == expected
    steps = [step for step, status, _ in expected if status == "start"]
    assert steps == ["connect", "cluster_settings", "model_group", "connector", "model", "deploy",
                     "wait_deployed", "test", setup_flow.CHAT_TEST_STEP]
    assert ("tls", "warn", "TLS verification is off") in cli_outline(out)
    assert "! tls  TLS verification is off\n  hint: " + setup_flow.TLS_OFF_HINT + "\n" in out
    assert "! connect  OpenSearch " in out  # the cluster's own TLS warning, with its hint
    assert TEST_API_KEY not in out


# --------------------------------------------------------------------------- what the flow adds to the CLI


class LeakyProvisioner(Provisioner):
    """A buggy provisioner: echoes the key it was given, then crashes."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.key = settings["api_key"].get()

    async def provision(self) -> AsyncIterator[ProgressEvent]:
        yield ProgressEvent("connector", "start", "Creating the connector")
        yield ProgressEvent("connector", "info", f"Sending key {self.key}")
        raise RuntimeError(f"boom with {self.key}")

    async def teardown(self) -> AsyncIterator[ProgressEvent]:
        raise RuntimeError("not reached")
        yield  # pragma: no cover


class LeakyBackend(ProvisionedBackend):
    name = "leaky"
    options = (*ProvisionedBackend.options, Option("api_key", "API key", kind="secret"))

    @classmethod
    def provisioner(cls, settings, state_path) -> LeakyProvisioner:
        return LeakyProvisioner(dict(settings))


@pytest.fixture
def leaky(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "leaky", "tests.test_setup_one_flow:LeakyBackend")


def test_a_crashing_provisioner_is_a_failed_line_with_secrets_masked(leaky, capsys) -> None:
    key = "sk-leaky-0123456789abcdef"
    assert main(["setup", "leaky", "--yes", "--api-key", key]) == 1
    out, err = capsys.readouterr()
    assert f"· connector  Sending key {MASK}" in out
    assert ("✗ connector  connector failed unexpectedly\n"
            f"  RuntimeError: boom with {MASK}\n"
            "  hint: " + setup_flow.BUG_HINT + "\n") in out
    assert "step 'connector'" in err
    assert "Traceback" not in out + err
    assert key not in out + err


def test_the_state_file_folders_are_created_private() -> None:
    state_path = setup_flow.state_path_for("opensearch")
    assert state_path.parent == paths.state_dir()
    for folder in (paths.data_dir(), paths.state_dir()):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
