"""A stand-in Hugging Face Hub on 127.0.0.1 that the real huggingface_hub download code talks to.

Point the library at it with ``HF_ENDPOINT=server.endpoint``. It serves what
huggingface_hub 2.4's ``file_download.py`` and ``hf_api.py`` read:

* ``HEAD /{repo}/resolve/{revision}/{file}`` (``get_hf_file_metadata``): ``X-Repo-Commit``
  (required, or the library raises FileMetadataError), ``X-Linked-Etag`` (the LFS file's
  SHA-256, quoted; preferred over ``ETag``), ``X-Linked-Size`` (preferred over
  ``Content-Length``, which belongs to the redirect's own body). With ``redirect=True`` it
  answers ``302`` with ``Location`` on another host name (``localhost`` instead of
  ``127.0.0.1``): the library does not follow a redirect off the Hub for metadata
  (``_httpx2_follow_hub_redirects_with_backoff``), takes the headers from the 302 itself, and
  downloads from the Location without the Authorization header, as with the Hub's CDN.
* ``GET`` of the same URL (or of the ``/cdn/{sha256}`` Location): the bytes, honouring
  ``Range: bytes=N-`` with ``206`` and ``Content-Range: bytes N-M/SIZE`` (``http_get``
  resumes that way, and reads the total size from ``Content-Range``).
* ``GET /api/models/{repo}/tree/{revision}`` (``HfApi.list_repo_tree``): a JSON list of
  ``{"type": "file", "path", "size", "oid", "lfs": {"oid", "size", "pointerSize"}}``.
* Errors as ``hf_raise_for_status`` maps them: 404 with ``X-Error-Code: RepoNotFound`` or
  ``EntryNotFound`` (the latter with ``X-Repo-Commit``, as the Hub sends it), 401 with
  ``X-Error-Code: GatedRepo`` for a gated repo.

Scripted faults (:class:`Fault`), set per file with :meth:`HubStandIn.fault`: ``cut_at`` (send
that many bytes of the body, then drop the connection), ``stall_at`` (send that many bytes,
then hold the connection open until :meth:`HubStandIn.release` or the client hangs up),
``corrupt`` (flip a byte in what is sent; the advertised SHA-256 stays right), ``gated``,
``advertised_size`` (claim another size in the metadata, e.g. more than any disk holds).
``serve(linked_headers=False)`` plays a mirror that drops the ``X-Linked-*`` headers: the
ETag is then a git blob id, as for a non-LFS file, and the SHA-256 is only in the tree API.
``times`` says for how many requests a body fault applies.

Every request is recorded (method, path, lower-case headers) so tests can check what the
client sent: the Range of a resumed download, the token (or its absence on the CDN).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.servers.background import in_background

CHUNK = 64 * 1024


@dataclass
class HubFile:
    repo: str
    path: str
    source: Path | bytes
    sha256: str = ""
    size: int = 0
    gated: bool = False

    def __post_init__(self) -> None:
        digest = hashlib.sha256()
        if isinstance(self.source, bytes):
            digest.update(self.source)
            self.size = len(self.source)
        else:
            with self.source.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
            self.size = self.source.stat().st_size
        self.sha256 = digest.hexdigest()

    @property
    def git_oid(self) -> str:
        """Stands in for the git blob id of the LFS pointer (what `oid` is in the tree API)."""
        return hashlib.sha1(self.sha256.encode()).hexdigest()

    def read(self, start: int) -> Iterator[bytes]:
        if isinstance(self.source, bytes):
            for offset in range(start, self.size, CHUNK):
                yield self.source[offset : offset + CHUNK]
            return
        with self.source.open("rb") as handle:
            handle.seek(start)
            while chunk := handle.read(CHUNK):
                yield chunk


@dataclass
class Fault:
    cut_at: int | None = None
    stall_at: int | None = None
    corrupt: bool = False
    advertised_size: int | None = None
    times: int = 1


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class _State:
    files: dict[tuple[str, str], HubFile] = field(default_factory=dict)
    commits: dict[str, str] = field(default_factory=dict)
    faults: dict[tuple[str, str], Fault] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    sent: dict[tuple[str, str], int] = field(default_factory=dict)  # body bytes sent so far, per file


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubStandIn  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    # ------------------------------------------------------------------ routing

    def _route(self, *, head: bool) -> None:
        state = self.server.state
        with self.server.lock:
            state.requests.append(Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        path = unquote(urlsplit(self.path).path)
        try:
            if path.startswith("/api/models/"):
                self._tree(path[len("/api/models/"):])
            elif path.startswith("/cdn/"):
                self._cdn(path[len("/cdn/"):], head=head)
            elif "/resolve/" in path:
                repo, _, rest = path.lstrip("/").partition("/resolve/")
                revision, _, file = rest.partition("/")
                self._resolve(repo, revision, file, head=head)
            else:
                self._error(404, "RepoNotFound", "Not found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _tree(self, rest: str) -> None:
        repo, _, _revision = rest.partition("/tree/")
        if repo not in self.server.state.commits:
            self._error(404, "RepoNotFound", "Repository not found")
            return
        entries = [
            {"type": "file", "oid": f.git_oid, "size": f.size, "path": f.path,
             "lfs": {"oid": f.sha256, "size": f.size, "pointerSize": 134}}
            for (r, _), f in sorted(self.server.state.files.items()) if r == repo
        ]
        self._json(200, entries)

    def _resolve(self, repo: str, revision: str, file: str, *, head: bool) -> None:
        state = self.server.state
        commit = state.commits.get(repo)
        if commit is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return
        hub_file = state.files.get((repo, file))
        if hub_file is None:
            self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit})
            return
        if hub_file.gated:
            self._error(401, "GatedRepo", "Access to this model is restricted")
            return
        fault = state.faults.get((repo, file))
        size = fault.advertised_size if fault and fault.advertised_size is not None else hub_file.size
        meta = {
            "X-Repo-Commit": commit,
            "X-Linked-Etag": f'"{hub_file.sha256}"',
            "X-Linked-Size": str(size),
            "ETag": f'"{hub_file.sha256}"',
            "Accept-Ranges": "bytes",
        }
        if not self.server.linked_headers:  # a mirror that drops them: the ETag is a git blob id
            meta = {"X-Repo-Commit": commit, "ETag": f'"{hub_file.git_oid}"', "Accept-Ranges": "bytes"}
        if self.server.redirect:
            location = f"http://localhost:{self.server.port}/cdn/{hub_file.sha256}"
            self.send_response(302)
            for name, value in {**meta, "Location": location, "Content-Length": "0"}.items():
                self.send_header(name, value)
            self.end_headers()
            return
        self._send_file(hub_file, meta, head=head)

    def _cdn(self, sha256: str, *, head: bool) -> None:
        hub_file = next((f for f in self.server.state.files.values() if f.sha256 == sha256), None)
        if hub_file is None:
            self._error(404, "", "No such object")
            return
        self._send_file(hub_file, {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes"}, head=head)

    # ------------------------------------------------------------------ bodies

    def _send_file(self, hub_file: HubFile, headers: dict[str, str], *, head: bool) -> None:
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged.endswith("-"):
            start = int(ranged[len("bytes="):-1])
        if start >= hub_file.size and start > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{hub_file.size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if start:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{hub_file.size - 1}/{hub_file.size}")
        else:
            self.send_response(200)
        for name, value in headers.items():
            if name != "X-Linked-Size" or not start:
                self.send_header(name, value)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(hub_file.size - start))
        self.end_headers()
        if head:
            return
        key = (hub_file.repo, hub_file.path)
        fault = self._take_body_fault(key)
        position = start
        for chunk in hub_file.read(start):
            if fault and fault.corrupt and position <= hub_file.size // 2 < position + len(chunk):
                index = hub_file.size // 2 - position
                chunk = chunk[:index] + bytes([chunk[index] ^ 0xFF]) + chunk[index + 1:]
            limit = fault.cut_at if fault and fault.cut_at is not None else fault.stall_at if fault else None
            if limit is not None and position + len(chunk) > limit:
                chunk = chunk[: max(0, limit - position)]
                self._write(chunk, key)
                if fault and fault.stall_at is not None:
                    self._hold()
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self._write(chunk, key)
            position += len(chunk)

    def _take_body_fault(self, key: tuple[str, str]) -> Fault | None:
        with self.server.lock:
            fault = self.server.state.faults.get(key)
            if fault is None or not (fault.cut_at is not None or fault.stall_at is not None or fault.corrupt):
                return None
            if fault.times <= 0:
                return None
            fault.times -= 1
            return fault

    def _write(self, data: bytes, key: tuple[str, str]) -> None:
        if data:
            self.wfile.write(data)
            self.wfile.flush()
            with self.server.lock:
                self.server.state.sent[key] = self.server.state.sent.get(key, 0) + len(data)

    def _hold(self) -> None:
        """Send nothing until released or until the client hangs up."""
        while not self.server.state.released.wait(0.05):
            try:
                self.connection.setblocking(False)
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return
                except BlockingIOError:
                    pass
                finally:
                    self.connection.setblocking(True)
            except OSError:
                return

    # ------------------------------------------------------------------ helpers

    def _error(self, status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class HubStandIn(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *, redirect: bool = False, linked_headers: bool = True) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.redirect = redirect
        self.linked_headers = linked_headers
        self.lock = threading.Lock()
        self.state = _State()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, repo: str, path: str, source: Path | bytes, *, gated: bool = False) -> HubFile:
        hub_file = HubFile(repo, path, source, gated=gated)
        with self.lock:
            self.state.files[(repo, path)] = hub_file
            self.state.commits.setdefault(repo, hashlib.sha1(repo.encode()).hexdigest())
        return hub_file

    def fault(self, repo: str, path: str, fault: Fault) -> None:
        with self.lock:
            self.state.faults[(repo, path)] = fault

    def clear_faults(self) -> None:
        with self.lock:
            self.state.faults.clear()

    def release(self) -> None:
        self.state.released.set()

    def sent(self, repo: str, path: str) -> int:
        with self.lock:
            return self.state.sent.get((repo, path), 0)

    @property
    def requests(self) -> list[Request]:
        with self.lock:
            return list(self.state.requests)

    def downloads(self) -> list[Request]:
        """The GETs of file bytes (resolve or CDN), in order."""
        return [r for r in self.requests if r.method == "GET" and ("/resolve/" in r.path or r.path.startswith("/cdn/"))]


@contextlib.contextmanager
def serve(*, redirect: bool = False, linked_headers: bool = True) -> Iterator[HubStandIn]:
    with in_background(HubStandIn(redirect=redirect, linked_headers=linked_headers), "hf-hub-stand-in") as server:
        try:
            yield server
        finally:
            server.release()  # a stalled response must not hold up the shutdown


def wait_for(condition: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
    """Poll ``condition()`` until it is true (tests never sleep a fixed time)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
