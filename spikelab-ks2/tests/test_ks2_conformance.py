"""Core's backend conformance suite, with Kilosort2's real failure text and the fake MATLAB."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab.testing.conformance import BackendConformance


def _has_sort_recording() -> bool:
    try:
        from spikelab.spike_sorting import sort_recording  # noqa: F401
    except ImportError:
        return False
    return True


class TestKilosort2Conformance(BackendConformance):
    backend_name = "kilosort2"
    can_run_here = _has_sort_recording()  # MATLAB is the fake on PATH, set up below
    run_overrides = {"n_jobs": 1, "create_figures": False}
    failure_samples = {
        "Error using  * \nOut of memory on device. To view more detail about available memory on the GPU, "
        "use 'gpuDevice()'. If the problem persists, reset the GPU by calling\n'gpuDevice(1)'.\n": "oom_gpu",
        "Time  41s. Loading raw data and applying filters... \n"
        "Error writing batch 12 to /tmp/temp_wh.dat. Check available disk space.\n": "disk_exhausted",
        "Invalid MEX-file '/opt/Kilosort2/CUDA/mexMPnu8.mexa64':\n": "environment",
        "Recording has 64 channels\nfound 9 threshold crossings in 60.00 seconds of data \n"
        "found 64 bad channels \n": "not_sortable",
        "found 5210 threshold crossings in 120.00 seconds of data \n"
        "0.05 sec, 1 / 37 batches, 3 units, nspks: 2.5000, mu: 10.0000, nst0: 2, merges: 0.0000, 0.0000 \n"
        "----------------------------------------Error using gpuArray/nan\nAn unexpected error occurred "
        "trying to launch a kernel. The CUDA error was:\ninvalid configuration argument\n": "not_sortable",
        "Out of memory. Type HELP MEMORY for your options.\n": "oom_memoryerror",
    }

    @pytest.fixture(autouse=True)
    def _fake_matlab_for_tiny_recording(self, request, tmp_path, monkeypatch, kilosort_tree):
        """The end-to-end test sorts ``tiny_recording(seed=3)``: MATLAB is faked with that truth."""
        if request.node.name != "test_sorts_tiny_recording_end_to_end" or not self.can_run_here:
            return
        from spikelab.testing.recordings import tiny_recording

        _, sorting = tiny_recording(seed=3)
        vector = sorting.to_spike_vector()
        truth = tmp_path / "truth_seed3.npz"
        np.savez(truth, samples=vector["sample_index"], labels=vector["unit_index"])
        request.getfixturevalue("fake_matlab")
        monkeypatch.setenv("SPIKELAB_FAKE_KS2_GT", str(truth))
        monkeypatch.setenv("KILOSORT2_PATH", str(kilosort_tree))
