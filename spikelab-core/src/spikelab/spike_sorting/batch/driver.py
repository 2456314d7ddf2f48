"""``sort_batch``: the per-recording pipeline on Dask workers, with per-family retry policies."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from spikelab.errors import SpikeLabError
from spikelab.plugins import plugin_manager_in_use
from spikelab.spike_sorting import sorter_choice
from spikelab.spike_sorting._config_check import check_config
from spikelab.spike_sorting.api import build_config, run_configured
from spikelab.spike_sorting.batch._guard import check_main_guard
from spikelab.spike_sorting.batch.cluster import allowed_cores, batch_client
from spikelab.spike_sorting.batch.policy import decide
from spikelab.spike_sorting.batch.report import BatchReport, Entry
from spikelab.spike_sorting.batch.resume import completed_result
from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.spike_sorting.folders import check_layout, resolve_folders
from spikelab.spike_sorting.io import short_name
from spikelab.spike_sorting.provenance import result_key
from spikelab.spike_sorting.results import RecordingResult
from spikelab.spike_sorting.stages.load import as_sources

if TYPE_CHECKING:
    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spike_sorting.sorter_choice import SorterChoice

log = structlog.get_logger("spikelab.batch")


class BatchStoppedError(SpikeLabError):
    """The recording was never sorted: the batch stopped submitting work before it."""

    status = "failed"


def cores_per_sort(n_jobs: int, sorts_on_host: int, cores: int) -> int:
    """``n_jobs`` for one of ``sorts_on_host`` sorts running at once on ``cores`` cores.

    A number the user set is kept; the default (-1, every core) becomes an equal share. Two
    RT-Sort sorts of 1,024 channels x 20 s at once on 2 cores took 71.7 s with 2 threads each
    (each sorter's OpenMP threads wait for a sibling the other sort holds off the core) and 25.7 s
    with 1 each; one alone took 24.1 s with 2.
    """
    if n_jobs != -1 or sorts_on_host <= 1:
        return n_jobs
    return max(1, cores // sorts_on_host)


def _sorts_per_host(client, n_jobs: int) -> int:
    """How many of ``n_jobs`` sorts can run at once on one host: its worker threads (the busiest
    host's), at most ``n_jobs``. ``client.nthreads()`` lists every worker (``scheduler_info``
    lists only some on some Dask releases)."""
    from urllib.parse import urlsplit

    per_host: dict[str, int] = {}
    for address, threads in client.nthreads().items():
        host = urlsplit(address).hostname or address
        per_host[host] = per_host.get(host, 0) + int(threads)
    return max(1, min(max(per_host.values(), default=1), n_jobs))


def sort_on_worker(
    source: Any, config_json: str, intermediate: str, results: str, name: str, choice: SorterChoice | None = None,
    sorts_on_host: int = 1,
) -> RecordingResult:
    """Run the whole pipeline for one recording (executes on a Dask worker).

    A worker is its own process: it sorts with the plugins installed there (its process-wide
    manager); a manager object does not travel between processes. ``choice`` is what
    ``sorter="auto"`` chose in the driver, written into the recording's result and report.
    With ``sorts_on_host`` sorts at once on this worker's machine, the default ``n_jobs`` (every
    core) becomes this sort's share of the cores (:func:`cores_per_sort`).
    """
    plugins = plugin_manager_in_use()
    config = SortingPipelineConfig.from_json(config_json)
    share = cores_per_sort(config.execution.n_jobs, sorts_on_host, allowed_cores())
    if share != config.execution.n_jobs:
        log.info("batch_cores_shared", recording=name, n_jobs=share, sorts_on_host=sorts_on_host)
        config = config.override(n_jobs=share)
    if multiprocessing.current_process().daemon and config.execution.n_jobs != 1:
        # a daemonic worker (Dask's default) may not start process pools; the sorter child is
        # a subprocess and still works
        log.info("daemonic_worker_single_job", recording=name)
        config = config.override(n_jobs=1)
    try:
        config = check_config(config, plugins)
        result = run_configured([source], config, [intermediate], [results], plugins, choice)[0]
    except Exception as exc:  # preflight or input errors happen before a sort starts
        found = getattr(exc, "results", None)
        result = found[0] if found else _result(name, str(source), (Path(intermediate), Path(results))).fail(exc)
    result.spike_data = []  # saved at spikedata_path; not sent back over the network
    result.error_traceback = None if result.ok else result.error_traceback
    return result


def sort_batch(
    recordings: Sequence[str | Path],
    sorter: str | None = None,
    config: SortingPipelineConfig | None = None,
    client: Any = None,
    workers: int | None = None,
    *,
    scheduler: str | None = None,
    intermediate_folders: Sequence[str | Path] | None = None,
    results_folders: Sequence[str | Path] | None = None,
    report_folder: str | Path | None = None,
    plugins: SpikeLabPluginManager | None = None,
    **overrides: Any,
) -> list[RecordingResult]:
    """Sort many recordings on a Dask cluster; one :class:`RecordingResult` per recording.

    Parameters
    ----------
    recordings : list of str or Path
        Recording files or folders (each is one ``sort_recording`` input).
    sorter, config, **overrides
        As for :func:`~spikelab.spike_sorting.sort_recording`. ``config.batch`` holds the retry
        policy per failure family (:class:`~spikelab.spike_sorting.config.BatchConfig`).
    client : distributed.Client, optional
        Use this cluster (any Dask cluster: local, SLURM through dask-jobqueue, Kubernetes...).
    workers : int, optional
        Workers of the local cluster made when neither ``client`` nor ``scheduler`` is given
        (default: one per GPU for GPU sorters, else one per two cores). Unless ``n_jobs`` is
        set, each sort gets an equal share of the cores of the machine it runs on.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    intermediate_folders, results_folders : list, optional
        One per recording; defaults as for ``sort_recording``.
    report_folder : str or Path, optional
        Where ``batch_report.json``/``.md``/``batch_summary.png`` go (default: the common parent
        of the results folders).
    plugins : SpikeLabPluginManager, optional
        The plugins this process plans with (backend, parameters, retry knobs); default: the
        process-wide manager. Each worker sorts with the plugins installed where it runs.

    Returns
    -------
    list of RecordingResult
        In the order of ``recordings``. Never raises for a recording's failure: the batch report
        and each result's ``status`` say what happened.
    """
    plugins = plugin_manager_in_use(plugins)
    choice = None
    if sorter_choice.wants_auto(sorter, config, overrides):
        overrides = dict(overrides)
        choice = sorter_choice.choose_for_inputs(recordings, overrides, manager=plugins)
        sorter = choice.sorter
        log.info("sorter_chosen", sorter=choice.sorter, reason=choice.reason)
    config = build_config(sorter, config, dict(overrides), plugins)
    backend = plugins.sorter(config.sorter_name)
    sources = [str(r) if isinstance(r, Path) else r for r in as_sources(recordings)]
    if any(not isinstance(s, str) for s in sources):
        raise SpikeLabError("sort_batch takes paths (recording objects cannot travel to other machines).")
    names = [short_name(s) for s in sources]
    folders = resolve_folders(names, sources, backend.name, intermediate_folders, results_folders)
    jobs = [BatchJob(n, s, config, f, choice) for n, s, f in zip(names, sources, folders)]
    return run_batch(jobs, plugins, client=client, scheduler=scheduler, workers=workers, report_folder=report_folder)


@attrs.frozen
class BatchJob:
    """One recording of a batch: where it is read from, how it is sorted, where it goes.

    Parameters
    ----------
    name : str
        Its short name (the batch report's row, the Dask task's key).
    source : str
        A path every worker can open.
    config : SortingPipelineConfig
        Its checked configuration (the streams of one file differ only in ``stream_id``).
    folders : tuple of Path
        Its ``(intermediate, results)`` folders.
    choice : SorterChoice, optional
        The ``sorter="auto"`` decision, written into its report.
    """

    name: str
    source: str
    config: SortingPipelineConfig
    folders: tuple[Path, Path]
    choice: SorterChoice | None = None


def run_batch(
    jobs: Sequence[BatchJob],
    plugins: SpikeLabPluginManager,
    *,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    report_folder: str | Path | None = None,
) -> list[RecordingResult]:
    """Sort ``jobs`` on a Dask cluster with the retry policy of their ``config.batch``; one
    result per job, in order, whatever fails (the engine of :func:`sort_batch` and of
    :func:`~spikelab.spike_sorting.sort_multistream` with ``workers``).

    The policy, the backend and the GPU need are read from the first job's configuration. A
    result comes back without its SpikeData (they are at its ``spikedata_path``).
    """
    from distributed import as_completed

    config = jobs[0].config
    backend = plugins.sorter(config.sorter_name)
    sources = [job.source for job in jobs]
    names = [job.name for job in jobs]
    folders = [job.folders for job in jobs]
    choice = jobs[0].choice
    check_layout(sources, folders)
    if client is None and scheduler is None:
        check_main_guard()
    report_dir = Path(report_folder) if report_folder else Path(os.path.commonpath([str(r) for _, r in folders])).parent
    report = BatchReport(report_dir, backend.name, [
        Entry(name=n, source=s, results_folder=str(r)) for n, s, (_, r) in zip(names, sources, folders)
    ], scheduler=scheduler, sorter_choice=choice.summary if choice else None)
    final: dict[int, RecordingResult] = {}
    needs_gpu = bool(backend.needs_gpu(config))
    policy = config.batch

    with batch_client(client, scheduler=scheduler, workers=workers, needs_gpu=needs_gpu,
                      n_recordings=len(sources), worker_gpus=policy.worker_gpus,
                      ram_per_worker_gb=config.execution.preflight_min_available_ram_gb) as dask_client:
        futures = as_completed()
        in_flight: dict[Any, tuple[int, int, SortingPipelineConfig]] = {}
        queue: deque[tuple[int, int, SortingPipelineConfig]] = deque()
        resources = {"GPU": 1} if needs_gpu else None
        sorts_on_host = _sorts_per_host(dask_client, len(jobs))

        def fill() -> None:
            # Only as many tasks as the cluster can run at once are handed to Dask, so a stop
            # decision leaves nothing queued on a worker and retries go to the front of the line.
            while queue and len(in_flight) < _capacity(dask_client):
                index, attempt, attempt_config = queue.popleft()
                inter, res = folders[index]
                future = dask_client.submit(
                    sort_on_worker, sources[index], attempt_config.to_json(), str(inter), str(res), names[index],
                    jobs[index].choice, sorts_on_host,
                    key=f"spikelab-sort-{names[index]}-{index}-{attempt}", resources=resources, pure=False,
                )
                in_flight[future] = (index, attempt, attempt_config)
                futures.add(future)
                report.entries[index].status = "running"

        for index, job in enumerate(jobs):
            previous = None
            if policy.skip_completed:
                previous = completed_result(folders[index][1], result_key(job.config, backend, sources[index]))
            if previous is not None:
                final[index] = _previous(previous, names[index], sources[index], folders[index])
                _record(report, index, final[index], from_previous=True)
            else:
                queue.append((index, 1, job.config))
        fill()
        report.write()
        for future in futures:
            index, attempt, attempt_config = in_flight.pop(future)
            result = _collect(future, names[index], sources[index], folders[index])
            decision = decide(result, attempt=attempt, policy=policy, backend=backend, config=attempt_config,
                              params=backend.resolve_params(attempt_config))
            report.decide(index, attempt, decision.action, decision.reason, result.status)
            log.info("batch_decision", recording=names[index], attempt=attempt, status=result.status,
                     action=decision.action, reason=decision.reason)
            if decision.action == "retry" and report.stopped_reason is None:
                retry_config = check_config(attempt_config.override(**decision.overrides), plugins)
                queue.appendleft((index, attempt + 1, retry_config))
            else:
                final[index] = result
                _record(report, index, result)
            if decision.action == "stop" and report.stopped_reason is None:
                report.stopped_reason = f"{names[index]}: {decision.reason}"
                while queue:
                    _stopped(report, final, queue.popleft(), names, sources, folders)
            fill()
            report.write()
    report.write(figure=True)
    return [final[i] for i in range(len(sources))]


def _collect(future, name: str, source: str, folders: tuple[Path, Path]) -> RecordingResult:
    try:
        return future.result()
    except Exception as exc:  # the task itself died (e.g. KilledWorker after repeated worker deaths)
        return _result(name, source, folders).fail(exc)


def _result(name: str, source: str, folders: tuple[Path, Path]) -> RecordingResult:
    """The result of a recording the pipeline never reported on (the driver's one constructor)."""
    inter, res = folders
    return RecordingResult(rec_name=name, rec_path=source, results_folder=str(res), intermediate_folder=str(inter))


def _capacity(client) -> int:
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def _stopped(report, final, item, names, sources, folders) -> None:
    index, attempt, _ = item
    result = _result(names[index], sources[index], folders[index])
    result.fail(BatchStoppedError(f"Not sorted: the batch stopped ({report.stopped_reason})."))
    final[index] = result
    report.decide(index, attempt, "not_started", "batch stopped before this recording started", "failed")
    _record(report, index, result)


def _record(report: BatchReport, index: int, result: RecordingResult, *, from_previous: bool = False) -> None:
    entry = report.entries[index]
    entry.status = result.status
    entry.n_units = result.n_curated_units
    entry.wall_time_s = result.wall_time_s
    entry.from_previous_run = from_previous
    entry.error = None if result.ok else f"{result.error_class}: {str(result.error_message)[:300]}"


def _previous(doc: dict, name: str, source: str, folders: tuple[Path, Path]) -> RecordingResult:
    result = _result(name, source, folders)
    result.n_curated_units, result.n_units = doc.get("n_curated_units"), doc.get("n_units")
    result.wall_time_s, result.spikedata_path = doc.get("wall_time_s"), doc.get("spikedata_path")
    result.cached_stages = ["all"]
    return result
