"""What every provisioning step shares: the run's settings, client, state file and event plumbing.

A step (:class:`Step`) is an async generator over a :class:`Session`: it yields
:class:`Update` lines (``info``/``progress``) while it works and ends with one :class:`Done`,
or it raises (:class:`Stop` carrying a BackendError, or any exception) and
:func:`run_steps` turns that into the step's ``fail`` event with a title and a hint. A step
names its ProgressEvent id once, in its :class:`Step`; the runner stamps it on every line.

The session redacts the DeepSeek key and the cluster password from every event and error,
and writes the state file the moment a step records an id (:meth:`Session.create`), in the
same worker thread as the call that returned it.

A process killed between a create call's answer and that write leaves a resource the state
file does not list. So every resource gets a name that says which setup made it (the model
group's name is in the connector's; models are registered in the group), and
:meth:`Session.find` looks them up through ML Commons' ``_search`` APIs: setup adopts what
it finds instead of making a second one, and teardown deletes it too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thinkpane.backends.deepseek_models import DEFAULT_MODEL
from thinkpane.backends.errors import BackendError, ConfigurationError, InternalError
from thinkpane.backends.events import ProgressEvent, ProgressStatus
from thinkpane.backends.opensearch.client import (
    ConnectionSettings,
    build_client,
    connection_settings,
    tls_warning,
)
from thinkpane.backends.opensearch.errors import ErrorContext, from_exception
from thinkpane.backends.opensearch.provision.endpoint import Endpoint
from thinkpane.backends.opensearch.state import ProvisionState, StateFile
from thinkpane.backends.secrets import Secret, redact

# The commands a hint tells the user to run.
SETUP = "thinkpane setup opensearch"
TEARDOWN = "thinkpane teardown opensearch"
DEFAULT_GROUP = "thinkpane"
MODEL_PREFIX = "thinkpane-"  # remote models are named thinkpane-<DeepSeek model>
SEARCH_SIZE = 100  # more of one setup's resources than this is not a setup's doing


# --------------------------------------------------------------------------- what a step yields


@dataclass
class Update:
    """A line while the step runs (``info`` or ``progress``)."""

    status: ProgressStatus
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Done:
    """How the step ended: ``ok``, ``skip``, ``warn`` or ``fail`` (a fail carries a hint)."""

    status: ProgressStatus
    message: str
    hint: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Stop(Exception):
    """Raised inside a step to end it with a ``fail`` built from a BackendError."""

    def __init__(self, error: BackendError) -> None:
        super().__init__(error.title)
        self.error = error


StepBody = Callable[["Session"], AsyncIterator["Update | Done"]]


@dataclass(frozen=True)
class Step:
    """One unit of provisioning or teardown: the step id its events carry, its start line, its work."""

    id: str
    title: str | Callable[[Session], str]
    body: StepBody

    def start_line(self, session: Session) -> str:
        return self.title(session) if callable(self.title) else self.title


# --------------------------------------------------------------------------- the session


class Session:
    """One provisioner's settings, cluster client and state, shared by its steps.

    ``client``, ``cs`` and ``state`` are set by :meth:`open` (the connect steps call it);
    ``endpoint`` by the provision connect step; ``connector_updated`` by the connector step
    when it refreshed the key of a reused connector (the deploy step then redeploys);
    ``found`` and ``searched`` by teardown's find step: ids under this setup's names that the
    state file does not list, and whether the search completed.
    """

    def __init__(
        self,
        settings: Mapping[str, Any],
        state_path: str | Path,
        *,
        poll_interval_s: float | None = None,
        deploy_timeout_s: float | None = None,
    ) -> None:
        self.settings = dict(settings)
        self.state_file = StateFile(state_path)
        self.poll_interval_s = float(poll_interval_s or settings.get("poll_interval_s") or 1.0)
        self.deploy_timeout_s = float(deploy_timeout_s or settings.get("deploy_timeout_s") or 240.0)
        self.deepseek_model = str(settings.get("deepseek_model") or DEFAULT_MODEL)
        self.group_name = str(settings.get("model_group_name") or DEFAULT_GROUP)
        key = settings.get("deepseek_api_key")
        self.api_key = key.get() if isinstance(key, Secret) else str(key or "")
        password = settings.get("password")
        self.secrets = [s for s in (self.api_key, password.get() if isinstance(password, Secret) else password) if s]
        self.client: Any = None
        self.cs: ConnectionSettings | None = None
        self.state = ProvisionState()
        self.endpoint: Endpoint | None = None
        self.connector_updated = False
        self.found: dict[str, list[str]] = {"model_id": [], "connector_id": [], "model_group_id": []}
        self.searched = False  # teardown's find step completed

    # ------------------------------------------------------------------ names

    def connector_name(self, model: str | None = None) -> str:
        """The name this setup gives its connector for ``model``: how a lost one is found again."""
        return f"Thinkpane DeepSeek connector ({model or self.deepseek_model}, model group {self.group_name})"

    def model_name(self, model: str | None = None) -> str:
        return f"{MODEL_PREFIX}{model or self.deepseek_model}"

    # ------------------------------------------------------------------ events and errors

    def event(self, step: str, status: ProgressStatus, message: str, hint: str = "", *,
              duration_s: float | None = None, data: Mapping[str, Any] | None = None) -> ProgressEvent:
        clean_data = {
            k: redact(v, self.secrets) if isinstance(v, str) else v for k, v in (data or {}).items()
        }
        return ProgressEvent(step, status, redact(message, self.secrets), redact(hint, self.secrets),
                             duration_s=duration_s, data=clean_data)

    def error_context(self) -> ErrorContext:
        url = self.cs.url if self.cs else str(self.settings.get("url") or "")
        return ErrorContext(url, self.secrets, self.state.model_id or "",
                            request_timeout_s=self.cs.request_timeout_s if self.cs else None)

    def error(self, exc: BaseException) -> BackendError:
        """Any failure inside a step as a BackendError with a hint, secrets redacted."""
        if isinstance(exc, BackendError):
            error = exc
        elif type(exc).__module__.startswith("opensearchpy"):
            error = from_exception(exc, self.error_context())
        else:
            error = InternalError(
                "Setup failed unexpectedly",
                "This is a bug in Thinkpane; please report it with the steps that led here.",
                detail=f"{type(exc).__name__}: {exc}",
            )
        error.title = redact(error.title, self.secrets)
        error.hint = redact(error.hint, self.secrets)
        error.detail = redact(error.detail, self.secrets)
        return error

    # ------------------------------------------------------------------ cluster calls

    async def call(self, method: Callable[..., Any], /, **kwargs: Any) -> Any:
        # opensearch-py is synchronous: a worker thread keeps the UI's event loop free.
        return await asyncio.to_thread(method, **kwargs)

    async def create(self, method: Callable[..., Any], record: Callable[[Any], None], /, **kwargs: Any) -> Any:
        """Call a creating API and record its id in the state file *in the same worker thread*.

        If the user cancels while the call is in flight, the thread still finishes: the
        resource the cluster made is saved, so the next run reuses it instead of orphaning it.
        """

        def create_and_save() -> Any:
            result = method(**kwargs)
            record(result)
            self.save()
            return result

        return await asyncio.to_thread(create_and_save)

    async def find(self, method: Callable[..., Any], *terms: dict[str, str]) -> list[dict[str, Any]]:
        """Documents matching every ``{field: value}`` term through an ML Commons ``_search``
        (``search_connectors``, ``search_models``, ``search_model_group``), newest first, each
        its ``_source`` plus ``_id``. Keyword fields only (``name.keyword``, ``model_group_id``)."""
        filters = [{"term": term} for term in terms]
        body = {"query": {"bool": {"filter": filters}}, "size": SEARCH_SIZE}
        found = await self.call(method, body=body)
        hits = ((found or {}).get("hits") or {}).get("hits") if isinstance(found, dict) else None
        docs = [
            {**(hit.get("_source") or {}), "_id": str(hit["_id"])}
            for hit in hits or [] if isinstance(hit, dict) and hit.get("_id")
        ]
        return sorted(docs, key=lambda doc: _number(doc.get("created_time")), reverse=True)

    async def attempt(self, method: Callable[..., Any], /, **kwargs: Any) -> tuple[Any, Any]:
        """(result, None) or (None, opensearch-py TransportError) for status handling.

        A connection failure is raised: no step can go on without the cluster.
        """
        from opensearchpy import TransportError
        from opensearchpy.exceptions import ConnectionError as OSConnectionError

        try:
            return await self.call(method, **kwargs), None
        except OSConnectionError:
            raise
        except TransportError as exc:
            return None, exc

    # ------------------------------------------------------------------ the state file

    def save(self) -> None:
        self.state_file.save(self.state)

    def load_quietly(self) -> ProvisionState:
        try:
            return self.state_file.load()
        except (OSError, ValueError):
            return ProvisionState()

    def _load_state(self) -> None:
        try:
            self.state = self.state_file.load()
        except (OSError, ValueError) as exc:
            raise Stop(ConfigurationError(
                f"The setup state file {self.state_file.path} is unreadable",
                "Move it away and run setup again (resources it listed may need deleting by hand).",
                detail=str(exc),
            )) from None

    async def open(self, *, saved_url: bool = False) -> str:
        """Validate connection settings, build the client, load state; returns a TLS warning or ''.

        ``saved_url`` (teardown): with no URL given, use the cluster the state file names, so a
        setup that took the URL from OPENSEARCH_URL can be torn down without it.
        """
        self._load_state()
        settings = self.settings
        if saved_url and self.state.url and not str(settings.get("url") or "").strip():
            settings = {**settings, "url": self.state.url}
        self.cs = connection_settings(settings)
        self.client = await asyncio.to_thread(build_client, self.cs)
        if self.state.url and self.state.url != self.cs.url and not self.state.is_empty():
            raise Stop(ConfigurationError(
                f"The saved setup belongs to another cluster ({self.state.url})",
                f"Run `{TEARDOWN}` with --url {self.state.url} first, or use another profile.",
            ))
        return tls_warning(self.cs) or ""


# --------------------------------------------------------------------------- the runner


async def run_steps(session: Session, steps: tuple[Step, ...], *, stop_on_fail: bool) -> AsyncIterator[ProgressEvent]:
    """Each step's ``start`` line, its updates, then its one ending event with ``duration_s``."""
    for step in steps:
        started = time.monotonic()
        yield session.event(step.id, "start", step.start_line(session))
        try:
            async for item in step.body(session):
                if isinstance(item, Done):
                    yield session.event(step.id, item.status, item.message, item.hint,
                                        duration_s=time.monotonic() - started, data=item.data)
                    if item.status == "fail" and stop_on_fail:
                        return
                else:
                    yield session.event(step.id, item.status, item.message, data=item.data)
        except (Stop, Exception) as exc:  # every failure becomes a fail event
            error = session.error(exc.error if isinstance(exc, Stop) else exc)
            yield session.event(step.id, "fail", error.title, error.hint,
                                duration_s=time.monotonic() - started,
                                data={"detail": error.detail, "kind": error.kind, "status": error.status})
            if stop_on_fail:
                return


def also_named(kind: str, ids: list[str]) -> str:
    """The hint for other resources under this setup's name, found while adopting or creating."""
    listed = ", ".join(ids)
    return (f"Also on the cluster under this setup's name, not in its state file: {kind} {listed}. "
            f"`{TEARDOWN}` deletes them too.")


def _number(value: Any) -> float:
    """A sortable number from a document's time field (epoch millis, maybe as a double)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
