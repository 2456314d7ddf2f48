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

import copy
import functools
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from spikelab.errors import ConfigError, UnknownParameterError
from spikelab.spike_sorting._knobs import KnobValueError, convert, did_you_mean, knobs

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


def _no_recording_problems(recording: BaseRecording, config: SortingPipelineConfig) -> list[str]:
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
    params : type, optional
        The backend's parameters, declared as a :func:`~spikelab.spike_sorting._knobs.knobs`
        class (type, default, unit and a one-line doc per field). Values in ``sorter_params``
        are converted and checked against it when the config is built.
    default_params : dict
        The backend's parameters and their defaults (derived from ``params`` when that is
        given; otherwise their types are inferred from these defaults). Their names are valid
        flat overrides.
    param_aliases : dict, optional
        Other accepted spellings of a parameter, ``{"freq_min": "fshigh"}``.
    reserved_params : dict, optional
        Names a user may not set, each with the reason (``{"fs": "it comes from the recording"}``).
    presets : dict, optional
        ``{"KILOSORT4": factory}``: factories returning a ``SortingPipelineConfig``.
    default_preset : str, optional
        The preset ``sort_recording(sorter=name)`` starts from (None: SpikeLab's defaults).
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
    check_recording : callable, optional
        ``check_recording(recording, config) -> list``: why this backend cannot sort this
        recording (its sampling rate, its geometry), as sentences or classified exceptions;
        empty when it can. Preflight runs it on every recording before any work.
    needs_gpu : callable, optional
        ``needs_gpu(config) -> bool``.
    device_param : str, optional
        The parameter that names the torch/CUDA device the sort runs on (``"torch_device"``,
        ``"rt_sort_device"``; values ``"cuda"``, ``"cuda:N"`` or N). The GPU watchdog and
        preflight watch the GPU it names; without one they watch device 0.
    prepare_recording : callable, optional
        ``prepare_recording(recording, config) -> recording``: preprocessing this backend wants
        before the recording is written for it (default: none; the sorter filters itself).
    disk_factor : float, default: 2.0
        Intermediate disk needed per byte of recording: the binary copy the pipeline writes plus
        what the sorter writes beside it. Preflight and the plan use it.
    reported_versions : tuple of str
        Distributions, besides this backend's own, whose versions shape a result (``("torch",
        "kilosort")``); the report lists them.
    stop_grace_s : callable, optional
        ``stop_grace_s(job) -> float``: seconds between SIGTERM and SIGKILL when a watchdog stops
        the sort (a Docker runner needs its container's stop timeout); default 3 s.
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
    params: type | None = None
    default_params: dict[str, Any] = attrs.field(factory=dict)
    param_aliases: dict[str, str] = attrs.field(factory=dict)
    reserved_params: dict[str, str] = attrs.field(factory=dict)
    presets: dict[str, Callable[[], SortingPipelineConfig]] = attrs.field(factory=dict)
    default_preset: str | None = None
    oom_knob: OomKnob | None = None
    classifier: Callable[[Path, BaseException], SpikeSortingClassifiedError | None] | None = None
    classifier_name: str | None = None
    check_environment: Callable[[SortingPipelineConfig], list[str]] = _no_problems
    check_recording: Callable[[BaseRecording, SortingPipelineConfig], list[Any]] = _no_recording_problems
    needs_gpu: Callable[[SortingPipelineConfig], bool] = lambda config: False
    device_param: str | None = None
    prepare_recording: Callable[[BaseRecording, SortingPipelineConfig], BaseRecording] | None = None
    disk_factor: float = 2.0
    reported_versions: tuple[str, ...] = ()
    stop_grace_s: Callable[[SortJob], float] | None = None
    log_name: str = "sorter.log"
    description: str = ""
    params_type: type = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.default_preset is not None and self.default_preset not in self.presets:
            raise ValueError(f"{self.name}: default_preset {self.default_preset!r} is not one of its presets")
        declared = self.params or _inferred_params(self.name, self.default_params, self.oom_knob)
        object.__setattr__(self, "params_type", declared)
        if self.params is not None and not self.default_params:
            object.__setattr__(self, "default_params", attrs.asdict(declared()))

    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameters' names."""
        return tuple(sorted(attrs.fields_dict(self.params_type)))

    @property
    def accepted_param_names(self) -> tuple[str, ...]:
        """The parameters' names and their accepted other spellings."""
        return tuple(sorted({*self.param_names, *self.param_aliases}))

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` converted and checked against the declared parameters.

        Parameters
        ----------
        params : mapping
            ``sorter_params`` as the user gave them.

        Returns
        -------
        dict
            The same keys (aliases replaced by the canonical name), values converted.

        Raises
        ------
        UnknownParameterError
            For a name the backend does not declare (close matches listed) or reserves.
        ConfigError
            For a value of the wrong type or out of range, naming its path.
        """
        fields = attrs.fields_dict(self.params_type)
        checked: dict[str, Any] = {}
        for name, value in params.items():
            key = self.param_aliases.get(name, name)
            path = f"$.sorter.sorter_params.{name}"
            if key in self.reserved_params:
                raise UnknownParameterError(
                    f"{self.name} parameter {name!r} cannot be set: {self.reserved_params[key]} @ {path}"
                )
            if key not in fields:
                raise UnknownParameterError(
                    f"Unknown {self.name} parameter {name!r}."
                    f"{did_you_mean(str(name), self.accepted_param_names)} "
                    f"`spikelab plugins --params {self.name}` lists them @ {path}"
                )
            try:
                checked[key] = convert(value, fields[key].metadata["type"], str(name))
            except KnobValueError as exc:
                raise ConfigError(f"{str(exc).rstrip('.')} @ {path}") from None
        try:
            self.params_type(**checked)
        except KnobValueError as exc:
            raise ConfigError(f"{str(exc).rstrip('.')} @ $.sorter.sorter_params.{exc.field}") from None
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{str(exc).rstrip('.')} @ $.sorter.sorter_params") from None
        return checked

    def resolve_params(self, config: SortingPipelineConfig) -> dict[str, Any]:
        """The backend defaults merged with the config's ``sorter_params``.

        Parameters
        ----------
        config : SortingPipelineConfig
            The pipeline configuration.

        Returns
        -------
        dict
            Every parameter's value for this run.
        """
        params = dict(self.default_params)
        params.update(self.check_params(config.sorter.sorter_params))  # a config built by hand too
        return params


def _annotation_of(name: str, value: Any, oom_knob: OomKnob | None) -> Any:
    if oom_knob is not None and name == oom_knob.name:
        return (int if isinstance(oom_knob.default, int) else float) | None
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int | float  # an int default may be a threshold (9 -> 9.5)
    if isinstance(value, float):
        return float
    if isinstance(value, str):
        return str
    if isinstance(value, (list, tuple)):
        return list[Any]
    if isinstance(value, dict):
        return dict[str, Any]
    return Any


def _inferred_params(name: str, defaults: Mapping[str, Any], oom_knob: OomKnob | None) -> type:
    """A knobs class for a backend that gives only a dict of defaults (types from the values)."""
    defaults = dict(defaults)
    if oom_knob is not None and oom_knob.name not in defaults:
        defaults[oom_knob.name] = None if oom_knob.default is None else oom_knob.default
    namespace: dict[str, Any] = {"__annotations__": {}}
    for key, value in defaults.items():
        namespace["__annotations__"][key] = _annotation_of(key, value, oom_knob)
        namespace[key] = attrs.field(
            factory=functools.partial(copy.deepcopy, value), metadata={"doc": "", "unit": None}
        )
    return knobs(type(f"{name}_params", (), namespace))
