"""Developer and CI sessions for the SpikeLab monorepo.

    nox -s tests                 # every package's tests + the cross-package tests (CI runs this)
    nox -s "package_tests(package='core')"   # one package
    nox -s lint                  # ruff
    nox -s docs                  # Sphinx, warnings are errors
    nox -s bench -- --quick      # benchmarks -> bench/results/
    nox -s demo                  # a generated recording sorted end to end
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
# torch first, pinned to the CPU build this project is tested with: a bare `torch` requirement
# pulled in by kilosort would otherwise fetch a multi-GB CUDA build.
TORCH = "torch==2.13.0"
PACKAGES = {
    "core": "spikelab-core",
    "ks4": "spikelab-ks4",
    "ks2": "spikelab-ks2",
    "rtsort": "spikelab-rtsort",
    "stim": "spikelab-stim",
}


def install_all(session: nox.Session) -> None:
    session.install(TORCH)
    editable = []
    for folder in PACKAGES.values():
        editable += ["-e", f"./{folder}[test]"]
    session.install(*editable)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """All packages' tests and the cross-package tests, in one environment."""
    install_all(session)
    paths = [f"{folder}/tests" for folder in PACKAGES.values()] + ["tests"]
    session.run("pytest", *paths, *(session.posargs or ["-q"]))


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


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the Sphinx docs with warnings as errors."""
    install_all(session)
    session.install("sphinx>=7", "numpydoc>=1.6", "myst-parser>=2")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks; writes bench/results/ (pass --quick for the CI-sized run)."""
    install_all(session)
    # The older SpikeLab (a peer in the stim bench) shares our import name, so it gets its own venv.
    peer = Path(".nox") / "peer-spikelab-0.1.2"
    if not (peer / "bin" / "python").exists():
        session.run("python", "-m", "venv", str(peer), external=True)
        session.run(str(peer / "bin" / "python"), "-m", "pip", "install", "--quiet", "spikelab==0.1.2", external=True)
    session.env["SPIKELAB_PEER_PYTHON"] = str((peer / "bin" / "python").resolve())
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Generate a small Maxwell-format recording, sort it end to end and print the accuracy."""
    install_all(session)
    session.run("spikelab", "demo", *session.posargs)
