"""Typed errors a user can understand: a short ``title``, a ``hint`` saying what to do, a ``kind``.

:class:`ThinkpaneError` is the neutral root (the store, export and config raise its other
subclasses); :class:`BackendError` and its subclasses are what backends raise or yield.
Like harlequin's ``HarlequinError``: front ends show ``title``, then ``detail``, then ``hint``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any, ClassVar


class ThinkpaneError(Exception):
    """A failure the user can understand: a short ``title``, a ``hint`` saying what to do,
    an optional ``detail`` (what the provider, SQLite or the OS reported), a ``kind``, and
    whether trying again may work (``retryable``: a locked database, a rate limit).

    The neutral root: what the store, export and config layers raise derives from it
    directly, because those are not backend failures. ``str(error)`` is safe to show:
    subclasses and callers pass every message through
    :func:`thinkpane.backends.secrets.redact` before it gets here.
    """

    kind: ClassVar[str] = "error"

    def __init__(self, title: str, hint: str = "", *, detail: str = "", retryable: bool = False) -> None:
        self.title = title
        self.hint = hint
        self.detail = detail
        self.retryable = retryable
        super().__init__(self.title)

    def __str__(self) -> str:
        parts = [self.title]
        if self.detail:
            parts.append(self.detail)
        if self.hint:
            parts.append(self.hint)
        return " — ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "hint": self.hint, "detail": self.detail,
                "retryable": self.retryable}


class BackendError(ThinkpaneError):
    """What a backend raises or yields; also the HTTP ``status``, when there was one."""

    def __init__(
        self,
        title: str,
        hint: str = "",
        *,
        detail: str = "",
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(title, hint, detail=detail, retryable=retryable)
        self.status = status

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        retryable = data.pop("retryable")
        # status before retryable: the order `thinkpane ask --json` has always printed.
        return {**data, "status": self.status, "retryable": retryable}


class ConfigurationError(BackendError):
    """Something the user must set before the backend can run (missing key, bad URL...)."""

    kind = "configuration"


class AuthenticationError(BackendError):
    kind = "authentication"


class PermissionDeniedError(BackendError):
    kind = "permission"


class ConnectionFailedError(BackendError):
    """Could not reach the server (refused, DNS, TLS, dropped connection)."""

    kind = "connection"


class TimeoutError_(BackendError):
    kind = "timeout"


class RateLimitedError(BackendError):
    kind = "rate_limited"


class ModelNotFoundError(BackendError):
    kind = "model_not_found"


class InvalidRequestError(BackendError):
    kind = "invalid_request"


class ContextWindowError(InvalidRequestError):
    """The conversation does not fit the model's context window. ``used_tokens`` and
    ``limit_tokens``: how long it was and how much fits, when the backend knows (a front end
    works out from them how many of the oldest turns to leave out of what it sends)."""

    kind = "context_window"

    def __init__(self, title: str, hint: str = "", *, detail: str = "", status: int | None = None,
                 used_tokens: int | None = None, limit_tokens: int | None = None) -> None:
        super().__init__(title, hint, detail=detail, status=status)
        self.used_tokens = used_tokens
        self.limit_tokens = limit_tokens


class ServerError(BackendError):
    kind = "server"


class ProtocolError(BackendError):
    """The server answered, but not in the wire format we expect (malformed SSE, bad CRC...)."""

    kind = "protocol"


class IncompleteStreamError(BackendError):
    """The stream ended before the provider said it had finished."""

    kind = "incomplete"


class InternalError(BackendError):
    """A bug in Thinkpane or a backend plugin, caught before it reached the screen."""

    kind = "internal"


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it, nearest first, each once (cycles end).

    Followed: ``__cause__`` and ``__context__``, the members of an ExceptionGroup, and
    where SDKs keep the exception they wrapped: opensearch-py's ``info``, botocore's
    ``kwargs["error"]``, urllib3's ``reason``, and exceptions passed as ``args``. Error
    mappers ask it "is there a TLS failure / DNS failure / read timeout anywhere in here?".
    """
    seen: set[int] = set()
    queue: deque[object] = deque([exc])
    while queue:
        item = queue.popleft()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        queue.extend((item.__cause__, item.__context__))
        # An ExceptionGroup's members (by attribute: Python 3.10 has no BaseExceptionGroup).
        members = getattr(item, "exceptions", ())
        if isinstance(members, (tuple, list)):
            queue.extend(members)
        kwargs = getattr(item, "kwargs", None)
        queue.extend((
            getattr(item, "info", None),
            kwargs.get("error") if isinstance(kwargs, dict) else None,
            getattr(item, "reason", None),
        ))
        queue.extend(item.args)
