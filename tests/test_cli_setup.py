"""``thinkpane setup`` / ``teardown`` / ``backends`` and the progress printer.

Connection tests run the real OpenAI backend against its SSE stand-in. Provisioning is
exercised with a small scripted provisioner (registered like a plugin) so that the CLI's
side (confirmation, printing, saving, exit codes) is tested on its own; the OpenSearch
provisioner has its own tests against the ML Commons stand-in.
"""

from __future__ import annotations

import asyncio
import io
import stat
from collections.abc import AsyncIterator
from typing import Any

import pytest
import tomllib

from tests.servers.openai_sse import serve
from thinkpane.backends import registry
from thinkpane.backends.base import Provisioner
from thinkpane.backends.events import ProgressEvent
from thinkpane.backends.scripted import ScriptedBackend
from thinkpane.tui.cli.main import main
from thinkpane.tui.cli.setup import ProgressPrinter
from thinkpane.tui.core import paths

KEY = "sk-setup-test-0123456789abcdef"


@pytest.fixture
def server():
    with serve() as running:
        yield running


def read_config() -> dict:
    return tomllib.loads(paths.config_path().read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- connection test


def test_setup_tests_the_connection_then_saves_options_and_default(server, capsys) -> None:
    assert main(["setup", "openai", "--base-url", server.base_url, "--model", "r1-test"]) == 0
    out = capsys.readouterr().out
    assert "✓ test  Reply: You said: Say hello in five words." in out
    assert "Saved to " in out
    config = read_config()
    assert config == {"backend": "openai", "backends": {"openai": {"base_url": server.base_url, "model": "r1-test"}}}
    assert stat.S_IMODE(paths.config_path().stat().st_mode) == 0o600
    assert server.chat_requests[0].body["model"] == "r1-test"


def test_setup_does_not_save_the_key_without_keep_secrets(server, capsys) -> None:
    assert main(["setup", "openai", "--base-url", server.base_url, "--api-key", KEY]) == 0
    out = capsys.readouterr().out
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in paths.config_path().read_text()
    assert "Not saved: API key" in out and "DEEPSEEK_API_KEY" in out
    assert KEY not in out


def test_setup_keeps_the_key_when_asked(server, capsys) -> None:
    assert main(["setup", "openai", "--base-url", server.base_url, "--api-key", KEY, "--keep-secrets"]) == 0
    assert read_config()["backends"]["openai"]["api_key"] == KEY
    assert KEY not in capsys.readouterr().out


def test_keep_secrets_saves_a_key_read_from_its_environment_variable_and_says_so(server, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    assert main(["setup", "openai", "--base-url", server.base_url, "--keep-secrets"]) == 0
    out = capsys.readouterr().out
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert read_config()["backends"]["openai"]["api_key"] == KEY
    assert "Saved API key from $DEEPSEEK_API_KEY in the config file" in out
    assert KEY not in out


def test_without_keep_secrets_a_key_from_the_environment_stays_there(server, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    assert main(["setup", "openai", "--base-url", server.base_url]) == 0
    assert KEY not in paths.config_path().read_text()
    assert "DEEPSEEK_API_KEY" not in capsys.readouterr().out


def test_failed_test_prints_hint_saves_nothing_and_exits_1(capsys) -> None:
    with serve("error_401") as server:
        code = main(["setup", "openai", "--base-url", server.base_url, "--api-key", KEY])
    out, err = capsys.readouterr()
    assert code == 1
    assert "✗ test  " in out
    assert "\n  hint: " in out
    assert "thinkpane setup openai" in err
    assert KEY not in out + err
    assert not paths.config_path().exists()


def test_setup_unusable_options_exit_1_with_the_hint(capsys) -> None:
    assert main(["setup", "openai"]) == 1  # remote default URL and no key
    err = capsys.readouterr().err
    assert err.startswith("Error: No API key") and "DEEPSEEK_API_KEY" in err


def test_setup_help_lists_the_backend_options(capsys) -> None:
    assert main(["setup", "openai", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--base-url" in out and "--api-key" in out and "--keep-secrets" in out


def test_setup_unknown_backend_is_a_usage_error(capsys) -> None:
    assert main(["setup", "nonesuch"]) == 2
    assert "Unknown backend 'nonesuch'" in capsys.readouterr().err


# --------------------------------------------------------------------------- provisioning


class ScriptedProvisioner(Provisioner):
    """Replays queued progress events; remembers teardown like a state file would."""

    def __init__(self, settings: dict[str, Any], state_path, *, fail_at: str | None = None) -> None:
        self.settings = settings
        self.state_path = state_path
        self.fail_at = fail_at
        self.created = state_path.exists()

    async def provision(self) -> AsyncIterator[ProgressEvent]:
        for step in ("connect", "connector", "deploy"):
            yield ProgressEvent(step, "start", f"Doing {step}")
            if step == "deploy":
                yield ProgressEvent(step, "progress", "Deploying: 50%")
            if step == self.fail_at:
                yield ProgressEvent(step, "fail", f"{step} refused", hint=f"Allow {step} and retry.", duration_s=0.5)
                return
            yield ProgressEvent(step, "ok", f"{step} done", duration_s=1.25)
        self.state_path.write_text('{"model_id": "m-123"}')
        self.created = True

    async def teardown(self) -> AsyncIterator[ProgressEvent]:
        yield ProgressEvent("delete_model", "start", "Deleting the model")
        if self.fail_at == "teardown":
            yield ProgressEvent("delete_model", "fail", "Cannot delete", hint="Undeploy it first.")
            return
        self.state_path.unlink(missing_ok=True)
        yield ProgressEvent("delete_model", "ok", "Deleted", duration_s=0.1)
        yield ProgressEvent("summary", "ok", "Everything setup created is gone.")

    def saved_settings(self) -> dict[str, Any]:
        return {"model_id": "m-123"} if self.state_path.exists() else {}


class ProvisionedBackend(ScriptedBackend):
    name = "provisioned"
    label = "Provisioned test backend"
    fail_at: str | None = None
    seen_settings: dict[str, Any] = {}

    @classmethod
    def provisioner(cls, settings, state_path) -> ScriptedProvisioner:
        cls.seen_settings = dict(settings)
        return ScriptedProvisioner(dict(settings), state_path, fail_at=cls.fail_at)


@pytest.fixture
def provisioned(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "provisioned", "tests.test_cli_setup:ProvisionedBackend")
    monkeypatch.setattr(ProvisionedBackend, "fail_at", None)
    return ProvisionedBackend


def test_provisioning_prints_steps_saves_results_and_default(provisioned, capsys) -> None:
    assert main(["setup", "provisioned", "--yes", "--model", "r1-x"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    # Not a terminal: plain lines, one per start and finish, no cursor movement.
    assert "\x1b" not in out and "\r" not in out
    assert "… connect  Doing connect" in lines
    assert "✓ connect  connect done  (1.2 s)" in lines
    assert "… deploy  Deploying: 50%" in lines
    assert provisioned.seen_settings["model"] == "r1-x"
    assert read_config() == {"backend": "provisioned", "backends": {"provisioned": {"model": "r1-x", "model_id": "m-123"}}}
    assert (paths.state_dir() / "provisioned.json").exists()


def test_the_data_dir_created_for_provisioning_state_is_private(provisioned, capsys, monkeypatch, tmp_path) -> None:
    data = tmp_path / "new" / "thinkpane-data"
    monkeypatch.setenv("THINKPANE_DATA_DIR", str(data))
    assert main(["setup", "provisioned", "--yes"]) == 0
    for folder in (data.parent, data, data / "state"):  # every folder setup created
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_provisioning_failure_exits_1_with_hint_and_saves_nothing(provisioned, capsys) -> None:
    provisioned.fail_at = "connector"
    assert main(["setup", "provisioned", "--yes"]) == 1
    out, err = capsys.readouterr()
    assert "✗ connector  connector refused  (0.5 s)\n  hint: Allow connector and retry.\n" in out
    assert "deploy" not in out
    assert "step 'connector'" in err
    assert not paths.config_path().exists()


def test_provisioning_needs_yes_when_not_interactive(provisioned, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["setup", "provisioned"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert not (paths.state_dir() / "provisioned.json").exists()


def test_teardown_deletes_and_removes_saved_ids_from_config(provisioned, capsys) -> None:
    assert main(["setup", "provisioned", "--yes"]) == 0
    assert read_config()["backends"]["provisioned"]["model_id"] == "m-123"
    capsys.readouterr()
    assert main(["teardown", "provisioned", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "✓ summary  Everything setup created is gone." in out
    assert "Removed model_id" in out
    assert "model_id" not in read_config().get("backends", {}).get("provisioned", {})
    assert not (paths.state_dir() / "provisioned.json").exists()


def test_teardown_failure_exits_1(provisioned, capsys) -> None:
    provisioned.fail_at = "teardown"
    assert main(["teardown", "provisioned", "--yes"]) == 1
    out = capsys.readouterr().out
    assert "✗ delete_model  Cannot delete\n  hint: Undeploy it first.\n" in out


def test_teardown_of_a_backend_without_provisioning_is_a_usage_error(capsys) -> None:
    assert main(["teardown", "openai", "--yes"]) == 2
    assert "nothing to tear down" in capsys.readouterr().err


# --------------------------------------------------------------------------- the printer


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def _events(*events: ProgressEvent) -> AsyncIterator[ProgressEvent]:
    for event in events:
        yield event


def test_progress_updates_in_place_on_a_terminal() -> None:
    out = FakeTerminal()
    ok = asyncio.run(ProgressPrinter(out).show_all(_events(
        ProgressEvent("deploy", "start", "Deploying"),
        ProgressEvent("deploy", "progress", "10%"),
        ProgressEvent("deploy", "progress", "90%"),
        ProgressEvent("deploy", "ok", "Deployed", duration_s=3.04),
        ProgressEvent("test", "warn", "Slow", hint="Check the network."),
    )))
    assert ok
    assert out.getvalue() == (
        "\r\x1b[2K… deploy  Deploying"
        "\r\x1b[2K… deploy  10%"
        "\r\x1b[2K… deploy  90%"
        "\r\x1b[2K✓ deploy  Deployed  (3.0 s)\n"
        "! test  Slow\n"
        "  hint: Check the network.\n"
    )


def test_plain_output_throttles_progress_lines_and_strips_escapes() -> None:
    now = [0.0]
    out = io.StringIO()
    printer = ProgressPrinter(out, clock=lambda: now[0])
    ok = asyncio.run(printer.show_all(_events(
        ProgressEvent("test", "start", "Sending"),
        ProgressEvent("test", "progress", "Answer: a"),
        ProgressEvent("test", "progress", "Answer: ab"),  # within 2 s: not printed
        ProgressEvent("test", "fail", "Bad \x1b[31mreply\x1b[0m", hint="Look \x1b]0;x\x07here."),
    )))
    assert not ok
    assert out.getvalue() == "… test  Sending\n… test  Answer: a\n✗ test  Bad reply\n  hint: Look here.\n"


def test_ascii_symbols_when_the_terminal_cannot_print_checkmarks() -> None:
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    printer = ProgressPrinter(out, tty=False)
    printer.show(ProgressEvent("x", "ok", "fine"))
    out.flush()
    assert out.buffer.getvalue() == b"OK x  fine\n"


# --------------------------------------------------------------------------- listing


def test_backends_lists_options_and_install_state(capsys) -> None:
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "openai" in out and "--base-url" in out and "DEEPSEEK_API_KEY" in out
    assert "installed" in out
    assert f"Config file: {paths.config_path()}" in out


# --------------------------------------------------------------------------- launching the app


@pytest.fixture
def launched(monkeypatch):
    """The real ThinkpaneApp, built by the CLI; run() records the app instead of taking the terminal."""
    from thinkpane.tui.app import ThinkpaneApp

    apps: list[ThinkpaneApp] = []
    monkeypatch.setattr(ThinkpaneApp, "run", lambda self, *a, **k: apps.append(self))
    return apps


def test_first_launch_opens_setup(launched) -> None:
    assert main([]) == 0
    (app,) = launched
    assert app.first_launch is True
    assert app.backend is None  # the app builds it from settings


def test_launch_with_flags_uses_them_for_this_session_only(launched, server) -> None:
    paths.ensure_private_dir(paths.config_dir())
    paths.config_path().write_text('backend = "local"\n')
    assert main(["--backend", "openai", "--base-url", server.base_url, "--model", "m1"]) == 0
    (app,) = launched
    assert app.first_launch is False
    assert app.settings.backend == "openai"
    from thinkpane.tui.core.config import backend_options, save_settings

    assert backend_options(app.settings, "openai")["base_url"] == server.base_url
    save_settings(app.settings)  # e.g. the user changes the theme later
    assert read_config() == {"backend": "local"}


def test_continue_reopens_the_latest_conversation(launched) -> None:
    from thinkpane.tui.core.store import ConversationStore

    paths.ensure_private_dir(paths.data_dir())
    store = ConversationStore(paths.database_path())
    store.create_conversation("old")
    newest = store.create_conversation("newest")
    store.close()
    assert main(["--continue"]) == 0
    assert launched[0].chat.conversation_id == newest


def test_launch_errors_exit_2_before_the_screen_opens(launched, capsys) -> None:
    assert main(["--conversation", "42"]) == 2
    assert "no conversation 42" in capsys.readouterr().err
    assert main(["--backend", "nonesuch"]) == 2
    assert "Unknown backend" in capsys.readouterr().err
    assert main(["--backend", "openai"]) == 2  # no key for the remote default URL
    assert "DEEPSEEK_API_KEY" in capsys.readouterr().err
    paths.ensure_private_dir(paths.config_dir())
    paths.config_path().write_text("theme = \n")
    assert main([]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert launched == []


def test_a_config_value_to_convert_stops_the_launch_naming_its_line(launched, capsys) -> None:
    # Validated before the first frame (config.read_settings): the app never starts.
    paths.ensure_private_dir(paths.config_dir())
    paths.config_path().write_text('theme = "nord"\nshow_reasoning = "maybe"\n')
    assert main([]) == 2
    err = capsys.readouterr().err
    assert f"{paths.config_path()}:2" in err and "show_reasoning" in err
    assert launched == []


def test_a_deferred_config_with_a_bad_option_still_stops_the_launch_naming_its_line(launched, capsys) -> None:
    from thinkpane.tui.core.config import DeferredSettings, read_settings

    paths.ensure_private_dir(paths.config_dir())
    paths.config_path().write_text('backend = "openai"\n[backends.openai]\nbase_url = "http://127.0.0.1:9/v1"\n'
                                   'max_tokens = "lots"\n')
    assert isinstance(read_settings(), DeferredSettings)  # nothing to convert: validated after the first frame
    assert main([]) == 2
    err = capsys.readouterr().err
    assert f"{paths.config_path()}:4" in err and "max_tokens" in err
    assert launched == []


def test_settings_refused_after_the_first_frame_are_printed_with_exit_2(monkeypatch, capsys) -> None:
    # The app stops with settings_error set (test_warm_up.py); the CLI prints it once the
    # terminal is back, as it prints a problem found before launch.
    from thinkpane.tui.app import ThinkpaneApp
    from thinkpane.tui.core.config import ConfigFileError

    def run(app, *args, **kwargs):
        app.settings_error = ConfigFileError("Invalid setting 'theme'", "Fix it in config.toml:1.")

    monkeypatch.setattr(ThinkpaneApp, "run", run)
    paths.ensure_private_dir(paths.config_dir())
    paths.config_path().write_text('theme = "nord"\n')
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "Error: Invalid setting 'theme'" in err and "Fix it in config.toml:1." in err


# --------------------------------------------------------------------------- opensearch, end to end


def test_opensearch_setup_ask_teardown_against_the_ml_commons_stand_in(capsys, monkeypatch) -> None:
    from tests.servers.mlcommons import TEST_API_KEY, MLCommonsServer

    monkeypatch.setenv("DEEPSEEK_API_KEY", TEST_API_KEY)
    with MLCommonsServer() as cluster:
        assert main(["setup", "opensearch", "--url", cluster.url, "--auth", "none", "--yes"]) == 0
        out = capsys.readouterr().out
        assert "✓ wait_deployed  Model deployed" in out
        assert "✓ test  Reply: " in out
        config = read_config()
        model_id = config["backends"]["opensearch"]["model_id"]
        assert config["backend"] == "opensearch"
        assert config["backends"]["opensearch"]["url"] == cluster.url
        assert TEST_API_KEY not in paths.config_path().read_text() + out
        assert cluster.counts()["models"] == 1

        # The saved settings are enough for a chat: no flags.
        assert main(["ask", "hello"]) == 0
        answer = capsys.readouterr().out
        assert answer.strip()

        assert main(["teardown", "opensearch", "--yes"]) == 0
        out = capsys.readouterr().out
        assert f"Deleted model {model_id}" in out
        assert cluster.counts() == {"model_groups": 0, "connectors": 0, "models": 0, "deployed": 0}
    assert "model_id" not in read_config()["backends"]["opensearch"]
    assert not (paths.state_dir() / "opensearch.json").exists()


def test_teardown_finds_the_cluster_in_the_state_file_when_the_url_came_from_the_environment(
        capsys, monkeypatch) -> None:
    from tests.servers.mlcommons import TEST_API_KEY, MLCommonsServer, StandInConfig

    monkeypatch.setenv("DEEPSEEK_API_KEY", TEST_API_KEY)
    with MLCommonsServer(StandInConfig(username="admin", password="admin-Secret-1")) as cluster:
        monkeypatch.setenv("OPENSEARCH_URL", cluster.url)
        monkeypatch.setenv("OPENSEARCH_PASSWORD", "admin-Secret-1")
        assert main(["setup", "opensearch", "--username", "admin", "--yes"]) == 0
        assert "url" not in read_config()["backends"]["opensearch"]  # it came from the environment
        capsys.readouterr()
        monkeypatch.delenv("OPENSEARCH_URL")
        monkeypatch.delenv("OPENSEARCH_PASSWORD")

        # The credentials still have to be given; the URL does not.
        assert main(["teardown", "opensearch", "--yes"]) == 1
        captured = capsys.readouterr()
        assert "password for basic auth is not set" in captured.out
        assert "URL is not set" not in captured.out + captured.err
        assert cluster.counts()["models"] == 1

        monkeypatch.setenv("OPENSEARCH_PASSWORD", "admin-Secret-1")
        assert main(["teardown", "opensearch", "--yes"]) == 0
        assert cluster.counts() == {"model_groups": 0, "connectors": 0, "models": 0, "deployed": 0}


def test_setup_prints_the_servers_message_under_a_failed_step(capsys, monkeypatch) -> None:
    from tests.servers.mlcommons import TEST_API_KEY, MLCommonsServer, StandInConfig

    monkeypatch.setenv("DEEPSEEK_API_KEY", TEST_API_KEY)
    reason = "Remote inference host name has private ip address: 10.1.2.3 " + "x" * 1500
    config = StandInConfig(fail_next={"create_connector": (400, "illegal_argument_exception", reason)})
    with MLCommonsServer(config) as cluster:
        assert main(["setup", "opensearch", "--url", cluster.url, "--auth", "none", "--yes"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("✗ connector"))
    assert lines[failed + 1].startswith("  Remote inference host name has private ip address: 10.1.2.3 xxx")
    assert lines[failed + 1].endswith("x")  # the CLI shows it all: it is the way to see all
    assert lines[failed + 2].startswith("  hint: ")


def test_live_lines_fit_one_terminal_row() -> None:
    out = FakeTerminal()
    printer = ProgressPrinter(out, width=30)
    printer.show(ProgressEvent("test", "progress", "Answer: " + "x" * 100 + "END"))
    line = out.getvalue().removeprefix("\r\x1b[2K")
    assert len(line) <= 30 and line.endswith("END") and line.startswith("… test  …")
