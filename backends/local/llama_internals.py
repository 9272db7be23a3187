"""The one place the local backend touches a private name of llama-cpp-python.

``llama_cpp._utils.suppress_stdout_stderr`` (checked on llama-cpp-python 0.3.36), imported
by ``llama_cpp.llama`` and ``llama_cpp._internals``: with ``verbose=False`` it points fds 1
and 2 (and ``sys.stdout``/``sys.stderr``) at /dev/null around a model load. That redirect is
process-wide and not thread-safe: while the loader thread holds it, the frames Textual
draws on fd 2 vanish, and the screen goes stale for the whole load (seconds for a 7B
model). Our log callback already keeps llama.cpp quiet, so the redirect protects nothing
here: each module's name is pointed at a do-nothing stand-in.

Missing (a module or the name renamed or gone): nothing is replaced and loading works as
before. Either llama-cpp-python no longer redirects (nothing to undo), or it does under
another name and the screen freezes while a model loads, until the next frame after it;
tests/test_local_backend.py checks with the real package that fd 2 stays in place.
"""

from __future__ import annotations

import importlib

# The modules of llama-cpp-python that call the redirect around a load.
REDIRECTING_MODULES = ("llama_cpp.llama", "llama_cpp._internals")


class LeaveStdStreamsAlone:
    """A do-nothing stand-in for ``llama_cpp._utils.suppress_stdout_stderr``."""

    def __init__(self, disable: bool = True) -> None:
        pass

    def __enter__(self) -> LeaveStdStreamsAlone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


def keep_std_streams_in_place() -> list[str]:
    """Stop llama-cpp-python from swapping fds 1/2 around a load; the modules it patched."""
    patched: list[str] = []
    for module_name in REDIRECTING_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, "suppress_stdout_stderr"):
            setattr(module, "suppress_stdout_stderr", LeaveStdStreamsAlone)  # noqa: B010 - mypy: not declared
            patched.append(module_name)
    return patched
