"""Which distribution provides a name (a sorter, a preset, a classifier) that no loaded plugin
provides, so that using it fails with the fix instead of a bare "unknown name".

A backend distribution declares the names it provides in its package metadata, as entry points
of the group ``spikelab.provides`` (the value is the module that provides the name)::

    [project.entry-points."spikelab.provides"]
    kilosort2 = "spikelab_ks2.plugin"
    KILOSORT2 = "spikelab_ks2.plugin"
    classify_ks2_failure = "spikelab_ks2.classifier"

Core reads that metadata without importing anything, so an installed distribution whose plugin
did not load (broken, disabled, autoload off) is named with the reason, for third-party backends
exactly as for the built-in ones.

A distribution that is not installed has no metadata here, so core cannot learn its names from
it. :data:`FIRST_PARTY` is the one documented exception: the names of this monorepo's own backend
distributions, which SPEC.md and the spike-sorting guide document at core's import paths
(``from spikelab.spike_sorting.config import KILOSORT2``) and promise to fail with the
``pip install`` that fixes them.
"""

from __future__ import annotations

import importlib.metadata as importlib_metadata

#: Entry-point group in which a distribution lists the names it provides.
GROUP = "spikelab.provides"

#: The names of the monorepo's backend distributions, for when one is not installed at all (no
#: metadata to read). Installed distributions, these included, are read from their metadata.
FIRST_PARTY: dict[str, tuple[str, ...]] = {
    "spikelab-ks4": ("kilosort4", "KILOSORT4", "KILOSORT4_DOCKER", "classify_ks4_failure"),
    "spikelab-ks2": ("kilosort2", "KILOSORT2", "KILOSORT2_DOCKER", "classify_ks2_failure"),
    "spikelab-rtsort": (
        "rt_sort", "RT_SORT", "RT_SORT_MEA", "RT_SORT_NEUROPIXELS", "classify_rt_sort_failure",
    ),
}


def installed_provides() -> dict[str, str]:
    """Names declared in the ``spikelab.provides`` metadata of installed distributions.

    Returns
    -------
    dict
        ``{name: distribution}`` (no plugin is imported).
    """
    found: dict[str, str] = {}
    for entry_point in importlib_metadata.entry_points(group=GROUP):
        dist = getattr(getattr(entry_point, "dist", None), "name", None)
        found.setdefault(entry_point.name, dist or entry_point.value.split(".")[0])
    return found


def provider_of(name: str) -> tuple[str, bool] | None:
    """The distribution that provides ``name`` and whether it is installed, or None.

    Parameters
    ----------
    name : str
        A sorter, preset or classifier name.

    Returns
    -------
    tuple of (str, bool) or None
        ``(distribution, installed)``; None when no installed metadata and no first-party
        distribution declares the name.
    """
    installed = installed_provides()
    if name in installed:
        return installed[name], True
    for dist, names in FIRST_PARTY.items():
        if name in names:
            return dist, False
    return None


def provided_names() -> list[str]:
    """Every name a distribution is known to provide (for "did you mean" hints)."""
    return sorted({*installed_provides(), *(n for names in FIRST_PARTY.values() for n in names)})
