"""``sort_recording`` and ``sort_multistream``: the guide's entry points.

A batch runs ``load`` and ``preflight`` for every recording first (bad inputs and a broken
environment fail before any long work), then, per recording and under its sort lock,
``canary -> preprocess -> sort -> waveforms -> curation``, then ``report`` and ``epochs``
(see :mod:`spikelab.spike_sorting.stages`).

Failure semantics: every recording gets a :class:`~spikelab.spike_sorting.results.RecordingResult`;
a failure in one never discards the others. After the batch, when any failed and
``raise_on_failure`` holds (default), the first failure's (classified when possible) exception
is raised, carrying ``.status`` and ``.results`` (all RecordingResults, successes included).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from spikelab.errors import ConfigError, InputError
from spikelab.spike_sorting.results import RecordingResult

if TYPE_CHECKING:
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.io import LoadedRecording
    from spikelab.spike_sorting.sorter_choice import SorterChoice
    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.pipeline")


def build_config(
    sorter: str | None, config: SortingPipelineConfig | None, kwargs: dict[str, Any]
) -> SortingPipelineConfig:
    """The effective configuration.

    ``sorter=`` without a config starts from the preset that backend names as its default
    (``SorterBackend.default_preset``; no other preset is built); flat keyword arguments are
    applied with ``override``.

    Parameters
    ----------
    sorter : str or None
        The backend's name, or None (the config's, else the default backend).
    config : SortingPipelineConfig or None
        A config to start from.
    kwargs : dict
        Flat knobs applied with :meth:`SortingPipelineConfig.override`.

    Returns
    -------
    SortingPipelineConfig
        The configuration the run uses.

    Raises
    ------
    ConfigError
        When ``sorter`` contradicts ``config``'s sorter.
    """
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting.config import SortingPipelineConfig

    if isinstance(sorter, SortingPipelineConfig) and config is None:
        sorter, config = None, sorter  # the older positional order: sort_recording(files, config)
    if config is not None:
        if sorter is not None and sorter != config.sorter_name:
            raise ConfigError(
                f"sorter={sorter!r} contradicts the config, which is for {config.sorter_name!r}; pass "
                "only one of them (or a config for that sorter)."
            )
        return config.override(**kwargs)
    name = sorter if sorter is not None else kwargs.pop("sorter_name", None)
    if name is None:
        name = SortingPipelineConfig().sorter_name
    SortingPipelineConfig().override(sorter=name)  # an empty or malformed name fails here, named
    backend = get_plugin_manager().sorter(name)
    if backend.default_preset is not None:
        base = backend.presets[backend.default_preset]()
        if base.sorter_name != name:  # a preset borrowed from another backend would run that one
            raise ConfigError(
                f"Sorter {name!r} declares the default preset {backend.default_preset!r}, which is a "
                f"config for {base.sorter_name!r}; running it would sort with {base.sorter_name!r}. "
                f"Fix the backend's default_preset, or pass config= for {name!r} explicitly."
            )
    else:
        base = SortingPipelineConfig().override(sorter=name)
    return base.override(**kwargs)


def _raise_first_failure(results: list[RecordingResult]) -> None:
    failed = [r for r in results if not r.ok]
    if not failed:
        return
    error = failed[0].error
    if error is None:  # pragma: no cover - fail() always stores the error
        error = RuntimeError(f"{failed[0].rec_name} failed: {failed[0].error_message}")
    if not isinstance(getattr(error, "status", None), str):
        _attach(error, status=failed[0].status)
    _attach(error, results=list(results))
    raise error


def _new_result(
    loaded: LoadedRecording, inter: Path, res: Path, choice: SorterChoice | None = None
) -> RecordingResult:
    """The one place a recording's :class:`RecordingResult` is started."""
    return RecordingResult(
        rec_name=loaded.name,
        rec_path=str(loaded.source) if loaded.source is not None else loaded.name,
        results_folder=str(res),
        intermediate_folder=str(inter),
        sorter_choice=f"sorter='auto' chose {choice.sorter}: {choice.reason}" if choice else None,
    )


def _attach(error: BaseException, **evidence: Any) -> None:
    """Give any exception the ``status``/``results`` that classified exceptions carry."""
    for key, value in evidence.items():
        setattr(error, key, value)


def sort_recording(
    recording_files: Any,
    sorter: str | None = None,
    config: SortingPipelineConfig | None = None,
    intermediate_folders: Sequence[str | Path] | str | Path | None = None,
    results_folders: Sequence[str | Path] | str | Path | None = None,
    *,
    out_results: list[RecordingResult] | None = None,
    **kwargs: Any,
) -> list[SpikeData]:
    """Sort recordings and return their curated :class:`~spikelab.SpikeData`.

    Parameters
    ----------
    recording_files : str, Path, BaseRecording or list of them
        Each entry is a file (``.raw.h5`` or any format SpikeInterface reads), a directory (its
        files are concatenated, sorted once and split back per file) or a recording object.
    sorter : str, optional
        Backend name (``"kilosort4"``, ``"kilosort2"``, ``"rt_sort"``, ...). Without ``config``
        the backend's own preset is the starting point. ``"auto"`` picks the best measured
        installed sorter for the recordings' array type, sampling rate and GPU
        (:mod:`spikelab.spike_sorting.sorter_choice`); the choice and its reason are logged and
        written into each report (``RecordingResult.sorter_choice``).
    config : SortingPipelineConfig, optional
        The configuration; ``kwargs`` override it.
    intermediate_folders, results_folders : list of str or Path, optional
        One per recording; default beside each input (see :mod:`spikelab.spike_sorting.folders`).
    out_results : list, optional
        Receives one :class:`RecordingResult` per recording as each finishes.
    **kwargs
        Flat configuration names (``fr_min=0.1``, ``n_jobs=8``, ``recompute_sorting=True``,
        backend parameters such as ``batch_size``).

    Returns
    -------
    list of SpikeData
        Curated; for a directory input, one per file (``metadata["source_file"]``).

    Raises
    ------
    InputError
        A malformed input, before any sorting.
    SpikeSortingClassifiedError
        A preflight failure, or (with ``raise_on_failure``) the first recording's classified
        failure, with ``.status`` and ``.results``.
    """
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting import sorter_choice
    from spikelab.spike_sorting.folders import check_layout, resolve_folders
    from spikelab.spike_sorting.guards.sleep import prevent_system_sleep
    from spikelab.spike_sorting.interrupts import terminate_as_interrupt
    from spikelab.spike_sorting.stages import load, preflight

    choice = None
    if sorter_choice.wants_auto(sorter, config, kwargs):
        kwargs = dict(kwargs)
        choice = sorter_choice.choose_for_inputs(recording_files, kwargs)
        sorter = choice.sorter
        log.info("sorter_chosen", sorter=choice.sorter, reason=choice.reason)
    config = build_config(sorter, config, dict(kwargs))
    manager = get_plugin_manager()
    backend = manager.sorter(config.sorter_name)
    sources = load.as_sources(recording_files)
    loaded = load.run(sources, config)
    folders = resolve_folders(
        [item.name for item in loaded],
        [item.source for item in loaded],
        backend.name,
        intermediate_folders,
        results_folders,
    )
    try:
        check_layout([item.source for item in loaded], folders)
        preflight.run(config, backend, loaded, folders)
    except Exception as exc:  # nothing has started: every recording fails with the same cause
        failed = [_new_result(item, inter, res, choice).fail(exc) for item, (inter, res) in zip(loaded, folders)]
        _attach(exc, results=failed)
        if out_results is not None:
            out_results.extend(failed)
        raise

    results: list[RecordingResult] = []
    outputs: list[SpikeData] = []
    with prevent_system_sleep(config.execution.prevent_system_sleep), terminate_as_interrupt():
        for item, (inter, res) in zip(loaded, folders):
            result = _new_result(item, inter, res, choice)
            results.append(result)
            if out_results is not None:
                out_results.append(result)
            outputs.extend(_sort_one(config, backend, manager, item, inter, res, result))
    _log_batch(results)
    if config.execution.raise_on_failure:
        _raise_first_failure(results)
    return outputs


def _sort_one(config, backend, manager, loaded, inter: Path, res: Path, result: RecordingResult) -> list:
    from spikelab.spike_sorting.stages import (
        RecordingRun,
        canary,
        curation,
        epochs,
        preprocess,
        report,
        sort,
        waveforms,
    )
    from spikelab.spike_sorting.stages import lock as lock_stage

    start = time.perf_counter()
    run = RecordingRun(
        config=config, backend=backend, manager=manager, loaded=loaded,
        intermediate=inter, results=res, result=result,
    )
    fresh = not inter.exists()
    try:
        # Everything written into the folders (config, caches, reports) is written by the lock
        # holder only: a sort that loses the race leaves the winner's folders untouched.
        with lock_stage.hold(run):
            try:
                lock_stage.own_folders(run, created=fresh)
                canary.run(run)
                preprocess.run(run)
                sort.run(run)
                waveforms.run(run)
                curation.run(run)
            except BaseException as exc:
                _failed(run, exc, start)
                _report_quietly(report, run)
                raise
            result.wall_time_s = round(time.perf_counter() - start, 3)
            _report_quietly(report, run)
    except BaseException as exc:
        if result.error is None:  # never held the lock: nothing of this run was written
            _failed(run, exc, start)
        if not isinstance(exc, Exception):
            raise  # Ctrl-C / SIGTERM / SystemExit: the report is written, now stop the batch
        return []
    parts = epochs.run(run)
    if config.execution.delete_inter and run.manifest is not None:
        run.manifest.cleanup()
    return parts


def _failed(run, exc: BaseException, start: float) -> None:
    run.result.fail(exc)
    run.result.wall_time_s = round(time.perf_counter() - start, 3)
    log.warning(
        "recording_failed", recording=run.name, status=run.result.status,
        error=f"{type(exc).__name__}: {str(exc)[:300]}",
    )


def _report_quietly(report, run) -> None:
    try:
        report.run(run)
    except Exception as exc:
        log.warning("recording_report_failed", recording=run.name, error=f"{type(exc).__name__}: {exc}")


def _log_batch(results: list[RecordingResult]) -> None:
    failed = [r for r in results if not r.ok]
    log.info(
        "batch_done",
        recordings=len(results),
        succeeded=len(results) - len(failed),
        failed=[f"{r.rec_name}:{r.status}" for r in failed],
        units=[r.n_curated_units for r in results if r.ok],
    )


def sort_multistream(
    recording: str | Path,
    stream_ids: Sequence[str],
    sorter: str | None = None,
    config: SortingPipelineConfig | None = None,
    *,
    out_results: list[RecordingResult] | None = None,
    **kwargs: Any,
) -> dict[str, list[SpikeData]]:
    """Sort several streams (e.g. the wells of a Maxwell MaxTwo file) of one recording.

    Parameters
    ----------
    recording : str or Path
        A multi-stream file (or a directory of them, concatenated per stream).
    stream_ids : list of str
        Streams to sort, e.g. ``["well000", "well001"]``.
    sorter, config, out_results, **kwargs
        As for :func:`sort_recording`; each stream gets its own default folders.

    Returns
    -------
    dict
        ``{stream_id: list of SpikeData}``; a failed stream maps to ``[]`` when
        ``raise_on_failure`` is False.
    """
    from spikelab.spike_sorting.io import list_streams

    for name in ("stream_id", "intermediate_folders", "results_folders"):
        if name in kwargs:
            raise ConfigError(
                f"sort_multistream sets {name} per stream itself; remove it (use sort_recording to "
                "sort one stream into folders of your choice)."
            )
    if isinstance(stream_ids, str):
        stream_ids = [stream_ids]
    path = Path(recording)
    probe = path
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise InputError(f"{path} contains no recording files.")
        probe = files[0]
    available = list_streams(probe)
    missing = [s for s in stream_ids if s not in available]
    if missing:
        raise InputError(f"{path} has no stream(s) {missing}; available streams: {available}.")
    from spikelab.spike_sorting import sorter_choice

    if sorter_choice.wants_auto(sorter, config, kwargs):  # every stream of one file has one array
        kwargs = {k: v for k, v in kwargs.items() if k not in ("sorter", "sorter_name")}
        choice = sorter_choice.choose_for_inputs([path], {**kwargs, "stream_id": stream_ids[0]})
        sorter = choice.sorter
        log.info("sorter_chosen", sorter=choice.sorter, reason=choice.reason)
    config = build_config(sorter, config, dict(kwargs))
    results: list[RecordingResult] = []
    outputs: dict[str, list[SpikeData]] = {}
    for stream_id in stream_ids:
        stream_results: list[RecordingResult] = []
        outputs[stream_id] = sort_recording(
            [path], config=config.override(stream_id=stream_id, raise_on_failure=False),
            out_results=stream_results,
        )
        results.extend(stream_results)
        if out_results is not None:
            out_results.extend(stream_results)
    if config.execution.raise_on_failure:
        _raise_first_failure(results)
    return outputs
