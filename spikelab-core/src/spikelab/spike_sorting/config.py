"""Pipeline configuration: frozen attrs sub-configs, flat overrides, JSON round-trip, presets.

:class:`SortingPipelineConfig` is composed of :class:`RecordingConfig`, :class:`SorterConfig`,
:class:`WaveformConfig`, :class:`CurationConfig`, :class:`FigureConfig` and
:class:`ExecutionConfig`. Configs are immutable: :meth:`SortingPipelineConfig.override` returns a
new one. Flat names (``fr_min=0.1``, ``n_jobs=8``) are routed to the sub-config that owns them;
names a backend declares (``batch_size`` for Kilosort4, ``NT`` for Kilosort2) go into
``sorter.sorter_params``.

Presets (``KILOSORT4``, ``KILOSORT2``, ``RT_SORT``, ...) are contributed by the backend
distributions and resolved lazily on attribute access::

    from spikelab.spike_sorting.config import KILOSORT4
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from spikelab.errors import ConfigError, UnknownParameterError, UnknownPresetError
from spikelab.spike_sorting._knobs import (
    KnobValueError,
    convert,
    did_you_mean,
    fraction_open,
    in_range,
    knob,
    knobs,
    non_negative,
    not_empty,
    one_of,
    percentage,
    positive,
)
from spikelab.spikedata.curation import CONFIG_SPELLINGS

if TYPE_CHECKING:
    from spikelab.spike_sorting.backend import SorterBackend

SCHEMA_VERSION = 1

#: Suffixes SpikeInterface's ``total_memory`` understands (``"16G"``, ``"512Mi"``).
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)\s*$")


def _memory_size(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not _MEMORY.match(value):
        raise KnobValueError(
            f"{attribute.name} must be a size such as '16G', '512M' or '2Gi' (suffixes k, M, G, T, "
            f"P, Ki, Mi, Gi, Ti, Pi), got {value!r}.",
            attribute.name,
        )


def _worker_count(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value != -1 and value < 1:
        raise KnobValueError(
            f"{attribute.name} must be -1 (every core allowed) or a positive number of workers, "
            f"got {value!r}.",
            attribute.name,
        )


@knobs
class RecordingConfig:
    """How recordings are opened and cut before sorting."""

    stream_id: str | None = knob(None, "Stream to read from a multi-stream file (e.g. 'well000').")
    rec_name: str | None = knob(None, "Maxwell recording name when wells hold several ('rec0000').")
    hdf5_plugin_path: str | None = knob(
        None, "Folder holding HDF5 compression filters; exported as HDF5_PLUGIN_PATH."
    )
    first_n_mins: float | None = knob(None, "Sort only the first N minutes.", validator=positive)
    start_time_s: float | None = knob(None, "Start of the window to sort (s).", validator=non_negative)
    end_time_s: float | None = knob(None, "End of the window to sort (s).", validator=positive)
    freq_min: float = knob(300.0, "High-pass corner of the band-pass filter (Hz).", validator=positive)
    freq_max: float = knob(6000.0, "Low-pass corner of the band-pass filter (Hz).", validator=positive)
    gain_to_uv: float | None = knob(None, "Override the file's gain to µV.", validator=positive)
    offset_to_uv: float | None = knob(None, "Override the file's offset to µV.")

    def __attrs_post_init__(self) -> None:
        if self.freq_min >= self.freq_max:
            raise ConfigError(
                f"freq_min ({self.freq_min}) must be below freq_max ({self.freq_max})."
            )
        if (
            self.start_time_s is not None
            and self.end_time_s is not None
            and self.end_time_s <= self.start_time_s
        ):
            raise ConfigError(
                f"end_time_s ({self.end_time_s}) must be after start_time_s ({self.start_time_s})."
            )


@knobs
class SorterConfig:
    """Which backend sorts, and its own parameters."""

    sorter_name: str = knob(
        "kilosort4", "Backend name: 'kilosort4', 'kilosort2', 'rt_sort', ...", validator=not_empty
    )
    sorter_path: str | None = knob(None, "Sorter source folder (Kilosort2: the repository path).")
    sorter_params: dict[str, Any] = knob(
        factory=dict, doc="Backend parameters, merged over the backend's defaults."
    )
    use_docker: bool = knob(False, "Run the backend in its Docker image.")
    docker_image: str | None = knob(None, "Docker image to use instead of the backend's default.")


@knobs
class WaveformConfig:
    """Waveform extraction after sorting (feeds SNR, std_norm, merging and footprints)."""

    ms_before: float = knob(
        1.0, "Window before the spike peak (ms).", unit="ms", validator=in_range(0, 50, low_open=True)
    )
    ms_after: float = knob(
        2.0, "Window after the spike peak (ms).", unit="ms", validator=in_range(0, 50, low_open=True)
    )
    max_waveforms_per_unit: int = knob(
        300, "Spikes sampled per unit for templates and metrics.", validator=positive
    )
    chunk_duration_s: float = knob(
        1.0, "Chunk length streamed through memory (s); bounds peak memory.", validator=positive
    )
    template_min_amplitude_uv: float = knob(
        5.0, "Channels whose template peak-to-peak is below this are left out of footprints (µV).",
        validator=non_negative,
    )


@knobs
class CurationConfig:
    """Which quality criteria the pipeline applies (None disables a criterion)."""

    curate: bool = knob(True, "Apply curation at all.")
    spikes_min: int | None = knob(50, "Minimum spike count per unit.", validator=non_negative)
    fr_min: float | None = knob(0.05, "Minimum firing rate (Hz).", validator=non_negative)
    isi_viol_max: float | None = knob(
        1.0, "Maximum ISI violations, in percent of spikes (1.0 means 1 %).", validator=non_negative
    )
    isi_threshold_ms: float = knob(1.5, "Refractory period for ISI violations (ms).", validator=positive)
    snr_min: float | None = knob(5.0, "Minimum SNR.", validator=non_negative)
    std_norm_max: float | None = knob(
        1.0, "Maximum normalised waveform standard deviation.", validator=non_negative
    )
    merge_duplicates: bool = knob(False, "Merge duplicate units on nearby electrodes first.")
    merge_dist_um: float = knob(24.8, "Maximum distance between duplicates (µm).", validator=positive)
    merge_cosine_threshold: float = knob(
        0.5, "Minimum waveform cosine similarity to merge.", validator=non_negative
    )
    merge_max_isi_increase: float = knob(
        0.04, "Reject a merge that raises the ISI violation fraction by more.", validator=non_negative
    )
    plugin_criteria: dict[str, Any] = knob(
        factory=dict,
        doc="Thresholds (and options) of curation metrics that plugins register, by their curate() "
        "keyword ({'max_isi_cv': 0.5}); such a keyword is also accepted as a flat name.",
    )


@knobs
class FigureConfig:
    """Figures written beside the report."""

    create_figures: bool = knob(True, "Write footprint and quality-distribution PNGs.")
    dpi: int = knob(110, "Figure resolution.", validator=positive)
    max_units_in_footprint_figure: int = knob(
        36, "Units drawn in the footprint overview.", validator=positive
    )


@knobs
class ExecutionConfig:
    """How the pipeline runs: caching, resources, safeguards, retries, canary, reports."""

    # general
    n_jobs: int = knob(
        -1, "Worker processes for chunked work (-1: all cores allowed).", validator=_worker_count
    )
    total_memory: str | None = knob(
        None, "Memory budget for chunked work, e.g. '16G'.", validator=_memory_size
    )
    progress_bar: bool = knob(True, "Show progress bars on long stages.")
    sorter_output: str = knob(
        "auto",
        "Copy the sorter's own log lines to stderr: 'auto' (with progress bars, when stderr is a terminal), "
        "'always' or 'never'.",
        validator=one_of("auto", "always", "never"),
    )
    random_seed: int = knob(1, "Seed for every random choice (waveform sampling, ...).")
    isolation: str = knob(
        "process",
        "Run the sorter in a child process ('process', stoppable by watchdogs) or in this one ('inline').",
        validator=one_of("process", "inline"),
    )
    # caching
    recompute_recording: bool = knob(False, "Rewrite the cached binary recording.")
    recompute_sorting: bool = knob(False, "Sort again even if a valid cached sort exists.")
    reextract_waveforms: bool = knob(False, "Extract waveforms again even if cached.")
    delete_inter: bool = knob(
        False, "After success, delete what this run created in the intermediate folder."
    )
    # failures
    raise_on_failure: bool = knob(
        True, "After the batch, raise the first failure's classified exception."
    )
    oom_retry_max: int = knob(2, "Retries after an out-of-memory failure.", validator=non_negative)
    oom_retry_factor: float | None = knob(
        0.5, "Factor applied to the backend's batch knob on each OOM retry.", validator=fraction_open
    )
    # canary
    canary_first_n_s: float = knob(
        0.0, "Sort the first N seconds first as a smoke test (0 disables).", validator=non_negative
    )
    # preflight
    preflight: bool = knob(True, "Run preflight checks before each sort.")
    preflight_strict: bool = knob(False, "Treat preflight warnings as failures.")
    preflight_min_free_inter_gb: float = knob(
        1.0, "Floor on free space in the intermediate folder (GB), on top of the estimate.",
        validator=non_negative,
    )
    preflight_min_free_results_gb: float = knob(
        0.5, "Floor on free space in the results folder (GB).", validator=non_negative
    )
    preflight_min_available_ram_gb: float = knob(
        2.0, "Minimum available host RAM (GB).", validator=non_negative
    )
    preflight_min_free_vram_gb: float = knob(
        2.0, "Minimum free GPU memory for GPU backends (GB).", validator=non_negative
    )
    # host RAM watchdog
    host_ram_watchdog: bool = knob(True, "Stop the sort when host RAM use crosses the abort level.")
    host_ram_warn_pct: float = knob(85.0, "Warn above this host RAM use (%).", validator=percentage)
    host_ram_abort_pct: float = knob(92.0, "Stop the sort above this host RAM use (%).", validator=percentage)
    host_ram_poll_interval_s: float = knob(0.5, "Host RAM poll interval (s).", validator=positive)
    # GPU watchdog
    gpu_watchdog: bool = knob(True, "Watch GPU memory and temperature (through NVML).")
    gpu_warn_pct: float = knob(85.0, "Warn above this GPU memory use (%).", validator=percentage)
    gpu_abort_pct: float = knob(95.0, "Stop the sort above this GPU memory use (%).", validator=percentage)
    gpu_warn_temp_c: float = knob(85.0, "Warn above this GPU temperature (°C).", validator=positive)
    gpu_abort_temp_c: float = knob(92.0, "Stop the sort above this GPU temperature (°C).", validator=positive)
    gpu_poll_interval_s: float = knob(2.0, "GPU poll interval (s).", validator=positive)
    # disk watchdog
    disk_watchdog: bool = knob(True, "Stop the sort when free disk falls below the abort level.")
    disk_warn_free_gb: float = knob(5.0, "Warn below this free space (GB).", validator=non_negative)
    disk_abort_free_gb: float = knob(1.0, "Stop the sort below this free space (GB).", validator=non_negative)
    disk_poll_interval_s: float = knob(5.0, "Disk poll interval (s).", validator=positive)
    # inactivity watchdog
    sorter_inactivity_timeout: bool = knob(True, "Stop a sorter whose log goes silent too long.")
    sorter_inactivity_base_s: float = knob(600.0, "Silence tolerated for any recording (s).", validator=positive)
    sorter_inactivity_per_min_s: float = knob(
        30.0, "Extra silence tolerated per minute of recording (s).", validator=non_negative
    )
    sorter_inactivity_max_s: float = knob(7200.0, "Cap on the silence tolerance (s).", validator=positive)
    # I/O stall watchdog
    io_stall_watchdog: bool = knob(True, "Stop the sort when I/O byte counters stop advancing.")
    io_stall_s: float = knob(300.0, "Seconds without I/O progress that count as a stall.", validator=positive)
    io_stall_poll_interval_s: float = knob(10.0, "I/O counter poll interval (s).", validator=positive)
    # sleep blocker
    prevent_system_sleep: bool = knob(True, "Block system sleep during sorts (systemd-inhibit).")
    # reports
    generate_sorting_report: bool = knob(True, "Write sorting_report.md and recording_report.json.")
    save_raw_pkl: bool = knob(False, "Also save the uncurated SpikeData.")

    def __attrs_post_init__(self) -> None:
        for warn, abort in (
            ("host_ram_warn_pct", "host_ram_abort_pct"),
            ("gpu_warn_pct", "gpu_abort_pct"),
            ("gpu_warn_temp_c", "gpu_abort_temp_c"),
        ):
            if getattr(self, warn) > getattr(self, abort):
                raise ConfigError(
                    f"{warn} ({getattr(self, warn)}) must not exceed {abort} ({getattr(self, abort)})."
                )
        if self.disk_abort_free_gb > self.disk_warn_free_gb:
            raise ConfigError(
                f"disk_abort_free_gb ({self.disk_abort_free_gb}) must not exceed "
                f"disk_warn_free_gb ({self.disk_warn_free_gb})."
            )


@knobs
class BatchConfig:
    """How ``sort_batch`` reacts to each failure family across a batch of recordings."""

    resource_retries: int = knob(
        1, "Resubmissions of a recording after a resource failure, each with the backend's batch knob reduced.",
        validator=non_negative,
    )
    resource_retry_factor: float = knob(
        0.5, "Factor applied to the backend's batch knob on each resubmission.", validator=fraction_open
    )
    on_biological: str = knob(
        "skip", "After a biological failure: 'skip' (mark not sortable) or 'stop' the batch.",
        validator=one_of("skip", "stop"),
    )
    on_environment: str = knob(
        "stop", "After an environment failure: 'stop' submitting new work, or 'continue'.",
        validator=one_of("stop", "continue"),
    )
    unclassified_retries: int = knob(
        0, "Resubmissions of a recording after an unclassified failure.", validator=non_negative
    )
    skip_completed: bool = knob(True, "Skip recordings whose results are complete and valid (resume).")
    worker_gpus: int = knob(
        -1, "GPUs per local worker resource pool (-1: one worker per detected GPU).",
    )


_GROUPS: dict[str, type] = {
    "recording": RecordingConfig,
    "sorter": SorterConfig,
    "waveform": WaveformConfig,
    "curation": CurationConfig,
    "figures": FigureConfig,
    "execution": ExecutionConfig,
    "batch": BatchConfig,
}

#: Other spellings of a knob's flat name: the older SpikeLab's names, and the names
#: ``SpikeData.curate()`` takes for the same curation criteria (``min_snr`` is ``snr_min``).
#: The field names are the one vocabulary SpikeLab prints; these are accepted as input.
FLAT_ALIASES: dict[str, tuple[str, str]] = {
    "sorter": ("sorter", "sorter_name"),
    "kilosort_path": ("sorter", "sorter_path"),
    "kilosort_params": ("sorter", "sorter_params"),
    "waveforms_ms_before": ("waveform", "ms_before"),
    "waveforms_ms_after": ("waveform", "ms_after"),
    "figures_dpi": ("figures", "dpi"),
    **{name: ("curation", field) for field, name in CONFIG_SPELLINGS.items()},
}


def _build_flat_map() -> dict[str, tuple[str, str]]:
    flat: dict[str, tuple[str, str]] = {}
    for group, cls in _GROUPS.items():
        for field in attrs.fields(cls):
            if field.name in flat:
                raise AssertionError(f"flat name {field.name!r} is ambiguous")  # a developer error
            flat[field.name] = (group, field.name)
    flat.update(FLAT_ALIASES)
    return flat


FLAT_MAP: dict[str, tuple[str, str]] = _build_flat_map()


def _find_backend(sorter_name: str) -> SorterBackend | None:
    """The installed backend called ``sorter_name``, or None (its parameters stay unchecked)."""
    from spikelab.plugins import get_plugin_manager

    return get_plugin_manager().sorters().get(sorter_name)


def _plugin_criteria_names() -> tuple[str, ...]:
    """``curate()`` keywords (thresholds and options) of the metrics plugins register; the
    built-in metrics' keywords are left out (each has its own ``CurationConfig`` knob)."""
    from spikelab.plugins import get_plugin_manager
    from spikelab.spikedata.builtin_metrics import BUILTIN_METRICS

    builtin = {name for m in BUILTIN_METRICS for name in (m.param, *m.options)}
    metrics = get_plugin_manager().curation_metrics().values()
    return tuple(sorted({name for m in metrics for name in (m.param, *m.options)} - builtin))


def _at(exc: BaseException, path: str) -> str:
    return f"{str(exc).rstrip('.')} @ {path}"


def _build_group(group: str, cls: type, values: Any, errors: list[str]) -> Any:
    """``cls`` built from ``values`` through the knob converter; problems go to ``errors``."""
    path = f"$.{group}"
    if isinstance(values, cls):
        return values
    if not isinstance(values, Mapping):
        errors.append(f"expected a mapping of {cls.__name__} knobs, got {values!r} @ {path}")
        return None
    fields = attrs.fields_dict(cls)
    before = len(errors)
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        field = fields.get(name)
        if field is None:
            errors.append(f"unknown knob {name!r}.{did_you_mean(str(name), fields)} @ {path}")
            continue
        try:
            kwargs[name] = convert(value, field.metadata["type"], name)
        except KnobValueError as exc:
            errors.append(_at(exc, f"{path}.{name}"))
    if len(errors) > before:
        return None
    try:
        return cls(**kwargs)
    except KnobValueError as exc:
        errors.append(_at(exc, f"{path}.{exc.field}"))
    except (ValueError, TypeError) as exc:
        errors.append(_at(exc, path))
    return None


@knobs
class SortingPipelineConfig:
    """The whole pipeline configuration.

    Every way in (keywords, :meth:`override`, :meth:`from_dict` and JSON, the CLI's ``--set``,
    presets) passes one converter: a value wrong in one is wrong in all, with one message naming
    the knob's path (``... @ $.execution.n_jobs``) and what it accepts. The backend's parameters
    (``sorter.sorter_params``) are checked against what the backend declares.

    Parameters
    ----------
    recording, sorter, waveform, curation, figures, execution, batch
        The sub-configs; each defaults to its own defaults.
    """

    recording: RecordingConfig = attrs.field(factory=RecordingConfig)
    sorter: SorterConfig = attrs.field(factory=SorterConfig)
    waveform: WaveformConfig = attrs.field(factory=WaveformConfig)
    curation: CurationConfig = attrs.field(factory=CurationConfig)
    figures: FigureConfig = attrs.field(factory=FigureConfig)
    execution: ExecutionConfig = attrs.field(factory=ExecutionConfig)
    batch: BatchConfig = attrs.field(factory=BatchConfig)

    def __attrs_post_init__(self) -> None:
        if self.curation.plugin_criteria:
            known = _plugin_criteria_names()
            for name in self.curation.plugin_criteria:
                if name not in known:
                    raise UnknownParameterError(
                        f"No installed curation metric plugin takes {name!r}.{did_you_mean(str(name), known)} "
                        f"Plugin criteria installed: {list(known) or 'none'} @ $.curation.plugin_criteria.{name}"
                    )
        if not self.sorter.sorter_params:
            return
        backend = _find_backend(self.sorter.sorter_name)
        if backend is None:
            return
        params = backend.check_params(self.sorter.sorter_params)
        sorter = attrs.evolve(self.sorter, sorter_params=params)  # type: ignore[misc]  # a knobs class
        object.__setattr__(self, "sorter", sorter)

    @property
    def sorter_name(self) -> str:
        """The backend's name (``config.sorter.sorter_name``)."""
        return self.sorter.sorter_name

    def override(self, **flat: Any) -> SortingPipelineConfig:
        """Return a copy with flat-named knobs changed.

        Each name is routed to the sub-config that owns it (``fr_min`` -> curation,
        ``n_jobs`` -> execution, ``kilosort_path`` -> sorter.sorter_path). Names the active
        backend declares as parameters (``batch_size``, ``NT``, ...) are merged into
        ``sorter.sorter_params``; so is a ``sorter_params`` dict.

        Parameters
        ----------
        **flat
            Knobs by flat name (``fr_min=0.1``), their other spellings (``min_snr=5``) or the
            backend's parameter names (``batch_size=30000``).

        Returns
        -------
        SortingPipelineConfig
            A new config; this one is unchanged.

        Raises
        ------
        UnknownParameterError
            For a name no sub-config or backend knows, listing close matches.
        ConfigError
            For a value a knob rejects (the message names the knob's path and what it accepts).
        """
        if not flat:
            return self
        data = self.to_dict()
        sorter_name = flat.get("sorter", flat.get("sorter_name", self.sorter.sorter_name))
        params = data["sorter"]["sorter_params"]
        backend_names: tuple[str, ...] | None = None
        for name, value in flat.items():
            if name in FLAT_MAP:
                group, field = FLAT_MAP[name]
                if field != "sorter_params":
                    data[group][field] = value
                elif isinstance(value, Mapping):
                    params.update(value)
                elif value is not None:
                    raise ConfigError(f"{name}: expected a mapping, got {value!r} @ $.sorter.sorter_params")
                continue
            if backend_names is None:
                backend = _find_backend(sorter_name) if isinstance(sorter_name, str) else None
                backend_names = backend.accepted_param_names if backend is not None else ()
            if name in backend_names:
                params[name] = value
                continue
            if name in _plugin_criteria_names():
                data["curation"]["plugin_criteria"][name] = value
                continue
            raise UnknownParameterError(
                f"Unknown parameter {name!r} for sorter {sorter_name!r}."
                f"{did_you_mean(name, [*FLAT_MAP, *backend_names, *_plugin_criteria_names()])} See SortingPipelineConfig for "
                f"the pipeline's knobs and `spikelab plugins --params {sorter_name}` for the sorter's."
            )
        return self.from_dict(data)

    @classmethod
    def from_kwargs(cls, **flat: Any) -> SortingPipelineConfig:
        """Build a config from defaults and flat-named knobs.

        Parameters
        ----------
        **flat
            As for :meth:`override`.

        Returns
        -------
        SortingPipelineConfig
            The defaults with ``flat`` applied.
        """
        return cls().override(**flat)

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The config as plain data.

        Returns
        -------
        dict
            Sections of knobs plus ``schema_version``; :meth:`from_dict` reads it back unchanged.
        """
        data = attrs.asdict(self)  # type: ignore[arg-type]  # knobs classes are attrs classes
        data["schema_version"] = SCHEMA_VERSION
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SortingPipelineConfig:
        """Build a config from a (possibly partial) :meth:`to_dict`-shaped mapping.

        Parameters
        ----------
        data : mapping
            ``{section: {knob: value}}``, with an optional ``schema_version``; sections and knobs
            left out keep their defaults.

        Returns
        -------
        SortingPipelineConfig
            The config, every value passed through the knob converter.

        Raises
        ------
        ConfigError
            Naming every bad value or key with its path, e.g. ``... @ $.execution.n_jobs``.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"A configuration is a mapping of sections, got {type(data).__name__}.")
        data = dict(data)
        version = data.pop("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ConfigError(f"Config schema_version {version} is not supported (expected {SCHEMA_VERSION}).")
        errors = [
            f"unknown section {key!r}.{did_you_mean(str(key), _GROUPS)} @ $"
            for key in data
            if key not in _GROUPS
        ]
        groups = {}
        for group, group_cls in _GROUPS.items():
            if group in data:
                groups[group] = _build_group(group, group_cls, data[group], errors)
        if errors:
            raise ConfigError("; ".join(errors))
        return cls(**groups)

    def to_json(self, **kwargs: Any) -> str:
        """The config as JSON text.

        Parameters
        ----------
        **kwargs
            Passed to :func:`json.dumps` (``indent`` defaults to 2).

        Returns
        -------
        str
            Text that :meth:`from_json` reads back unchanged.
        """
        return json.dumps(self.to_dict(), indent=kwargs.pop("indent", 2), sort_keys=True, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> SortingPipelineConfig:
        """Read a config written by :meth:`to_json`.

        Parameters
        ----------
        text : str
            JSON text of a :meth:`to_dict`-shaped mapping.

        Returns
        -------
        SortingPipelineConfig
            The config.

        Raises
        ------
        ConfigError
            For text that is not JSON, or a bad value or key (naming its path).
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"The configuration is not valid JSON: {exc}.") from None
        return cls.from_dict(data)

    def flat_items(self) -> dict[str, Any]:
        """Every knob by its flat name (for reports and the CLI).

        Returns
        -------
        dict
            ``{flat name: value}``, in the one vocabulary SpikeLab prints (no other spellings).
        """
        return {
            name: getattr(getattr(self, group), field)
            for name, (group, field) in FLAT_MAP.items()
            if name not in FLAT_ALIASES
        }


# -- presets -----------------------------------------------------------------------------------
def get_preset(name: str) -> SortingPipelineConfig:
    """The preset called ``name``, from whichever installed backend contributes it.

    Parameters
    ----------
    name : str
        The preset's name (``"KILOSORT4"``, ``"RT_SORT_MEA"``, ...).

    Returns
    -------
    SortingPipelineConfig
        A new config built by the preset's factory.

    Raises
    ------
    ImportError
        When a documented preset's backend is not installed (naming the ``pip install``).
    UnknownPresetError
        For a name no backend contributes (a ``ConfigError`` and a ``KeyError``).
    """
    from spikelab.plugins import get_plugin_manager
    from spikelab.plugins._provided import provided_names

    manager = get_plugin_manager()
    presets = manager.presets()
    if name in presets:
        return presets[name]()
    missing = manager.unavailable(name, f"The {name} preset")
    if missing is not None:
        raise ImportError(missing)
    known = [n for n in provided_names() if n.isupper()]
    raise UnknownPresetError(
        f"No preset called {name!r}.{did_you_mean(name, [*presets, *known])} "
        f"Installed presets: {', '.join(sorted(presets)) or 'none'}."
    )


def __getattr__(name: str) -> SortingPipelineConfig:
    if name.isupper():
        try:
            return get_preset(name)
        except UnknownPresetError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BatchConfig",
    "CurationConfig",
    "ExecutionConfig",
    "FigureConfig",
    "RecordingConfig",
    "SortingPipelineConfig",
    "SorterConfig",
    "WaveformConfig",
    "get_preset",
]
