"""The public home of plugin authors: everything a backend or metrics plugin imports.

A sorter backend needs only this module and ``spikelab.spike_sorting.config`` (for presets)::

    from spikelab.plugin import SorterBackend, SortJob, hookimpl, knob, knobs

    @knobs
    class MyParams:
        \"\"\"My sorter's parameters.\"\"\"

        threshold: float = knob(5.0, "Detection threshold.", unit="MAD", validator=positive)

    @hookimpl
    def spikelab_register_sorters(register):
        register(SorterBackend(name="mysorter", distribution="spikelab-mysorter", ...,
                               params=MyParams))

The older private paths (``spikelab.spike_sorting.backend``, ``._exceptions``,
``._classifier``) keep working; they are where these names live.
"""

from __future__ import annotations

from spikelab.errors import ConfigError, InputError, SpikeLabError, did_you_mean
from spikelab.plugins import hookimpl
from spikelab.plugins.manager import distribution_version
from spikelab.spike_sorting._classifier import (
    GPU_OOM,
    classified_in_chain,
    exception_chain_text,
    find_line,
    read_sorter_log,
)
from spikelab.spike_sorting._exceptions import (
    BiologicalSortFailure,
    ConcurrentSortError,
    DiskExhaustionError,
    DockerEnvironmentError,
    EmptyWaveformMetricsError,
    EnvironmentSortFailure,
    GpuNotAvailableError,
    GPUOutOfMemoryError,
    HostMemoryError,
    InsufficientActivityError,
    ModelLoadingError,
    NoGoodChannelsError,
    PermissionDeniedError,
    ResourceSortFailure,
    SaturatedSignalError,
    SorterDependencyError,
    SorterOutputError,
    SorterProcessError,
    SorterTimeoutError,
    SpikeSortingClassifiedError,
)
from spikelab.spike_sorting._knobs import (
    KnobValueError,
    fraction_open,
    in_range,
    knob,
    knob_rows,
    knobs,
    non_negative,
    not_empty,
    one_of,
    percentage,
    positive,
)
from spikelab.spike_sorting.backend import OomKnob, SorterBackend, SortJob

__all__ = [
    "GPU_OOM",
    "BiologicalSortFailure",
    "ConcurrentSortError",
    "ConfigError",
    "DiskExhaustionError",
    "DockerEnvironmentError",
    "EmptyWaveformMetricsError",
    "EnvironmentSortFailure",
    "GPUOutOfMemoryError",
    "GpuNotAvailableError",
    "HostMemoryError",
    "InputError",
    "InsufficientActivityError",
    "KnobValueError",
    "ModelLoadingError",
    "NoGoodChannelsError",
    "OomKnob",
    "PermissionDeniedError",
    "ResourceSortFailure",
    "SaturatedSignalError",
    "SortJob",
    "SorterBackend",
    "SorterDependencyError",
    "SorterOutputError",
    "SorterProcessError",
    "SorterTimeoutError",
    "SpikeLabError",
    "SpikeSortingClassifiedError",
    "classified_in_chain",
    "did_you_mean",
    "distribution_version",
    "exception_chain_text",
    "find_line",
    "fraction_open",
    "hookimpl",
    "in_range",
    "knob",
    "knob_rows",
    "knobs",
    "non_negative",
    "not_empty",
    "one_of",
    "percentage",
    "positive",
    "read_sorter_log",
]
