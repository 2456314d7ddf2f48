"""A sorted-and-curated tiny recording to report on."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def sorted_tiny(tmp_path_factory):
    """``(config, sd_raw, sd_curated, results, history)`` from ground truth, curated at SNR 12."""
    import spikeinterface.preprocessing as spre

    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.waveforms import build_spikedata
    from spikelab.testing.recordings import tiny_recording

    recording, sorting = tiny_recording(seed=1, num_units=8, duration_s=8.0)
    filtered = spre.bandpass_filter(recording, freq_min=300, freq_max=6000)
    config = SortingPipelineConfig().override(snr_min=12.0)
    sd = build_spikedata(filtered, sorting, config, tmp_path_factory.mktemp("wf"), progress_bar=False)
    params = {"min_spikes": 50, "min_rate_hz": 0.05, "isi_max": 1.0, "min_snr": 12.0, "max_std_norm": 1.0}
    curated, results = sd.curate(**params)
    history = type(sd).build_curation_history(sd, curated, results, parameters=params)
    return config, sd, curated, results, history
