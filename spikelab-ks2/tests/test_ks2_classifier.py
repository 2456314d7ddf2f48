# ruff: noqa: W291 -- the excerpts keep the trailing spaces Kilosort2 prints ("... \n")
"""``classify_ks2_failure`` on real Kilosort2 / MATLAB text.

Log excerpts are users' reports (MouseLand/Kilosort issue numbers, unless another repository is
named) or lines built from Kilosort2 v2.0's own format strings.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from spikelab.spike_sorting import _exceptions as ex
from spikelab_ks2._runlog import RUN_MARKER
from spikelab_ks2.classifier import classify_ks2_failure

FAILED = RuntimeError("kilosort2 returned a non-zero exit code")

# -- excerpts --------------------------------------------------------------------------------
GPU_OOM_506 = """\
19253.78 sec, 6801 / 6966 batches, 1525 units, nspks: 51376067, mu: 15.7297, nst0: 7574 
19511.90 sec, 6901 / 6966 batches, 1525 units, nspks: 52177327, mu: 15.7297, nst0: 7416 
Error using  * 
Out of memory on device. To view more detail about available memory on the GPU, use 'gpuDevice()'. If the problem persists, reset the GPU by calling
'gpuDevice(1)'.
"""
GPU_EIG_216 = (
    "Error running kilosort! Call to Real Single Symmetric EIG on the GPU failed with CUDA error status: out of memory"
)
HOST_OOM_300 = """\
9471.83 sec, 5401 / 8421 batches, 154 units, nspks: 7777541.0000, mu: 17.1072, nst0: 2342 
9498.16 sec, 5501 / 8421 batches, 154 units, nspks: 7872951.0000, mu: 17.1072, nst0: 7256 
Out of memory. Type HELP MEMORY for your options.

Error in trackAndSort (line 185)
        fWpc(:,:,2*size(st3,1)) = 0;
"""
HOST_OOM_IBL31 = 'Out of memory. Type "help memory" for your options.\nError in learnAndSolve8b (line 244)'
MEX_342 = """\
Invalid MEX-file '/mnt/Carlo/Kilosort3/CUDA/spikedetector3.mexa64':
/mnt/Carlo/Kilosort3/CUDA/spikedetector3.mexa64: failed to map segment from shared object Failed to map segment from shared object
"""
MEX_UNRECOGNISED_249 = "Unrecognized function or variable 'spikedetector3'."
MEX_UNDEFINED_SI3204 = (
    "Undefined function 'spikedetector3' for input arguments of type 'gpuArray'."  # SpikeInterface #3204
)
FATBINARY = (
    "fatbinary fatal   : '/tmp/tmpxft_00002b1c_00000000-4_mexMPnu8.compute_35.cubin' is not in 'keyword=value' format"
)
NO_TOOLKIT_245 = "No CUDA toolkit installation could be found. If installed, set MW_NVCC_PATH"
# Kilosort2 issue #22: a real v2.0 log ending in a MATLAB-version incompatibility, not a known signature
UNKNOWN_22 = """\
Time   0s. Determining good channels.. 
found 3473 threshold crossings in 201.17 seconds of data 
found 0 bad channels 
Time   3s. Computing whitening matrix.. 
Getting channel whitening matrix... 
Channel-whitening filters computed. 
Time   4s. Loading raw data and applying filters... 
Time   6s. Finished preprocessing 275 batches. 
Obtained 7 PC waveforms in 0.17 seconds 
time 0.16, pre clustered 1 / 275 batches 
time 0.01, compared 1 / 275 batches 
time 3.55, Re-ordered 275 batches. 
Time   4s. Optimizing templates ...
Conversion to logical from gpuArray is not possible.

Error in median (line 153)
"""
# issue #274: a big recording's kernel-launch failure (plenty of activity)
LAUNCH_274 = """\
Time   0s. Determining good channels.. 
found 142624 threshold crossings in 108.35 seconds of data 
found 94 bad channels 
Time  41s. Computing whitening matrix.. 
Time 1530s. Finished preprocessing 3353 batches. 
time 0.37, pre clustered 1 / 3353 batches 
Error using gpuArray/nan
An unexpected error occurred trying to launch a kernel. The CUDA error was:
invalid configuration argument
"""
# SainsburyWellcomeCentre/aeon_mecha #518: SpikeInterface's master prints the dashes with no newline
AEON_518 = """\
22172.66 sec, 240366 batches, 595495605 spikes
time 544491.95, Shifted up/down 240366 batches.
Time 547056s. Optimizing templates ...
----------------------------------------Error using gpuArray/nan
An unexpected error occurred trying to launch a kernel. The CUDA error was:
invalid configuration argument
"""
ILLEGAL_ADDRESS_107 = (
    "An unexpected error occurred during CUDA execution. The CUDA error was:\nCUDA_ERROR_ILLEGAL_ADDRESS"
)
CUBLAS_SI702 = "Error using  * \nsgemm in CUBLAS failed."
# Kilosort2 v2.0 format strings (get_good_channels, clusterSingleBatches, learnTemplates) on a near-silent recording
FEW_SPIKES = """\
Time   0s. Determining good channels.. 
found 5210 threshold crossings in 120.00 seconds of data 
found 0 bad channels 
Time   9s. Finished preprocessing 37 batches. 
Obtained 7 PC waveforms in 0.21 seconds 
Batch 1 has fewer than Nfilt spikes.
Warning: data batch #1 only had 4 spikes 
time 0.02, pre clustered 1 / 37 batches 
Time   2s. Optimizing templates ...
0.05 sec, 1 / 37 batches, 3 units, nspks: 2.5000, mu: 10.0000, nst0: 2, merges: 0.0000, 0.0000 
----------------------------------------
Error using gpuArray/nan
An unexpected error occurred trying to launch a kernel. The CUDA error was:
invalid configuration argument
"""
SILENT = """\
Time   0s. Determining good channels.. 
found 0 threshold crossings in 60.00 seconds of data 
found 0 bad channels 
----------------------------------------
Index exceeds the number of array elements (0).
"""
ALL_BAD = """\
Recording has 1020 channels
Time   0s. Determining good channels.. 
found 1187 threshold crossings in 62.91 seconds of data 
found 1020 bad channels 
Time   4s. Computing whitening matrix.. 
----------------------------------------
Index exceeds the number of array elements (0).
"""


def classify(tmp_path: Path, log_text: str, exc: BaseException = FAILED, subfolder: str = ""):
    folder = tmp_path / subfolder if subfolder else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kilosort2.log").write_text(log_text)
    return classify_ks2_failure(tmp_path, exc)


@pytest.mark.parametrize("text", [GPU_OOM_506, GPU_EIG_216], ids=["out_of_memory_on_device", "eig_out_of_memory"])
def test_gpu_out_of_memory_is_retryable(tmp_path, text):
    error = classify(tmp_path, text)
    assert isinstance(error, ex.GPUOutOfMemoryError)
    assert error.oom_retryable and error.status == "oom_gpu"
    assert "out of memory" in error.matched_line.lower()
    assert error.log_path == str(tmp_path / "kilosort2.log")


@pytest.mark.parametrize("text", [HOST_OOM_300, HOST_OOM_IBL31], ids=["help_memory", "help_memory_quoted"])
def test_host_out_of_memory(tmp_path, text):
    error = classify(tmp_path, text)
    assert isinstance(error, ex.HostMemoryError)
    assert error.status == "oom_memoryerror"


def test_disk_full_while_writing_the_whitened_copy(tmp_path):
    target = tmp_path / "scratch"
    target.mkdir()
    line = f"Error writing batch 1203 to {target / 'temp_wh.dat'}. Check available disk space."
    error = classify(tmp_path, "Time  41s. Loading raw data and applying filters... \n" + line + "\n")
    assert isinstance(error, ex.DiskExhaustionError)
    assert error.status == "disk_exhausted"
    assert error.folder == str(target)
    assert error.free_gb_at_trip > 0
    assert error.matched_line == line


def test_disk_full_inside_the_container_is_measured_on_the_host(tmp_path):
    line = "----------------------------------------Error writing batch 7 to /spikelab/output/temp_wh.dat. Check available disk space."
    error = classify(tmp_path, line)
    assert isinstance(error, ex.DiskExhaustionError)
    assert error.folder == str(tmp_path) and error.free_gb_at_trip > 0
    error = classify(tmp_path, "OSError: [Errno 28] No space left on device")
    assert isinstance(error, ex.DiskExhaustionError) and error.folder == str(tmp_path)


@pytest.mark.parametrize(
    "text",
    [MEX_342, MEX_UNRECOGNISED_249, MEX_UNDEFINED_SI3204, FATBINARY, NO_TOOLKIT_245],
    ids=["invalid_mex", "unrecognised", "undefined_for_gpuarray", "fatbinary", "no_toolkit"],
)
def test_mex_and_toolchain_problems_are_environment_failures(tmp_path, text):
    error = classify(tmp_path, text)
    assert isinstance(error, ex.SorterDependencyError)
    assert error.family == "environment"
    assert error.dependency == "Kilosort2 CUDA MEX files"
    assert "mexGPUall" in error.remedy


def test_missing_npy_matlab_names_the_package(tmp_path):
    error = classify(tmp_path, "Saving results to Phy  \nUndefined function or variable 'writeNPY'.")
    assert isinstance(error, ex.SorterDependencyError)
    assert error.dependency == "npy-matlab"


def test_all_channels_bad(tmp_path):
    error = classify(tmp_path, ALL_BAD)
    assert isinstance(error, ex.NoGoodChannelsError)
    assert (error.total_channels, error.bad_channels) == (1020, 1020)
    assert error.status == "not_sortable"


def test_all_channels_bad_counted_from_the_channel_map(tmp_path):
    import numpy as np

    from spikelab_ks2.script import write_channel_map

    write_channel_map(tmp_path, np.zeros((32, 2)), 20000.0)
    text = "\n".join(line for line in ALL_BAD.splitlines() if not line.startswith("Recording has"))
    error = classify(tmp_path, text.replace("1020 bad", "32 bad"))
    assert isinstance(error, ex.NoGoodChannelsError)
    assert (error.total_channels, error.bad_channels) == (32, 32)


def test_few_spikes_carry_the_parsed_counts(tmp_path):
    error = classify(tmp_path, FEW_SPIKES)
    assert isinstance(error, ex.InsufficientActivityError)
    assert (error.threshold_crossings, error.units_at_failure, error.nspks_at_failure) == (5210, 3, 2.5)
    assert "invalid configuration argument" in error.matched_line
    clone = pickle.loads(pickle.dumps(error))
    assert clone.evidence() == error.evidence()


def test_zero_threshold_crossings(tmp_path):
    error = classify(tmp_path, SILENT)
    assert isinstance(error, ex.InsufficientActivityError)
    assert error.threshold_crossings == 0 and error.units_at_failure is None


@pytest.mark.parametrize(
    "text", [LAUNCH_274, AEON_518, ILLEGAL_ADDRESS_107, CUBLAS_SI702], ids=["ks2_274", "aeon_518", "illegal_address", "cublas"]
)
def test_cuda_faults_on_busy_recordings_are_not_called_silent(tmp_path, text):
    error = classify(tmp_path, text)
    assert type(error) is ex.ResourceSortFailure
    assert error.family == "resource" and not error.oom_retryable


def test_unknown_failure_is_not_classified(tmp_path):
    assert classify(tmp_path, UNKNOWN_22) is None
    assert classify_ks2_failure(tmp_path / "missing", KeyError("unrelated")) is None


def test_only_the_latest_attempt_is_read(tmp_path):
    text = (
        f"{RUN_MARKER} 2026-01-01 10:00:00 (MATLAB) ==\n{GPU_OOM_506}"
        f"{RUN_MARKER} 2026-01-01 10:05:00 (MATLAB) ==\n{UNKNOWN_22}"
    )
    assert classify(tmp_path, text) is None, "an earlier attempt's OOM must not label a new failure"


def test_log_in_sorter_output_subfolder_and_exception_chain(tmp_path):
    assert isinstance(classify(tmp_path, HOST_OOM_300, subfolder="sorter_output"), ex.HostMemoryError)
    carried = ex.SorterProcessError("kilosort2 failed", sorter="kilosort2", exit_code=1, traceback_text=GPU_OOM_506)
    assert isinstance(classify_ks2_failure(tmp_path / "nowhere", carried), ex.GPUOutOfMemoryError)


def test_public_import_and_plugin_chain(tmp_path):
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting._classifier import classify_ks2_failure as public

    assert public is classify_ks2_failure
    docker_down = RuntimeError(
        "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"
    )
    # Finding 10: called directly it missed what the Kilosort4 classifier catches.
    assert isinstance(classify_ks2_failure(tmp_path, docker_down), ex.DockerEnvironmentError)
    generic = get_plugin_manager().classify_failure("kilosort2", tmp_path, docker_down, "")
    assert isinstance(generic, ex.DockerEnvironmentError)


def test_error_raised_by_the_runner_survives_the_child_wrapper(tmp_path):
    original = ex.DockerEnvironmentError(
        "Docker failed while pulling the image", sorter="kilosort2", reason="image_pull_failed", image="lab/ks2:v1"
    )
    wrapper = ex.SorterProcessError("kilosort2 failed: DockerEnvironmentError", sorter="kilosort2", exit_code=1)
    wrapper.__cause__ = original
    assert classify(tmp_path, "docker pull lab/ks2:v1: v1 Pulling from lab/ks2\n", wrapper) is original
