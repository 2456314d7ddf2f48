"""The classifier on SpikeInterface sorters' real error texts, replayed."""

from __future__ import annotations

import pickle

import pytest
from si_helpers import BROKEN_POOL, INVALID_PARAMS, NOT_INSTALLED, NUMPY_OOM, noise_log

from spikelab.plugin import HostMemoryError, InsufficientActivityError, SorterDependencyError
from spikelab.plugins import get_plugin_manager
from spikelab_si import SpikeInterfaceSettingsError, classify_si_failure


def _classify(sorter, tmp_path, text, exc=None):
    """What the pipeline does: the sorter log in the sorter folder, the exception it caught."""
    (tmp_path / f"{sorter}.log").write_text(text)
    return get_plugin_manager().classify_failure(sorter, tmp_path, exc or RuntimeError("sorter failed"), text)


@pytest.mark.parametrize("sorter", ["spykingcircus2", "tridesclous2"])
def test_pure_noise_is_not_sortable(sorter, tmp_path):
    classified = _classify(sorter, tmp_path, noise_log(sorter))
    assert isinstance(classified, InsufficientActivityError)
    assert classified.status == "not_sortable"
    assert classified.sorter == sorter
    assert "noise" in str(classified) and "detect_threshold" in str(classified)


def test_tridesclous2_counts_the_peaks_it_found(tmp_path):
    classified = _classify("tridesclous2", tmp_path, noise_log("tridesclous2"))
    assert classified.threshold_crossings == 0
    assert classified.matched_line == "detect_peaks(): 0 peaks found"


@pytest.mark.parametrize("text", [NUMPY_OOM, BROKEN_POOL])
def test_host_memory_is_retried_with_a_shorter_chunk(text, tmp_path):
    classified = _classify("spykingcircus2", tmp_path, text)
    assert isinstance(classified, HostMemoryError)
    assert classified.status == "oom_memoryerror"
    assert "chunk_duration" in str(classified)


def test_host_memory_retry_halves_the_chunk_down_to_its_floor(tmp_path):
    """sort_recording retries an oom_retryable failure with the backend's OOM knob reduced."""
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.guards.retry import next_oom_params

    classified = _classify("tridesclous2", tmp_path, NUMPY_OOM)
    assert classified.oom_retryable
    backend = get_plugin_manager().sorter("tridesclous2")
    config = SortingPipelineConfig().override(sorter="tridesclous2")
    params = backend.resolve_params(config)
    chunks = [params["chunk_duration"]]
    while (params := next_oom_params(backend, params, config)) is not None:
        chunks.append(params["chunk_duration"])
    assert chunks[:3] == [1.0, 0.5, 0.25] and chunks[-1] >= 0.05


def test_memory_error_inside_spikeinterface_message_is_found(tmp_path):
    """run_sorter re-raises the sorter's MemoryError as SpikeSortingError text: no isinstance."""
    from spikeinterface.sorters.utils import SpikeSortingError

    classified = classify_si_failure(tmp_path, SpikeSortingError(NUMPY_OOM), sorter="lupin")
    assert isinstance(classified, HostMemoryError)
    assert "Unable to allocate 11.2 GiB" in classified.matched_line


def test_rejected_parameters_and_missing_package_are_environment(tmp_path):
    settings = _classify("tridesclous2", tmp_path, INVALID_PARAMS)
    assert isinstance(settings, SpikeInterfaceSettingsError) and settings.status == "environment"
    assert "detect_treshold" in str(settings)
    missing = _classify("mountainsort5", tmp_path, NOT_INSTALLED)
    assert isinstance(missing, SorterDependencyError) and missing.status == "environment"
    assert "pip install 'spikelab-si[mountainsort5]'" in str(missing)


def test_classified_errors_survive_the_child_process(tmp_path):
    classified = _classify("spykingcircus2", tmp_path, noise_log("spykingcircus2"))
    assert pickle.loads(pickle.dumps(classified)).evidence() == classified.evidence()


def test_unrelated_failure_is_left_to_the_generic_signatures(tmp_path):
    assert classify_si_failure(tmp_path, KeyError("unit_ids")) is None
