"""Core's backend conformance suite, run against the kilosort4 backend."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ks4_helpers import CUDA_OOM

from spikelab.testing.conformance import BackendConformance

DATA = Path(__file__).with_name("data")


class TestKilosort4Conformance(BackendConformance):
    backend_name = "kilosort4"
    failure_samples = {
        (DATA / "ks4_no_threshold_crossings.log").read_text(): "not_sortable",
        "ValueError: No spikes detected, cannot continue sorting.\n": "not_sortable",
        "ValueError: n_samples=5 should be >= n_clusters=6.\n": "not_sortable",
        CUDA_OOM: "oom_gpu",
        "ValueError: Unrecognized settings: ['batchsize']\n": "environment",
    }
    # The tiny end-to-end sort goes through sort_recording, once the pipeline provides it.
    can_run_here = importlib.util.find_spec("spikelab.spike_sorting.api") is not None
    run_overrides = {"nblocks": 0}
