"""Maxwell files in every layout read back with the right channels, rows, gains and errors."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab.errors import InputError
from spikelab.spike_sorting._exceptions import EnvironmentSortFailure, HDF5PluginMissingError
from spikelab.spike_sorting.config import RecordingConfig
from spikelab.spike_sorting.io import list_streams, open_recording
from spikelab.testing import maxwell as mxw


def _row_means(recording, n=200):
    return recording.get_traces(start_frame=0, end_frame=n).astype(float).mean(axis=0)


def test_legacy_equal_rows(tmp_path):
    path = mxw.write_legacy(tmp_path / "legacy.raw.h5", num_channels=16)
    loaded = open_recording(path)
    rec = loaded.recording
    assert loaded.name == "legacy"
    assert rec.get_num_channels() == 16 and rec.get_num_samples() == 2000
    assert rec.get_sampling_frequency() == 20000.0
    np.testing.assert_allclose(rec.get_channel_gains(), 6.294)
    np.testing.assert_array_equal(rec.get_property("electrode"), 1000 + np.arange(16))
    # row k has mean 512 + k: the right rows are read in the right order
    np.testing.assert_allclose(_row_means(rec), 512 + np.arange(16), atol=1.0)


def test_legacy_extra_rows_reads_only_mapped_channels(tmp_path):
    """neo 0.14 reads all 1028 rows of such a file; ours reads the 16 mapped ones."""
    path = mxw.write_legacy(tmp_path / "legacy_extra.raw.h5", num_channels=16, extra_rows=1012)
    rec = open_recording(path).recording
    traces = rec.get_traces(start_frame=100, end_frame=300)
    assert traces.shape == (200, 16)
    np.testing.assert_allclose(traces.astype(float).mean(axis=0), 512 + np.arange(16), atol=1.0)
    assert rec.get_channel_locations().shape == (16, 2)
    # a channel subset selects the right rows too
    sub = rec.get_traces(end_frame=200, channel_ids=["3", "1"]).astype(float).mean(axis=0)
    np.testing.assert_allclose(sub, [515, 513], atol=1.0)


def test_legacy_sparse_mapping_picks_named_rows(tmp_path):
    mapping = mxw.maxwell_mapping(4)
    mapping["channel"] = [7, 2, -1, 5]
    traces = mxw.synthetic_traces(10, 500)
    path = mxw.write_legacy(tmp_path / "sparse.raw.h5", traces=traces, mapping=mapping)
    rec = open_recording(path).recording
    assert list(rec.get_channel_ids()) == ["7", "2", "5"]
    np.testing.assert_allclose(_row_means(rec), [519, 514, 517], atol=1.0)


@pytest.mark.parametrize(
    "channel_ids",
    [None, ["0", "1", "2", "3", "4", "5"], ["1", "3", "4"], ["4", "0", "2"], ["2", "2", "0", "5"], ["5"]],
    ids=["all", "every-in-order", "subset-in-order", "shuffled", "repeated", "one"],
)
def test_legacy_reads_the_exact_samples_of_the_asked_channels_in_the_asked_order(tmp_path, channel_ids):
    mapping = mxw.maxwell_mapping(6)
    mapping["channel"] = [0, 1, 2, 3, 4, 5]
    traces = mxw.synthetic_traces(9, 700, seed=3)
    path = mxw.write_legacy(tmp_path / "rows.raw.h5", traces=traces, mapping=mapping)
    rec = open_recording(path).recording
    got = rec.get_traces(start_frame=150, end_frame=650, channel_ids=channel_ids, return_in_uV=False)
    rows = [int(c) for c in (channel_ids or rec.get_channel_ids())]
    np.testing.assert_array_equal(got, traces[rows, 150:650].T)


def test_legacy_mapping_beyond_sig_is_input_error(tmp_path):
    mapping = mxw.maxwell_mapping(4)
    mapping["channel"] = [0, 1, 2, 40]
    path = mxw.write_legacy(tmp_path / "bad.raw.h5", traces=mxw.synthetic_traces(4, 100), mapping=mapping)
    with pytest.raises(InputError, match="channel 40"):
        open_recording(path)


def test_new_single_well(tmp_path):
    path = mxw.write_new(tmp_path / "new.raw.h5", num_channels=8)
    loaded = open_recording(path)
    assert loaded.recording.get_num_channels() == 8
    assert list_streams(path) == ["well000"]
    np.testing.assert_allclose(_row_means(loaded.recording), 512 + np.arange(8), atol=1.0)


def test_multiwell_needs_stream_id_and_names_it(tmp_path):
    path = mxw.write_new(tmp_path / "plate.raw.h5", wells=("well000", "well001"))
    assert list_streams(path) == ["well000", "well001"]
    with pytest.raises(InputError, match="stream_id"):
        open_recording(path)
    loaded = open_recording(path, RecordingConfig(stream_id="well001"))
    assert loaded.name == "plate_well001"
    np.testing.assert_array_equal(loaded.recording.get_property("electrode"), 1100 + np.arange(8))
    with pytest.raises(InputError, match="well007"):
        open_recording(path, RecordingConfig(stream_id="well007"))


def test_multiwell_several_rec_names(tmp_path):
    traces = {("well001", "rec0001"): mxw.synthetic_traces(8, 1500) + 100}
    path = mxw.write_new(
        tmp_path / "rows.raw.h5", wells=("well000", "well001"), rec_names=("rec0000", "rec0001"), traces=traces
    )
    with pytest.raises(InputError, match="rec_name"):
        open_recording(path, RecordingConfig(stream_id="well001"))
    rec = open_recording(path, RecordingConfig(stream_id="well001", rec_name="rec0001")).recording
    assert rec.get_num_samples() == 1500
    np.testing.assert_allclose(_row_means(rec), 612 + np.arange(8), atol=1.0)


def test_gzip_compressed_reads(tmp_path):
    path = mxw.write_new(tmp_path / "gz.raw.h5", compression="gzip")
    assert open_recording(path).recording.get_traces(end_frame=5).shape == (5, 8)


def _zstd_in_fresh_interpreter(path, env_plugin_path, config_path):
    """open_recording on a Zstd file in a new interpreter where hdf5plugin cannot be imported."""
    import json
    import os
    import subprocess
    import sys

    code = f"""
import json, sys
sys.modules['hdf5plugin'] = None  # as if hdf5plugin were not installed
from spikelab.spike_sorting.config import RecordingConfig
from spikelab.spike_sorting.io import open_recording
try:
    loaded = open_recording({str(path)!r}, RecordingConfig(hdf5_plugin_path={config_path!r}))
    loaded.recording.get_traces(end_frame=10)
    print(json.dumps({{'ok': True}}))
except Exception as exc:
    print(json.dumps({{'ok': False, 'type': type(exc).__name__, 'msg': str(exc),
                       'status': getattr(exc, 'status', None), 'file_path': getattr(exc, 'file_path', None)}}))
"""
    env = {k: v for k, v in os.environ.items() if k != "HDF5_PLUGIN_PATH"}
    env["SPIKELAB_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if env_plugin_path:
        env["HDF5_PLUGIN_PATH"] = env_plugin_path
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_missing_filter_raises_with_install_instructions(tmp_path):
    hdf5plugin = pytest.importorskip("hdf5plugin")
    path = mxw.write_new(tmp_path / "zstd.raw.h5", compression=hdf5plugin.Zstd())
    result = _zstd_in_fresh_interpreter(path, None, None)
    assert result["type"] == "HDF5PluginMissingError" and result["status"] == "environment"
    assert result["file_path"] == str(path)
    msg = result["msg"]
    assert "32015" in msg and "HDF5_PLUGIN_PATH" in msg and "hdf5_plugin_path" in msg
    assert "libcompression" in msg and "pip install hdf5plugin" in msg


def test_filter_found_through_configured_plugin_path(tmp_path):
    hdf5plugin = pytest.importorskip("hdf5plugin")
    path = mxw.write_new(tmp_path / "zstd.raw.h5", compression=hdf5plugin.Zstd())
    assert _zstd_in_fresh_interpreter(path, None, hdf5plugin.PLUGIN_PATH) == {"ok": True}
    assert _zstd_in_fresh_interpreter(path, hdf5plugin.PLUGIN_PATH, None) == {"ok": True}


def test_zstd_file_reads_in_process_and_children_find_the_filter(tmp_path, monkeypatch):
    import os

    hdf5plugin = pytest.importorskip("hdf5plugin")
    monkeypatch.delenv("HDF5_PLUGIN_PATH", raising=False)
    path = mxw.write_new(tmp_path / "zstd.raw.h5", compression=hdf5plugin.Zstd())
    rec = open_recording(path).recording
    np.testing.assert_allclose(_row_means(rec), 512 + np.arange(8), atol=1.0)
    # SpikeInterface workers rebuild the recording without importing hdf5plugin
    assert hdf5plugin.PLUGIN_PATH in os.environ["HDF5_PLUGIN_PATH"].split(os.pathsep)


def test_bad_plugin_folder_is_environment_failure(tmp_path):
    path = mxw.write_new(tmp_path / "new.raw.h5")
    with pytest.raises(HDF5PluginMissingError, match="not a folder") as info:
        open_recording(path, RecordingConfig(hdf5_plugin_path=str(tmp_path / "nowhere")))
    assert isinstance(info.value, EnvironmentSortFailure)


def test_truncated_file_is_input_error(tmp_path):
    path = mxw.write_new(tmp_path / "new.raw.h5")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="new.raw.h5"):
        open_recording(path)
