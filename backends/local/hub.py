"""Downloading GGUF files from the Hugging Face Hub with huggingface_hub, resumably and verified.

Built on the library's own pieces, so HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, proxies, retries
and its error types all behave as they do for every other Hub tool:

* ``get_hf_file_metadata`` (a HEAD of ``/{repo}/resolve/{revision}/{file}``): the commit
  (``X-Repo-Commit``), the file's SHA-256 (``X-Linked-Etag`` for LFS files), its size
  (``X-Linked-Size``) and where the bytes are (``Location`` of a redirect to the CDN);
* ``http_get``: the GET itself, with ``Range: bytes=N-`` when resuming and the library's
  retries on a dropped connection (each retry resumes where the last one stopped);
* ``HfApi.list_repo_tree`` (``/api/models/{repo}/tree/{revision}``) for the sizes
  ``thinkpane models list`` shows before anything is downloaded, and for the SHA-256
  (``lfs.oid``) when a mirror's HEAD answer lacks ``X-Linked-Etag``.

What Thinkpane adds around them (:func:`pull`): a partial file that survives Ctrl+C, a
crash or a dropped connection and is resumed by the next pull (huggingface_hub 2.x deletes
its temporary file on failure); a free-space check before the first byte; the finished file
checked against the SHA-256 the Hub reports and against the GGUF signature, and deleted if it
fails either, so a broken file is never installed where the local backend would load it;
and every failure turned into a :class:`BackendError` with a hint. The token is never
printed: errors carry URLs and status codes only.

Progress goes to a callback (``on_progress(done, total)``); the library's own tqdm bars are
turned off for the call.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from thinkpane.backends.errors import (
    AuthenticationError,
    BackendError,
    ConfigurationError,
    ConnectionFailedError,
    ModelNotFoundError,
    ProtocolError,
    ServerError,
)
from thinkpane.backends.local.catalog import PullTarget
from thinkpane.backends.local.models import GGUF_MAGIC
from thinkpane.backends.local.pull_lock import AlreadyLocked, held_exclusively
from thinkpane.backends.local.store import MODELS_DIR_ENV, FolderStore, ModelStore

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
HASH_CHUNK = 4 * 1024 * 1024
OFFLINE_HINT = "Unset HF_HUB_OFFLINE to download. Models already on disk still work: `thinkpane models list`."

Progress = Callable[[int, int | None], None]


class IntegrityError(BackendError):
    """The downloaded bytes are not the file the Hub described (checksum, size, format)."""

    kind = "integrity"


@dataclass(frozen=True)
class RemoteFile:
    """What the Hub says about one file before it is downloaded."""

    commit: str
    etag: str
    size: int | None
    url: str  # where to GET the bytes (the CDN location after a redirect)
    same_host: bool  # the bytes come from the Hub itself, so the token may go along

    @property
    def sha256(self) -> str | None:
        return self.etag if SHA256_RE.match(self.etag) else None


@dataclass(frozen=True)
class PullResult:
    path: Path
    downloaded: bool  # False: it was already there
    resumed_from: int = 0
    sha256: str | None = None


class DownloadInterrupted(BackendError):
    """The transfer stopped part-way; ``kept`` bytes wait in ``partial`` for the next pull."""

    kind = "interrupted"

    def __init__(self, title: str, hint: str = "", *, kept: int = 0, total: int | None = None, detail: str = "") -> None:
        super().__init__(title, hint, detail=detail, retryable=True)
        self.kept = kept
        self.total = total


# --------------------------------------------------------------------------- reading the Hub


def endpoint() -> str:
    """HF_ENDPOINT as it is now (huggingface_hub reads it once, at import), else the library's."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or str(constants.ENDPOINT)).rstrip("/")


def remote_file(target: PullTarget) -> RemoteFile:
    """HEAD the file on the Hub. Raises a BackendError saying what went wrong."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(target.repo, target.file, revision=target.revision, endpoint=endpoint())
    try:
        meta = get_hf_file_metadata(url, endpoint=endpoint())
    except Exception as exc:
        raise hub_error(exc, target) from None
    if not meta.commit_hash or not meta.etag:
        raise ProtocolError(
            f"{endpoint()} does not answer like the Hugging Face Hub",
            "Check HF_ENDPOINT (unset it to use huggingface.co) and any proxy settings.",
            detail="The answer had no X-Repo-Commit or ETag header.",
        )
    location = meta.location or url
    return RemoteFile(
        commit=meta.commit_hash,
        etag=meta.etag,
        size=meta.size,
        url=location,
        same_host=urlsplit(location).netloc == urlsplit(url).netloc,
    )


@dataclass(frozen=True)
class TreeFile:
    path: str
    size: int
    sha256: str | None


def repo_files(repo: str, revision: str = "main") -> list[TreeFile]:
    """The repo's files with sizes and LFS SHA-256 (the tree API). Raises a BackendError.

    One request per page and no retries: this is a quick look (a size to show, a checksum a
    mirror left out), asked while the user waits, so a Hub that cannot be reached is said at
    once instead of after huggingface_hub's backoff (five retries, about 15 s, each logging
    "Retrying in Ns" on stderr). The request is the library's own ``list_repo_tree``:
    ``GET /api/models/REPO/tree/REVISION?recursive=true&expand=false``, following the
    ``Link: rel="next"`` header for more pages, with its headers (token, user agent).
    """
    from urllib.parse import quote

    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url: str | None = f"{endpoint()}/api/models/{repo}/tree/{quote(revision, safe='')}"
    params: dict[str, str] | None = {"recursive": "true", "expand": "false"}
    files: list[TreeFile] = []
    try:
        while url:
            response = get_session().get(url, params=params, headers=build_hf_headers(),
                                         timeout=constants.HF_HUB_ETAG_TIMEOUT)
            hf_raise_for_status(response)
            for entry in response.json():
                if entry.get("type") == "file":
                    lfs = entry.get("lfs") or {}
                    files.append(TreeFile(entry["path"], int(entry["size"]), lfs.get("oid")))
            url, params = response.links.get("next", {}).get("url"), None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ProtocolError(
            f"{endpoint()} does not answer like the Hugging Face Hub",
            "Check HF_ENDPOINT (unset it to use huggingface.co) and any proxy settings.",
            detail=f"the file list of {repo} could not be read",
        ) from None
    except Exception as exc:
        raise hub_error(exc, PullTarget(repo=repo, file="", revision=revision)) from None
    return files


@dataclass
class HubSizes:
    """What the tree API said about each target, within the time allowed."""

    sizes: dict[PullTarget, int] = field(default_factory=dict)
    missing: set[PullTarget] = field(default_factory=set)  # the repo answered: no such file
    unanswered: bool = False  # some repo gave no answer (offline, slow, refused)

    def size(self, target: PullTarget) -> int | None:
        return self.sizes.get(target)


def sizes_from_hub(targets: Iterable[PullTarget], timeout_s: float) -> HubSizes:
    """Each target's size from the tree API, asked in parallel, waiting at most ``timeout_s``.

    Daemon threads, so a Hub that never answers cannot keep ``thinkpane models list`` alive.
    """
    import time

    from huggingface_hub import (
        constants,
        utils,  # noqa: F401  # imported here, not by several threads at once
    )

    targets = list(targets)
    result = HubSizes()
    if constants.is_offline_mode():
        result.unanswered = bool(targets)
        return result
    by_repo: dict[tuple[str, str], list[PullTarget]] = {}
    for target in targets:
        by_repo.setdefault((target.repo, target.revision), []).append(target)
    lock = threading.Lock()
    answered: set[tuple[str, str]] = set()

    def ask(repo: str, revision: str, wanted: list[PullTarget]) -> None:
        try:
            files = {f.path: f.size for f in repo_files(repo, revision)}
        except ModelNotFoundError:
            files = {}
        except BackendError:
            return
        with lock:
            answered.add((repo, revision))
            for target in wanted:
                if target.file in files:
                    result.sizes[target] = files[target.file]
                else:
                    result.missing.add(target)

    threads = [
        threading.Thread(target=ask, args=(repo, revision, wanted), daemon=True, name="thinkpane-hub-size")
        for (repo, revision), wanted in by_repo.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        result.unanswered = len(answered) < len(by_repo)
        return HubSizes(dict(result.sizes), set(result.missing), result.unanswered)


def hub_error(exc: BaseException, target: PullTarget) -> BackendError:
    """A huggingface_hub / network exception as a message a user can act on."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        FileMetadataError,
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = endpoint()
    if isinstance(exc, OfflineModeIsEnabled):
        return ConnectionFailedError(f"Offline mode is on (HF_HUB_OFFLINE), so {target.spec} cannot be downloaded", OFFLINE_HINT)
    if isinstance(exc, GatedRepoError):
        return AuthenticationError(
            f"{target.repo} is gated: its authors want you to accept their terms first",
            f"Open {where}/{target.repo}, log in and accept the terms, then set HF_TOKEN to an "
            "access token of that account and run the same command again.",
            status=exc.response.status_code if exc.response is not None else None,
        )
    if isinstance(exc, RepositoryNotFoundError):
        return ModelNotFoundError(
            f"There is no repository {target.repo} on the Hub (or it is private)",
            "Check the OWNER/REPO part of the name; for a private repo set HF_TOKEN to an access token that can read it.",
            status=exc.response.status_code if exc.response is not None else None,
        )
    if isinstance(exc, RevisionNotFoundError):
        return ModelNotFoundError(f"{target.repo} has no revision {target.revision!r}", "Use the main branch.")
    if isinstance(exc, EntryNotFoundError):
        return ModelNotFoundError(
            f"{target.repo} has no file {target.file}",
            "Check the file name on the repo's Files tab (it is case-sensitive); "
            "`thinkpane models list` shows the names Thinkpane knows.",
        )
    if isinstance(exc, FileMetadataError):
        return ProtocolError(
            f"{where} does not answer like the Hugging Face Hub",
            "Check HF_ENDPOINT (unset it to use huggingface.co) and any proxy settings.",
            detail=str(exc).splitlines()[0][:300],
        )
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            return AuthenticationError(
                f"The Hub refused access to {target.repo} (HTTP {status})",
                "Check HF_TOKEN: it must be a valid access token with read access to this repo.",
                status=status,
            )
        return ServerError(
            f"The Hub answered HTTP {status} for {target.spec}",
            "Try again in a minute; if it keeps failing, check the Hub's status page.",
            status=status,
            retryable=True,
        )
    if _is_network_error(exc):
        return ConnectionFailedError(
            f"Cannot reach the Hugging Face Hub at {where}",
            "Check your internet connection (and HF_ENDPOINT or proxy settings), then run the "
            "same command again: a partial download is kept and resumes.",
            detail=f"{type(exc).__name__}: {str(exc)[:200]}",
            retryable=True,
        )
    raise exc


def _is_network_error(exc: BaseException) -> bool:
    try:
        import httpx2  # huggingface_hub's HTTP client
    except ImportError:  # pragma: no cover - huggingface_hub always brings it
        return isinstance(exc, (ConnectionError, TimeoutError))
    return isinstance(exc, (httpx2.TransportError, ConnectionError, TimeoutError))


# --------------------------------------------------------------------------- pulling


class _CountingFile:
    """The partial file, reporting its length to ``on_progress`` as http_get writes to it.

    http_get may also rewind and truncate it (a server that ignored our Range header and
    sent the whole file again), so the count follows the file's real position.
    """

    def __init__(self, handle: BinaryIO, total: int | None, on_progress: Progress) -> None:
        self.handle = handle
        self.total = total
        self.on_progress = on_progress
        self.position = handle.tell()

    def write(self, data: bytes) -> int:
        written = self.handle.write(data)
        self.position += written
        self.on_progress(self.position, self.total)
        return written

    def tell(self) -> int:
        return self.handle.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = self.handle.seek(offset, whence)
        return self.position

    def truncate(self, size: int | None = None) -> int:
        result = self.handle.truncate(size)
        self.position = self.handle.tell()
        self.on_progress(self.position, self.total)
        return result

    def flush(self) -> None:
        self.handle.flush()


def check_writable(store: ModelStore, target: PullTarget) -> Path:
    """Create the partial-file folder, or explain why the models folder cannot be written."""
    folder = store.partial_path(target, "x").parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot write to the models folder {store.location}",
            store.setting_hint + " The folder must be writable.",
            detail=f"{exc.filename or folder}: {exc.strerror or exc}",
        ) from None
    return folder


def pull(
    target: PullTarget,
    store: ModelStore,
    *,
    on_progress: Progress = lambda done, total: None,
    on_verify: Progress = lambda done, total: None,
    on_start: Callable[[RemoteFile, int], None] = lambda remote, resume_from: None,
) -> PullResult:
    """Download ``target`` into ``store`` (or find it there). Raises a BackendError.

    KeyboardInterrupt propagates with the partial file flushed and kept for the next pull.
    """
    existing = store.find(target)
    if existing is not None:
        return PullResult(existing, downloaded=False)
    if isinstance(store, FolderStore) and (clash := store.conflict(target)) is not None:
        raise ConfigurationError(
            f"{clash} already exists and is not {target.spec}",
            f"Move or rename it, or set {MODELS_DIR_ENV} to another folder.",
        )
    check_writable(store, target)
    remote = remote_file(target)
    partial = store.partial_path(target, remote.etag)
    for stale in store.partials(target):
        if stale != partial:
            stale.unlink(missing_ok=True)  # the file changed on the Hub: this partial is useless
    have = partial.stat().st_size if partial.exists() else 0
    if remote.size is not None and have > remote.size:
        partial.unlink()
        have = 0
    _check_space(partial.parent, remote.size, have, store)
    on_start(remote, have)
    _download(remote, partial, have, on_progress, store)
    sha256 = _verify(partial, remote, target, _expected_sha256(remote, target), on_verify)
    try:
        path = store.install(partial, target, commit=remote.commit, etag=remote.etag)
    except OSError as exc:
        raise _write_error(exc, store, partial) from None
    return PullResult(path, downloaded=True, resumed_from=have, sha256=sha256)


def _check_space(folder: Path, size: int | None, have: int, store: ModelStore) -> None:
    if size is None:
        return
    needed = size - have
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ConfigurationError(
            f"Not enough disk space: the download needs {human_bytes(needed)} more, "
            f"{store.location} has {human_bytes(free)} free",
            "Free some space and run the same command again, or put models on another disk: "
            + store.setting_hint,
        )


def _download(remote: RemoteFile, partial: Path, have: int, on_progress: Progress, store: ModelStore) -> None:
    try:
        with held_exclusively(Path(str(partial) + ".lock")):
            _download_locked(remote, partial, have, on_progress, store)
    except AlreadyLocked:
        raise ConfigurationError(
            "Another thinkpane is already downloading this model",
            "Wait for it to finish (or stop it), then run the command again.",
        ) from None


def _download_locked(remote: RemoteFile, partial: Path, have: int, on_progress: Progress, store: ModelStore) -> None:
    """The transfer itself, with the partial file's lock held."""
    from huggingface_hub import utils
    from huggingface_hub.file_download import http_get

    headers = utils.build_hf_headers()
    if not remote.same_host:
        headers.pop("authorization", None)  # the CDN gets a signed URL, never the token
    bars_were_off = utils.are_progress_bars_disabled()
    utils.disable_progress_bars()
    try:
        with partial.open("ab") as handle:
            counting = _CountingFile(handle, remote.size, on_progress)
            on_progress(have, remote.size)
            try:
                http_get(remote.url, counting,  # type: ignore[arg-type]  # a file-like wrapper: write() is all it calls
                         resume_size=have, headers=headers, expected_size=remote.size)
            except OSError as exc:
                if isinstance(exc, _hub_errors()) or exc.errno is None:
                    raise _transfer_error(exc, counting.position, remote) from None
                raise _write_error(exc, store, partial) from None
            except Exception as exc:
                if _is_network_error(exc):
                    raise _transfer_error(exc, counting.position, remote) from None
                raise
    finally:
        if not bars_were_off:
            utils.enable_progress_bars()


def _hub_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import HfHubHTTPError

    return (HfHubHTTPError,)


def _transfer_error(exc: BaseException, kept: int, remote: RemoteFile) -> BackendError:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return ServerError(
            f"The download failed: HTTP {status}",
            "Run the same command again; what was downloaded is kept and resumes.",
            status=status,
            retryable=True,
        )
    total = f" of {human_bytes(remote.size)}" if remote.size is not None else ""
    return DownloadInterrupted(
        f"The download stopped after {human_bytes(kept)}{total}",
        "Run the same command again: it resumes where this one stopped.",
        kept=kept,
        total=remote.size,
        detail=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'connection lost'}",
    )


def _write_error(exc: OSError, store: ModelStore, partial: Path) -> BackendError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ConfigurationError(
            f"The disk is full: {store.location} has no space left",
            "Free some space and run the same command again (the part already downloaded is "
            "kept and resumes), or: " + store.setting_hint,
        )
    return ConfigurationError(
        f"Cannot write the model into {store.location}",
        store.setting_hint + " The folder must be writable.",
        detail=f"{exc.filename or partial}: {exc.strerror or exc}",
    )


def _expected_sha256(remote: RemoteFile, target: PullTarget) -> str | None:
    """The file's SHA-256: X-Linked-Etag, or else the tree API's ``lfs.oid`` (a mirror or
    proxy may drop the X-Linked-* headers). None when the Hub gives neither."""
    if remote.sha256:
        return remote.sha256
    try:
        files = repo_files(target.repo, remote.commit)
    except BackendError:
        return None
    return next((f.sha256 for f in files if f.path == target.file), None)


def _verify(partial: Path, remote: RemoteFile, target: PullTarget, expected: str | None, on_verify: Progress) -> str | None:
    """Check size, SHA-256 and GGUF signature; delete the file if any is wrong."""
    size = partial.stat().st_size
    if remote.size is not None and size != remote.size:
        # Shorter: the server closed early without an error (resumable); longer: corrupt.
        if size < remote.size:
            raise DownloadInterrupted(
                f"The download stopped after {human_bytes(size)} of {human_bytes(remote.size)}",
                "Run the same command again: it resumes where this one stopped.",
                kept=size,
                total=remote.size,
            )
        partial.unlink()
        raise IntegrityError(
            f"The downloaded file is larger than the Hub says ({size} > {remote.size} bytes)",
            "It was deleted; run the same command again to download it afresh.",
        )
    sha256 = None
    if expected is not None:
        sha256 = _sha256(partial, on_verify)
        if sha256 != expected:
            partial.unlink()
            raise IntegrityError(
                f"The downloaded file does not match its SHA-256 on the Hub: {target.spec} was deleted",
                "The bytes were damaged on the way (or by a proxy). Run the same command again "
                "to download it afresh.",
                detail=f"expected {expected}, got {sha256}",
            )
    with partial.open("rb") as handle:
        magic = handle.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        partial.unlink()
        raise IntegrityError(
            f"{target.file} is not a GGUF model file, so it was deleted",
            "Thinkpane runs llama.cpp models: pick a .gguf file made for llama.cpp.",
            detail="The file does not start with the GGUF signature.",
        )
    return sha256


def _sha256(path: Path, on_verify: Progress) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            on_verify(done, total)
    return digest.hexdigest()


def human_bytes(count: int | None) -> str:
    """1234567 -> '1.2 MB' (decimal units, as the Hub shows sizes)."""
    if count is None:
        return "?"
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.1f} {unit}"
        value /= 1000
    return f"{count} B"  # pragma: no cover


def token_secrets() -> list[str]:
    """The Hub token, for redaction (it must never be printed)."""
    try:
        from huggingface_hub import get_token
    except ImportError:  # pragma: no cover
        return []
    token = get_token()
    return [token] if token else []


__all__ = [
    "DownloadInterrupted",
    "IntegrityError",
    "PullResult",
    "RemoteFile",
    "human_bytes",
    "pull",
    "remote_file",
    "repo_files",
    "sizes_from_hub",
]

