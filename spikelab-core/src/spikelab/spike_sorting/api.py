"""``sort_recording`` and ``run_recordings``: the guide's entry points (``sort_multistream`` is in
:mod:`spikelab.spike_sorting.multistream`).

A batch runs ``load`` and ``preflight`` for every recording first (bad inputs and a broken
environment fail before any long work), then, per recording and under its sort lock,
``canary -> preprocess -> sort -> waveforms -> curation``, then ``report`` and ``epochs``
(see :mod:`spikelab.spike_sorting.stages`).

Failure semantics: every recording gets a :class:`~spikelab.spike_sorting.results.RecordingResult`;
a failure in one never discards the others. After the batch, when any failed and
``raise_on_failure`` holds (default), the first failure's (classified when possible) exception
is raised, carrying ``.status`` and ``.results`` (all RecordingResults, successes included).
:func:`run_recordings` returns the results themselves.

The public functions take the plugin manager as ``plugins=`` (default: the process-wide one),
choose it once, at the top, and hand it down; nothing below them looks for another.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from spikelab.errors import ConfigError
from spikelab.plugins import plugin_manager_in_use
from spikelab.spike_sorting import sorter_choice
from spikelab.spike_sorting._config_check import check_config
from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.spike_sorting.folders import check_layout, resolve_folders
from spikelab.spike_sorting.guards.sleep import prevent_system_sleep
from spikelab.spike_sorting.interrupts import terminate_as_interrupt
from spikelab.spike_sorting.results import RecordingResult
from spikelab.spike_sorting.stages import (
    RecordingRun,
    canary,
    curation,
    epochs,
    load,
    preflight,
    preprocess,
    report,
    sort,
    waveforms,
)
from spikelab.spike_sorting.stages import lock as lock_stage

if TYPE_CHECKING:
    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spike_sorting.io import LoadedRecording
    from spikelab.spike_sorting.sorter_choice import SorterChoice
    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.pipeline")

Folders = Sequence[str | Path] | str | Path | None


def build_config(
    sorter: str | None,
    config: SortingPipelineConfig | None,
    kwargs: dict[str, Any],
    plugins: SpikeLabPluginManager,
) -> SortingPipelineConfig:
    """The effective configuration.

    ``sorter=`` without a config starts from the preset that backend names as its default
    (``SorterBackend.default_preset``; no other preset is built); flat keyword arguments are
    applied with ``override``, and the result is checked against the backend that runs it and the
    installed metric plugins (:func:`check_config`).

    Parameters
    ----------
    sorter : str or None
        The backend's name, or None (the config's, else the default backend).
    config : SortingPipelineConfig or None
        A config to start from.
    kwargs : dict
        Flat knobs applied with :meth:`SortingPipelineConfig.override`.
    plugins : SpikeLabPluginManager
        Where the backend and its parameters are looked up.

    Returns
    -------
    SortingPipelineConfig
        The configuration the run uses.

    Raises
    ------
    ConfigError
        When ``sorter`` contradicts ``config``'s sorter.
    """
    if isinstance(sorter, SortingPipelineConfig) and config is None:
        sorter, config = None, sorter  # the older positional order: sort_recording(files, config)
    if config is not None:
        if sorter is not None and sorter != config.sorter_name:
            raise ConfigError(
                f"sorter={sorter!r} contradicts the config, which is for {config.sorter_name!r}; pass "
                "only one of them (or a config for that sorter)."
            )
        return check_config(config.override(**kwargs), plugins)
    name = sorter if sorter is not None else kwargs.pop("sorter_name", None)
    if name is None:
        name = SortingPipelineConfig().sorter_name
    SortingPipelineConfig().override(sorter=name)  # an empty or malformed name fails here, named
    backend = plugins.sorter(name)
    if backend.default_preset is None:
        return check_config(SortingPipelineConfig().override(sorter=name, **kwargs), plugins)
    base = backend.presets[backend.default_preset]()
    if base.sorter_name != name:  # a preset borrowed from another backend would run that one
        raise ConfigError(
            f"Sorter {name!r} declares the default preset {backend.default_preset!r}, which is a "
            f"config for {base.sorter_name!r}; running it would sort with {base.sorter_name!r}. "
            f"Fix the backend's default_preset, or pass config= for {name!r} explicitly."
        )
    return check_config(base.override(**kwargs), plugins)


def sort_recording(
    recording_files: Any,
    sorter: str | None = None,
    config: SortingPipelineConfig | None = None,
    intermediate_folders: Folders = None,
    results_folders: Folders = None,
    *,
    plugins: SpikeLabPluginManager | None = None,
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
    plugins : SpikeLabPluginManager, optional
        The sorters, readers, watchdogs, classifiers and metrics to use; default: the
        process-wide manager (:func:`spikelab.plugins.get_plugin_manager`).
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
    plugins = plugin_manager_in_use(plugins)
    config, choice = _configure(recording_files, sorter, config, kwargs, plugins)
    results = run_configured(recording_files, config, intermediate_folders, results_folders, plugins, choice)
    if config.execution.raise_on_failure:
        raise_first_failure(results)
    return [spike_data for result in results for spike_data in result.spike_data]


def run_recordings(
    recording_files: Any,
    sorter: str | None = None,
    config: SortingPipelineConfig | None = None,
    intermediate_folders: Folders = None,
    results_folders: Folders = None,
    *,
    plugins: SpikeLabPluginManager | None = None,
    **kwargs: Any,
) -> list[RecordingResult]:
    """Sort recordings and return what happened to each (:func:`sort_recording`'s own results).

    Takes what :func:`sort_recording` takes, but a recording's failure is never raised: it is
    in its result's ``status`` and ``error``; a success's curated SpikeData are in its
    ``spike_data``.

    Returns
    -------
    list of RecordingResult
        One per recording, in input order.

    Raises
    ------
    InputError
        A malformed input, before any sorting.
    SpikeSortingClassifiedError
        A preflight failure, with ``.results`` (every recording failed with that cause).
    KeyboardInterrupt, SortTerminated
        Ctrl-C or SIGTERM, with ``.results`` of the recordings reached so far.
    """
    plugins = plugin_manager_in_use(plugins)
    config, choice = _configure(recording_files, sorter, config, kwargs, plugins)
    return run_configured(recording_files, config, intermediate_folders, results_folders, plugins, choice)


def _configure(
    recording_files: Any,
    sorter: str | None,
    config: SortingPipelineConfig | None,
    kwargs: dict[str, Any],
    plugins: SpikeLabPluginManager,
) -> tuple[SortingPipelineConfig, SorterChoice | None]:
    """:func:`build_config`, with ``sorter="auto"`` first resolved from the inputs' headers."""
    choice = None
    if sorter_choice.wants_auto(sorter, config, kwargs):
        kwargs = dict(kwargs)
        choice = sorter_choice.choose_for_inputs(recording_files, kwargs, manager=plugins)
        sorter = choice.sorter
        log.info("sorter_chosen", sorter=choice.sorter, reason=choice.reason)
    return build_config(sorter, config, dict(kwargs), plugins), choice


def run_configured(
    recording_files: Any,
    config: SortingPipelineConfig,
    intermediate_folders: Folders,
    results_folders: Folders,
    plugins: SpikeLabPluginManager,
    choice: SorterChoice | None = None,
) -> list[RecordingResult]:
    """Load and preflight every recording, then sort each; one result per recording.

    The body of :func:`run_recordings` once its configuration is built and checked (a Dask
    worker of :func:`~spikelab.spike_sorting.sort_batch` enters here too); ``choice`` is the
    ``sorter="auto"`` decision written into each report.
    """
    backend = plugins.sorter(config.sorter_name)
    loaded = load.run(load.as_sources(recording_files), config, plugins=plugins)
    folders = resolve_folders(
        [item.name for item in loaded], [item.source for item in loaded], backend.name,
        intermediate_folders, results_folders,
    )
    try:
        check_layout([item.source for item in loaded], folders)
        preflight.run(config, backend, loaded, folders)
    except Exception as exc:  # nothing has started: every recording fails with the same cause
        attach(exc, results=[_new_result(item, *pair, choice).fail(exc) for item, pair in zip(loaded, folders)])
        raise

    results: list[RecordingResult] = []
    try:
        with prevent_system_sleep(config.execution.prevent_system_sleep), terminate_as_interrupt():
            for item, (inter, res) in zip(loaded, folders):
                run = RecordingRun(
                    config=config, backend=backend, manager=plugins, loaded=item,
                    intermediate=inter, results=res, result=_new_result(item, inter, res, choice),
                )
                results.append(run.result)
                _sort_one(run)
    except BaseException as exc:  # Ctrl-C / SIGTERM: the reports are written, the batch stops
        attach(exc, results=results)
        raise
    _log_batch(results)
    return results


def _new_result(
    loaded: LoadedRecording, inter: Path, res: Path, choice: SorterChoice | None = None
) -> RecordingResult:
    """The one place a recording's :class:`RecordingResult` is started."""
    return RecordingResult(
        rec_name=loaded.name,
        rec_path=str(loaded.source) if loaded.source is not None else loaded.name,
        results_folder=str(res),
        intermediate_folder=str(inter),
        sorter_choice=choice.summary if choice else None,
    )


def _sort_one(run: RecordingRun) -> None:
    """Run one recording's stages under its lock; its outcome and SpikeData go into ``run.result``."""
    start = time.perf_counter()
    fresh = not run.intermediate.exists()
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
                _report_quietly(run)
                raise
            run.result.wall_time_s = round(time.perf_counter() - start, 3)
            _report_quietly(run)
    except BaseException as exc:
        if run.result.error is None:  # never held the lock: nothing of this run was written
            _failed(run, exc, start)
        if not isinstance(exc, Exception):
            raise  # Ctrl-C / SIGTERM / SystemExit: the report is written, now stop the batch
        return
    run.result.spike_data = epochs.run(run)
    if run.config.execution.delete_inter and run.manifest is not None:
        run.manifest.cleanup()


def _failed(run: RecordingRun, exc: BaseException, start: float) -> None:
    run.result.fail(exc)
    run.result.wall_time_s = round(time.perf_counter() - start, 3)
    log.warning(
        "recording_failed", recording=run.name, status=run.result.status,
        error=f"{type(exc).__name__}: {str(exc)[:300]}",
    )


def _report_quietly(run: RecordingRun) -> None:
    try:
        report.run(run)
    except Exception as exc:
        log.warning("recording_report_failed", recording=run.name, error=f"{type(exc).__name__}: {exc}")


def attach(error: BaseException, **evidence: Any) -> None:
    """Give any exception the ``status``/``results`` that classified exceptions carry."""
    for key, value in evidence.items():
        setattr(error, key, value)


def raise_first_failure(results: list[RecordingResult]) -> None:
    failed = [r for r in results if not r.ok]
    if not failed:
        return
    error = failed[0].error
    if error is None:  # pragma: no cover - fail() always stores the error
        error = RuntimeError(f"{failed[0].rec_name} failed: {failed[0].error_message}")
    if not isinstance(getattr(error, "status", None), str):
        attach(error, status=failed[0].status)
    attach(error, results=list(results))
    raise error


def _log_batch(results: list[RecordingResult]) -> None:
    failed = [r for r in results if not r.ok]
    log.info(
        "batch_done",
        recordings=len(results),
        succeeded=len(results) - len(failed),
        failed=[f"{r.rec_name}:{r.status}" for r in failed],
        units=[r.n_curated_units for r in results if r.ok],
    )

