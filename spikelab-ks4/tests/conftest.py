"""Shared fixtures: a small ground-truth recording and ONE real Kilosort4 CPU run on it.

The reference run (32 channels x 10 s, 16 units at 50 Hz, ``nblocks=0``: the smallest recording
on which Kilosort4 still finds most units) is reused by the runner, reader and Docker tests; the
fake Docker client replays its log and copies its output files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ks4_helpers import GT_KWARGS, make_job

from spikelab.testing import kit_plugins

pytest_plugins = kit_plugins()  # the test kit is opt-in

#: Optional folder that keeps the ground truth and the reference sort between pytest sessions
#: (for development: a Kilosort4 CPU run takes 20 s on an idle 2-core machine, minutes on a busy one).
CACHE_ENV = "SPIKELAB_KS4_TEST_CACHE"


def _cache_or(tmp_path_factory, name: str) -> Path:
    cache = os.environ.get(CACHE_ENV)
    if cache:
        return Path(cache) / name
    return tmp_path_factory.mktemp(f"ks4_{name}") / name


@pytest.fixture(scope="session")
def ground_truth(tmp_path_factory):
    """``(recording_folder, gt_sorting)``: the generated recording saved as a binary folder."""
    from spikeinterface.core import generate_ground_truth_recording

    recording, sorting = generate_ground_truth_recording(**GT_KWARGS)
    folder = _cache_or(tmp_path_factory, "recording")
    if not (folder / "binary.json").is_file():
        recording.save(folder=folder, format="binary", overwrite=True)
    return folder, sorting


@pytest.fixture(scope="session")
def reference_sort(ground_truth, tmp_path_factory):
    """The sorter folder of one real Kilosort4 CPU run (``run(job)`` in this process)."""
    from spikelab_ks4.runner import run

    recording_folder, _ = ground_truth
    job = make_job(recording_folder, _cache_or(tmp_path_factory, "sorter"), nblocks=0)
    if not (job.sorter_folder / "spikelab_run.json").is_file():
        job.log_path.unlink(missing_ok=True)
        run(job)
    return job.sorter_folder


@pytest.fixture(scope="session")
def noise_recording(tmp_path_factory):
    """A 32-channel, 10 s recording of Gaussian noise only: Kilosort4 finds no crossing in it."""
    import numpy as np
    from spikeinterface.core import NumpyRecording, generate_recording

    probe_source = generate_recording(num_channels=32, durations=[1.0], sampling_frequency=30000.0)
    traces = np.random.default_rng(0).normal(0, 5, (300000, 32)).astype("float32")
    recording = NumpyRecording([traces], sampling_frequency=30000.0)
    recording.set_probe(probe_source.get_probe(), in_place=True)
    folder = tmp_path_factory.mktemp("ks4_noise") / "recording"
    recording.save(folder=folder, format="binary")
    return folder
