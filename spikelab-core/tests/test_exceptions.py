"""Classified exceptions: families, statuses, evidence, pickling, and the guide's names."""

from __future__ import annotations

import pickle

import pytest

from spikelab.spike_sorting import _exceptions as ex

EXPECTED_STATUS = {
    ex.HostMemoryWatchdogError: "oom_host_ram",
    ex.GpuMemoryWatchdogError: "oom_gpu",
    ex.GPUOutOfMemoryError: "oom_gpu",
    ex.GpuThermalWatchdogError: "gpu_thermal",
    ex.SorterTimeoutError: "sorter_timeout",
    ex.DiskExhaustionError: "disk_exhausted",
    ex.IOStallError: "io_stall",
    ex.ConcurrentSortError: "concurrent_sort",
    ex.HostMemoryError: "oom_memoryerror",
    ex.InsufficientActivityError: "not_sortable",
    ex.NoGoodChannelsError: "not_sortable",
    ex.HDF5PluginMissingError: "environment",
    ex.ModelLoadingError: "environment",
    ex.DockerEnvironmentError: "environment",
}


@pytest.mark.parametrize("cls,status", sorted(EXPECTED_STATUS.items(), key=lambda kv: kv[0].__name__))
def test_every_classified_error_has_its_status(cls, status):
    error = cls("boom")
    assert error.status == status
    assert status in ex.STATUSES
    assert ex.status_of(error) == status
    assert isinstance(error, ex.SpikeSortingClassifiedError)
    assert isinstance(error, RuntimeError)


def test_families_match_the_guide():
    assert issubclass(ex.InsufficientActivityError, ex.BiologicalSortFailure)
    assert issubclass(ex.HDF5PluginMissingError, ex.EnvironmentSortFailure)
    assert issubclass(ex.ModelLoadingError, ex.EnvironmentSortFailure)
    assert issubclass(ex.ConcurrentSortError, ex.EnvironmentSortFailure)
    for cls in (ex.HostMemoryWatchdogError, ex.GpuMemoryWatchdogError, ex.SorterTimeoutError,
                ex.DiskExhaustionError, ex.IOStallError, ex.GpuThermalWatchdogError):
        assert issubclass(cls, ex.ResourceSortFailure)
    assert ex.GpuMemoryWatchdogError("x").family == "resource"


def test_both_gpu_oom_kinds_are_retryable_and_nothing_else_is():
    retryable = {cls for cls in EXPECTED_STATUS if cls.oom_retryable}
    assert retryable == {ex.GPUOutOfMemoryError, ex.GpuMemoryWatchdogError}


def test_insufficient_activity_carries_parsed_counts_and_survives_pickling():
    error = ex.InsufficientActivityError(
        "too quiet", sorter="kilosort2", threshold_crossings=1234, units_at_failure=3,
        nspks_at_failure=2.5, log_path="/tmp/k.log", matched_line="found 1234 threshold crossings",
    )
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is ex.InsufficientActivityError
    assert clone.evidence() == error.evidence()
    assert (clone.threshold_crossings, clone.units_at_failure, clone.nspks_at_failure) == (1234, 3, 2.5)
    assert "found 1234 threshold crossings" in str(clone)


def test_unknown_evidence_field_is_a_programming_error():
    with pytest.raises(TypeError, match="unknown evidence"):
        ex.IOStallError("x", temperature=3)


def test_status_of_plain_failures():
    assert ex.status_of(None) == "success"
    assert ex.status_of(MemoryError()) == "oom_memoryerror"
    assert ex.status_of(ValueError("x")) == "failed"
    assert ex.status_of(ex.SorterProcessError("x", sorter="fake")) == "failed"
