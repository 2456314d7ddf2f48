"""The guide's "Unit Curation", "Visualising sorted units" and "Sorting Concatenated Recordings"
examples, run verbatim (each code block below is copied from spike_sorting_guide.rst)."""

from __future__ import annotations

import json
import re
import textwrap

import numpy as np
import pytest

from spikelab import SpikeData

INDIVIDUAL_CRITERIA = '''
# Remove units with fewer than 50 spikes
sd_curated, res = sd.curate_by_min_spikes(min_spikes=50)
# Remove units below 0.1 Hz firing rate
sd_curated, res = sd.curate_by_firing_rate(min_rate_hz=0.1)
# Remove units with > 1% ISI violations
sd_curated, res = sd.curate_by_isi_violations(
    max_violation=1.0,
    threshold_ms=1.5,
)
# Remove units with low SNR
sd_curated, res = sd.curate_by_snr(min_snr=5.0)
# Remove units with inconsistent waveforms
sd_curated, res = sd.curate_by_std_norm(max_std_norm=1.0)
'''

WAVEFORM_METRICS = '''
sd, metrics = sd.compute_waveform_metrics()
sd_curated, res = sd.curate_by_snr(min_snr=5.0)
'''

MERGE = '''
sd_merged, res = sd.curate_by_merge_duplicates(
    dist_um=24.8,  # max inter-electrode distance in um
    cosine_threshold=0.5,  # min waveform similarity
    max_isi_increase=0.04,  # reject merge if ISI violations rise too much
)
n_absorbed = (~res["passed"]).sum()
print(f"Merged {n_absorbed} duplicate units")
'''

BATCH = '''
sd_curated, results = sd.curate(
    min_spikes=50,
    min_rate_hz=0.1,
    isi_max=1.0,
    min_snr=5.0,
)
# results contains per-criterion entries
for criterion, res in results.items():
    n_removed = (~res["passed"]).sum()
    print(f"{criterion}: removed {n_removed} units")
'''

HISTORY = '''
history = sd.build_curation_history(
    sd_original=sd_raw,
    sd_curated=sd_curated,
    results=results,
)
'''

SPLIT_EPOCHS = '''
epoch_sds = sd.split_epochs()
for i, epoch_sd in enumerate(epoch_sds):
    print(f"Epoch {i}: {epoch_sd.N} units, {epoch_sd.length:.0f} ms")
'''


def run(block: str, namespace: dict) -> dict:
    exec(compile(textwrap.dedent(block), "<guide>", "exec"), namespace)
    return namespace


def test_unit_curation_on_a_hand_built_spikedata_with_raw_data(gt_spikedata, capsys):
    ns = {"sd": gt_spikedata, "sd_raw": gt_spikedata}
    run(INDIVIDUAL_CRITERIA, ns)
    assert ns["res"]["metric"].shape == (gt_spikedata.N,)
    run(WAVEFORM_METRICS, ns)
    assert ns["metrics"]["snr"].shape == (gt_spikedata.N,)
    run(MERGE, ns)
    run(BATCH, ns)
    run(HISTORY, ns)
    out = capsys.readouterr().out
    # The ground-truth units are distinct neurons: none of them is a duplicate.
    assert "Merged 0 duplicate units" in out
    assert re.findall(r"(\w+): removed \d+ units", out) == ["spike_count", "firing_rate", "isi_violation", "snr"]
    history = json.loads(json.dumps(ns["history"]))
    assert history["curated_final"] == ns["sd_curated"].unit_ids.tolist()
    # 1.0 means 1 %: units of the ground truth firing at 20-30 Hz with a 0.5 ms refractory period
    # exceed 1 % violations and are removed.
    isi = ns["results"]["isi_violation"]
    assert np.array_equal(isi["passed"], isi["metric"] <= 1.0) and not isi["passed"].all()


def _pipeline_output(gt_spikedata):
    """What the sorting pipeline returns: per-unit channel, x/y, templates, snr, std_norm."""
    sd, _ = gt_spikedata.compute_waveform_metrics()
    locations = sd.metadata["channel_locations"]
    attrs = []
    for unit in sd.neuron_attributes:
        x, y = locations[unit["channel"]]
        attrs.append({key: unit[key] for key in ("unit_id", "channel", "template", "avg_waveform", "snr", "std_norm")}
                     | {"x": x, "y": y})
    return SpikeData(sd.train, length=sd.length, neuron_attributes=attrs,
                     metadata={"fs_Hz": sd.fs_Hz, "channel_locations": locations,
                               "rec_chunks_ms": [(0.0, 10_000.0), (10_000.0, sd.length)]})


def test_unit_curation_and_merge_on_pipeline_output_without_raw_data(gt_spikedata, capsys):
    sd = _pipeline_output(gt_spikedata)
    ns = run(INDIVIDUAL_CRITERIA, {"sd": sd, "sd_raw": sd})
    run(MERGE, ns)
    run(BATCH, ns)
    run(HISTORY, ns)
    assert "duplicate units" in capsys.readouterr().out
    assert set(ns["history"]["curations"]) == {"spike_count", "firing_rate", "isi_violation", "snr"}


def test_split_epochs_example(gt_spikedata, capsys):
    sd = _pipeline_output(gt_spikedata)
    run(SPLIT_EPOCHS, {"sd": sd})
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"Epoch 0: {sd.N} units, 10000 ms", f"Epoch 1: {sd.N} units, 20000 ms"]


def test_visualising_sorted_units_names_exist_and_draw(gt_spikedata):
    from spikelab.spikedata.plot_utils import plot_unit_footprints

    sd = _pipeline_output(gt_spikedata)
    fig = sd.plot_unit_footprints()
    assert sum(a.get_visible() for a in fig.axes) == sd.N
    unit = sd.neuron_attributes[0]
    fig = plot_unit_footprints(sd.metadata["channel_locations"], [unit["template"]], [unit["channel"]])
    assert fig.axes[0].get_title() == "Unit 0"


@pytest.mark.parametrize("block", [INDIVIDUAL_CRITERIA, BATCH])
def test_guide_blocks_fail_clearly_without_waveform_data(block):
    sd = SpikeData([np.arange(100) * 10.0 + 1.0], length=1000.0)
    with pytest.raises(Exception, match="compute_waveform_metrics"):
        run(block, {"sd": sd})
