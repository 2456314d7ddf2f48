"""Stage ``sort``: run the backend in its watched child process, with OOM retries.

Each attempt builds a :class:`~spikelab.spike_sorting.backend.SortJob` and a
:class:`~spikelab.spike_sorting.guards.base.WatchContext`, starts the registered watchdogs and
calls ``pm.run_sort``. A failure no watchdog decided is classified with the plugin chain
(backend classifier first); the classified exception carries ``stage="sort"`` and the log path
and is raised from the original. While it runs, a bar shows the elapsed time and the sorter's
latest log line; the lines themselves go to the terminal when it is one
(:mod:`spikelab.spike_sorting.progress`). Each attempt's sorter log is copied into
``<results>/sorter_logs/`` so nothing is lost when the next attempt starts clean.

The sorter output (``<intermediate>/sorter_output``) is reused while its key (the recording key,
the backend, its version and parameters) matches, unless ``recompute_sorting`` is set or the
recording was rebuilt.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path
from typing import Any

import structlog

from spikelab.spike_sorting import cache
from spikelab.spike_sorting._classifier import read_sorter_log
from spikelab.spike_sorting._exceptions import SorterOutputError, SpikeSortingClassifiedError
from spikelab.spike_sorting.backend import SortJob
from spikelab.spike_sorting.child import kill_process_tree
from spikelab.spike_sorting.guards.base import WatchContext
from spikelab.spike_sorting.guards.retry import run_with_oom_retry
from spikelab.spike_sorting.guards.watch import build_watchdogs
from spikelab.spike_sorting.progress import echo_sorter_output, follow_sorter_log
from spikelab.spike_sorting.stages import RecordingRun, stage

log = structlog.get_logger("spikelab.pipeline")

FOLDER = "sorter_output"


def _classify(run: RecordingRun, exc: Exception, folder: Path, log_path: Path) -> BaseException:
    """The classified form of ``exc`` (evidence filled in), or ``exc`` itself."""
    classified: BaseException | None = exc if isinstance(exc, SpikeSortingClassifiedError) else None
    if classified is None:
        log_text, _ = read_sorter_log(folder, [run.backend.log_name])
        classified = run.manager.classify_failure(run.backend.name, folder, exc, log_text)
    if classified is None:
        return exc
    for name, value in (("stage", "sort"), ("sorter", run.backend.name), ("log_path", str(log_path))):
        if getattr(classified, name, None) is None:
            setattr(classified, name, value)
    if classified is not exc and classified.__cause__ is None:
        classified.__cause__ = exc
    return classified


def stop_orphaned_sorters(folder: Path) -> list[int]:
    """Kill sorter processes left running in ``folder`` by a run that was itself killed.

    The sorter child runs in its own session, so it survives a SIGKILL of the pipeline process.
    Called under the recording's lock, any sorter still working in this folder is an orphan and
    would write into the folder the new attempt is about to use.
    """
    import psutil

    job_file = (folder / ".spikelab_child_job.pkl").resolve()
    killed = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "spikelab.spike_sorting.child" not in cmdline or proc.pid == os.getpid():
            continue
        try:
            cwd = Path(proc.cwd())
        except psutil.Error:
            continue
        if any((cwd / arg).resolve() == job_file for arg in cmdline[-1:]):
            killed += kill_process_tree(proc.pid)
    if killed:
        log.warning("orphaned_sorter_stopped", folder=str(folder), pids=killed)
    return killed


def _keep_log(run: RecordingRun, log_path: Path, number: int) -> Path | None:
    if not log_path.is_file():
        return None
    target = run.results / "sorter_logs" / f"attempt{number}_{log_path.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log_path, target)
    run.result.log_path = str(target)
    return target


def _attempt_runner(run: RecordingRun, folder: Path):
    counter = itertools.count(1)
    recording_folder = run.intermediate / "recording"

    def attempt(params: dict[str, Any]) -> dict[str, Any]:
        number = next(counter)
        stop_orphaned_sorters(folder)
        cache.reset(folder, run.manifest)
        job = SortJob(
            recording_folder=recording_folder,
            sorter_folder=folder,
            log_path=folder / run.backend.log_name,
            params=dict(params),
            config=run.config,
        )
        context = WatchContext(
            config=run.config,
            backend=run.backend,
            job=job,
            recording_duration_s=run.duration_s,
            results_folder=run.results,
        )
        try:
            with follow_sorter_log(
                job.log_path, desc=f"sort ({run.backend.name})", bar=run.config.execution.progress_bar,
                echo=echo_sorter_output(run.config),
            ):
                run.manager.run_sort(run.backend, job, build_watchdogs(context, plugin_manager=run.manager))
        except Exception as exc:
            kept = _keep_log(run, job.log_path, number)
            classified = _classify(run, exc, folder, kept or job.log_path)
            if classified is exc:
                raise
            raise classified from exc
        _keep_log(run, job.log_path, number)
        return dict(params)

    return attempt


def sorting_key(run: RecordingRun, recording_key: str | None) -> str:
    """The key of the sorter output: the binary's key, the backend, its version and parameters."""
    params = run.backend.resolve_params(run.config)
    return cache.make_key("sorting", recording_key, run.backend.name, run.backend.version, params)


def _read_back(run: RecordingRun, folder: Path):
    """The sorter's output, read before it is declared a valid cache (a sorter that exits
    cleanly without output fails here, and the next run sorts again instead of reusing it)."""
    try:
        sorting = run.backend.read_sorting(folder)
        sorting.to_spike_vector()
    except Exception as exc:
        raise SorterOutputError(
            f"{run.backend.name} finished but its output in {folder} cannot be read ({type(exc).__name__}: "
            f"{exc}); the output is not cached, so the next run sorts again. See the sorter log.",
            stage="sort", sorter=run.backend.name, log_path=run.result.log_path,
        ) from exc
    return sorting


def run(run: RecordingRun) -> None:
    """Sort (or reuse the cached sort); sets ``run.sorting`` and ``run.sorting_key``."""
    folder = run.intermediate / FOLDER
    params = run.backend.resolve_params(run.config)
    run.sorting_key = sorting_key(run, run.recording_key)
    forced = run.config.execution.recompute_sorting or "preprocess" in run.rebuilt
    with stage("sort", run.result, sorter=run.backend.name) as fields:
        if cache.reusable(folder, run.sorting_key, stage="sort", forced=forced):
            fields["cached"] = True
            run.sorting = run.backend.read_sorting(folder)
        else:
            run.created(folder)
            run.results.mkdir(parents=True, exist_ok=True)
            try:
                used = run_with_oom_retry(
                    _attempt_runner(run, folder),
                    backend=run.backend,
                    params=params,
                    config=run.config,
                    on_attempt=run.result.attempts.append,
                )
            finally:
                run.result.retries_used = max(0, len(run.result.attempts) - 1)
            run.sorting = _read_back(run, folder)
            cache.mark_valid(folder, run.sorting_key, params=used)
            run.rebuilt.add("sort")
        run.result.n_units = len(run.sorting.get_unit_ids())
        fields["units"] = run.result.n_units
