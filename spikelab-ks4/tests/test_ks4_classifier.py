"""classify_ks4_failure on Kilosort4's real failure text."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from ks4_helpers import CUDA_OOM

from spikelab.spike_sorting import _exceptions as ex
from spikelab.spike_sorting._classifier import classify_failure
from spikelab_ks4 import KilosortSettingsError, classify_ks4_failure

DATA = Path(__file__).with_name("data")


def _write_log(folder: Path, text: str, nested: bool = False) -> Path:
    target = folder / "sorter_output" if nested else folder
    target.mkdir(parents=True, exist_ok=True)
    (target / "kilosort4.log").write_text(text)
    return target / "kilosort4.log"


def test_noise_only_recording_is_insufficient_activity_with_zero_crossings(tmp_path):
    log_path = _write_log(tmp_path, (DATA / "ks4_no_threshold_crossings.log").read_text())
    error = classify_ks4_failure(tmp_path, RuntimeError("kilosort4 failed"))
    assert isinstance(error, ex.InsufficientActivityError)
    assert error.status == "not_sortable"
    assert error.threshold_crossings == 0
    assert "required by TruncatedSVD" in error.matched_line
    assert error.log_path == str(log_path)
    assert error.sorter == "kilosort4"


def test_too_few_crossings_for_kmeans_parses_the_counts(tmp_path):
    _write_log(tmp_path, "kilosort.run_kilosort: 3 clusters found, in 0.2s; total 1.0s\n", nested=True)
    error = classify_ks4_failure(tmp_path, ValueError("n_samples=5 should be >= n_clusters=6."))
    assert isinstance(error, ex.InsufficientActivityError)
    assert error.threshold_crossings == 5
    assert error.units_at_failure == 3
    assert error.matched_line.endswith("n_samples=5 should be >= n_clusters=6.")


def test_no_spikes_detected_reports_the_logged_spike_count(tmp_path):
    _write_log(
        tmp_path,
        "kilosort.run_kilosort: Extracting spikes using templates\n"
        "kilosort.run_kilosort: 0 spikes extracted in 0.52s; total 1.10s\n",
    )
    error = classify_ks4_failure(tmp_path, ValueError("No spikes detected, cannot continue sorting."))
    assert isinstance(error, ex.InsufficientActivityError)
    assert error.threshold_crossings == 0
    assert "No spikes detected" in error.matched_line


def test_cuda_oom_is_retryable_gpu_oom_with_torch_line_as_evidence(tmp_path):
    _write_log(tmp_path, CUDA_OOM)
    error = classify_ks4_failure(tmp_path, RuntimeError("kilosort4 failed"))
    assert isinstance(error, ex.GPUOutOfMemoryError)
    assert error.status == "oom_gpu" and error.oom_retryable
    assert error.matched_line.startswith("torch.OutOfMemoryError: CUDA out of memory")


@pytest.mark.parametrize(
    "message",
    [
        "Unrecognized settings: ['batchsize']",
        "`nt` must be odd, but got nt=60",
        "Largest value of chanMap exceeds channel count of data, make sure chanMap is 0-indexed.",
    ],
)
def test_settings_kilosort_rejects_stop_the_batch_as_configuration_errors(tmp_path, message):
    error = classify_ks4_failure(tmp_path, ValueError(message))
    assert isinstance(error, KilosortSettingsError)
    assert isinstance(error, ex.EnvironmentSortFailure)
    assert error.status == "environment"
    assert message in error.matched_line


def test_generic_signatures_still_apply(tmp_path):
    error = classify_ks4_failure(tmp_path, OSError("Can't synchronously read data (can't open directory)"))
    assert isinstance(error, ex.HDF5PluginMissingError)
    assert error.sorter == "kilosort4"


def test_already_classified_error_in_the_chain_is_returned(tmp_path):
    original = KilosortSettingsError("bad", sorter="kilosort4", setting="batchsize")
    try:
        try:
            raise original
        except KilosortSettingsError as inner:
            raise RuntimeError("kilosort4 failed") from inner
    except RuntimeError as outer:
        assert classify_ks4_failure(tmp_path, outer) is original


def test_unknown_failures_return_none(tmp_path):
    _write_log(tmp_path, "kilosort.run_kilosort: Computing preprocessing variables.\n")
    assert classify_ks4_failure(tmp_path, ZeroDivisionError("division by zero")) is None
    assert classify_ks4_failure(tmp_path / "missing", KeyError("x")) is None


def test_classified_errors_pickle_with_their_evidence(tmp_path):
    _write_log(tmp_path, (DATA / "ks4_no_threshold_crossings.log").read_text())
    error = classify_ks4_failure(tmp_path, RuntimeError("failed"))
    assert pickle.loads(pickle.dumps(error)).evidence() == error.evidence()


def test_guide_import_path_and_plugin_chain(tmp_path):
    from spikelab.spike_sorting._classifier import classify_ks4_failure as from_guide

    assert from_guide is classify_ks4_failure
    _write_log(tmp_path, CUDA_OOM)
    assert classify_failure("kilosort4", tmp_path, RuntimeError("x")).status == "oom_gpu"


def test_cublas_workspace_allocation_failure_is_a_retryable_gpu_oom(tmp_path):
    # Kilosort4 on an H200 with 1.6 GiB free, batch_size 225000 (bench/gpu): cuBLAS could not
    # allocate its handle's workspace; a smaller batch then fits.
    _write_log(tmp_path, "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`\n")
    error = classify_ks4_failure(tmp_path, RuntimeError("kilosort4 failed"))
    assert isinstance(error, ex.GPUOutOfMemoryError) and error.oom_retryable
    assert "CUBLAS_STATUS_ALLOC_FAILED" in error.matched_line
