"""The docs' strict build (``nox -s docs``) fails when an API entry cannot be imported."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _build(tmp_path: Path, entry: str) -> subprocess.CompletedProcess:
    pytest.importorskip("sphinx", reason="the docs tools are installed by `nox -s docs` and the shared nox env")
    pytest.importorskip("numpydoc")
    source = tmp_path / "docs"
    shutil.copytree(DOCS / "_ext", source / "_ext")
    shutil.copy(DOCS / "conf.py", source / "conf.py")
    (source / "index.rst").write_text(f"API\n===\n\n{entry}\n")
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(source), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_an_api_entry_that_fails_to_import_fails_the_build(tmp_path):
    done = _build(tmp_path, ".. autofunction:: spikelab.export.no_such_function")
    assert done.returncode != 0 and "no_such_function" in done.stderr


def test_the_api_page_entries_import(tmp_path):
    entries = [line for line in (DOCS / "api.rst").read_text().splitlines() if line.startswith(".. auto")]
    assert any("sort_batch" in e for e in entries) and any("sort_stim_recording" in e for e in entries)
    assert any("export_to_phy" in e for e in entries) and any("export_to_nwb" in e for e in entries)
    done = _build(tmp_path, "\n".join(e for e in entries if "automodule" not in e))
    assert done.returncode == 0, done.stderr[-3000:]
