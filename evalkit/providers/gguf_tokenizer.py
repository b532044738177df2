"""A GGUF file's tokenizer without its weights (and without torch), for counting prompt tokens.

`AutoTokenizer.from_pretrained(dir, gguf_file=...)` first builds the model's config from the file,
with `gguf.GGUFReader` walking every tensor's metadata through numpy memmaps, and importing torch
on the way: ~20 s for the 100 MB SmolLM2 file on a loaded 2-core machine. The tokenizer needs
none of that. Here the file's key/value header is read with `struct` (only `general.architecture`
and the `tokenizer.*` keys are kept; the header is a few MB at the start of the file) and handed
to transformers' own GGUF tokenizer converter (`convert_gguf_tokenizer`), which builds the same
backend `from_pretrained` would, in the same tokenizer class: the tokens are identical
(tests/providers/test_gguf_tokenizer.py compares both on every stocks prompt). ~2 s, no torch.

When the installed transformers lacks the converter (it is internal API) or the file is not a
little-endian GGUF v2/v3, `fast_gguf_tokenizer` returns None and the caller takes the slow path.
"""
from __future__ import annotations

import os
import struct
from typing import Any, BinaryIO

_FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_VERSIONS = (2, 3)


class _Reader:
    def __init__(self, f: BinaryIO):
        self.f = f

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        data = self.f.read(size)
        if len(data) != size:
            raise ValueError("truncated GGUF header")
        return struct.unpack(fmt, data)[0]

    def string(self) -> str:
        n = self.take("<Q")
        data = self.f.read(n)
        if len(data) != n:
            raise ValueError("truncated GGUF string")
        return data.decode("utf-8", errors="replace")

    def value(self, kind: int, keep: bool) -> Any:
        if kind in _FIXED:
            return self.take(_FIXED[kind])
        if kind == _STRING:
            return self.string()
        if kind != _ARRAY:
            raise ValueError(f"unknown GGUF value type {kind}")
        item, count = self.take("<I"), self.take("<Q")
        if item in _FIXED:
            size = struct.calcsize(_FIXED[item])
            if not keep:
                self.f.seek(size * count, os.SEEK_CUR)
                return count
            data = self.f.read(size * count)
            return list(struct.unpack(f"<{count}{_FIXED[item][1]}", data))
        values = [self.value(item, keep) for _ in range(count)]
        return values if keep else count


def read_tokenizer_metadata(path: str) -> dict[str, Any]:
    """`general.architecture` and every `tokenizer.*` key of a GGUF file's header."""
    with open(path, "rb") as f:
        r = _Reader(f)
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version = r.take("<I")
        if version not in _VERSIONS:
            raise ValueError(f"GGUF version {version} is not supported")
        r.take("<Q")  # tensor count
        out: dict[str, Any] = {}
        for _ in range(r.take("<Q")):
            key = r.string()
            keep = key.startswith("tokenizer.") or key == "general.architecture"
            value = r.value(r.take("<I"), keep)
            if keep:
                out[key] = value
        return out


def _tokenizer_inputs(metadata: dict[str, Any], mapping: Any, special: Any) -> tuple[str, dict, dict]:
    """(architecture, tokenizer_dict, tokenizer_config) as transformers' `get_gguf_tokenizer`
    builds them from the same keys, its BOS rules included."""
    grouped = {group: {name: metadata[f"tokenizer.{key}"] for key, name in renames.items()
                       if f"tokenizer.{key}" in metadata}
               for group, renames in mapping.items()}
    tokenizer, config = grouped["tokenizer"], grouped["tokenizer_config"]
    kind = tokenizer.get("tokenizer_type")
    if kind == "llama":
        config.setdefault("add_bos_token", True)
    elif kind == "gemma4":
        config["add_bos_token"] = False
    for name, key in special.items():
        token_id = metadata.get(f"tokenizer.ggml.{key}")
        config[name] = tokenizer["tokens"][token_id] if token_id is not None else None
    return metadata["general.architecture"], tokenizer, config


def fast_gguf_tokenizer(directory: str, gguf_file: str) -> Any | None:
    """The tokenizer of `directory/gguf_file` from its header alone, or None when this file or this
    version of transformers needs the slow path."""
    try:
        from transformers.integrations.gguf import gguf_tokenizer_mapping as gm
        from transformers.tokenization_utils_tokenizers import TokenizersBackend

        mapping, special, convert = gm.GGUF_TOKENIZER_MAPPING, gm._SPECIAL_TOKENS, gm.convert_gguf_tokenizer
    except (ImportError, AttributeError):
        return None
    try:
        metadata = read_tokenizer_metadata(os.path.join(directory, gguf_file))
        architecture, tokenizer_dict, config = _tokenizer_inputs(metadata, mapping, special)
    except (OSError, ValueError, KeyError, IndexError, struct.error):
        return None  # let transformers read it (and say what is wrong with it)
    backend, extra = convert(architecture, tokenizer_dict)
    return TokenizersBackend(tokenizer_object=backend, **config, **extra)
