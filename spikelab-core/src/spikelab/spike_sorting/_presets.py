"""Presets: named configs contributed by the installed backends.

:func:`get_preset` is imported from :mod:`spikelab.spike_sorting.config`, whose module
``__getattr__`` also resolves ``from spikelab.spike_sorting.config import KILOSORT4``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spikelab.errors import UnknownPresetError
from spikelab.spike_sorting._knobs import did_you_mean

if TYPE_CHECKING:
    from spikelab.spike_sorting.config import SortingPipelineConfig


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
    from spikelab.plugins import plugin_manager_in_use
    from spikelab.plugins._provided import provided_names

    manager = plugin_manager_in_use()
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
