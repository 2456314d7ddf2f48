"""Build the live watchdogs for one sort from every registered factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spike_sorting.guards.base import WatchContext, Watchdog

log = structlog.get_logger("spikelab.guards")


def build_watchdogs(context: WatchContext, *, plugin_manager: SpikeLabPluginManager) -> list[Watchdog]:
    """Call every registered watchdog factory with ``context``; keep the watchdogs they return.

    A factory returning None (disabled, or not applicable) is skipped; one that raises is logged
    and skipped, so a broken third-party guard never prevents a sort.

    Parameters
    ----------
    context : WatchContext
        The sort being guarded.
    plugin_manager : SpikeLabPluginManager
        The manager whose watchdog factories are called (the run's).
    """
    if context.config.execution.isolation == "inline":
        return []  # nothing can stop an in-process sort
    watchdogs = []
    for factory in plugin_manager.watchdog_factories():
        try:
            watchdog = factory(context)
        except Exception as exc:
            log.warning(
                "watchdog_factory_failed",
                factory=getattr(factory, "__qualname__", repr(factory)),
                error=f"{type(exc).__name__}: {exc}",
            )
            continue
        if watchdog is not None:
            watchdogs.append(watchdog)
    log.debug("watchdogs_built", sorter=context.backend.name, watchdogs=[w.name for w in watchdogs])
    return watchdogs
