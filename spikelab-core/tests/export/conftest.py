"""Sorted recordings to export: ground-truth units with templates, positions and metrics.

``curated_sort`` has the unit ids a curated sort has (0, 1, 2, 6: not 0..N-1), so a value filed
under the wrong id shows.
"""

from __future__ import annotations

import numpy as np
import pytest

CURATED_IDS = [0, 1, 2, 6]


def _spikedata(truth, recording, templates, noise, unit_ids):
    from spikelab import SpikeData

    sd = SpikeData.from_spikeinterface(truth, recording)
    for index, attributes in enumerate(sd.neuron_attributes):
        template = templates[index].T
        channel = int(np.argmax(np.ptp(template, axis=1)))
        attributes.update(
            unit_id=unit_ids[index],
            template=template,
            channel=channel,
            avg_waveform=template[channel],
            snr=float(np.abs(template[channel]).max() / noise[channel]),
            # a per-unit position distinct from the channel's, so a swapped unit shows
            x=float(sd.metadata["channel_locations"][channel][0] + 3.0 + index),
            y=float(sd.metadata["channel_locations"][channel][1] - 2.0 - index),
        )
    return sd


@pytest.fixture(scope="module")
def sorted_recording(tmp_path_factory):
    """``(sd, recording)``: 5 units with ids 0..4 and a curation history."""
    import spikeinterface.core as sc

    from spikelab.testing import tiny_recording

    folder = tmp_path_factory.mktemp("export")
    recording, truth = tiny_recording(seed=1, duration_s=6.0, num_units=5)
    recording = recording.save(folder=folder / "rec", format="binary", verbose=False)
    analyzer = sc.create_sorting_analyzer(truth, recording, sparse=False, seed=0)
    analyzer.compute(["random_spikes", "templates", "noise_levels"], progress_bar=False)
    templates = analyzer.get_extension("templates").get_data()  # (units, samples, channels)
    noise = analyzer.get_extension("noise_levels").get_data()
    sd = _spikedata(truth, recording, templates, noise, list(range(5)))
    sd_curated, results = sd.curate(min_spikes=5)
    sd.metadata["curation_history"] = sd.build_curation_history(sd_original=sd, sd_curated=sd_curated, results=results)
    return sd, recording


@pytest.fixture(scope="module")
def curated_sort(sorted_recording):
    """``(sd, recording)``: four units with the ids a curated sort has, ``CURATED_IDS``."""
    sd, recording = sorted_recording
    curated = sd.subset([0, 1, 2, 4])
    for attributes, unit_id in zip(curated.neuron_attributes, CURATED_IDS):
        attributes["unit_id"] = unit_id
    return curated, recording
