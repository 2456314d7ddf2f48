"""Shared data for the SpikeData tests: a SpikeInterface ground-truth recording and builders."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

GT_RATES_HZ = [2.0, 5.0, 8.0, 12.0, 15.0, 20.0, 25.0, 30.0]


@pytest.fixture(scope="session")
def ground_truth():
    """A 30 s, 16-channel, 8-unit SpikeInterface ground-truth recording, materialised in memory.

    The refractory period is 0.5 ms so that units have some ISIs below 1.5 ms.
    """
    import spikeinterface.core as sc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recording, sorting = sc.generate_ground_truth_recording(
            durations=[30.0],
            num_channels=16,
            num_units=len(GT_RATES_HZ),
            generate_sorting_kwargs=dict(firing_rates=np.array(GT_RATES_HZ), refractory_period_ms=0.5),
            seed=42,
        )
        traces = recording.get_traces()
        memory = sc.NumpyRecording(traces, recording.get_sampling_frequency(), channel_ids=recording.get_channel_ids())
        memory.set_probe(recording.get_probe(), in_place=True)
    return memory, sorting


@pytest.fixture(scope="session")
def gt_spikedata(ground_truth):
    """The ground truth as a SpikeData with its raw traces attached (not filtered)."""
    from spikelab import SpikeData

    recording, sorting = ground_truth
    return SpikeData.from_spikeinterface(sorting, recording, attach_raw_data=True)
