"""What the README promises about its two commands holds for the checkout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from spikelab.cli.demo_command import DEFAULT_FOLDER

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_demo_writes_the_folder_the_readme_names_and_git_ignores():
    assert f"`{DEFAULT_FOLDER}/`" in README
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", f"{DEFAULT_FOLDER}/results/sorting_report.md"],
                             cwd=ROOT, check=False)
    assert ignored.returncode == 0, f"{DEFAULT_FOLDER}/ would show as untracked after `nox -s demo`"


def test_ci_runs_the_readmes_test_command():
    assert "python3 -m nox -s tests" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m nox -s lint tests" in ci
