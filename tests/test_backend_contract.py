"""The backend contract's shared pieces, each defined once in thinkpane.backends: the error
root and the cause walker (errors.py), the secret environment variables (secrets.py), the
private file writer (files.py), ``prepare()``, ``provisioner()`` and option defaults (base.py)."""

from __future__ import annotations

import asyncio
import builtins
import ssl
import sys

import pytest

from thinkpane.backends.base import Backend, guarded
from thinkpane.backends.errors import BackendError, ConfigurationError, ThinkpaneError, causes
from thinkpane.backends.events import ContentDelta, Conversation, ErrorEvent, Message, Notice, Stop

# --------------------------------------------------------------------------- errors


def test_a_backend_error_is_a_thinkpane_error_with_an_http_status() -> None:
    error = BackendError("Rate limited", "Wait a minute.", detail="429", status=429, retryable=True)
    assert isinstance(error, ThinkpaneError)
    assert str(error) == "Rate limited — 429 — Wait a minute."
    assert error.to_dict() == {"kind": "error", "title": "Rate limited", "hint": "Wait a minute.",
                               "detail": "429", "status": 429, "retryable": True}
    assert ThinkpaneError("Disk full", "Free some space.").to_dict() == {
        "kind": "error", "title": "Disk full", "hint": "Free some space.", "detail": "", "retryable": False}


def _raised(make) -> BaseException:
    try:
        make()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_causes_walks_cause_and_context_nearest_first() -> None:
    def explicit():
        try:
            raise ssl.SSLCertVerificationError("CERTIFICATE_VERIFY_FAILED")
        except ssl.SSLError as inner:
            raise ConnectionError("TLS handshake failed") from inner

    def implicit():
        try:
            explicit()
        except ConnectionError:
            raise RuntimeError("request failed")  # noqa: B904 - an implicit __context__ on purpose

    chain = list(causes(_raised(implicit)))
    assert [type(item) for item in chain] == [RuntimeError, ConnectionError, ssl.SSLCertVerificationError]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in Python 3.11")
def test_causes_finds_what_sdks_and_exception_groups_wrap() -> None:
    dns = OSError("Name or service not known")
    timeout = TimeoutError("read timed out")
    tls = ssl.SSLError("CERTIFICATE_VERIFY_FAILED")
    refused = ConnectionRefusedError("refused")

    class OpenSearchStyle(Exception):  # opensearch-py: ConnectionError(..., info=exception)
        info = dns

    class BotocoreStyle(Exception):  # botocore: EndpointConnectionError(error=exception)
        kwargs = {"error": timeout}

    class Urllib3Style(Exception):  # urllib3: MaxRetryError(pool, url, reason)
        reason = tls

    group = builtins.ExceptionGroup("several", [OpenSearchStyle(), BotocoreStyle(), Urllib3Style(), ValueError(refused)])

    found = list(causes(group))

    for inner in (dns, timeout, tls, refused):
        assert inner in found, inner


def test_causes_ends_on_a_cycle_and_yields_each_exception_once() -> None:
    first, second = ValueError("first"), KeyError("second")
    first.__cause__, second.__context__ = second, first
    assert list(causes(first)) == [first, second]


# --------------------------------------------------------------------------- secrets


def test_every_secret_options_environment_variable_is_a_secret_env_var() -> None:
    """Log redaction masks SECRET_ENV_VARS: a secret option read from another variable
    would leak through a library's log line."""
    from thinkpane.backends import registry
    from thinkpane.backends.secrets import SECRET_ENV_VARS

    declared = {
        (name, var)
        for name in registry.BUILTIN
        for option in registry.load(name).options
        if option.is_secret
        for var in option.env
    }
    assert declared, "no built-in backend declares a secret option read from the environment"
    assert {(name, var) for name, var in declared if var not in SECRET_ENV_VARS} == set()


def test_environment_secrets_are_masked_in_bedrock_errors_and_log_records(monkeypatch) -> None:
    from thinkpane.backends.bedrock.errors import ErrorContext
    from thinkpane.backends.log_redaction import redact_log_text

    monkeypatch.setenv("OPENSEARCH_PASSWORD", "os-password-1234")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "aws-session-token-5678")
    text = "echoed: os-password-1234 and aws-session-token-5678"

    for masked in (redact_log_text(text), ErrorContext(model="m").clean(text)):
        assert "os-password-1234" not in masked and "aws-session-token-5678" not in masked


# --------------------------------------------------------------------------- private files


def _mode(path) -> int:
    import stat

    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_makes_a_0600_file_in_new_0700_folders(tmp_path) -> None:
    from thinkpane.backends.files import write_private

    target = tmp_path / "new" / "thinkpane" / "config.toml"
    assert write_private(target, "key = 'v'\n") == target
    assert target.read_text() == "key = 'v'\n"
    assert _mode(target) == 0o600
    assert _mode(target.parent) == _mode(target.parent.parent) == 0o700  # every folder it made

    target.chmod(0o644)  # e.g. loosened by an editor: the next write tightens it again
    write_private(target, "key = 'w'\n")
    assert target.read_text() == "key = 'w'\n" and _mode(target) == 0o600


def test_write_private_leaves_the_old_file_whole_when_writing_fails(tmp_path, monkeypatch) -> None:
    from thinkpane.backends.files import write_private

    target = tmp_path / "state.json"
    write_private(target, "old\n")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", disk_full)
    with pytest.raises(OSError):
        write_private(target, "new and much longer\n")

    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"], "the temporary file was left behind"


def test_write_private_follows_a_symlink_and_refuses_a_missing_folder_when_told(tmp_path) -> None:
    from thinkpane.backends.files import write_private

    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "config.toml").write_text("")
    link = tmp_path / "config.toml"
    link.symlink_to(dotfiles / "config.toml")

    write_private(link, "theme = 'nord'\n")

    assert link.is_symlink() and (dotfiles / "config.toml").read_text() == "theme = 'nord'\n"
    with pytest.raises(FileNotFoundError):
        write_private(tmp_path / "typo" / "chat.md", "text", make_folder=False)
    assert not (tmp_path / "typo").exists()


# --------------------------------------------------------------------------- option defaults


def test_option_defaults_are_applied_by_the_base_for_any_backend() -> None:
    """A backend built from a partial dict (a test, a plugin's caller) sees every option
    parsed and defaulted, without applying defaults itself."""
    from thinkpane.backends.base import Backend
    from thinkpane.backends.options import Option
    from thinkpane.backends.secrets import Secret

    class Plugin(Backend):
        name, label = "plugin", "Plugin"
        options = (
            Option("timeout_s", "Timeout", kind="float", default=30.0),
            Option("verify_tls", "Verify TLS", kind="bool", default=True),
            Option("token", "Token", kind="secret"),
            Option("mode", "Mode", kind="choice", choices=("fast", "slow"), default="fast"),
        )

        async def stream(self, conversation):
            yield  # pragma: no cover - never streamed

    plugin = Plugin({"verify_tls": "false", "token": "tok-1234", "retry_hook": 1})

    assert plugin.settings == {"timeout_s": 30.0, "verify_tls": False, "token": Secret("tok-1234"),
                               "mode": "fast", "retry_hook": 1}
    assert plugin.secrets() == ["tok-1234"]
    with pytest.raises(ConfigurationError, match="mode"):
        Plugin({"mode": "warp"})


def test_openai_backend_built_from_a_partial_dict_uses_its_declared_defaults() -> None:
    from thinkpane.backends.openai_compat import OpenAIBackend
    from thinkpane.backends.secrets import Secret

    backend = OpenAIBackend({"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-local-000000"})

    assert backend.model == "deepseek-v4-flash"
    assert backend.settings["api_key"] == Secret("sk-local-000000")
    assert backend.secrets() == ["sk-local-000000"]
    assert backend.think_mode() == "auto"
    body = backend.request_body(Conversation([Message("user", "hi")]))
    assert body["stream_options"] == {"include_usage": True}  # include_usage defaults to true


# --------------------------------------------------------------------------- prepare()


class _Preparing(Backend):
    """prepare() waits for the test; stream() records that it ran after it."""

    name, label = "preparing", "Preparing"

    def __init__(self, fail: bool = False) -> None:
        super().__init__({})
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.fail = fail
        self.ready = False
        self.streamed_when_ready: list[bool] = []

    def preparing(self) -> str:
        return "" if self.ready else "Warming up…"

    async def prepare(self) -> None:
        self.started.set()
        await self.gate.wait()
        if self.fail:
            raise ConfigurationError("The model file is damaged", "Download it again.")
        self.ready = True

    async def stream(self, conversation):
        self.streamed_when_ready.append(self.ready)
        yield ContentDelta("hi")
        yield Stop("end_turn")


async def test_guarded_announces_and_awaits_prepare_before_the_stream() -> None:
    backend = _Preparing()
    events = guarded(backend, Conversation([Message("user", "hi")]))

    assert await anext(events) == Notice("Warming up…")
    pending = asyncio.ensure_future(anext(events))
    await backend.started.wait()
    assert not pending.done() and backend.streamed_when_ready == []  # prepare() holds the stream
    backend.gate.set()
    assert await pending == ContentDelta("hi")
    assert [event async for event in events] == [Stop("end_turn")]
    assert backend.streamed_when_ready == [True]

    # Prepared: the next stream has nothing to announce.
    again = [event async for event in guarded(backend, Conversation([Message("user", "hi")]))]
    assert again == [ContentDelta("hi"), Stop("end_turn")]


async def test_a_failing_prepare_is_an_error_event_and_nothing_is_streamed() -> None:
    backend = _Preparing(fail=True)
    backend.gate.set()

    events = [event async for event in guarded(backend, Conversation([Message("user", "hi")]))]

    assert isinstance(events[0], Notice) and isinstance(events[-1], ErrorEvent)
    assert events[-1].error.title == "The model file is damaged"
    assert backend.streamed_when_ready == []


async def test_the_default_prepare_does_nothing_and_announces_nothing() -> None:
    from thinkpane.backends.scripted import ScriptedBackend

    backend = ScriptedBackend()
    backend.enqueue([ContentDelta("x"), Stop("end_turn")])
    assert backend.preparing() == ""
    await backend.prepare()
    assert [e async for e in guarded(backend, Conversation([Message("user", "q")]))] == [
        ContentDelta("x"), Stop("end_turn")]


# --------------------------------------------------------------------------- provisioner()


def test_overriding_provisioner_is_what_makes_a_backend_need_provisioning(tmp_path) -> None:
    from thinkpane.backends import registry
    from thinkpane.backends.base import Provisioner

    class Plain(Backend):
        name, label = "plain", "Plain"

        async def stream(self, conversation):
            yield  # pragma: no cover - never streamed

    class Steps(Provisioner):
        async def provision(self):
            yield  # pragma: no cover - never run

        async def teardown(self):
            yield  # pragma: no cover - never run

    class Cluster(Plain):
        @classmethod
        def provisioner(cls, settings, state_path) -> Provisioner:
            return Steps()

    class TunedCluster(Cluster):
        label = "Tuned"

    assert Plain.provisioner({}, tmp_path / "s.json") is None and not Plain.NEEDS_PROVISIONING
    assert isinstance(Cluster.provisioner({}, tmp_path / "s.json"), Steps)
    assert Cluster.NEEDS_PROVISIONING and TunedCluster.NEEDS_PROVISIONING
    assert {name for name in registry.BUILTIN if registry.load(name).NEEDS_PROVISIONING} == {"opensearch"}


async def test_teardown_of_a_backend_that_creates_nothing_says_so(tmp_path) -> None:
    from thinkpane.backends.scripted import ScriptedBackend
    from thinkpane.tui.core.setup_flow import teardown_events

    events = [event async for event in teardown_events(ScriptedBackend, {}, state_path=tmp_path / "s.json")]

    assert [(event.status, event.message) for event in events] == [
        ("skip", "Scripted creates nothing on the provider side")]
