"""Pipeline configuration: frozen attrs sub-configs, flat overrides, JSON round-trip, presets.

:class:`SortingPipelineConfig` is composed of :class:`RecordingConfig`, :class:`SorterConfig`,
:class:`WaveformConfig`, :class:`CurationConfig`, :class:`FigureConfig` and
:class:`ExecutionConfig`. Configs are immutable: :meth:`SortingPipelineConfig.override` returns a
new one. Flat names (``fr_min=0.1``, ``n_jobs=8``) are routed to the sub-config that owns them;
other names (a backend's ``batch_size`` for Kilosort4, ``NT`` for Kilosort2) go into
``sorter.sorter_params``, which the backend checks when a run is built
(:func:`~spikelab.spike_sorting.check_config`).

Presets (``KILOSORT4``, ``KILOSORT2``, ``RT_SORT``, ...) are contributed by the backend
distributions and resolved lazily on attribute access::

    from spikelab.spike_sorting.config import KILOSORT4
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from spikelab.errors import ConfigError, UnknownPresetError
from spikelab.spike_sorting._config_execution import BatchConfig, ExecutionConfig
from spikelab.spike_sorting._config_sections import (
    CurationConfig,
    FigureConfig,
    RecordingConfig,
    SorterConfig,
    WaveformConfig,
)
from spikelab.spike_sorting._knobs import KnobValueError, convert, did_you_mean, knobs
from spikelab.spike_sorting._presets import get_preset
from spikelab.spikedata.curation import CONFIG_SPELLINGS

SCHEMA_VERSION = 1

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
    the knob's path (``... @ $.execution.n_jobs``) and what it accepts. A config is data and
    looks up no plugin: the backend's parameters (``sorter.sorter_params``) are checked against
    what the backend declares when a run is built from the config (``sort_recording`` and the
    other entry points, through :func:`~spikelab.spike_sorting.check_config`).

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

    @property
    def sorter_name(self) -> str:
        """The backend's name (``config.sorter.sorter_name``)."""
        return self.sorter.sorter_name

    def override(self, **flat: Any) -> SortingPipelineConfig:
        """Return a copy with flat-named knobs changed.

        Each name is routed to the sub-config that owns it (``fr_min`` -> curation,
        ``n_jobs`` -> execution, ``kilosort_path`` -> sorter.sorter_path). Every other name
        (a backend's parameter such as ``batch_size`` or ``NT``, a metric plugin's criterion) is
        merged into ``sorter.sorter_params``, as is a ``sorter_params`` dict; the backend checks
        them when a run is built from this config, or at once with
        :func:`~spikelab.spike_sorting.check_config`.

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
        ConfigError
            For a value a pipeline knob rejects (the message names the knob's path and what it
            accepts).
        """
        if not flat:
            return self
        data = self.to_dict()
        params = data["sorter"]["sorter_params"]
        for name, value in flat.items():
            if name not in FLAT_MAP:
                params[name] = value  # the backend's or a metric plugin's: checked when the run is built
                continue
            group, field = FLAT_MAP[name]
            if field != "sorter_params":
                data[group][field] = value
            elif isinstance(value, Mapping):
                params.update(value)
            elif value is not None:
                raise ConfigError(f"{name}: expected a mapping, got {value!r} @ $.sorter.sorter_params")
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
