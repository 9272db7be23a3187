"""A realistic session with distinctive fake secrets, then a scan of EVERYTHING it left behind.

The session: ``thinkpane ask`` against the OpenAI stand-in with a key the server echoes back
in its error bodies (text and --json, saved to the store); the Bedrock stand-in with an AWS
secret; ``thinkpane setup opensearch`` against the ML Commons stand-in with a DeepSeek key
and a cluster password (without and with ``--keep-secrets``, and with a key the provider
rejects and echoes); a chat screen that hits an auth error; exports in both formats; and a
DEBUG log file that records every library's log lines. Then every file under the test's
config/data/tmp dirs (SQLite database, -wal/-shm, state files, exports, the log) and every
captured stdout/stderr is searched for each secret, raw and base64-encoded (as in a Basic
auth header). The only allowed copies are in config.toml after ``--keep-secrets``, and that
file is 0600. Keys are deliberately NOT shaped like ``sk-...``: only the redaction of known
values can hide them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import stat
from pathlib import Path

import pytest

from tests.servers import bedrock_eventstream as bedrock_server
from tests.servers.mlcommons import MLCommonsServer, StandInConfig
from tests.servers.openai_sse import Raw, Respond, chunk, serve
from tests.tui_helpers import rendered_text, wait_until
from thinkpane.backends import registry
from thinkpane.backends.errors import BackendError
from thinkpane.backends.secrets import Secret
from thinkpane.tui.cli.main import main
from thinkpane.tui.core import paths

OPENAI_KEY = "ScanKeyOpenAI-5b7e2c9d1f3a8e6c"
AWS_KEY_ID = "AKIASCANTEST00000001"
AWS_SECRET = "ScanAwsSecret/7Hq2+Lm9Xz4Pw8Rt5Yv1Nb6Kc3"
DEEPSEEK_KEY = "ScanDeepSeekKey-1c4e7a0d3f6b9e2a"
OS_PASSWORD = "ScanOsPassw0rd-8d2f4b"
SECRETS = {
    "openai key": OPENAI_KEY,
    "aws secret": AWS_SECRET,
    "deepseek key": DEEPSEEK_KEY,
    "opensearch password": OS_PASSWORD,
}


def needles() -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for name, value in SECRETS.items():
        found[name] = value.encode()
        found[name + " (base64)"] = base64.b64encode(value.encode())
    found["basic auth header"] = base64.b64encode(f"admin:{OS_PASSWORD}".encode())
    return found


def leaks(data: bytes) -> list[str]:
    return [name for name, needle in needles().items() if needle in data]


def echo_key_error() -> list:
    message = f"Authentication Fails, Your api key: {OPENAI_KEY} is invalid"
    return [Respond(401, {"error": {"message": message, "type": "authentication_error", "code": "invalid_request_error"}})]


def echo_key_mid_stream() -> list:
    return [chunk(reasoning="thinking"), chunk(content="partial"),
            Raw(('data: {"error": {"message": "key ' + OPENAI_KEY + ' was revoked", "type": "server_error"}}\n\n').encode())]


@pytest.fixture
def debug_log(isolated_home):
    """A DEBUG log file catching every library's records (what a user debugging would set up)."""
    log_path = isolated_home / "data" / "debug.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield log_path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


@pytest.fixture
def aws_env(monkeypatch, isolated_home):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(isolated_home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(isolated_home / "aws-credentials"))
    for var in ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("thinkpane.backends.bedrock.backend.BedrockBackend.RETRY_DELAYS_S", (0.01, 0.02))


def walk_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


async def chat_session_with_auth_error(server) -> str:
    """The chat screen with the real OpenAI backend; the server rejects and echoes the key."""
    from thinkpane.tui.app import ThinkpaneApp
    from thinkpane.tui.core.config import Settings
    from thinkpane.tui.core.store import ConversationStore

    server.enqueue(echo_key_error(), echo_key_mid_stream())
    backend = registry.create("openai", {"base_url": server.base_url, "api_key": Secret(OPENAI_KEY)})
    paths.ensure_private_dir(paths.data_dir())
    store = ConversationStore(paths.database_path())
    shown: list[str] = []
    try:
        app = ThinkpaneApp(Settings(), store, backend=backend)
        async with app.run_test(size=(160, 40)) as pilot:
            for prompt in ("first", "second"):
                await pilot.press(*prompt)
                await pilot.press("enter")
                await wait_until(pilot, lambda: app.chat.live is None and app.chat.transcript.answers(), "answer")
                await pilot.pause()
                turn = app.chat.transcript.answers()[-1]
                shown += [rendered_text(turn.note), rendered_text(app.chat.status), app.chat.status.info.text]
                app.chat.show_problem(BackendError(turn.record.error_title or "", turn.record.error_hint or ""))
                await pilot.pause()
                shown.append(rendered_text(app.chat.query_one("#message-panel")))
                await wait_until(pilot, lambda: app.chat.transcript.answers()[-1].record.status != "streaming",
                                 "ended")
            assert "Authentication" in " ".join(shown) or "401" in " ".join(shown)
    finally:
        store.close()
    return "\n".join(shown)


def test_no_secret_in_any_file_output_or_screen_of_a_whole_session(
    isolated_home, capsys, monkeypatch, aws_env, debug_log
) -> None:
    outputs: list[str] = []

    def run(*argv: str) -> int:
        code = main(list(argv))
        out, err = capsys.readouterr()
        outputs.extend([out, err])
        return code

    # 1. OpenAI-compatible: key in the environment, echoed in a 401, then mid-stream; saved.
    monkeypatch.setenv("DEEPSEEK_API_KEY", OPENAI_KEY)
    with serve() as server:
        server.enqueue(echo_key_error(), echo_key_error(), echo_key_mid_stream())
        assert run("ask", "--backend", "openai", "--base-url", server.base_url, "--save", "hello") == 1
        assert run("ask", "--backend", "openai", "--base-url", server.base_url, "--json", "hello") == 1
        assert run("ask", "--backend", "openai", "--base-url", server.base_url, "--save", "again") == 1
        assert server.chat_requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"  # it was really used
        # The chat screen hits the same auth error (and a key echoed mid-stream).
        outputs.append(asyncio.run(chat_session_with_auth_error(server)))
    monkeypatch.delenv("DEEPSEEK_API_KEY")

    # 2. Bedrock: an AWS secret in the environment; a good answer and an auth failure; saved.
    with bedrock_server.BedrockStandIn() as stand_in:
        stand_in.enqueue("reasoning_text", "http_unrecognized_client")
        for expected in (0, 1):
            assert run("ask", "--backend", "bedrock", "--endpoint-url", stand_in.url, "--region", "us-east-1",
                       "--save", "hi") == expected
        assert AWS_KEY_ID in stand_in.requests[0].headers.get("Authorization", "")  # really signed with it

    # 3. OpenSearch: setup with a DeepSeek key and a cluster password, not kept, then kept.
    config = StandInConfig(username="admin", password=OS_PASSWORD)
    with MLCommonsServer(config) as cluster:
        setup = ["setup", "opensearch", "--url", cluster.url, "--auth", "basic", "--username", "admin",
                 "--password", OS_PASSWORD, "--deepseek-api-key", DEEPSEEK_KEY, "--yes"]
        assert run(*setup) == 0
        config_text = paths.config_path().read_text()
        assert OS_PASSWORD not in config_text and DEEPSEEK_KEY not in config_text
        monkeypatch.setenv("OPENSEARCH_PASSWORD", OS_PASSWORD)
        assert run("ask", "--save", "hello opensearch") == 0
        assert run("teardown", "opensearch", "--yes") == 0
        monkeypatch.delenv("OPENSEARCH_PASSWORD")
        # A key the provider rejects and echoes back ("Your api key: ... is invalid").
        cluster.config.valid_api_key = "ScanTheRightKey-000000000000"
        assert run(*setup) == 1
        cluster.config.valid_api_key = None
        assert run(*setup, "--keep-secrets") == 0
    kept = paths.config_path().read_text()
    assert OS_PASSWORD in kept and DEEPSEEK_KEY in kept  # the user asked for it...
    assert stat.S_IMODE(paths.config_path().stat().st_mode) == 0o600  # ...and only they can read it

    # 4. Exports of everything saved.
    exports = isolated_home / "exports"
    exports.mkdir()
    assert run("export", "last", "-o", str(exports / "last.md")) == 0
    assert run("export", "1", "-o", str(exports / "first.json")) == 0
    assert run("export", "1") == 0

    # ---- the scan
    logging.getLogger("botocore").debug("header dump {'Authorization': b'Bearer %s'}", AWS_SECRET)
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert debug_log.stat().st_size > 0, "the debug log caught nothing: the scan would prove nothing"
    files = walk_files(isolated_home)
    assert any(p.name.endswith(".sqlite3") for p in files)
    assert any(p.parent == paths.state_dir() for p in files) or not paths.state_dir().exists()
    found = {}
    for path in files:
        hits = leaks(path.read_bytes())
        if path == paths.config_path():
            hits = [h for h in hits if not h.startswith(("deepseek key", "opensearch password"))]
        if hits:
            found[str(path.relative_to(isolated_home))] = hits
    for index, text in enumerate(outputs):
        if hits := leaks(text.encode()):
            found[f"captured output #{index}"] = hits
    assert not found, f"secrets leaked: {found}"


def test_files_and_folders_are_private(isolated_home, capsys) -> None:
    with serve() as server:
        assert main(["setup", "openai", "--base-url", server.base_url, "--api-key", OPENAI_KEY,
                     "--keep-secrets"]) == 0
        assert main(["ask", "--save", "hi"]) == 0
    assert main(["export", "last", "-o", str(isolated_home / "export.md")]) == 0
    capsys.readouterr()
    private_files = [paths.config_path(), paths.database_path(), isolated_home / "export.md"]
    private_files += [p for p in paths.data_dir().glob("*.sqlite3-*")]  # -wal, -shm while present
    for path in private_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (paths.config_dir(), paths.data_dir()):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_state_file_of_a_provisioned_backend_is_private_and_secret_free(isolated_home, capsys) -> None:
    with MLCommonsServer(StandInConfig(username="admin", password=OS_PASSWORD)) as cluster:
        assert main(["setup", "opensearch", "--url", cluster.url, "--auth", "basic", "--password", OS_PASSWORD,
                     "--deepseek-api-key", DEEPSEEK_KEY, "--yes"]) == 0
    capsys.readouterr()
    states = list(paths.state_dir().glob("*"))
    assert states, "setup wrote no state file"
    for path in states:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not leaks(path.read_bytes())
    assert stat.S_IMODE(paths.state_dir().stat().st_mode) == 0o700


# --------------------------------------------------------------------------- log redaction


def test_log_records_are_redacted_for_any_handler(isolated_home, monkeypatch) -> None:
    from thinkpane.backends import log_redaction

    log_redaction.install()
    log_redaction.register_secrets(["RegisteredValue-123456"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("thinkpane.test.redaction")
    handler = Keep(logging.DEBUG)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("headers={'Authorization': b'Bearer %s'}", "AnUnknownBearerToken0123")
        logger.warning("secret %s and %s", AWS_SECRET, "RegisteredValue-123456")
        try:
            raise RuntimeError(f"failed with key {AWS_SECRET}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    text = "\n".join(logging.Formatter().format(r) for r in records)
    assert "AnUnknownBearerToken0123" not in text
    assert AWS_SECRET not in text and "RegisteredValue-123456" not in text
    assert text.count("********") >= 4 and "RuntimeError" in text


def test_redacting_filter_for_existing_handlers(monkeypatch) -> None:
    from thinkpane.backends.log_redaction import RedactingFilter

    monkeypatch.setenv("OPENSEARCH_PASSWORD", OS_PASSWORD)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "password is %s", (OS_PASSWORD,), None)
    assert RedactingFilter().filter(record)
    assert OS_PASSWORD not in record.getMessage()
