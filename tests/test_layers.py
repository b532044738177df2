"""Imports run one way: the layers contract in pyproject.toml ([tool.importlinter]) holds."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_contract_is_kept():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports not installed: pip install -e '.[test]'")
    done = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "pipeline layers KEPT" in done.stdout


def test_no_cli_module_imports_another():
    done = subprocess.run([shutil.which("lint-imports") or "lint-imports"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert "each command module stands alone KEPT" in done.stdout, done.stdout[-3000:]


def test_import_evalkit_pulls_in_no_heavy_module():
    code = ("import sys, evalkit; heavy = [m for m in ('openai', 'pandas', 'jinja2', 'scipy', 'torch') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr


HEAVY = ("openai", "pandas", "scipy", "jinja2", "pydantic", "torch")


def test_building_the_parser_pulls_in_no_heavy_module():
    """`evalkit --help` and every command's parser stay light: commands import what they use when they run."""
    code = ("import sys, evalkit.cli; evalkit.cli.build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr


def test_help_constants_match_the_library():
    """The parser spells a few library constants so that it need not import their modules."""
    from evalkit.analysis import tidy
    from evalkit.cli import cache, export, importer, run
    from evalkit.interop import bfcl
    from evalkit.run import cache as response_cache
    from evalkit.run import runner

    assert run.DEFAULT_MAX_ERROR_RATE == runner.DEFAULT_MAX_ERROR_RATE
    assert export.FORMATS == tidy.FORMATS
    assert importer.CATEGORIES == bfcl.CATEGORIES
    assert cache.FILENAME == response_cache.FILENAME


def test_no_process_notes_in_code():
    """Comments say why; which issue or planning document asked for a line is git history."""
    import re

    pattern = re.compile(r"#\s*issue [A-Z]\b|\bBRIEF\b|BRIEF §|the seed's")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "evalkit").rglob("*")
             if p.suffix in {".py", ".j2", ".js", ".yaml", ".css"}
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not found, found
