"""Finding backends: built-ins plus any package that declares a ``thinkpane.backends`` entry point.

Loading is lazy: listing names reads package metadata only; a backend's module (and its SDK,
e.g. boto3) is imported when that backend is first used, which keeps `thinkpane` fast to start.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from thinkpane.backends.base import Backend
from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.options import resolve_options

ENTRY_POINT_GROUP = "thinkpane.backends"

# Used when running from a source tree that was not pip-installed (no entry points).
BUILTIN: dict[str, str] = {
    "local": "thinkpane.backends.local:LocalBackend",
    "openai": "thinkpane.backends.openai_compat:OpenAIBackend",
    "bedrock": "thinkpane.backends.bedrock:BedrockBackend",
    "opensearch": "thinkpane.backends.opensearch:OpenSearchBackend",
    "ollama": "thinkpane.backends.ollama:OllamaBackend",
}


class UnknownBackendError(ConfigurationError):
    """No backend is registered under the name the user gave."""

    kind = "unknown_backend"


def available() -> dict[str, str]:
    """Backend name -> "module:Class" for every known backend, built-ins first."""
    found = dict(BUILTIN)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def load(name: str) -> type[Backend]:
    """The backend class registered as ``name``; ConfigurationError if unknown or broken."""
    # A built-in name is never overridden (available() puts them first): found without reading
    # every installed package's entry points (~10 ms of `thinkpane`'s start).
    target = BUILTIN.get(name) or available().get(name)
    if target is None:
        raise UnknownBackendError(
            f"Unknown backend {name!r}",
            "Choose one of: " + ", ".join(sorted(available())) + " (see `thinkpane backends`).",
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise ConfigurationError(
            f"Backend {name!r} needs a package that is not installed ({missing})",
            f"Install it with: pip install 'thinkpane[{name}]'",
        ) from None
    backend_class: type[Backend] = getattr(module, attr)
    return backend_class


def create(
    name: str,
    given: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Backend:
    """Resolve ``given`` options against the environment and build the backend."""
    backend_class = load(name)
    settings = resolve_options(
        backend_class.options, given or {}, os.environ if environ is None else environ
    )
    return backend_class(settings)
