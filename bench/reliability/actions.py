"""What a catalogue case does to its input: one function per ``action`` of ``cases.toml``.

Each action returns an :class:`Outcome`: the error raised (or None), the result compared with a
clean run, the seconds from the timed call to its error, and any problem found on the way
(a lock left behind, temporary files, a report not written...).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
CHILD = HERE / "_child.py"


@attrs.define
class Context:
    case: dict[str, Any]
    work: Path
    prepared: Any
    kwargs: dict[str, Any]
    references: Any
    base_kwargs: dict[str, Any] = attrs.field(factory=dict)

    @property
    def args(self) -> dict[str, Any]:
        return self.case.get("args", {})

    @property
    def folders(self) -> dict[str, Any]:
        return self.prepared.folders if self.prepared else {}

    @property
    def inter(self) -> Path:
        return Path(self.folders["intermediate_folders"][0])

    @property
    def results(self) -> Path:
        return Path(self.folders["results_folders"][0])


@attrs.define
class Outcome:
    error: BaseException | None = None
    result: list | None = None
    seconds: float = 0.0
    problems: list[str] = attrs.field(factory=list)
    message: str = ""

    @property
    def name(self) -> str:
        return "success" if self.error is None else type(self.error).__name__


def timed(call, *args, **kwargs) -> Outcome:
    """Run ``call`` and time it; an exception becomes the outcome's error."""
    start = time.perf_counter()
    try:
        result = call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every error is an outcome to judge
        return Outcome(error=exc, seconds=time.perf_counter() - start, message=str(exc))
    return Outcome(result=result, seconds=time.perf_counter() - start)


def _sort(ctx: Context, first: dict | None = None, **extra) -> Outcome:
    """Sort the case's input with its kwargs, or (``first``) with the base kwargs and ``first``."""
    from spikelab.spike_sorting import sort_recording

    own = {**ctx.base_kwargs, **first} if first is not None else ctx.kwargs
    kwargs = {**ctx.folders, **own, **extra}
    return timed(sort_recording, ctx.prepared.sources, **kwargs)


def sort(ctx: Context) -> Outcome:
    outcome = _sort(ctx)
    for check in ctx.case.get("checks", []):
        problem = CHECKS[check](ctx, outcome)
        if problem:
            outcome.problems.append(problem)
    return outcome


def rerun(ctx: Context) -> Outcome:
    """A clean run, then the same run again (timed): what a cached rerun does."""
    first = _sort(ctx, first=ctx.args.get("first"))
    if first.error is not None and not ctx.args.get("first"):
        return first
    return sort(ctx)


def _stale(ctx: Context) -> list[str]:
    """Temporary files and sort locks left in the pipeline's folders."""
    found = []
    for folder in (ctx.inter, ctx.results):
        if folder.is_dir():
            found += [str(p.relative_to(ctx.work)) for p in folder.rglob("*.tmp")]
            found += [str(p.relative_to(ctx.work)) for p in folder.rglob(".spikelab_sort.lock")]
    return found


def _child(ctx: Context, kill_after: str, **extra) -> subprocess.Popen:
    kwargs = {**ctx.kwargs, **extra}
    args = [sys.executable, str(CHILD), kill_after, str(ctx.prepared.sources[0]), str(ctx.inter), str(ctx.results)]
    args += [f"{k}={json.dumps(v)}" for k, v in kwargs.items()]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def kill(ctx: Context) -> Outcome:
    """SIGKILL the pipeline right after one stage, then rerun: the rerun must match a clean run."""
    child = _child(ctx, ctx.args["after"])
    out, err = child.communicate(timeout=300)
    problems = []
    if child.returncode != -signal.SIGKILL:
        problems.append(f"the stage boundary was never reached (exit {child.returncode}): {err.decode()[-500:]}")
    outcome = _sort(ctx)
    outcome.problems += problems + [f"left behind after the rerun: {p}" for p in _stale(ctx)]
    return outcome


def _child_in_sort(ctx: Context, fake_delay_s: float) -> tuple[subprocess.Popen, Path]:
    """A sort in a child process, returned once its sorter has started (its log exists), it has
    ended, or 120 s have passed; with the sorter's log path."""
    child = _child(ctx, "-", fake_delay_s=fake_delay_s)
    log = ctx.inter / "sorter_output" / "fake.log"
    deadline = time.monotonic() + 120
    while not log.is_file() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return child, log


def kill_during_sort(ctx: Context) -> Outcome:
    """SIGKILL the pipeline and its sorter while the sorter runs, then rerun."""
    child, log = _child_in_sort(ctx, fake_delay_s=6.0)
    problems = [] if log.is_file() else ["the sort never started"]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.communicate(timeout=60)
    outcome = _sort(ctx)
    outcome.problems += problems + [f"left behind after the rerun: {p}" for p in _stale(ctx)]
    return outcome


def truncate(ctx: Context) -> Outcome:
    """A clean run, one cache artifact damaged, then a rerun that must rebuild it."""
    first = _sort(ctx)
    if first.error is not None:
        return first
    target = ctx.inter / ctx.args["artifact"]
    if not target.is_file():
        first.problems.append(f"the clean run wrote no {ctx.args['artifact']}; update the case")
        first.result = None
        return first
    mode = ctx.args.get("mode", "half")
    data = target.read_bytes()
    if mode == "half":
        target.write_bytes(data[: len(data) // 2])
    elif mode == "empty":
        target.write_bytes(b"")
    elif mode == "delete":
        target.unlink()
    else:  # "garbage": same size, other bytes
        target.write_bytes(bytes((b + 1) % 256 for b in data[:4096]) + data[4096:])
    return _sort(ctx)


def concurrent(ctx: Context) -> Outcome:
    """A second sort while the first holds the lock: it must fail alone and touch nothing."""
    child, _ = _child_in_sort(ctx, fake_delay_s=8.0)
    try:
        from catalogue import snapshot

        before = snapshot([ctx.results])
        loser = _sort(ctx)
        changed = sorted(p for p, v in snapshot([ctx.results]).items() if before.get(p) != v)
        out, err = child.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    if changed:
        loser.problems.append(f"the losing sort wrote into the winner's results: {changed}")
    if child.returncode != 0:
        loser.problems.append(f"the winning sort failed (exit {child.returncode}): {err.decode()[-500:]}")
    config = ctx.results / "config_used.json"
    if config.is_file() and '"fake_delay_s": 8.0' not in config.read_text().replace("8,", "8.0,"):
        loser.problems.append("config_used.json does not describe the winning run")
    return loser


def sigterm(ctx: Context) -> Outcome:
    """SIGTERM during the sort: a report and a released lock, as for Ctrl-C; then a rerun."""
    child, _ = _child_in_sort(ctx, fake_delay_s=20.0)
    start = time.perf_counter()
    child.send_signal(signal.SIGTERM)
    try:
        child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
    seconds = time.perf_counter() - start
    problems = []
    if (ctx.inter / ".spikelab_sort.lock").exists():
        problems.append("SIGTERM left the sort lock behind")
    if not (ctx.results / "recording_report.json").is_file():
        problems.append("SIGTERM left no recording_report.json")
    outcome = _sort(ctx)
    outcome.problems += problems
    outcome.seconds = seconds if outcome.error is None else outcome.seconds
    return outcome


def disk_full(ctx: Context) -> Outcome:
    """ENOSPC in a stage: a small tmpfs when this process may mount one, else an injected failure."""
    disk = ctx.work / "disk"
    disk.mkdir(exist_ok=True)
    where = ctx.args["where"]
    folders = {"intermediate_folders": [disk / "inter" if where == "inter" else ctx.inter],
               "results_folders": [disk / "results" if where == "results" else ctx.results]}
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={ctx.args.get('size_kb', 256)}k", "tmpfs", str(disk)],
            capture_output=True,
        ).returncode
        == 0
        if os.geteuid() == 0
        else False
    )
    try:
        ctx.prepared.folders = folders
        if mounted:
            return _sort(ctx)
        with _injected_enospc(disk):
            return _sort(ctx)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@contextlib.contextmanager
def _injected_enospc(folder: Path):
    """Writes to files under ``folder`` fail with ENOSPC (no tmpfs available)."""
    import builtins

    real_open = builtins.open

    def failing_open(file, mode="r", *args, **kwargs):
        if any(m in mode for m in "wax+") and str(Path(os.fspath(file)).resolve()).startswith(str(folder.resolve())):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real_open(file, mode, *args, **kwargs)

    builtins.open = failing_open
    io.open = failing_open
    try:
        yield
    finally:
        builtins.open = real_open
        io.open = real_open


def flaky(ctx: Context) -> Outcome:
    """Finding 17.4: the sorter exits without output once; the next run must sort again."""
    os.environ["SPIKELAB_CATALOGUE_NO_OUTPUT"] = "1"
    try:
        first = _sort(ctx, sorter="fake_flaky")
    finally:
        del os.environ["SPIKELAB_CATALOGUE_NO_OUTPUT"]
    second = _sort(ctx, sorter="fake_flaky")
    if first.error is None:
        second.problems.append("a sorter that wrote no output was reported as a success")
    return second


def register_flaky_sorter(pm) -> None:
    """``fake_flaky``: the fake sorter, except that it writes nothing while the env var is set."""
    if "fake_flaky" in pm.sorters():
        return
    from spikelab.plugins import hookimpl
    from spikelab.testing import fake_backend

    def run(job) -> None:
        if os.environ.get("SPIKELAB_CATALOGUE_NO_OUTPUT"):
            print("sorter exited early", flush=True)
            return
        fake_backend.run(job)

    # its own name and no preset: the fake's preset is a config for "fake", which would run that
    backend = attrs.evolve(fake_backend.BACKEND, name="fake_flaky", run=run, presets={}, default_preset=None)

    class _Plugin:
        @hookimpl
        def spikelab_register_sorters(self, register) -> None:
            register(backend)

    pm.register(_Plugin(), name="catalogue.fake_flaky")


def record_kept(ctx: Context) -> Outcome:
    """Finding 17.7: a cached rerun must not erase the record of the real sort (its wall time)."""
    import re

    from spikelab.spike_sorting import run_recordings

    first = timed(run_recordings, ctx.prepared.sources, **{**ctx.folders, **ctx.kwargs})
    if first.error is None and not first.result[0].ok:
        first.error = first.result[0].error
    if first.error is not None:
        return first
    wall = first.result[0].wall_time_s
    outcome = _sort(ctx, **ctx.args.get("second", {}))
    numbers = []
    for path in ctx.results.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".json", ".jsonl", ".txt"):
            numbers += [float(x) for x in re.findall(r"\d+\.\d{2,}", path.read_text(errors="replace"))]
    if not any(abs(x - wall) <= 0.006 for x in numbers):
        outcome.problems.append(f"the real sort's wall time ({wall:.3f} s) is no longer recorded after a cached rerun")
    return outcome


def batch(ctx: Context) -> Outcome:
    """``sort_batch`` on an in-process Dask cluster; ``first`` overrides a first run (resume)."""
    from distributed import Client

    from spikelab.spike_sorting import sort_batch
    from spikelab.spikedata import SpikeData

    sources = [str(s) for s in ctx.prepared.sources]
    if ctx.args.get("as_string"):
        sources = sources[0]
    kwargs = {k: v for k, v in ctx.kwargs.items() if k != "isolation"}
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        common = dict(client=client, report_folder=ctx.work / "batch", **ctx.folders)
        if "first" in ctx.args:
            first = {k: v for k, v in ctx.base_kwargs.items() if k != "isolation"}
            timed(sort_batch, sources, **common, **{**first, **ctx.args["first"]})
        outcome = timed(sort_batch, sources, **common, **kwargs)
    if outcome.error is None:
        results = outcome.result
        failed = [r for r in results if r.status != "success"]
        if failed:
            outcome.error = RuntimeError(f"{failed[0].status}: {failed[0].error_message}")
            outcome.result = None
        else:
            outcome.result = [
                SpikeData.load(r.spikedata_path) if hasattr(SpikeData, "load") else _unpickle(r.spikedata_path)
                for r in results
            ]
    return outcome


def _unpickle(path):
    import pickle

    with open(path, "rb") as f:
        return pickle.load(f)


def call(ctx: Context) -> Outcome:
    """A direct call of a public function (``args.function``); a returned exception counts as raised."""
    import importlib

    module, name = ctx.args["function"].rsplit(".", 1)
    function = getattr(importlib.import_module(module), name)
    params = {k: _value(v) for k, v in ctx.args.get("params", {}).items()}
    if ctx.args.get("recording_path"):
        params[ctx.args["recording_path"]] = str(ctx.prepared.sources[0])
    if "exception" in ctx.args:
        params["exc"] = RuntimeError(ctx.args["exception"])
    positional = [(ctx.prepared.sources[0] if a == "$input" else a) for a in ctx.args.get("positional", [])]
    outcome = timed(function, *positional, **params)
    if outcome.error is None and isinstance(outcome.result, BaseException):
        outcome.error, outcome.result = outcome.result, None
        outcome.message = str(outcome.error)
    outcome.result = None  # a function's return value is not a sorting to compare
    return outcome


def _value(value: Any) -> Any:
    """``"$zeros:2x2000"`` becomes a float32 array of that shape; anything else is itself."""
    if isinstance(value, str) and value.startswith("$zeros:"):
        import numpy as np

        return np.zeros(tuple(int(n) for n in value.split(":", 1)[1].split("x")), dtype=np.float32)
    return value


def cli(ctx: Context) -> Outcome:
    """``spikelab ...`` in a fresh interpreter: a non-zero exit with a one-screen message, no traceback."""
    argv = [str(ctx.prepared.sources[0]) if a == "$input" else a for a in ctx.args["argv"]]
    start = time.perf_counter()
    env = {**os.environ, "SPIKELAB_TEST_PLUGINS": "1"}  # the test kit's fake sorter, as under pytest
    proc = subprocess.run([sys.executable, "-m", "spikelab.cli.main", *argv], capture_output=True, text=True,
                          timeout=300, env=env)
    outcome = Outcome(seconds=time.perf_counter() - start, message=proc.stderr.strip()[-300:])
    if proc.returncode != 0:
        outcome.error = SystemExit(proc.returncode)
    if "Traceback (most recent call last)" in proc.stderr:
        outcome.problems.append("the CLI printed a traceback")
    return outcome


def script(ctx: Context) -> Outcome:
    """A user script run as ``python script.py`` (``args.code``): a short, named error, no traceback flood."""
    folder = ctx.work / "script"
    folder.mkdir(exist_ok=True)
    path = folder / "user_script.py"
    path.write_text(ctx.args["code"].replace("$input", str(ctx.prepared.sources[0])).replace("$work", str(ctx.work)))
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=180, cwd=folder)
        code, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, stderr = -1, (exc.stderr or b"").decode(errors="replace") + "\n(timed out)"
    outcome = Outcome(seconds=time.perf_counter() - start, message=stderr.strip()[-300:])
    if code != 0:
        outcome.error = SystemExit(code)
    lines = stderr.count("\n")
    if lines > ctx.args.get("max_stderr_lines", 40):
        outcome.problems.append(f"stderr holds {lines} lines; expected a short explanation")
    return outcome


def check_retries_used(ctx: Context, outcome: Outcome) -> str | None:
    results = getattr(outcome.error, "results", None) or []
    if not results:
        return "the error carries no results"
    result = results[0]
    retries = len(result.attempts) - 1
    if result.retries_used != retries:
        return f"retries_used={result.retries_used} but {len(result.attempts)} attempts ran"
    return None


def check_no_canary_when_cached(ctx: Context, outcome: Outcome) -> str | None:
    from spikelab.spike_sorting import run_recordings

    out = run_recordings(ctx.prepared.sources, **{**ctx.folders, **ctx.kwargs})
    times = out[0].stage_times_s
    if "canary" in times and "canary" not in out[0].cached_stages and times["canary"] > 0.05:
        return f"the canary ran ({times['canary']} s) although the sort was cached ({out[0].cached_stages})"
    return None


CHECKS = {"retries_used": check_retries_used, "no_canary_when_cached": check_no_canary_when_cached}
ACTIONS = {f.__name__: f for f in (sort, rerun, kill, kill_during_sort, truncate, concurrent, sigterm, disk_full, flaky,
                                   record_kept, batch, call, cli, script)}
