"""build_spikedata recovers known templates and metrics, streams correctly, and feeds curation."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.spike_sorting.waveforms import build_spikedata

FS = 20000.0


def _config(**flat):
    return SortingPipelineConfig().override(**flat)


def test_templates_metrics_and_positions_match_the_truth(known, tmp_path):
    recording, sorting, truth = known
    sd = build_spikedata(recording, sorting, _config(), tmp_path / "wf", progress_bar=False)
    assert sd.N == 2 and sd.unit_ids.tolist() == [7, 9]
    assert sd.metadata["fs_Hz"] == FS
    np.testing.assert_allclose(sd.length, 20000.0)
    for unit, (uid, waveform) in zip(sd.neuron_attributes, truth.items()):
        assert unit["unit_id"] == uid
        assert unit["template"].shape == (8, 60)
        # mean of 160 spikes in 5 µV noise: within ~4 standard errors of the truth
        np.testing.assert_allclose(unit["template"], waveform, atol=4 * 5 / np.sqrt(160) + 0.5)
        primary = int(np.argmax(np.abs(waveform).max(axis=1)))
        assert unit["channel"] == primary
        assert (unit["x"], unit["y"]) == (0.0, 20.0 * primary)
        np.testing.assert_allclose(unit["avg_waveform"], unit["template"][primary])
        amplitude = np.abs(waveform[primary]).max()
        assert unit["snr"] == pytest.approx(amplitude / 5.0, rel=0.1)
        assert unit["std_norm"] == pytest.approx(5.0 / amplitude, rel=0.25)
        assert unit["n_waveform_spikes"] == 160
    assert len(sd.train[0]) == 160 and sd.train[0][0] == pytest.approx(sorting.get_unit_spike_train(7)[0] / 20.0)


def test_result_does_not_depend_on_the_chunk_length(known, tmp_path):
    recording, sorting, _ = known
    small = build_spikedata(recording, sorting, _config(chunk_duration_s=0.013), tmp_path / "a", progress_bar=False)
    large = build_spikedata(recording, sorting, _config(chunk_duration_s=5.0), tmp_path / "b", progress_bar=False)
    for a, b in zip(small.neuron_attributes, large.neuron_attributes):
        np.testing.assert_allclose(a["template"], b["template"], rtol=1e-5, atol=1e-4)
        assert a["snr"] == pytest.approx(b["snr"]) and a["std_norm"] == pytest.approx(b["std_norm"])
    np.testing.assert_array_equal(small.raw_data, large.raw_data)


def test_max_waveforms_per_unit_is_respected(known, tmp_path):
    recording, sorting, _ = known
    sd = build_spikedata(recording, sorting, _config(max_waveforms_per_unit=25), tmp_path / "wf", progress_bar=False)
    assert [u["n_waveform_spikes"] for u in sd.neuron_attributes] == [25, 25]
    assert [len(t) for t in sd.train] == [160, 160]  # trains keep every spike


def test_raw_snippets_feed_compute_waveform_metrics(known, tmp_path):
    recording, sorting, _ = known
    sd = build_spikedata(recording, sorting, _config(), tmp_path / "wf", progress_bar=False)
    assert sd.raw_data.shape[0] == 8 and sd.metadata["raw_data_filtered"] is True
    assert np.all(np.diff(sd.raw_time) > 0)
    recomputed, metrics = sd.compute_waveform_metrics()
    assert [u["channel"] for u in recomputed.neuron_attributes] == [u["channel"] for u in sd.neuron_attributes]
    for a, b in zip(recomputed.neuron_attributes, sd.neuron_attributes):
        np.testing.assert_allclose(a["template"], b["template"], atol=3.0)


def test_curation_merge_and_footprints_work_on_the_output(known, tmp_path):
    from spikeinterface.core import NumpySorting

    from spikelab.spikedata.plot_utils import plot_sd_footprints

    recording, sorting, _ = known
    # unit 8 is a copy of unit 7 shifted by one sample: a duplicate the merge must absorb
    frames = sorting.to_spike_vector()
    spikes7 = sorting.get_unit_spike_train(7)
    dup = NumpySorting.from_samples_and_labels(
        [np.concatenate([frames["sample_index"], spikes7[::2] + 1])],
        [np.concatenate([sorting.unit_ids[frames["unit_index"]], np.full(spikes7[::2].size, 8)])], FS,
    )
    sd = build_spikedata(recording, dup, _config(), tmp_path / "wf", progress_bar=False)
    merged, result = sd.curate_by_merge_duplicates(dist_um=24.8)
    assert merged.N == 2 and sorted(merged.unit_ids.tolist()) == [7, 9]
    curated, results = sd.curate(min_snr=15.0)
    assert sorted(curated.unit_ids.tolist()) == [7, 8]  # unit 9 peaks at 60 µV: snr ~12
    fig = plot_sd_footprints(sd)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3


def test_epoch_templates_follow_each_file(tmp_path, make_known):
    recording, sorting, truth = make_known(duration_s=20.0, scale_per_second=lambda t: 1.0 if t < 8 else 2.0)
    bounds = [(0.0, 8000.0), (8000.0, 20000.0)]
    sd = build_spikedata(recording, sorting, _config(), tmp_path / "wf", rec_chunks_ms=bounds,
                         rec_chunk_names=["a", "b"], progress_bar=False)
    assert sd.metadata["rec_chunks_ms"] == bounds and sd.metadata["rec_chunk_names"] == ["a", "b"]
    unit = sd.neuron_attributes[0]
    first, second = unit["epoch_templates"]
    np.testing.assert_allclose(first[2].min(), truth[7][2].min(), rtol=0.1)
    np.testing.assert_allclose(second[2].min(), 2 * truth[7][2].min(), rtol=0.1)
    epochs = sd.split_epochs()
    np.testing.assert_allclose(epochs[1].neuron_attributes[0]["template"], second)


def test_unit_without_spikes_gets_null_metrics(known, tmp_path):
    from spikeinterface.core import NumpySorting

    recording, sorting, _ = known
    trains = {uid: sorting.get_unit_spike_train(uid) for uid in (7, 9)}
    with_empty = NumpySorting.from_unit_dict([{**trains, 11: np.array([], dtype=np.int64)}], FS)
    sd = build_spikedata(recording, with_empty, _config(), tmp_path / "wf", progress_bar=False)
    empty_unit = sd.neuron_attributes[2]
    assert empty_unit["unit_id"] == 11 and empty_unit["snr"] == 0.0 and np.isinf(empty_unit["std_norm"])
    assert len(sd.train[2]) == 0


def test_rate_mismatch_is_input_error(known, tmp_path):
    from spikeinterface.core import NumpySorting

    from spikelab.errors import InputError

    recording, _, _ = known
    other = NumpySorting.from_unit_dict([{0: np.array([100, 200])}], 30000.0)
    with pytest.raises(InputError, match="Hz"):
        build_spikedata(recording, other, _config(), tmp_path / "wf", progress_bar=False)


def test_spikes_past_the_end_are_dropped_not_fatal(known, tmp_path):
    from spikeinterface.core import NumpySorting

    recording, sorting, _ = known
    n = recording.get_num_samples()
    trains = {7: np.concatenate([sorting.get_unit_spike_train(7), [n + 3]]), 9: sorting.get_unit_spike_train(9)}
    sd = build_spikedata(recording, NumpySorting.from_unit_dict([trains], FS), _config(), tmp_path, progress_bar=False)
    assert len(sd.train[0]) == 160 and sd.train[0].max() <= sd.length


def test_raw_maxwell_traces_are_band_passed_first(tmp_path):
    """A sorter fed raw traces (Kilosort4) must not leave the ~3 mV DC offset in the templates."""
    from spikeinterface.core import NumpySorting

    from spikelab.spike_sorting.io import open_recording
    from spikelab.testing import maxwell as mxw

    rng = np.random.default_rng(0)
    traces = mxw.synthetic_traces(8, 40000, seed=1).astype(np.int32)
    frames = np.arange(500, 39000, 400)
    t = np.arange(60) - 20
    spike = np.rint(-30 * np.exp(-0.5 * (t / 3.0) ** 2)).astype(np.int32)  # ~190 µV on channel 3
    for f in frames:
        traces[3, f - 20 : f + 40] += spike + rng.integers(-1, 2, 60)
    path = mxw.write_legacy(tmp_path / "raw.raw.h5", traces=traces.astype(np.uint16))
    recording = open_recording(path).recording
    assert not recording.is_filtered()
    sorting = NumpySorting.from_unit_dict([{0: frames}], FS)
    sd = build_spikedata(recording, sorting, _config(), tmp_path / "wf", progress_bar=False)
    unit = sd.neuron_attributes[0]
    assert unit["channel"] == 3 and unit["peak_sign"] == "neg"
    assert 100 < unit["amplitude"] < 250  # not the 3.2 mV offset
    assert abs(float(np.median(unit["template"][0]))) < 5.0
    assert sd.metadata["waveform_bandpass_hz"] == [300.0, 6000.0]


def test_wide_array_templates_are_exact_near_the_unit_and_close_elsewhere(make_known, tmp_path):
    """Channels 60 µm apart: each unit is summed over every spike only within 100 µm of its peak
    channel; farther channels keep the mean of its first 50 spikes, still within noise of the truth."""
    recording, sorting, truth = make_known()
    recording.set_dummy_probe_from_locations(np.column_stack([np.zeros(8), 60.0 * np.arange(8)]))
    sd = build_spikedata(recording, sorting, _config(), tmp_path / "wf", progress_bar=False)
    traces = recording.get_traces()
    for unit, (uid, waveform) in zip(sd.neuron_attributes, truth.items()):
        frames = sorting.get_unit_spike_train(uid)
        dense = traces[frames[:, None] - 20 + np.arange(60)].mean(axis=0).T  # every spike, every channel
        near = np.abs(60.0 * np.arange(8) - 60.0 * unit["channel"]) <= 100.0
        assert 0 < near.sum() < 8
        np.testing.assert_allclose(unit["template"][near], dense[near], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(unit["template"][~near], waveform[~near], atol=4 * 5 / np.sqrt(50) + 0.5)
        assert unit["snr"] == pytest.approx(np.abs(waveform).max() / 5.0, rel=0.1)


def test_a_long_recording_is_read_where_the_samples_are_not_end_to_end(make_known, tmp_path):
    """Every unit draws its 300 spikes from the same randomly ordered 1 s blocks (at most 10 per
    block and round): with 40 units at 20 Hz over 2 minutes, uniformly drawn spikes would fall
    every few milliseconds and make the stage read the whole recording; drawn by blocks they make it
    read about a third, yet each unit's sample spans dozens of seconds from both halves."""
    from spikeinterface.core import NumpyRecording, NumpySorting

    rng = np.random.default_rng(1)
    n = int(120 * FS)
    recording = NumpyRecording([rng.normal(0, 5, (n, 4)).astype(np.float32)], sampling_frequency=FS)
    recording.set_dummy_probe_from_locations(np.column_stack([np.zeros(4), 20.0 * np.arange(4)]))
    recording.annotate(is_filtered=True)
    trains = {u: np.sort(rng.choice(np.arange(100, n - 100), size=2400, replace=False)) for u in range(40)}
    sorting = NumpySorting.from_unit_dict([trains], FS)
    read = []
    original = recording.get_traces

    def counting(*args, **kwargs):
        traces = original(*args, **kwargs)
        read.append(traces.shape[0])
        return traces

    recording.get_traces = counting
    sd = build_spikedata(recording, sorting, _config(), tmp_path / "wf", progress_bar=False)
    assert [u["n_waveform_spikes"] for u in sd.neuron_attributes] == [300] * 40
    assert sum(read) < 0.5 * n
    from spikelab.spike_sorting.waveforms._extract import sample_spikes

    vector = sorting.to_spike_vector()
    sampled = sample_spikes(vector["sample_index"], vector["unit_index"], 40, np.array([0, n]), n, 20, 40, 300, 0,
                            seed=0, block_samples=int(FS))
    for unit in range(40):
        seconds = np.unique(sampled.frames[sampled.groups == unit] // int(FS))
        assert seconds.size >= 30
        assert seconds.min() < 60 <= seconds.max()


def test_templates_from_block_drawn_spikes_match_the_truth(make_known, tmp_path):
    recording, sorting, truth = make_known(duration_s=120.0)  # 960 spikes a unit, 300 drawn
    sd = build_spikedata(recording, sorting, _config(), tmp_path / "wf", progress_bar=False)
    for unit, waveform in zip(sd.neuron_attributes, truth.values()):
        assert unit["n_waveform_spikes"] == 300
        # channels beyond 100 µm of the peak keep the mean of the first 50 spikes
        np.testing.assert_allclose(unit["template"], waveform, atol=4 * 5 / np.sqrt(50) + 0.5)
        assert unit["snr"] == pytest.approx(np.abs(waveform).max() / 5.0, rel=0.1)


def test_the_band_pass_matches_spikeinterface_and_does_not_depend_on_the_reads():
    """The stage's FFT band-pass gives SpikeInterface's zero-phase Butterworth (``bandpass_filter``)
    away from the recording's ends, on raw Maxwell-like traces with a 3 mV offset and slow drift,
    and the same traces whether read at once or in pieces."""
    import spikeinterface.preprocessing as spre
    from spikeinterface.core import NumpyRecording

    from spikelab.spike_sorting.waveforms._bandpass import zero_phase_bandpass

    rng = np.random.default_rng(3)
    n = int(3 * FS)
    t = np.arange(n) / FS
    raw = 3000 + 300 * np.sin(2 * np.pi * 0.7 * t)[:, None] + rng.normal(0, 10, (n, 70))
    raw[20000:20060, 5] -= 150 * np.exp(-0.5 * ((np.arange(60) - 20) / 3.0) ** 2)  # a spike-like dip
    recording = NumpyRecording([raw.astype(np.float32)], sampling_frequency=FS)
    ours = zero_phase_bandpass(recording, 300.0, 6000.0)
    theirs = spre.bandpass_filter(recording, freq_min=300.0, freq_max=6000.0, dtype="float32")
    assert ours.is_filtered() and ours.get_dtype() == np.float32
    whole = ours.get_traces()
    inner = slice(1000, n - 1000)
    np.testing.assert_allclose(whole[inner], theirs.get_traces()[inner], atol=0.01)
    assert whole[20000:20060, 5].min() < -75  # the dip survives, the offset does not
    assert abs(float(np.median(whole[:, 5]))) < 1.0
    pieces = np.concatenate([ours.get_traces(start_frame=a, end_frame=min(a + 7777, n)) for a in range(0, n, 7777)])
    np.testing.assert_allclose(pieces, whole, atol=0.01)
