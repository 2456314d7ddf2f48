"""open_recording: folders concatenated per file, windows, objects, overrides and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab.errors import InputError
from spikelab.spike_sorting.config import RecordingConfig
from spikelab.spike_sorting.io import open_recording
from spikelab.testing import maxwell as mxw


@pytest.fixture
def session_folder(tmp_path):
    folder = tmp_path / "day1"
    # written out of order; natural order is rec2 before rec10
    mxw.write_legacy(folder / "rec10.raw.h5", num_channels=8, num_samples=3000, seed=3,
                     traces=mxw.synthetic_traces(8, 3000, seed=3) + 200)
    mxw.write_legacy(folder / "rec2.raw.h5", num_channels=8, num_samples=2000, seed=2, extra_rows=4)
    mxw.write_legacy(folder / "rec1.raw.h5", num_channels=8, num_samples=1000, seed=1,
                     traces=mxw.synthetic_traces(8, 1000, seed=1) + 100)
    return folder


def test_folder_is_concatenated_in_natural_order_with_chunks(session_folder):
    loaded = open_recording(session_folder)
    assert loaded.name == "day1"
    assert loaded.chunk_names == ("rec1", "rec2", "rec10")
    assert loaded.chunk_samples == (1000, 2000, 3000)
    rec = loaded.recording
    assert rec.get_num_samples() == 6000
    means = [rec.get_traces(start_frame=s, end_frame=s + 500).astype(float).mean() for s in (0, 1000, 3000)]
    np.testing.assert_allclose(means, [615.5, 515.5, 715.5], atol=1.0)
    assert loaded.rec_chunks_ms == [(0.0, 50.0), (50.0, 150.0), (150.0, 300.0)]


def test_window_crops_the_chunks(session_folder):
    loaded = open_recording(session_folder, RecordingConfig(start_time_s=0.075, end_time_s=0.2))
    assert loaded.chunk_names == ("rec2", "rec10")
    assert loaded.chunk_samples == (1500, 1000)
    assert loaded.recording.get_num_samples() == 2500


def test_first_n_mins_counts_from_start(tmp_path):
    path = mxw.write_legacy(tmp_path / "a.raw.h5", num_samples=4000)
    loaded = open_recording(path, RecordingConfig(start_time_s=0.05, first_n_mins=0.05 / 60))
    assert loaded.recording.get_num_samples() == 1000
    assert loaded.chunk_samples == (1000,)


def test_start_past_end_is_input_error(tmp_path):
    path = mxw.write_legacy(tmp_path / "a.raw.h5", num_samples=2000)
    with pytest.raises(InputError, match="start_time_s"):
        open_recording(path, RecordingConfig(start_time_s=5.0))


def test_folder_mismatch_is_input_error(tmp_path):
    mxw.write_legacy(tmp_path / "x" / "a.raw.h5", num_channels=8)
    mxw.write_legacy(tmp_path / "x" / "b.raw.h5", num_channels=4)
    with pytest.raises(InputError, match="channels"):
        open_recording(tmp_path / "x")


def test_empty_or_mixed_folder_is_input_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no recording files"):
        open_recording(tmp_path / "empty")
    mxw.write_legacy(tmp_path / "mixed" / "a.raw.h5")
    (tmp_path / "mixed" / "b.nwb").write_bytes(b"")
    with pytest.raises(InputError, match="mixes"):
        open_recording(tmp_path / "mixed")


def test_missing_and_unknown_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_recording(tmp_path / "nope.raw.h5")
    odd = tmp_path / "notes.xyz123"
    odd.write_text("hello")
    with pytest.raises(InputError, match="notes.xyz123"):
        open_recording(odd)


def test_recording_object_passes_through_untouched(tiny_ground_truth):
    recording, _ = tiny_ground_truth
    loaded = open_recording(recording, RecordingConfig(gain_to_uv=2.0, end_time_s=1.0))
    assert loaded.source is None and loaded.name == "GroundTruthRecording"  # its "name" annotation
    assert loaded.recording.get_num_samples() == 20000
    np.testing.assert_allclose(loaded.recording.get_channel_gains(), 2.0)
    np.testing.assert_allclose(recording.get_channel_gains(), 1.0)  # the caller's object is unchanged


def test_saved_spikeinterface_folder(tmp_path, tiny_ground_truth):
    recording, _ = tiny_ground_truth
    saved = recording.frame_slice(0, 2000).save(folder=tmp_path / "saved")
    loaded = open_recording(tmp_path / "saved")
    assert loaded.recording.get_num_samples() == 2000
    np.testing.assert_allclose(loaded.recording.get_traces(end_frame=10), saved.get_traces(end_frame=10))


def test_multisegment_object_is_refused(tiny_ground_truth):
    from spikeinterface.core import append_recordings

    recording, _ = tiny_ground_truth
    with pytest.raises(InputError, match="segments"):
        open_recording(append_recordings([recording, recording]))


def test_legacy_recording_survives_spikeinterface_serialisation(tmp_path):
    """Workers rebuild recordings from their dict; the extra-rows fix must survive that."""
    import spikeinterface.core as sc

    path = mxw.write_legacy(tmp_path / "extra.raw.h5", num_channels=8, extra_rows=20)
    rec = open_recording(path).recording
    rebuilt = sc.load(rec.to_dict())
    np.testing.assert_array_equal(rebuilt.get_traces(end_frame=50), rec.get_traces(end_frame=50))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_traces_are_input_error(bad):
    """SPEC "Bad input": NaN/inf traces fail when opened, not inside the sorter."""
    from spikeinterface.core import NumpyRecording

    traces = np.zeros((20000, 4), dtype=np.float32)
    traces[12345, 2] = bad
    recording = NumpyRecording([traces], sampling_frequency=20000.0)
    recording.set_channel_locations(np.column_stack([np.zeros(4), np.arange(4) * 20.0]))
    with pytest.raises(InputError, match=r"sample 12345, channel '?2"):
        open_recording(recording)


def test_non_finite_between_the_scanned_blocks_fails_the_read(monkeypatch):
    """The open scan samples a long recording; any later read still refuses NaN."""
    from spikeinterface.core import NumpyRecording

    monkeypatch.setattr("spikelab.spike_sorting.io._finite.SCAN_BUDGET_VALUES", 40_000)
    traces = np.zeros((400_000, 2), dtype=np.float32)
    traces[123_456, 1] = np.nan  # between the blocks scanned at open
    recording = NumpyRecording([traces], sampling_frequency=20000.0)
    recording.set_channel_locations(np.column_stack([np.zeros(2), np.arange(2) * 20.0]))
    opened = open_recording(recording).recording
    with pytest.raises(InputError, match="sample 123456, channel '1'"):
        opened.get_traces(start_frame=120_000, end_frame=130_000)
