"""Copy a GGUF file with another chat template in its metadata (``tokenizer.chat_template``).

Why tests need it: the only GGUF on this machine is the bundled SmolLM2-135M, whose chat
template never opens ``<think>``, so the local backend (rightly) treats it as a model that
does not think. Given a template that ends the prompt with ``<think>\\n`` as the
DeepSeek-R1 distills' does, the local backend's own detection
(``LocalBackend._choose_think_mode``: "open") makes what the model writes stream as
reasoning. The weights are untouched: llama.cpp loads and runs the copy like the original.

The GGUF layout (ggml's docs/gguf.md, version 2 and 3, little-endian): ``GGUF``, version
(u32), tensor count (u64), metadata count (u64); the metadata as key (u64 length + UTF-8),
value type (u32), value; the tensor infos; padding to ``general.alignment`` (default 32);
the tensor data, which tensor infos address relative to its start. So the copy rewrites the
metadata, keeps the tensor infos byte for byte, re-pads and appends the same data.
"""

from __future__ import annotations

import struct
from pathlib import Path

STRING, ARRAY = 8, 9
FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # value type -> bytes
UINT32, UINT64 = 4, 10
TEMPLATE_KEY = "tokenizer.chat_template"

# ChatML, as SmolLM2 was trained on, with the generation prompt opening a think block like
# DeepSeek-R1-Distill's template does.
CHATML_OPENING_THINK = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def string(self) -> str:
        return self.take(self.u64()).decode("utf-8")

    def skip_value(self, kind: int) -> None:
        if kind == STRING:
            self.take(self.u64())
        elif kind == ARRAY:
            item_kind, count = self.u32(), self.u64()
            if item_kind in FIXED:
                self.take(FIXED[item_kind] * count)
            else:
                for _ in range(count):
                    self.skip_value(item_kind)
        else:
            self.take(FIXED[kind])


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def with_chat_template(source: Path, target: Path, template: str = CHATML_OPENING_THINK) -> Path:
    """Write ``source`` to ``target`` with ``template`` as its chat template."""
    data = source.read_bytes()
    reader = _Reader(data)
    assert reader.take(4) == b"GGUF", f"{source} is not a GGUF file"
    version = reader.u32()
    assert version in (2, 3), f"GGUF version {version} is not handled"
    tensor_count, kv_count = reader.u64(), reader.u64()
    entries: list[bytes] = []
    alignment = 32
    replaced = False
    for _ in range(kv_count):
        start = reader.pos
        key = reader.string()
        kind = reader.u32()
        value_start = reader.pos
        reader.skip_value(kind)
        if key == "general.alignment" and kind == UINT32:
            alignment = int(struct.unpack("<I", data[value_start:reader.pos])[0])
        if key == TEMPLATE_KEY:
            entries.append(_string(key) + struct.pack("<I", STRING) + _string(template))
            replaced = True
        else:
            entries.append(data[start : reader.pos])
    if not replaced:
        entries.append(_string(TEMPLATE_KEY) + struct.pack("<I", STRING) + _string(template))
    infos_start = reader.pos
    for _ in range(tensor_count):
        reader.string()
        dims = reader.u32()
        reader.take(8 * dims + 4 + 8)  # the dimensions, the type (u32), the offset (u64)
    infos = data[infos_start : reader.pos]
    old_data_start = -(-reader.pos // alignment) * alignment

    head = b"GGUF" + struct.pack("<IQQ", version, tensor_count, len(entries)) + b"".join(entries) + infos
    padding = -len(head) % alignment
    with target.open("wb") as out:
        out.write(head + bytes(padding))
        out.write(memoryview(data)[old_data_start:])
    return target
