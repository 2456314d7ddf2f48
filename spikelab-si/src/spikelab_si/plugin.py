"""SpikeLab plugin (entry point ``spikelab: spikeinterface``): SpikeInterface's internal sorters.

Registers spykingcircus2 and tridesclous2, lupin where the installed SpikeInterface has it, and
mountainsort5 (it needs ``pip install 'spikelab-si[mountainsort5]'``; preflight says so when it is
missing). Imports only SpikeLab's public plugin API; SpikeInterface's sorters are imported in the
sorter's child process.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path

import attrs

from spikelab.plugin import OomKnob, SorterBackend, distribution_version, hookimpl
from spikelab_si.classifier import classify_si_failure
from spikelab_si.parameters import (
    ALIASES,
    CHUNK_DURATION_FLOOR_S,
    CHUNK_DURATION_S,
    RESERVED,
    LupinParams,
    Mountainsort5Params,
    SpykingCircus2Params,
    Tridesclous2Params,
)
from spikelab_si.runner import read_sorting, run

DISTRIBUTION = "spikelab-si"
#: sorter -> (parameters class, extra module it needs, one line for ``spikelab plugins``).
_DECLARED: dict[str, tuple[type, str | None, str]] = {
    "spykingcircus2": (
        SpykingCircus2Params,
        None,
        "SpyKING CIRCUS 2 (SpikeInterface's internal sorter), on the CPU.",
    ),
    "tridesclous2": (
        Tridesclous2Params,
        None,
        "Tridesclous 2 (SpikeInterface's internal sorter), on the CPU.",
    ),
    "lupin": (LupinParams, None, "Lupin (SpikeInterface's internal sorter), on the CPU."),
    "mountainsort5": (
        Mountainsort5Params,
        "mountainsort5",
        "MountainSort 5 through SpikeInterface, on the CPU.",
    ),
}


#: Where SpikeInterface keeps each sorter's wrapper (file names differ from sorter names).
_WRAPPERS = {
    "spykingcircus2": "internal/spyking_circus2.py",
    "tridesclous2": "internal/tridesclous2.py",
    "lupin": "internal/lupin.py",
    "mountainsort5": "external/mountainsort5.py",
}


def _spikeinterface_has(sorter_name: str) -> bool:
    """Whether the installed SpikeInterface ships ``sorter_name`` (lupin is new in 0.104), looked
    up without importing ``spikeinterface.sorters``."""
    spec = importlib.util.find_spec("spikeinterface")
    if spec is None or not spec.submodule_search_locations:
        return False
    return any(
        (Path(location) / "sorters" / _WRAPPERS[sorter_name]).is_file()
        for location in spec.submodule_search_locations
    )


def _check_environment_for(sorter_name: str, module: str | None) -> Callable:
    def check_environment(config) -> list[str]:
        """What is missing to run this sorter (empty when ready)."""
        if importlib.util.find_spec("spikeinterface") is None:
            return [f"{sorter_name} needs SpikeInterface: `pip install 'spikeinterface>=0.105'`."]
        if not _spikeinterface_has(sorter_name):
            return [
                f"The installed SpikeInterface {distribution_version('spikeinterface', '?')} has no "
                f"{sorter_name}: `pip install -U spikeinterface`."
            ]
        if module is not None and importlib.util.find_spec(module) is None:
            return [f"{sorter_name} needs the {module!r} package: `pip install 'spikelab-si[{module}]'`."]
        return []

    return check_environment


def _preset_for(sorter_name: str) -> Callable:
    def preset():
        from spikelab.spike_sorting.config import SortingPipelineConfig

        return SortingPipelineConfig().override(sorter=sorter_name)

    preset.__name__ = f"{sorter_name}_preset"
    preset.__doc__ = f"The pipeline's defaults with sorter={sorter_name!r}."
    return preset


def _backend(sorter_name: str) -> SorterBackend:
    params, module, description = _DECLARED[sorter_name]
    return SorterBackend(
        name=sorter_name,
        distribution=DISTRIBUTION,
        version=distribution_version(DISTRIBUTION),
        run=run,
        read_sorting=read_sorting,
        params=params,
        param_aliases={k: v for k, v in ALIASES.items() if v in attrs.fields_dict(params)},
        reserved_params=RESERVED,
        presets={sorter_name.upper(): _preset_for(sorter_name)},
        oom_knob=OomKnob(
            name="chunk_duration", default=CHUNK_DURATION_S, floor=CHUNK_DURATION_FLOOR_S, factor=0.5
        ),
        classifier=functools.partial(classify_si_failure, sorter=sorter_name),
        classifier_name="classify_si_failure",
        check_environment=_check_environment_for(sorter_name, module),
        log_name=f"{sorter_name}.log",
        description=description,
    )


#: The backends this package registers, by sorter name (lupin only where SpikeInterface has it).
SORTERS: dict[str, SorterBackend] = {
    name: _backend(name) for name in _DECLARED if name != "lupin" or _spikeinterface_has(name)
}


@hookimpl
def spikelab_register_sorters(register) -> None:
    for backend in SORTERS.values():
        register(backend)
