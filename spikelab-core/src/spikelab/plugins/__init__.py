"""SpikeLab's plugin system.

``spikelab.hookimpl`` is the one import a plugin author needs; application code uses
:func:`get_plugin_manager` and the methods of :class:`SpikeLabPluginManager`.
"""

from __future__ import annotations

import pluggy

from spikelab.plugins.hookspecs import PROJECT_NAME

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Built-in plugins, registered through the same manager as third-party ones.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "spikelab.spikedata.builtin_metrics",
    "spikelab.spike_sorting.builtin_classifiers",
    "spikelab.spike_sorting.io.builtin_readers",
    "spikelab.spike_sorting.guards.builtin_watchdogs",
    "spikelab.spike_sorting.builtin_run",
    "spikelab.cli.builtin_commands",
)

from spikelab.plugins.manager import (  # noqa: E402  (needs hookimpl defined first)
    PluginInfo,
    SpikeLabPluginManager,
    distribution_version,
    get_plugin_manager,
    plugin_manager_in_use,
)

__all__ = [
    "DEFAULT_PLUGINS",
    "PluginInfo",
    "SpikeLabPluginManager",
    "distribution_version",
    "get_plugin_manager",
    "hookimpl",
    "plugin_manager_in_use",
]
