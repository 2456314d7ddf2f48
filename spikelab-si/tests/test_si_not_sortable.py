"""A real tridesclous2 failure through the pipeline: pure noise is classified in the canary."""

from __future__ import annotations

import pytest

from spikelab.plugin import InsufficientActivityError

pytestmark = pytest.mark.slow


def _noise_recording():
    import numpy as np
    from spikeinterface.core import NumpyRecording, generate_recording

    probe_source = generate_recording(num_channels=8, durations=[1.0], sampling_frequency=20000.0)
    traces = np.random.default_rng(0).normal(0, 5, (60000, 8)).astype("float32")
    recording = NumpyRecording([traces], sampling_frequency=20000.0)
    recording.set_probe(probe_source.get_probe(), in_place=True)
    return recording


def test_pure_noise_stops_in_the_canary_as_not_sortable(tmp_path):
    from spikelab.spike_sorting import sort_recording

    with pytest.raises(InsufficientActivityError) as raised:
        sort_recording(
            [_noise_recording()],
            sorter="tridesclous2",
            n_jobs=1,
            canary_first_n_s=1.0,
            create_figures=False,
            intermediate_folders=[tmp_path / "inter"],
            results_folders=[tmp_path / "results"],
        )
    assert raised.value.stage == "canary"
    assert raised.value.sorter == "tridesclous2"
    assert raised.value.matched_line == "detect_peaks(): 0 peaks found"  # the sorter's own print
    assert raised.value.results[0].status == "not_sortable"
    assert "sort" not in raised.value.results[0].stage_times_s  # the full sort never started
