"""The backend contract: conversation in, an async iterator of typed stream events out.

Modelled on harlequin's adapter API (declared options, capability flags the UI reads,
typed errors with a user-facing title) and on llm's ``StreamEvent(type=...)``.

Rules every backend follows:

* ``Backend.stream()`` is an async generator. It *yields* an :class:`ErrorEvent` for every
  failure a user can cause (bad key, server down, malformed stream...) and then returns;
  it does not raise for them. Callers still wrap it in :func:`guarded` so that a bug in a
  backend becomes an ``ErrorEvent`` too, never a traceback on the user's screen.
* A successful stream ends with exactly one :class:`Stop`. A stream that ends without the
  provider saying it finished is an ``IncompleteStream`` error (the partial text is kept by
  the caller, who has already received every delta).
* Cancelling the consuming task (``asyncio.CancelledError``) or calling ``aclose()`` on the
  generator must stop the HTTP stream promptly; backends close their responses in ``finally``.
* Reasoning is never sent back to a provider in the history unless the provider requires
  it (signed reasoning, see ``Message.extra``).
* Slow one-time work (loading a local model) belongs in ``prepare()``, not the constructor:
  the app awaits it right after building the backend, and :func:`guarded` before every
  stream, so ``stream()`` may count on it having run.
* This package never imports textual (tests/test_import_hygiene.py proves it).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from thinkpane.backends.errors import BackendError, InternalError
from thinkpane.backends.events import (
    ContentDelta,
    Conversation,
    ErrorEvent,
    Message,
    Notice,
    ProgressEvent,
    ReasoningDelta,
    StreamEvent,
)
from thinkpane.backends.options import Option, resolve_options
from thinkpane.backends.secrets import Secret, redact
from thinkpane.backends.thinking import Reasoning


class Backend(abc.ABC):
    """A model provider. Subclasses declare ``name``, ``label``, ``options`` and flags.

    Construct with the option values (``registry.create`` resolves them against the
    environment first); the constructor raises :class:`ConfigurationError` for missing or
    invalid settings, and must not do I/O. ``self.settings`` holds every declared option,
    parsed and defaulted: a backend reads ``self.settings["timeout_s"]``, never
    ``.get("timeout_s", 300.0)`` (the default lives in the Option, once).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str] = ""
    options: ClassVar[tuple[Option, ...]] = ()

    # Capability flags the UI reads (harlequin's IMPLEMENTS_* style); each backend sets them
    # truthfully, tests/test_tui_*.py check that the UI keeps reading them.
    # Reasoning arrives while it is thought. False: with the answer or not at all (the
    # Reasoning pane says "not streamed by this backend" while it waits).
    STREAMS_REASONING: ClassVar[bool] = True
    # Cancelling stops the generation at the provider. False: Thinkpane only stops waiting
    # and the provider finishes the answer unseen (the status line says so after Esc).
    IMPLEMENTS_CANCEL: ClassVar[bool] = True
    # False: works without a network (the setup screen's list marks it "works offline").
    NEEDS_NETWORK: ClassVar[bool] = True
    # Not declared but derived: True when the class overrides provisioner(), so the flag and
    # the method cannot disagree. Setup reads it before there are settings to build a
    # provisioner from ("Run" or "Test connection", whether to ask before creating things).
    NEEDS_PROVISIONING: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        defined_by = next(klass for klass in cls.__mro__ if "provisioner" in vars(klass))
        cls.NEEDS_PROVISIONING = defined_by is not Backend

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        given = dict(settings or {})
        # resolve_options is idempotent on resolved values, so settings from
        # registry.create() pass through unchanged; a partial dict (a test, a plugin's
        # caller) gets the same defaults. Keys that are not options are kept (test hooks).
        self.settings = {**given, **resolve_options(self.options, given, {})}
        # How the last answer's reasoning arrived (``thinkpane doctor`` reports it):
        # reasoning_content, reasoning, think_tags, bedrock_reasoning, or none.
        self.reasoning_channel = "none"

    @classmethod
    def provisioner(cls, settings: Mapping[str, Any], state_path: Path) -> Provisioner | None:
        """What creates this backend's resources on the provider side (OpenSearch: connector,
        model group, model) for these resolved settings, or None: nothing to create.

        ``state_path`` is the backend's state file, where created ids are kept so a re-run
        resumes and teardown knows what to delete. Raises ConfigurationError; no I/O.
        """
        return None

    @property
    def model(self) -> str:
        """The model id shown in the status line and stored with every answer."""
        return str(self.settings.get("model") or "")

    def endpoint(self) -> str | None:
        """The URL the backend talks to (``thinkpane doctor`` checks it answers, and its TLS),
        or None for a backend that needs no network."""
        return None

    def no_reasoning_hint(self) -> str:
        """The likely fix when an answer came without reasoning (``thinkpane doctor``)."""
        return "Use a model that reasons, and --thinking on if the backend has it."

    def credentials(self) -> list[str]:
        """Where each credential comes from, in words, never its value (``thinkpane doctor``):
        "API key: set (from $DEEPSEEK_API_KEY)". Raises BackendError when a credential the
        backend needs is missing. Blocking (a backend may look in files): call it in a thread."""
        import os

        lines = []
        for option in self.options:
            if not option.is_secret:
                continue
            value = self.settings.get(option.name)
            if not isinstance(value, Secret) or not value:
                lines.append(f"{option.label}: not set")
                continue
            var = next((var for var in option.env if os.environ.get(var) == value.get()), None)
            lines.append(f"{option.label}: set" + (f" (from ${var})" if var else " (from config or a flag)"))
        return lines

    @classmethod
    def switches_thinking(cls) -> bool:
        """Whether the backend declares the ``thinking`` option (thinking.THINKING_OPTION),
        i.e. the chat screen's thinking and effort keys mean something for it."""
        return any(option.name == "thinking" for option in cls.options)

    @property
    def reasoning(self) -> Reasoning:
        """The thinking switch and effort the next turn asks for (backends/thinking.py)."""
        return Reasoning.from_settings(self.settings)

    def reasoning_label(self) -> str:
        """"thinking on · effort high" (what the status line shows), "" without the switch."""
        return self.reasoning.label() if self.switches_thinking() else ""

    def set_reasoning(self, reasoning: Reasoning) -> None:
        """Ask the next turns for ``reasoning`` (the chat screen's keys; this session only).
        Only what the backend declares is changed."""
        declared = {option.name for option in self.options}
        if "thinking" in declared:
            self.settings["thinking"] = reasoning.thinking
        if "reasoning_effort" in declared:
            self.settings["reasoning_effort"] = reasoning.effort

    def secrets(self) -> list[str]:
        """Every secret value this backend holds, for redaction of messages and logs."""
        return [
            value.get()
            for option in self.options
            if option.is_secret and isinstance(value := self.settings.get(option.name), Secret)
        ]

    def preparing(self) -> str:
        """What :meth:`prepare` has left to do, in a few words for a status line
        ("Loading SmolLM2…"), or "" when it has nothing to do."""
        return ""

    async def prepare(self) -> None:
        """Do the slow one-time work before the first stream; the local backend loads its model.

        The app awaits it as soon as the backend is built (the model loads while the user
        types; the status line shows :meth:`preparing`); :func:`guarded` awaits it before
        every stream, announced by a Notice, so ``thinkpane ask`` and the setup screen's test
        get it too. Cheap once done. Raises :class:`BackendError` (a model that will not load).
        """

    @abc.abstractmethod
    def stream(self, conversation: Conversation) -> AsyncGenerator[StreamEvent, None]:
        """Stream one assistant turn for ``conversation``. See the module docstring."""

    async def aclose(self) -> None:
        """Release clients and pools. Called once when the app is done with the backend."""


async def guarded(backend: Backend, conversation: Conversation) -> AsyncGenerator[StreamEvent, None]:
    """``backend.prepare()`` then ``backend.stream()``, with every escape turned into an
    ErrorEvent and secrets redacted.

    Cancellation still propagates (it is how the user stops a stream), and the generator is
    closed on the way out so the backend can hang up its HTTP connection.
    """
    secrets = backend.secrets()
    agen: AsyncGenerator[StreamEvent, None] | None = None
    try:
        if text := backend.preparing():
            yield Notice(text)
        await backend.prepare()
        agen = backend.stream(conversation)
        async for event in agen:
            if isinstance(event, ErrorEvent):
                event = ErrorEvent(scrub_error(event.error, secrets))
            yield event
    except asyncio.CancelledError:
        raise
    except BackendError as error:
        yield ErrorEvent(scrub_error(error, secrets))
    except Exception as exc:
        yield ErrorEvent(
            InternalError(
                f"{backend.label} failed unexpectedly",
                "This is a bug; please report it with the steps that led here.",
                detail=redact(f"{type(exc).__name__}: {exc}", secrets),
            )
        )
    finally:
        if agen is not None:
            await agen.aclose()


def scrub_error(error: BackendError, secrets: Sequence[str]) -> BackendError:
    error.title = redact(error.title, secrets)
    error.hint = redact(error.hint, secrets)
    error.detail = redact(error.detail, secrets)
    return error


class Provisioner(abc.ABC):
    """Creates (and later removes) what a backend needs on the provider side.

    Both methods are async generators of :class:`ProgressEvent`; a failed step yields a
    ``fail`` event with a hint and stops (it does not raise). Every created id is persisted
    the moment it is returned, so re-running ``provision()`` resumes instead of duplicating.
    """

    @abc.abstractmethod
    def provision(self) -> AsyncIterator[ProgressEvent]: ...

    @abc.abstractmethod
    def teardown(self) -> AsyncIterator[ProgressEvent]: ...

    def saved_settings(self) -> dict[str, Any]:
        """Settings to write to the user's config after a successful provision (e.g. model_id)."""
        return {}


async def probe(backend: Backend, prompt: str = "Say hello in five words.") -> AsyncIterator[ProgressEvent]:
    """The setup screen's "test connection" (and ``thinkpane doctor``'s probe): send a short
    prompt and report what comes back.

    Yields ``progress`` events carrying the first reasoning and answer text as it arrives, and
    an ``info`` event for each Notice (a retired model name, a setting the server ignores).
    """
    import time

    started = time.monotonic()
    yield ProgressEvent("test", "start", f"Sending a short prompt to {backend.label} ({backend.model})")
    reasoning, content = [], []
    async for event in guarded(backend, Conversation([Message("user", prompt)])):
        if isinstance(event, ReasoningDelta):
            reasoning.append(event.text)
            yield ProgressEvent("test", "progress", "Thinking: " + "".join(reasoning)[-200:], data={"reasoning": "".join(reasoning)})
        elif isinstance(event, ContentDelta):
            content.append(event.text)
            yield ProgressEvent("test", "progress", "Answer: " + "".join(content)[-200:], data={"content": "".join(content)})
        elif isinstance(event, Notice):
            yield ProgressEvent("test", "info", event.text, data={"notice": event.text})
        elif isinstance(event, ErrorEvent):
            yield ProgressEvent(
                "test", "fail", event.error.title, hint=event.error.hint,
                duration_s=time.monotonic() - started, data={"detail": event.error.detail},
            )
            return
    yield ProgressEvent(
        "test", "ok", "Reply: " + ("".join(content).strip()[:200] or "(empty answer)"),
        duration_s=time.monotonic() - started,
        data={"reasoning": "".join(reasoning), "content": "".join(content)},
    )
