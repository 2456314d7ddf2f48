"""A config checked against the backend and metric plugins that will run it.

A :class:`~spikelab.spike_sorting.config.SortingPipelineConfig` is data: its own knobs are
converted and range-checked when it is built, but it never looks up a plugin. Names it does not
own (``batch_size``, ``NT``, a metric plugin's ``max_unit_index``) wait in
``sorter.sorter_params`` until :func:`check_config`, called by the façade with the run's plugin
manager, hands them to the backend that declares them (or to the metric plugin that takes them).
Call it yourself to see a config's problems before a run::

    from spikelab.spike_sorting import check_config
    check_config(KILOSORT4.override(batch_size=30000))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from spikelab.errors import UnknownParameterError
from spikelab.plugins import plugin_manager_in_use
from spikelab.spike_sorting._knobs import did_you_mean
from spikelab.spike_sorting.config import FLAT_MAP, SortingPipelineConfig
from spikelab.spikedata.builtin_metrics import BUILTIN_METRICS

if TYPE_CHECKING:
    from spikelab.plugins import SpikeLabPluginManager


def plugin_criteria_names(plugins: SpikeLabPluginManager) -> tuple[str, ...]:
    """``curate()`` keywords (thresholds and options) the installed metric plugins add; the
    built-in metrics' keywords are left out (each has its own ``CurationConfig`` knob)."""
    builtin = {name for m in BUILTIN_METRICS for name in (m.param, *m.options)}
    metrics = plugins.curation_metrics().values()
    return tuple(sorted({name for m in metrics for name in (m.param, *m.options)} - builtin))


def check_config(
    config: SortingPipelineConfig, plugins: SpikeLabPluginManager | None = None
) -> SortingPipelineConfig:
    """``config`` with its backend parameters converted and its plugin criteria in place.

    Parameters
    ----------
    config : SortingPipelineConfig
        A config from a preset, :meth:`~SortingPipelineConfig.override` or JSON.
    plugins : SpikeLabPluginManager, optional
        The run's plugin manager, where the backend and metric plugins are looked up (default:
        the process-wide one).

    Returns
    -------
    SortingPipelineConfig
        The same knobs; ``sorter_params`` converted by the backend's declared parameters, and the
        names a metric plugin takes moved to ``curation.plugin_criteria``. The parameters of a
        sorter that is not installed stay unchecked (the run stops in preflight, naming the
        install).

    Raises
    ------
    UnknownParameterError
        For a name neither the pipeline, the backend nor a metric plugin knows (close matches
        from all three listed), or a plugin criterion no installed metric takes.
    ConfigError
        For a value the backend's declaration rejects, naming its path.
    """
    plugins = plugin_manager_in_use(plugins)
    backend = plugins.sorters().get(config.sorter_name)
    criteria_names = plugin_criteria_names(plugins)
    declared = () if backend is None else {*backend.accepted_param_names, *backend.reserved_params}
    params: dict[str, Any] = {}
    criteria = dict(config.curation.plugin_criteria)
    for name, value in config.sorter.sorter_params.items():
        if name in criteria_names and name not in declared:
            criteria[name] = value
        elif backend is None or name in declared:
            params[name] = value  # no backend: the run's preflight names the install
        else:
            raise UnknownParameterError(
                f"Unknown parameter {name!r} for sorter {config.sorter_name!r}."
                f"{did_you_mean(str(name), [*FLAT_MAP, *backend.accepted_param_names, *criteria_names])} "
                "See SortingPipelineConfig for the pipeline's knobs and "
                f"`spikelab plugins --params {config.sorter_name}` for the sorter's "
                f"@ $.sorter.sorter_params.{name}"
            )
    for name in criteria:
        if name not in criteria_names:
            raise UnknownParameterError(
                f"No installed curation metric plugin takes {name!r}.{did_you_mean(str(name), criteria_names)} "
                f"Plugin criteria installed: {list(criteria_names) or 'none'} @ $.curation.plugin_criteria.{name}"
            )
    if backend is not None:
        params = backend.check_params(params)
    sorter = attrs.evolve(config.sorter, sorter_params=params)  # type: ignore[misc]
    curation = attrs.evolve(config.curation, plugin_criteria=criteria)  # type: ignore[misc]
    return attrs.evolve(config, sorter=sorter, curation=curation)  # type: ignore[misc]
