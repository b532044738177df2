from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from evalkit.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = Path(__file__).resolve().parent / "data"  # shared test data (bfcl/, finetune/, token vectors)


@pytest.fixture(autouse=True)
def _no_real_endpoints(monkeypatch):
    """Tests never reach a real API: drop any connection settings from the environment."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT",
                 "OPENAI_API_VERSION", "OPENAI_ORG_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _private_response_cache(monkeypatch, tmp_path_factory):
    """The response cache is on by default: give each test its own, never the user's."""
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path_factory.mktemp("evalkit-cache")))


@pytest.fixture
def cli(capsys):
    """Run the real CLI in-process; returns (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run
