"""What a sorter backend plugin declares: one :class:`SorterBackend` per sorter.

A backend distribution registers it through the ``spikelab_register_sorters`` hook::

    from spikelab import hookimpl
    from spikelab.spike_sorting.backend import OomKnob, SorterBackend

    @hookimpl
    def spikelab_register_sorters(register):
        register(SorterBackend(name="mysorter", distribution="spikelab-mysorter", ...))

Nothing in core changes when a backend is added.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording, BaseSorting

    from spikelab.spike_sorting._exceptions import SpikeSortingClassifiedError
    from spikelab.spike_sorting.config import SortingPipelineConfig


@attrs.frozen(kw_only=True)
class OomKnob:
    """The parameter the pipeline shrinks after an out-of-memory failure.

    Parameters
    ----------
    name : str
        Key in ``sorter_params`` (``"batch_size"`` for Kilosort4, ``"NT"`` for Kilosort2).
    default : int or float
        Value used when the parameters leave it unset.
    floor : int or float
        Smallest value worth trying; below it the retry gives up.
    factor : float, default: 0.5
        Multiplier applied per retry unless ``ExecutionConfig.oom_retry_factor`` says otherwise.
    multiple_of : int, default: 1
        The reduced value is rounded down to a multiple of this (Kilosort2's NT: 32).
    """

    name: str
    default: float
    floor: float
    factor: float = 0.5
    multiple_of: int = 1

    def __attrs_post_init__(self) -> None:
        if not 0 < self.factor < 1:
            raise ValueError(f"OomKnob {self.name}: factor must be in (0, 1), got {self.factor}")
        if self.floor > self.default:
            raise ValueError(f"OomKnob {self.name}: floor {self.floor} exceeds default {self.default}")

    def current(self, params: Mapping[str, Any]) -> float:
        value = params.get(self.name)
        return self.default if value is None else value

    def reduced(self, params: Mapping[str, Any], factor: float | None = None) -> float | None:
        """The next smaller value, or None when the floor is reached."""
        current = self.current(params)
        value = current * (self.factor if factor is None else factor)
        if isinstance(self.default, int) or self.multiple_of > 1:
            value = int(math.floor(value / self.multiple_of) * self.multiple_of)
        if value < self.floor or value >= current:
            return None
        return value


@attrs.frozen(kw_only=True)
class SortJob:
    """Everything a runner needs for one sort; it is pickled into the sorter's child process.

    Parameters
    ----------
    recording_folder : Path
        A SpikeInterface binary folder (``spikeinterface.load`` opens it) holding the recording
        as prepared for this backend.
    sorter_folder : Path
        Where the runner writes the sorter's own files.
    log_path : Path
        The sorter's log (stdout and stderr of the child are appended to it).
    params : dict
        The backend's defaults merged with ``config.sorter.sorter_params`` and OOM reductions.
    config : SortingPipelineConfig
        The whole pipeline configuration.
    """

    recording_folder: Path
    sorter_folder: Path
    log_path: Path
    params: dict[str, Any]
    config: SortingPipelineConfig


def _no_problems(config: SortingPipelineConfig) -> list[str]:
    return []


@attrs.frozen(kw_only=True)
class SorterBackend:
    """A sorter, as a plugin declares it.

    Parameters
    ----------
    name : str
        The ``sorter=`` name users type.
    distribution : str
        The pip distribution providing it (shown by ``spikelab plugins`` and in errors).
    version : str
        The backend's version.
    run : callable
        ``run(job: SortJob) -> None``; a module-level function (picklable by reference). It runs
        in a child process whose stdout/stderr go to ``job.log_path``, writes the sorter's
        output into ``job.sorter_folder`` and raises on failure.
    read_sorting : callable
        ``read_sorting(sorter_folder: Path) -> BaseSorting``, in the parent process.
    default_params : dict
        The backend's parameters and their defaults; their names are valid flat overrides.
    presets : dict, optional
        ``{"KILOSORT4": factory}``: factories returning a ``SortingPipelineConfig``.
    oom_knob : OomKnob, optional
        What to shrink after an out-of-memory failure.
    classifier : callable, optional
        ``classifier(output_folder, exc) -> SpikeSortingClassifiedError | None``.
    classifier_name : str, optional
        The public name of ``classifier`` (``"classify_ks4_failure"``), importable from
        ``spikelab.spike_sorting._classifier``.
    check_environment : callable, optional
        ``check_environment(config) -> list[str]``: what is missing to run (empty when ready);
        each entry says what and how to fix it. Used by preflight.
    needs_gpu : callable, optional
        ``needs_gpu(config) -> bool``.
    prepare_recording : callable, optional
        ``prepare_recording(recording, config) -> recording``: preprocessing this backend wants
        before the recording is written for it (default: none; the sorter filters itself).
    log_name : str
        File name of the sorter log inside the sorter folder.
    description : str
        One line for ``spikelab plugins``.
    """

    name: str
    distribution: str
    version: str
    run: Callable[[SortJob], None]
    read_sorting: Callable[[Path], BaseSorting]
    default_params: dict[str, Any] = attrs.field(factory=dict)
    presets: dict[str, Callable[[], SortingPipelineConfig]] = attrs.field(factory=dict)
    oom_knob: OomKnob | None = None
    classifier: Callable[[Path, BaseException], SpikeSortingClassifiedError | None] | None = None
    classifier_name: str | None = None
    check_environment: Callable[[SortingPipelineConfig], list[str]] = _no_problems
    needs_gpu: Callable[[SortingPipelineConfig], bool] = lambda config: False
    prepare_recording: Callable[[BaseRecording, SortingPipelineConfig], BaseRecording] | None = None
    log_name: str = "sorter.log"
    description: str = ""

    @property
    def param_names(self) -> tuple[str, ...]:
        names = set(self.default_params)
        if self.oom_knob is not None:
            names.add(self.oom_knob.name)
        return tuple(sorted(names))

    def resolve_params(self, config: SortingPipelineConfig) -> dict[str, Any]:
        """The backend defaults merged with the config's ``sorter_params``."""
        params = dict(self.default_params)
        params.update(config.sorter.sorter_params)
        return params
