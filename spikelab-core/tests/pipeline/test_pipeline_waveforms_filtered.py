"""Templates of pipeline output come from band-passed traces, not from the raw file's DC level."""

from __future__ import annotations

import numpy as np


def test_maxwell_templates_are_spikes_not_the_dc_level(tmp_path):
    from spikelab.demo import write_demo_recording
    from spikelab.spike_sorting import sort_recording

    write_demo_recording(tmp_path / "s.raw.h5", num_channels=16, num_units=6, firing_rate_hz=20, duration_s=8)
    sd = sort_recording([tmp_path / "s.raw.h5"], sorter="fake", curate=False, progress_bar=False)[0]
    assert sd.N > 0
    for attributes in sd.neuron_attributes:
        template = attributes["template"]
        primary = template[attributes["channel"]]
        # a Maxwell file sits ~3,200 µV above zero; band-passed spikes are tens to hundreds of µV
        assert np.abs(template).max() < 1000.0
        assert np.ptp(primary) == np.ptp(template, axis=1).max()
        assert abs(float(np.median(template))) < 20.0
