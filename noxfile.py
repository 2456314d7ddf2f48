"""Developer and CI sessions for the SpikeLab monorepo.

    nox -s tests                 # every package's tests + the cross-package tests (CI runs this)
    nox -s "package_tests(package='core')"   # one package, alone in its own environment
    nox -s lint                  # ruff
    nox -s docs                  # Sphinx, warnings are errors
    nox -s bench -- --quick      # benchmarks -> bench/results/
    nox -s demo                  # a generated recording sorted end to end

``demo``, ``tests``, ``docs`` and ``bench`` share one environment, ``.nox/spikelab`` (the five
distributions editable, their test extras and the docs tools): the first of them to run installs
it, the others reuse it. It is installed again only when a ``pyproject.toml`` or the pins below
change (a fingerprint is kept in it). Delete the folder to start clean.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
# torch first, pinned to the CPU build this project is tested with: a bare `torch` requirement
# pulled in by kilosort would otherwise fetch a multi-GB CUDA build.
TORCH = "torch==2.13.0"
DOCS = ("sphinx>=7", "numpydoc>=1.6", "myst-parser>=2")
PACKAGES = {
    "core": "spikelab-core",
    "ks4": "spikelab-ks4",
    "ks2": "spikelab-ks2",
    "rtsort": "spikelab-rtsort",
    "stim": "spikelab-stim",
    "si": "spikelab-si",
}
#: The one environment of demo, tests, docs and bench.
SHARED = Path(".nox") / "spikelab"
_STAMP = ".spikelab-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256("\n".join([TORCH, *DOCS]).encode())
    for folder in PACKAGES.values():
        digest.update(Path(folder, "pyproject.toml").read_bytes())
    return digest.hexdigest()


def _base_python() -> str:
    """Python 3.11 when it is on PATH, else the interpreter running nox."""
    return shutil.which(f"python{PYTHON}") or sys.executable


def shared_python(session: nox.Session) -> str:
    """The shared environment's python, created and installed on first use; reused after."""
    python = SHARED / "bin" / "python"
    stamp = SHARED / _STAMP
    wanted = _fingerprint()
    if python.exists() and stamp.is_file() and stamp.read_text() == wanted:
        session.log(f"reusing the shared environment {SHARED}")
        return str(python.absolute())
    if not python.exists():
        session.run(_base_python(), "-m", "venv", str(SHARED), external=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    session.run(*pip, "--upgrade", "pip", external=True)
    session.run(*pip, TORCH, external=True)
    editable = []
    for folder in PACKAGES.values():
        editable += ["-e", f"./{folder}[test]"]
    session.run(*pip, *editable, *DOCS, external=True)
    stamp.write_text(wanted)
    return str(python.absolute())


def _run_shared(session: nox.Session, *args: str) -> None:
    python = shared_python(session)
    env = {"VIRTUAL_ENV": str(SHARED.resolve()),
           "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    session.run(python, *args, external=True, env=env)


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """All packages' tests and the cross-package tests, in the shared environment."""
    paths = [f"{folder}/tests" for folder in PACKAGES.values()] + ["tests"]
    _run_shared(session, "-m", "pytest", *paths, *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
@nox.parametrize("package", list(PACKAGES))
def package_tests(session: nox.Session, package: str) -> None:
    """One package's tests, with only that package (and core) installed."""
    folder = PACKAGES[package]
    if package in ("ks4", "rtsort"):
        session.install(TORCH)
    session.install("-e", "./spikelab-core[test]")
    if package != "core":
        session.install("-e", f"./{folder}[test]")
    session.run("pytest", f"{folder}/tests", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over every package."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")


#: Core's public API (what users and plugin authors import), kept clean by the type check.
TYPED_MODULES = [
    "spikelab/plugin.py",
    "spikelab/errors.py",
    "spikelab/spike_sorting/config.py",
    "spikelab/spike_sorting/_knobs.py",
    "spikelab/spike_sorting/backend.py",
    "spikelab/spike_sorting/api.py",
    "spikelab/spike_sorting/results.py",
    "spikelab/plugins/manager.py",
]


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy over core's public API."""
    session.install("mypy>=1.10", "-e", "./spikelab-core")
    session.chdir("spikelab-core/src")
    session.run("mypy", "--ignore-missing-imports", "--follow-imports=silent", *TYPED_MODULES)


@nox.session(python=False)
def docs(session: nox.Session) -> None:
    """Build the Sphinx docs with warnings as errors (an API entry that fails to import fails it)."""
    _run_shared(session, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Benchmarks; writes bench/results/ (pass --quick for the CI-sized run)."""
    # The older SpikeLab (a peer in the stim bench) shares our import name, so it gets its own venv.
    peer = Path(".nox") / "peer-spikelab-0.1.2"
    if not (peer / "bin" / "python").exists():
        session.run(_base_python(), "-m", "venv", str(peer), external=True)
        session.run(str(peer / "bin" / "python"), "-m", "pip", "install", "--quiet", "spikelab==0.1.2", external=True)
    session.env["SPIKELAB_PEER_PYTHON"] = str(
        (peer / "bin" / "python").absolute()
    )  # not resolve(): a venv's python is a symlink
    _run_shared(session, "bench/run.py", *session.posargs)


@nox.session(python=False)
def demo(session: nox.Session) -> None:
    """Generate a small Maxwell-format recording, sort it end to end and print the accuracy."""
    _run_shared(session, "-m", "spikelab.cli.main", "demo", *session.posargs)
