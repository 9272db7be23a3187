"""Where pulled models live on disk: the Hugging Face cache, or a plain folder.

Two layouts, one interface (:class:`ModelStore`):

* :class:`HubCacheStore` (the default) writes the cache layout huggingface_hub itself reads
  (``file_download.py``, ``_hf_hub_download_to_cache_dir``): ``models--OWNER--NAME/blobs/<etag>``
  holds the bytes, ``snapshots/<commit>/<file>`` is a relative symlink to the blob and
  ``refs/<revision>`` names the commit. So a model pulled here is found by
  ``huggingface_hub.try_to_load_from_cache``, ``hf cache ls`` and every other tool that
  shares the cache, and this module reads the cache through those same library functions.
  Its location is the library's ``HF_HUB_CACHE`` (``HF_HOME``/hub, default
  ``~/.cache/huggingface/hub``), see :func:`hub_cache_dir`.
* :class:`FolderStore` (``THINKPANE_MODELS_DIR=/some/folder``) keeps ``FILE.gguf`` directly
  in the folder, with a small JSON note per pulled file in ``.thinkpane/`` saying which repo
  and SHA-256 it came from. Any ``.gguf`` the user drops into the folder is listed too.

A download in progress is never where a finished model would be: it is written to
``.thinkpane/partial/<file>.<etag>.incomplete`` (same filesystem, so the final move is an
atomic rename), keyed by the file's Hub etag so a later pull resumes it only if the file on
the Hub is still the same. huggingface_hub 2.x deletes its own temporary file when a download
fails (its PR #4228), which is why Thinkpane keeps its own partial file to resume from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from thinkpane.backends.errors import ConfigurationError
from thinkpane.backends.local.catalog import PullTarget

MODELS_DIR_ENV = "THINKPANE_MODELS_DIR"
PRIVATE_DIR = ".thinkpane"
PARTIAL_SUFFIX = ".incomplete"


@dataclass(frozen=True)
class StoredModel:
    """A complete GGUF in the store."""

    path: Path
    repo: str = ""  # "" for a file the user put there by hand
    file: str = ""

    @property
    def name(self) -> str:
        return self.path.name[: -len(".gguf")] if self.path.name.lower().endswith(".gguf") else self.path.name


class ModelStore(Protocol):
    location: Path
    description: str
    setting_hint: str  # how to put models somewhere else

    def find(self, target: PullTarget) -> Path | None: ...

    def partial_path(self, target: PullTarget, etag: str) -> Path: ...

    def partials(self, target: PullTarget) -> list[Path]: ...

    def install(self, partial: Path, target: PullTarget, *, commit: str, etag: str) -> Path: ...

    def remove(self, target: PullTarget) -> list[Path]: ...

    def models(self) -> list[StoredModel]: ...


def _safe_name(file: str) -> str:
    return file.replace("/", "--")


def _partial(base: Path, target: PullTarget, etag: str) -> Path:
    return base / PRIVATE_DIR / "partial" / f"{_safe_name(target.file)}.{etag}{PARTIAL_SUFFIX}"


def _partials(base: Path, target: PullTarget) -> list[Path]:
    folder = base / PRIVATE_DIR / "partial"
    if not folder.is_dir():
        return []
    prefix = _safe_name(target.file) + "."
    return sorted(p for p in folder.iterdir() if p.name.startswith(prefix) and p.name.endswith(PARTIAL_SUFFIX))


class FolderStore:
    """Models as plain files in one folder (THINKPANE_MODELS_DIR)."""

    setting_hint = f"Set {MODELS_DIR_ENV} to another folder."

    def __init__(self, location: Path) -> None:
        self.location = location
        self.description = f"{location} ({MODELS_DIR_ENV})"

    def _note(self, basename: str) -> Path:
        return self.location / PRIVATE_DIR / f"{basename}.json"

    def _read_note(self, basename: str) -> dict[str, str]:
        try:
            data = json.loads(self._note(basename).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def find(self, target: PullTarget) -> Path | None:
        path = self.location / target.basename
        if not path.is_file():
            return None
        note = self._read_note(target.basename)
        if note and (note.get("repo"), note.get("file")) != (target.repo, target.file):
            return None  # a file of the same name from another repo
        return path

    def conflict(self, target: PullTarget) -> Path | None:
        """A different file already sits where ``target`` would go."""
        path = self.location / target.basename
        return path if path.exists() and self.find(target) is None else None

    def partial_path(self, target: PullTarget, etag: str) -> Path:
        return _partial(self.location, target, etag)

    def partials(self, target: PullTarget) -> list[Path]:
        return _partials(self.location, target)

    def install(self, partial: Path, target: PullTarget, *, commit: str, etag: str) -> Path:
        path = self.location / target.basename
        note = {"repo": target.repo, "file": target.file, "revision": target.revision, "commit": commit, "sha256": etag}
        self._note(target.basename).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, path)
        return path

    def remove(self, target: PullTarget) -> list[Path]:
        removed = []
        path = self.find(target)
        if path is not None:
            path.unlink()
            removed.append(path)
            self._note(target.basename).unlink(missing_ok=True)
        for partial in self.partials(target):
            partial.unlink(missing_ok=True)
            removed.append(partial)
        return removed

    def models(self) -> list[StoredModel]:
        if not self.location.is_dir():
            return []
        found = []
        for path in sorted(self.location.iterdir()):
            if path.name.lower().endswith(".gguf") and path.is_file():
                note = self._read_note(path.name)
                found.append(StoredModel(path, note.get("repo", ""), note.get("file", "")))
        return found


class HubCacheStore:
    """Models in the Hugging Face cache, in the layout huggingface_hub reads."""

    setting_hint = f"Set HF_HOME (or HF_HUB_CACHE) to move the Hugging Face cache, or {MODELS_DIR_ENV} to use a plain folder."

    def __init__(self, location: Path) -> None:
        self.location = location
        self.description = f"{location} (the Hugging Face cache)"

    def _storage(self, repo: str) -> Path:
        return self.location / ("models--" + repo.replace("/", "--"))

    def find(self, target: PullTarget) -> Path | None:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(
            target.repo, target.file, cache_dir=str(self.location), revision=target.revision
        )
        return Path(found) if isinstance(found, str) and Path(found).is_file() else None

    def partial_path(self, target: PullTarget, etag: str) -> Path:
        return _partial(self._storage(target.repo), target, etag)

    def partials(self, target: PullTarget) -> list[Path]:
        return _partials(self._storage(target.repo), target)

    def install(self, partial: Path, target: PullTarget, *, commit: str, etag: str) -> Path:
        storage = self._storage(target.repo)
        blob = storage / "blobs" / etag
        pointer = storage / "snapshots" / commit / target.file
        blob.parent.mkdir(parents=True, exist_ok=True)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, blob)
        link = pointer.with_name(pointer.name + ".link" + PARTIAL_SUFFIX)
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(blob, pointer.parent))
        os.replace(link, pointer)
        if target.revision != commit:
            refs = storage / "refs" / target.revision
            refs.parent.mkdir(parents=True, exist_ok=True)
            refs.write_text(commit, encoding="utf-8")
        return pointer

    def remove(self, target: PullTarget) -> list[Path]:
        removed: list[Path] = []
        pointer = self.find(target)
        if pointer is not None:
            blob = pointer.resolve()
            pointer.unlink()
            removed.append(pointer)
            if not self._still_linked(blob):
                blob.unlink(missing_ok=True)
                removed.append(blob)
        for partial in self.partials(target):
            partial.unlink(missing_ok=True)
            removed.append(partial)
        return removed

    def _still_linked(self, blob: Path) -> bool:
        snapshots = blob.parent.parent / "snapshots"
        return any(link.is_symlink() and link.resolve() == blob for link in snapshots.rglob("*"))

    def models(self) -> list[StoredModel]:
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound, CorruptedCacheException

        if not self.location.is_dir():
            return []
        try:
            info = scan_cache_dir(self.location)
        except (CacheNotFound, CorruptedCacheException, OSError):
            return []
        found: dict[tuple[str, str], StoredModel] = {}
        for repo in sorted(info.repos, key=lambda r: r.repo_id):
            if repo.repo_type != "model":
                continue
            for revision in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
                for file in revision.files:
                    if file.file_name.lower().endswith(".gguf") and file.blob_path.is_file():
                        relative = file.file_path.relative_to(revision.snapshot_path).as_posix()
                        found.setdefault((repo.repo_id, relative), StoredModel(file.file_path, repo.repo_id, relative))
        return list(found.values())


def current_store(environ: Mapping[str, str] | None = None) -> FolderStore | HubCacheStore:
    """THINKPANE_MODELS_DIR when set, else the Hugging Face cache (huggingface_hub's HF_HUB_CACHE)."""
    env = os.environ if environ is None else environ
    folder = env.get(MODELS_DIR_ENV)
    if folder:
        return FolderStore(Path(folder).expanduser())
    require_hub()
    return HubCacheStore(hub_cache_dir(env))


def hub_cache_dir(environ: Mapping[str, str]) -> Path:
    """huggingface_hub's cache folder. The library reads HF_HUB_CACHE / HF_HOME once, when
    imported (constants.py); read here they follow the environment as it is now, and any
    other case (XDG_CACHE_HOME, the default) is left to the library's own answer."""
    if environ.get("HF_HUB_CACHE"):
        return Path(environ["HF_HUB_CACHE"]).expanduser()
    if environ.get("HF_HOME"):
        return Path(environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def require_hub() -> None:
    """ConfigurationError with the install command when huggingface_hub is missing."""
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "Downloading and finding models needs huggingface_hub",
            "Install it with: pip install 'thinkpane[local]'",
        ) from None
