"""A sorted recording to export: ground-truth units with templates, positions and metrics."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def sorted_recording(tmp_path_factory):
    import spikeinterface.core as sc

    from spikelab import SpikeData
    from spikelab.testing import tiny_recording

    folder = tmp_path_factory.mktemp("export")
    recording, truth = tiny_recording(seed=1, duration_s=6.0, num_units=5)
    recording = recording.save(folder=folder / "rec", format="binary", verbose=False)
    analyzer = sc.create_sorting_analyzer(truth, recording, sparse=False, seed=0)
    analyzer.compute(["random_spikes", "templates", "noise_levels"], progress_bar=False)
    templates = analyzer.get_extension("templates").get_data()  # (units, samples, channels)
    noise = analyzer.get_extension("noise_levels").get_data()
    sd = SpikeData.from_spikeinterface(truth, recording)
    for index, attributes in enumerate(sd.neuron_attributes):
        template = templates[index].T
        channel = int(np.argmax(np.ptp(template, axis=1)))
        attributes.update(
            template=template,
            channel=channel,
            avg_waveform=template[channel],
            snr=float(np.abs(template[channel]).max() / noise[channel]),
        )
    sd_curated, results = sd.curate(min_spikes=5)
    sd.metadata["curation_history"] = sd.build_curation_history(sd_original=sd, sd_curated=sd_curated, results=results)
    return sd, recording
