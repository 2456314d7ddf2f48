"""The fault and bad-input catalogue (issue 17): cases kept as data in ``cases.toml``, run here.

Each case builds an input (:mod:`inputs`), runs one action (a sort, a sort killed after a
stage, a rerun over a damaged cache, two sorts at once, a full disk, a CLI call...) and is
judged three ways:

- **data lost**: a file the user had before the run (name, size, SHA-256) changed or vanished,
  or something appeared outside the case's folder;
- **silent wrong**: the run reported success but its result differs from a clean run's;
- **early**: an expected error came before the pipeline wrote its recording cache or started
  the sorter (for cases marked ``early``); the time to the error is recorded, never asserted.

``run_case`` returns one row of the table ``bench/reliability/run.py`` writes; the pytest module
``tests/test_reliability_catalogue.py`` asserts every row. All cases use the fake sorter on an
8-channel, 6-second Maxwell file.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

try:
    import tomllib
except ImportError:  # Python 3.10 (tomli is a test dependency there)
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import actions  # noqa: E402
from inputs import BUILDERS  # noqa: E402

CASES_FILE = HERE / "cases.toml"
#: Flat overrides every case starts from: the fake sorter in-process, no figures, curation a
#: 6-second recording can pass.
BASE_KWARGS = {
    "sorter": "fake", "isolation": "inline", "n_jobs": 1, "progress_bar": False, "prevent_system_sleep": False,
    "create_figures": False, "spikes_min": 10, "snr_min": None, "std_norm_max": None,
}
REFERENCE_KWARGS = {"clean": {}, "uncurated": {"curate": False}}
#: Top-level names a case's own folder may hold after its run.
CASE_FOLDERS = {"data", "inter", "inter_a", "inter_b", "results", "results_b", "exp", "cwd", "disk", "batch", "script"}


def load_cases(path: Path = CASES_FILE) -> list[dict[str, Any]]:
    """The cases, in file order; ids are unique."""
    cases = tomllib.loads(path.read_text())["case"]
    ids = [c["id"] for c in cases]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"duplicate case ids in {path}: {duplicated}")
    return cases


def ensure_fake_sorter() -> None:
    """Register the test kit's fake sorter (and its flaky variant) in this process."""
    from spikelab.plugins import get_plugin_manager
    from spikelab.testing import fake_backend

    pm = get_plugin_manager()
    if "fake" not in pm.sorters():
        pm.register(fake_backend, name="spikelab.testing.fake_backend")
    actions.register_flaky_sorter(pm)


def base_file(folder: Path) -> Path:
    """The clean 8-channel, 6-second legacy Maxwell file every case starts from (written once)."""
    from spikelab.demo import write_demo_recording

    path = folder / "base" / "small.raw.h5"
    if not path.exists():
        write_demo_recording(path, duration_s=6.0, num_channels=8, num_units=4, seed=1)
    return path


class References:
    """Clean results of the base file, computed once per reference kind."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.base = base_file(folder)
        self._cache: dict[str, list] = {}

    def get(self, kind: str) -> list:
        if kind not in self._cache:
            from spikelab.spike_sorting import sort_recording

            work = self.folder / f"reference_{kind}"
            shutil.rmtree(work, ignore_errors=True)
            self._cache[kind] = sort_recording(
                [self.base], intermediate_folders=[work / "inter"], results_folders=[work / "results"],
                **{**BASE_KWARGS, **REFERENCE_KWARGS[kind]},
            )
        return self._cache[kind]


def snapshot(paths: list[Path]) -> dict[str, tuple[int, str]]:
    """``{path: (size, sha256)}`` of every file under ``paths``."""
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        for file in files:
            out[str(file)] = (file.stat().st_size, hashlib.sha256(file.read_bytes()).hexdigest())
    return out


def same_result(got: list, reference: list) -> bool:
    """True when two lists of SpikeData hold the same units with the same spike times."""
    if len(got) != len(reference):
        return False
    for mine, theirs in zip(got, reference):
        if mine.N != theirs.N or not np.isclose(mine.length, theirs.length):
            return False
        if not all(np.array_equal(a, b) for a, b in zip(mine.train, theirs.train)):
            return False
    return True


def _matches(error: BaseException | None, expected: list[str]) -> bool:
    if error is None:
        return "success" in expected
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & set(expected))


def _long_work(work: Path) -> list[str]:
    """Caches and sorter folders the pipeline wrote under ``work`` (signs that long work began)."""
    found = [p for p in work.rglob("traces_cached_seg0.raw")] + [p for p in work.rglob("sorter_output") if p.is_dir()]
    return sorted(str(p.relative_to(work)) for p in found)


def run_case(case: dict[str, Any], work: Path, references: References) -> dict[str, Any]:
    """Run one case in ``work`` (an empty folder of its own) and judge it."""
    work.mkdir(parents=True, exist_ok=True)
    case_start = time.perf_counter()
    expected = case["expect"] if isinstance(case["expect"], list) else [case["expect"]]
    prepared = None
    if "input" in case:
        builder = BUILDERS[case["input"]]
        accepted = inspect.signature(builder).parameters
        prepared = builder(work, references.base, **{k: v for k, v in case.get("args", {}).items() if k in accepted})
    kwargs = {**BASE_KWARGS, **case.get("kwargs", {})}
    user_paths = prepared.user_paths if prepared else []
    before = snapshot(user_paths)
    around = sorted(p.name for p in work.parent.iterdir())
    cwd = work / "cwd" / "deep"
    cwd.mkdir(parents=True, exist_ok=True)
    action = actions.ACTIONS[case.get("action", "sort")]
    context = actions.Context(case=case, work=work, prepared=prepared, kwargs=kwargs, references=references,
                              base_kwargs=dict(BASE_KWARGS))
    work_before = set(_long_work(work))
    previous_cwd = os.getcwd()
    os.chdir(cwd)
    try:
        outcome = action(context)
    finally:
        os.chdir(previous_cwd)
    after = snapshot(user_paths)
    lost = sorted(p for p in before if after.get(p) != before[p])
    outside = sorted(set(p.name for p in work.parent.iterdir()) - set(around))
    outside += sorted(p.name for p in work.iterdir() if p.name not in CASE_FOLDERS)
    problems = list(outcome.problems)
    if not _matches(outcome.error, expected):
        problems.append(f"expected {expected}, got {outcome.name}")
    elif outcome.error is not None and case.get("message") and not re.search(case["message"], outcome.message, re.S):
        problems.append(f"the message does not match {case['message']!r}")
    silent_wrong = False
    if outcome.error is None and outcome.result is not None and case.get("reference", "clean") != "none":
        silent_wrong = not same_result(outcome.result, references.get(case.get("reference", "clean")))
    started = sorted(set(_long_work(work)) - work_before)
    late = bool(case.get("early")) and outcome.error is not None and bool(started)
    if late:
        problems.append(f"the error came after long work began ({started})")
    if lost:
        problems.append(f"user files changed or lost: {lost}")
    if outside:
        problems.append(f"written outside the case's folders: {outside}")
    if silent_wrong:
        problems.append("reported success with a result that differs from a clean run")
    return {
        "case": case["id"], "group": case["group"], "source": case.get("source", ""), "owner": case.get("owner", ""),
        "expected": " | ".join(expected), "outcome": outcome.name,
        "time_to_error_s": round(outcome.seconds, 3) if outcome.error is not None else None,
        "data_lost": bool(lost or outside), "silent_wrong": silent_wrong, "late_error": late,
        "passed": not problems, "problems": problems, "message": outcome.message[:300],
        "case_wall_s": round(time.perf_counter() - case_start, 2),
    }


def harness_error(case: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    """The row of a case whose own set-up or checks broke (counted as a failure)."""
    return {
        "case": case["id"], "group": case["group"], "source": case.get("source", ""), "owner": case.get("owner", ""),
        "expected": str(case["expect"]), "outcome": f"harness error: {type(exc).__name__}", "time_to_error_s": None,
        "data_lost": False, "silent_wrong": False, "late_error": False, "passed": False,
        "problems": [f"the case itself broke: {exc}"], "message": str(exc)[:300],
    }


@contextlib.contextmanager
def quiet_logs():
    """Keep the structlog console quiet while a whole catalogue runs."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    try:
        yield
    finally:
        structlog.reset_defaults()


def kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


def wait_until(predicate, process: subprocess.Popen, timeout_s: float = 120.0) -> bool:
    """Poll ``predicate`` while ``process`` runs; False when it ended or timed out first."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
