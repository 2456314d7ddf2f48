"""preprocess_stim_artifacts: a lazy recording whose chunks equal whole-array cleaning."""

import numpy as np
import pytest
from spikeinterface.core import NumpyRecording, concatenate_recordings

from spikelab_stim import (
    StimArtifactRemovedRecording,
    preprocess_stim_artifacts,
    recenter_stim_times,
    remove_stim_artifacts,
)
from spikelab_stim.synthetic import make_stim_recording


@pytest.fixture(scope="module")
def paired():
    return make_stim_recording(n_channels=12, duration_s=3.0, n_events=25, seed=41, jitter_ms=1.0,
                               protocol="paired", pair_interval_ms=6.0)


def _recording(data):
    return NumpyRecording(np.ascontiguousarray(data.traces.T), sampling_frequency=data.fs_Hz)


def _chunked(recording, chunk):
    n = recording.get_num_samples()
    return np.concatenate([recording.get_traces(start_frame=a, end_frame=min(n, a + chunk)).T
                           for a in range(0, n, chunk)], axis=1)


@pytest.mark.parametrize("chunk", [997, 4096, 30_001])
def test_chunked_output_equals_whole_array_cleaning(paired, chunk):
    recording = _recording(paired)
    cleaned, meta = preprocess_stim_artifacts(recording, paired.logged_stim_times_ms, max_offset_ms=2.0)
    whole, mask = remove_stim_artifacts(paired.traces, meta["stim_times_ms_corrected"], paired.fs_Hz)
    assert isinstance(cleaned, StimArtifactRemovedRecording)
    assert cleaned.get_dtype() == np.float32
    np.testing.assert_allclose(_chunked(cleaned, chunk), whole, atol=2e-3)  # float32 BLAS rounding only
    assert meta["blanked_fraction"] == pytest.approx(mask.mean(), abs=1e-4)


def test_channel_subsets_match_whole_array(paired):
    recording = _recording(paired)
    cleaned, meta = preprocess_stim_artifacts(recording, paired.logged_stim_times_ms, max_offset_ms=2.0)
    whole, _ = remove_stim_artifacts(paired.traces, meta["stim_times_ms_corrected"], paired.fs_Hz)
    ids = recording.channel_ids[[1, 6, 7]]
    sub = cleaned.get_traces(start_frame=5000, end_frame=25_000, channel_ids=ids).T
    np.testing.assert_allclose(sub, whole[[1, 6, 7], 5000:25_000], atol=2e-3)


def test_recentering_options_are_forwarded(paired):
    recording = _recording(paired)
    logged = paired.logged_stim_times_ms[0::2] + 2.0  # only the pair starts are logged, late
    kw = dict(peak_mode="down_edge", multi_peak=True, multi_peak_select="first", multi_peak_threshold=0.6,
              multi_peak_min_separation_ms=2.0, max_offset_ms=10.0)
    _, meta = preprocess_stim_artifacts(recording, logged, compute_blanked_fraction=False, **kw)
    expected = recenter_stim_times(paired.traces, logged, paired.fs_Hz, **kw)
    np.testing.assert_allclose(meta["stim_times_ms_corrected"], expected)
    np.testing.assert_allclose(meta["recenter_offsets_ms"], expected - logged)
    np.testing.assert_allclose(expected, paired.stim_times_ms[0::2] + 0.2, atol=0.06)


def test_recenter_false_keeps_the_logged_times(paired):
    _, meta = preprocess_stim_artifacts(_recording(paired), paired.stim_times_ms, recenter=False,
                                        compute_blanked_fraction=False)
    np.testing.assert_array_equal(meta["stim_times_ms_corrected"], paired.stim_times_ms)
    assert meta["blanked_fraction"] is None


def test_save_writes_a_binary_folder_atomically(paired, tmp_path):
    recording = _recording(paired)
    out = tmp_path / "cleaned"
    saved, meta = preprocess_stim_artifacts(recording, paired.stim_times_ms, out, recenter=False,
                                            compute_blanked_fraction=False,
                                            job_kwargs=dict(n_jobs=2, chunk_duration="0.7s", progress_bar=False))
    whole, _ = remove_stim_artifacts(paired.traces, paired.stim_times_ms, paired.fs_Hz)
    np.testing.assert_allclose(saved.get_traces().T, whole, atol=2e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cleaned"]  # no temp folder left behind
    with pytest.raises(FileExistsError, match="output_path"):
        preprocess_stim_artifacts(recording, paired.stim_times_ms, out, recenter=False)


def test_properties_of_the_parent_are_kept(paired):
    recording = _recording(paired)
    recording.set_channel_gains(0.5)
    recording.set_channel_offsets(0.0)
    cleaned, _ = preprocess_stim_artifacts(recording, paired.stim_times_ms, recenter=False,
                                           compute_blanked_fraction=False)
    np.testing.assert_array_equal(cleaned.get_channel_gains(), recording.get_channel_gains())
    assert cleaned.get_num_samples() == recording.get_num_samples()
    assert cleaned.get_sampling_frequency() == recording.get_sampling_frequency()


def test_raw_recording_finds_saturation_hidden_by_filtering(paired):
    from spikeinterface.preprocessing import highpass_filter

    recording = _recording(paired)
    filtered = highpass_filter(recording, freq_min=300.0)
    cleaned, _ = preprocess_stim_artifacts(filtered, paired.stim_times_ms, recenter=False, raw_recording=recording,
                                           compute_blanked_fraction=False)
    _, mask = cleaned._recording_segments[0].clean_range(0, recording.get_num_samples())
    railed = np.abs(paired.traces) >= paired.params["rail_uV"]
    assert railed.sum() > 500
    assert mask[railed].all()


def test_bad_inputs_are_named(paired):
    recording = _recording(paired)
    with pytest.raises(TypeError, match="recording.*BaseRecording"):
        preprocess_stim_artifacts(paired.traces, paired.stim_times_ms)
    two = concatenate_recordings([recording])  # still one segment: fine
    assert two.get_num_segments() == 1
    multi = NumpyRecording([paired.traces.T.copy(), paired.traces.T.copy()], sampling_frequency=paired.fs_Hz)
    with pytest.raises(ValueError, match="segments"):
        preprocess_stim_artifacts(multi, paired.stim_times_ms)
    with pytest.raises(ValueError, match="stim_times_ms.*non-decreasing"):
        preprocess_stim_artifacts(recording, paired.stim_times_ms[::-1])
    with pytest.raises(ValueError, match="peak_mode"):
        preprocess_stim_artifacts(recording, paired.stim_times_ms, peak_mode="middle")
    with pytest.raises(TypeError, match="unknown option"):
        preprocess_stim_artifacts(recording, paired.stim_times_ms, polyorder=3)
    with pytest.raises(ValueError, match="noise_levels"):
        preprocess_stim_artifacts(recording, paired.stim_times_ms, noise_levels=[1.0])
