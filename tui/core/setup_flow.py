"""The one setup flow: what the setup screen and ``thinkpane setup``/``teardown`` run, without widgets.

Both front ends drive the same generators and differ only in how they show the events
(the screen's progress log, the CLI's text lines) and in how they ask and save:

* :func:`backend_choices`: every registered backend with its label and description, or
  why it cannot be used here (a missing extra), so the list never crashes on a broken one.
* :func:`thinking_choice`: the first-launch offer beside "Use the bundled SmolLM2": a
  downloaded model that thinks ("Use NAME (downloaded)", the one-Enter path), else "Download
  a thinking model" with the recommended model's name, size from the Hub and RAM; and
  :func:`remember_local_model`, what choosing either writes into the settings. The download
  itself is :class:`thinkpane.tui.core.download.ModelDownload`.
* :func:`initial_values`: a backend's option values as the form should show them.
* :func:`setup_events` / :func:`teardown_events`: the ProgressEvents of "Run" (a TLS
  warning when verification is off, provisioning if the backend needs it, then a short test
  prompt) and "Teardown".
* :func:`report`: hands a run's events to the front end, secrets masked, crashes as failed lines.
* :func:`values_to_store`: which option values go into the config file (the screen's Save).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thinkpane.backends import registry
from thinkpane.backends.base import Backend, probe
from thinkpane.backends.errors import BackendError, ConfigurationError
from thinkpane.backends.events import ProgressEvent
from thinkpane.backends.options import Option, resolve_options
from thinkpane.backends.secrets import Secret, redact
from thinkpane.tui.core.config import backend_options

if TYPE_CHECKING:
    from thinkpane.tui.core.settings_model import Settings

LOCAL = "local"
CHAT_TEST_STEP = "chat"
OPTIONS_STEP = "options"  # unusable option values, before any step ran
TLS_STEP = "tls"
TLS_OFF_HINT = (
    "The connection can be read or altered by anyone on the way, including your key. "
    "Prefer a CA bundle (ca_bundle) and turn verification back on."
)


@dataclass(frozen=True)
class BackendChoice:
    name: str
    label: str
    description: str
    backend_class: type[Backend] | None
    problem: BackendError | None = None  # set when the backend cannot be used here

    @property
    def usable(self) -> bool:
        return self.problem is None and self.backend_class is not None


def backend_choices(settings: Settings) -> list[BackendChoice]:
    choices = []
    for name in registry.available():
        try:
            backend_class = registry.load(name)
        except ConfigurationError as error:
            choices.append(BackendChoice(name, name, "not installed — " + error.hint, None, error))
            continue
        except Exception as exc:  # a broken plugin must not break the screen
            broken = ConfigurationError(f"Backend {name!r} failed to load", detail=f"{type(exc).__name__}: {exc}")
            choices.append(BackendChoice(name, name, broken.title, None, broken))
            continue
        problem = local_problem(settings) if name == LOCAL else None
        description = backend_class.description
        if problem is not None:
            description = "not installed — " + problem.hint if "install" in problem.hint.lower() else problem.title
        choices.append(BackendChoice(name, backend_class.label, description, backend_class, problem))
    return choices


def local_problem(settings: Settings) -> BackendError | None:
    """Why the local model cannot run (no llama-cpp-python, no model file), or None.

    Building the backend does no model loading, so this is cheap; it is how the one-Enter
    "use local model" path knows it will work before it promises to.
    """
    try:
        registry.create(LOCAL, backend_options(settings, LOCAL))
    except BackendError as error:
        return error
    return None


RECOMMENDED_THINKING_MODEL = "qwen3-0.6b"  # the catalogue's recommended thinking model: small, fast, thinks
SMOLLM2_LABEL = "Use the bundled SmolLM2 (does not think)"
DOWNLOAD_LABEL = "Download a thinking model"
HUB_SIZE_TIMEOUT_S = 5.0  # how long the first-launch screen waits for the Hub's file size


def _downloaded_thinking_model() -> tuple[Any, Path] | None:
    """The first catalogue model that thinks and is downloaded, and its file (None: none is)."""
    from thinkpane.backends.local.catalog import CATALOG
    from thinkpane.backends.local.store import current_store

    try:
        store = current_store()
        for entry in CATALOG:
            if entry.thinks and (path := store.find(entry.target)) is not None:
                return entry, path
    except (BackendError, OSError):
        pass
    return None


@dataclass(frozen=True)
class ThinkingChoice:
    """The first-launch offer beside SmolLM2: a downloaded model that thinks, or the
    catalogue's recommended one to download, with its size and the RAM it needs.

    ``size`` is the file on disk, or what the Hub's tree API says (None while unknown:
    offline, no answer in time); it is never written down in Thinkpane.
    """

    name: str
    summary: str
    downloaded: bool
    size: int | None = None
    ram: int | None = None
    problem: str = ""  # why it cannot be downloaded here (no huggingface_hub), or ""
    size_note: str = ""  # why the size is unknown, or ""

    @property
    def label(self) -> str:
        return f"Use {self.name} (downloaded)" if self.downloaded else DOWNLOAD_LABEL

    @property
    def note(self) -> str:
        from thinkpane.backends.local.hub import human_bytes

        if self.problem:
            return self.problem
        if self.downloaded:
            return f"{self.name}: {self.summary} It runs here, offline, and thinks before it answers."
        size = human_bytes(self.size) if self.size is not None else "size unknown"
        if self.size_note:
            size += f" ({self.size_note})"
        ram = f", needs {human_bytes(self.ram)} of RAM" if self.ram is not None else ""
        return f"{self.name}, {size}{ram}. {self.summary}"


def thinking_choice(*, ask_hub: bool = True, timeout_s: float = HUB_SIZE_TIMEOUT_S) -> ThinkingChoice:
    """What "Download a thinking model" offers. With ``ask_hub``, the size comes from the
    Hub's tree API (blocking up to ``timeout_s``: call it from a worker thread)."""
    from thinkpane.backends.local import catalog

    downloaded = _downloaded_thinking_model()
    if downloaded is not None:
        pulled, path = downloaded
        on_disk = path.stat().st_size
        return ThinkingChoice(pulled.name, pulled.summary, True, on_disk, catalog.ram_needed(on_disk, pulled.architecture))
    entry = catalog.lookup(RECOMMENDED_THINKING_MODEL)
    assert entry is not None, "the recommended model is in the catalogue"
    try:
        from thinkpane.backends.local.store import require_hub

        require_hub()
    except ConfigurationError as error:
        return ThinkingChoice(entry.name, entry.summary, False, problem=f"{error.title}. {error.hint}")
    if not ask_hub:
        return ThinkingChoice(entry.name, entry.summary, False, size_note="asking the Hub")
    from thinkpane.backends.local.hub import endpoint, sizes_from_hub

    sizes = sizes_from_hub([entry.target], timeout_s)
    size = sizes.size(entry.target)
    note = ""
    if size is None:
        from huggingface_hub import constants

        note = ("HF_HUB_OFFLINE is set" if constants.is_offline_mode()
                else "not on the Hub" if entry.target in sizes.missing else f"{endpoint()} did not answer")
    return ThinkingChoice(entry.name, entry.summary, False, size, catalog.ram_needed(size, entry.architecture),
                          size_note=note)


async def ask_thinking_choice(timeout_s: float = HUB_SIZE_TIMEOUT_S) -> ThinkingChoice:
    """:func:`thinking_choice` with the Hub asked, from a daemon thread (never delays quitting)."""
    from thinkpane.tui.core.download import in_daemon_thread

    choice: ThinkingChoice = await in_daemon_thread(lambda: thinking_choice(timeout_s=timeout_s))
    return choice


def remember_local_model(settings: Settings, model: str | None) -> None:
    """Make the local backend with ``model`` (None: the bundled SmolLM2) the default in
    ``settings``; the caller saves them, so the next launch goes straight to that chat."""
    settings.backend = LOCAL
    section = dict(settings.backends.get(LOCAL, {}))
    if model:
        section["model"] = model
    else:
        section.pop("model", None)
    settings.backends[LOCAL] = section


def initial_values(
    options: tuple[Option, ...],
    stored: Mapping[str, Any],
    environ: Mapping[str, str],
) -> tuple[dict[str, Any], dict[str, str]]:
    """(values to prefill, option name -> env var a value came from)."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in options:
        value = stored.get(option.name)
        if value is None or value == "":
            var = next((var for var in option.env if environ.get(var)), None)
            if var is not None:
                value = environ[var]
                sources[option.name] = var
        if value is None or value == "":
            value = option.default
        values[option.name] = value
    return values, sources


def values_to_store(
    options: tuple[Option, ...],
    parsed: Mapping[str, Any],
    stored: Mapping[str, Any],
    env_sources: Mapping[str, str],
    environ: Mapping[str, str],
    *,
    keep_secrets: bool,
) -> dict[str, Any]:
    """The backend's section of the config after Save.

    Starts from what is stored. A value is written when it was stored already or differs
    from what the environment or the default would give anyway, so an env var keeps working
    as the source. A secret is written only with ``keep_secrets``; without it any stored copy
    is removed, and the key comes from its env var at runtime.
    """
    from pydantic import SecretStr  # not at import: the keymap check imports this module at startup

    result = dict(stored)
    for option in options:
        value = parsed.get(option.name)
        if option.is_secret:
            if keep_secrets and value:
                result[option.name] = SecretStr(value.get() if isinstance(value, Secret) else str(value))
            else:
                result.pop(option.name, None)
            continue
        if value is None or value == "":
            result.pop(option.name, None)
            continue
        if option.name not in stored:
            var = env_sources.get(option.name)
            if var is not None and _parses_to(option, environ.get(var), value):
                continue
            if value == option.default:
                continue
        result[option.name] = value
    return result


def _parses_to(option: Option, raw: Any, value: Any) -> bool:
    try:
        return bool(option.parse(raw) == value)
    except ConfigurationError:
        return False


def given_values(parsed: Mapping[str, Any]) -> dict[str, Any]:
    """Form values to build a backend from: empty ones are left to env vars and defaults."""
    return {key: value for key, value in parsed.items() if value is not None and value != ""}


# --------------------------------------------------------------------------- runs


async def setup_events(
    backend_class: type[Backend],
    given: Mapping[str, Any],
    *,
    state_path: Path,
    saved: dict[str, Any],
) -> AsyncIterator[ProgressEvent]:
    """Provision (when the backend needs it), then send a test prompt.

    Stops after the first failed step. What the provisioner wants saved (e.g. model_id) is
    put into ``saved`` as soon as provisioning succeeds. A ConfigurationError raised by the
    backend or provisioner constructor becomes a failed "options" step.
    """
    try:
        resolved = resolve_options(backend_class.options, given, os.environ)
    except ConfigurationError as error:
        yield _config_failure(error)
        return
    if resolved.get("verify_tls") is False:
        yield ProgressEvent(TLS_STEP, "warn", "TLS verification is off", hint=TLS_OFF_HINT)
    try:
        provisioner = backend_class.provisioner(resolved, state_path)
    except ConfigurationError as error:
        yield _config_failure(error)
        return
    provisioned = provisioner is not None
    if provisioner is not None:
        async for event in provisioner.provision():
            yield event
            if event.status == "fail":
                return
        saved.update(provisioner.saved_settings())
        resolved.update(saved)
    try:
        backend = backend_class(resolved)
    except ConfigurationError as error:
        yield _config_failure(error)
        return
    try:
        async for event in probe(backend):
            # A provisioner has its own "test" step (the model answers); this one tests the
            # chat path itself, so it gets a line of its own.
            if provisioned and event.step == "test":
                event = dataclasses.replace(event, step=CHAT_TEST_STEP)
            yield event
    finally:
        await backend.aclose()


async def teardown_events(
    backend_class: type[Backend],
    given: Mapping[str, Any],
    *,
    state_path: Path,
    created: dict[str, Any] | None = None,
) -> AsyncIterator[ProgressEvent]:
    """Delete what setup created.

    Before anything is deleted, ``created`` receives the settings setup saved for those
    resources (e.g. model_id), so a front end can drop them from the config once the
    teardown succeeded.
    """
    try:
        resolved = resolve_options(backend_class.options, given, os.environ)
        provisioner = backend_class.provisioner(resolved, state_path)
    except ConfigurationError as error:
        yield _config_failure(error)
        return
    if provisioner is None:
        yield ProgressEvent("teardown", "skip", f"{backend_class.label} creates nothing on the provider side")
        return
    if created is not None:
        created.update(provisioner.saved_settings())
    async for event in provisioner.teardown():
        yield event


def given_secrets(given: Mapping[str, Any]) -> list[str]:
    """The secret values among ``given`` option values, for :func:`report` to mask."""
    return [value.get() for value in given.values() if isinstance(value, Secret)]


BUG_HINT = "This is a bug in Thinkpane or the backend; please report it with the steps that led here."


async def report(
    events: AsyncIterator[ProgressEvent],
    post: Callable[[ProgressEvent], object],
    secrets: Sequence[str],
) -> bool:
    """Hand every event to ``post`` with secrets masked; True when no step failed.

    An exception escaping ``events`` (a bug in a provisioner or backend) becomes a failed
    line for the step that was running, with its type and message as detail, never a
    traceback. Cancellation propagates; the generator is closed either way.
    """
    step = "setup"
    failed = False

    def masked(event: ProgressEvent) -> ProgressEvent:
        detail = event.data.get("detail") if event.data else None
        data = {**event.data, "detail": redact(str(detail), secrets)} if detail else event.data
        return dataclasses.replace(
            event, message=redact(event.message, secrets), hint=redact(event.hint, secrets), data=data
        )

    try:
        async for event in events:
            step = event.step
            failed = failed or event.status == "fail"
            post(masked(event))
    except BackendError as error:
        failed = True
        post(masked(ProgressEvent(step, "fail", error.title, hint=error.hint, data={"detail": error.detail})))
    except Exception as exc:
        failed = True
        post(masked(ProgressEvent(step, "fail", f"{step} failed unexpectedly", hint=BUG_HINT,
                                  data={"detail": f"{type(exc).__name__}: {exc}"})))
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return not failed


def _config_failure(error: ConfigurationError) -> ProgressEvent:
    return ProgressEvent(OPTIONS_STEP, "fail", error.title, hint=error.hint, data={"detail": error.detail})


def state_path_for(name: str) -> Path:
    """The provisioning state file (created resource ids) of backend ``name``; its folders private."""
    from thinkpane.tui.core import paths

    # mkdir -p gives the folders it adds on the way the default mode: the data folder (which
    # later holds the conversations) must not be the one left readable by others.
    paths.ensure_private_dir(paths.data_dir())
    return paths.ensure_private_dir(paths.state_dir()) / f"{name}.json"
