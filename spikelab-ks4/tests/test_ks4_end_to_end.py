"""One real end-to-end sort through the public API: sort_recording(sorter="kilosort4")."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ks4_helpers import GT_KWARGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("spikelab.spike_sorting.api") is None,
        reason="spikelab.spike_sorting.api (sort_recording) is not available in this spikelab-core",
    ),
]


def test_sort_recording_finds_ground_truth_units(tmp_path):
    from spikeinterface.comparison import compare_sorter_to_ground_truth
    from spikeinterface.core import generate_ground_truth_recording

    from spikelab.spike_sorting import run_recordings

    recording, gt_sorting = generate_ground_truth_recording(**GT_KWARGS)
    results = run_recordings(
        [recording],
        sorter="kilosort4",
        nblocks=0,
        curate=False,
        create_figures=False,
        intermediate_folders=[tmp_path / "inter"],
        results_folders=[tmp_path / "results"],
    )
    spike_data = results[0].spike_data
    assert len(spike_data) == 1 and results[0].status == "success"
    sorting = spike_data[0].to_spikeinterface(fs_Hz=recording.get_sampling_frequency())
    comparison = compare_sorter_to_ground_truth(gt_sorting, sorting, exhaustive_gt=True)
    assert comparison.count_well_detected_units(0.8) >= gt_sorting.get_num_units() // 2, (
        comparison.get_performance()
    )
    log_text = Path(results[0].log_path).read_text()  # the sorter log, kept with the results
    assert "units found with good refractory periods" in log_text
    assert log_text.count("Kilosort version 4.1.") == 1  # each Kilosort line once, not echoed
