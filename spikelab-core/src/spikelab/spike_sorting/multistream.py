"""``sort_multistream``: the streams (wells) of one multi-stream file, each sorted on its own.

Each stream is one recording of the pipeline, with its own name (``<file>_<stream>``), its own
intermediate and results folders and its own :class:`~spikelab.spike_sorting.results.RecordingResult`.
By default the streams are sorted one after another in this process; with ``workers``,
``client`` or ``scheduler`` they are sorted in parallel on Dask workers by the engine of
:func:`~spikelab.spike_sorting.sort_batch` (:func:`~spikelab.spike_sorting.batch.driver.run_batch`:
its retry policy, its batch report, its resume).

Failure semantics are the same either way: a stream's failure (a classified sorter error, bad
data caught when it is opened or preflighted, a crashed worker) is that stream's result and
never stops, loses or overwrites another's; after every stream has its result, the first
failure is raised (``raise_on_failure``) carrying ``.results`` of all streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from spikelab.errors import ConfigError, InputError
from spikelab.plugins import plugin_manager_in_use
from spikelab.spike_sorting import sorter_choice
from spikelab.spike_sorting.api import attach, build_config, raise_first_failure, run_configured
from spikelab.spike_sorting.folders import check_layout, resolve_folders
from spikelab.spike_sorting.io import list_streams, stream_name
from spikelab.spike_sorting.results import RecordingResult
from spikelab.spike_sorting.stages.epochs import split

if TYPE_CHECKING:
    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.sorter_choice import SorterChoice
    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.pipeline")


def sort_multistream(
    recording: str | Path,
    stream_ids: Sequence[str],
    sorter: str | None = None,
    config: SortingPipelineConfig | None = None,
    *,
    workers: int | None = None,
    client: Any = None,
    scheduler: str | None = None,
    report_folder: str | Path | None = None,
    plugins: SpikeLabPluginManager | None = None,
    **kwargs: Any,
) -> dict[str, list[SpikeData]]:
    """Sort several streams (e.g. the wells of a Maxwell MaxTwo file) of one recording.

    Parameters
    ----------
    recording : str or Path
        A multi-stream file (or a directory of them, concatenated per stream).
    stream_ids : list of str
        Streams to sort, e.g. ``["well000", "well001"]``.
    sorter, config, plugins, **kwargs
        As for :func:`~spikelab.spike_sorting.sort_recording`. Each stream gets its own default
        folders, named ``<file>_<stream>`` beside the input.
    workers : int, optional
        Sort the streams in parallel on a local Dask cluster of this many worker processes
        (as ``sort_batch``'s ``workers``; call it under ``if __name__ == "__main__":``). Default:
        one stream after another in this process. Each worker holds one whole stream's sort:
        about 1.4 GB for a 1,020-channel well with the fake sorter, several GB with a real
        sorter, so keep ``workers`` times that under the free RAM (a count the available RAM
        cannot hold at ``preflight_min_available_ram_gb`` each is logged as a warning). Unless
        ``n_jobs`` is set, each sort gets an equal share of the machine's cores.
    client : distributed.Client, optional
        Sort the streams in parallel on this Dask cluster.
    scheduler : str, optional
        Sort the streams in parallel on the Dask cluster at this address (``tcp://host:8786``).
    report_folder : str or Path, optional
        With ``workers``, ``client`` or ``scheduler``: where the batch report goes (default: the
        common parent of the streams' results folders).

    Returns
    -------
    dict
        ``{stream_id: list of SpikeData}`` in the order of ``stream_ids``; a failed stream maps
        to ``[]`` when ``raise_on_failure`` is False.

    Raises
    ------
    InputError
        A missing file or stream, before any sorting.
    SpikeSortingClassifiedError
        With ``raise_on_failure`` (default), after every stream has its result: the first failed
        stream's (classified when possible) exception, with ``.status`` and ``.results`` (the
        RecordingResult of every stream). In parallel, the batch policy
        (:class:`~spikelab.spike_sorting.config.BatchConfig`) applies first: resource failures
        are resubmitted, and an environment failure stops the start of streams not yet started
        (their results say ``BatchStoppedError``).
    """
    for name in ("stream_id", "intermediate_folders", "results_folders"):
        if name in kwargs:
            raise ConfigError(
                f"sort_multistream sets {name} per stream itself; remove it (use sort_recording to "
                "sort one stream into folders of your choice)."
            )
    parallel = workers is not None or client is not None or scheduler is not None
    if report_folder is not None and not parallel:
        raise ConfigError(
            "report_folder is where a parallel sort writes its batch report; pass workers, client or scheduler too."
        )
    plugins = plugin_manager_in_use(plugins)
    if isinstance(stream_ids, str):
        stream_ids = [stream_ids]
    path = Path(recording)
    available = _streams(path, stream_ids, plugins)
    choice = None
    if sorter_choice.wants_auto(sorter, config, kwargs):  # every stream of one file has one array
        kwargs = {k: v for k, v in kwargs.items() if k not in ("sorter", "sorter_name")}
        choice = sorter_choice.choose_for_inputs([path], {**kwargs, "stream_id": stream_ids[0]}, manager=plugins)
        sorter = choice.sorter
        log.info("sorter_chosen", sorter=choice.sorter, reason=choice.reason)
    config = build_config(sorter, config, dict(kwargs), plugins)
    names = [stream_name(path, stream_id, available) for stream_id in stream_ids]
    folders = resolve_folders(names, [path] * len(names), plugins.sorter(config.sorter_name).name, None, None)
    check_layout([path] * len(names), folders)
    configs = [config.override(stream_id=stream_id) for stream_id in stream_ids]
    if parallel:
        from spikelab.spike_sorting.batch.driver import BatchJob, run_batch

        jobs = [BatchJob(n, str(path), c, f, choice) for n, c, f in zip(names, configs, folders)]
        results = run_batch(jobs, plugins, client=client, scheduler=scheduler, workers=workers,
                            report_folder=report_folder)
        for result in results:
            result.spike_data = _saved_spike_data(result)
    else:
        results = _one_after_another(path, names, configs, folders, plugins, choice)
    if config.execution.raise_on_failure:
        raise_first_failure(results)
    return {stream_id: list(result.spike_data) for stream_id, result in zip(stream_ids, results)}


def _streams(path: Path, stream_ids: Sequence[str], plugins: SpikeLabPluginManager) -> list[str]:
    """The file's streams (a folder's first file's), after checking that every one asked for is there."""
    probe = path
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise InputError(f"{path} contains no recording files.")
        probe = files[0]
    available = list_streams(probe, plugins=plugins)
    missing = [s for s in stream_ids if s not in available]
    if missing:
        raise InputError(f"{path} has no stream(s) {missing}; available streams: {available}.")
    return available


def _one_after_another(
    path: Path,
    names: list[str],
    configs: list[SortingPipelineConfig],
    folders: list[tuple[Path, Path]],
    plugins: SpikeLabPluginManager,
    choice: SorterChoice | None,
) -> list[RecordingResult]:
    """Each stream in turn in this process; one that cannot even be opened or preflighted fails alone."""
    results: list[RecordingResult] = []
    for name, stream_config, (inter, res) in zip(names, configs, folders):
        try:
            found = run_configured([path], stream_config, [inter], [res], plugins, choice)
        except Exception as exc:  # bad data or a failed preflight of this stream: the others go on
            found = list(getattr(exc, "results", None) or []) or [
                RecordingResult(rec_name=name, rec_path=str(path), results_folder=str(res),
                                intermediate_folder=str(inter)).fail(exc)
            ]
            log.warning("stream_failed", recording=name, error=f"{type(exc).__name__}: {str(exc)[:300]}")
        except BaseException as exc:  # Ctrl-C / SIGTERM: stop, with every stream reached so far
            attach(exc, results=results + list(getattr(exc, "results", None) or []))
            raise
        results.extend(found)
    return results


def _saved_spike_data(result: RecordingResult) -> list[SpikeData]:
    """A worker's curated SpikeData, read back from its results folder (split per file)."""
    if not result.ok or not result.spikedata_path:
        return []
    from spikelab.spikedata import SpikeData

    return split(SpikeData.load(result.spikedata_path))
