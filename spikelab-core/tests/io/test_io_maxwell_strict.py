"""Malformed Maxwell files fail with an InputError naming the file and what is wrong (issue 17.6).

Each case is a file a lab could really hold: a converted file with another sample type, a
mapping that does not match the traces, a copy damaged in the middle, a legacy file without
its mapping, an empty file. None of them may read as a plausible recording.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from spikelab.errors import InputError
from spikelab.spike_sorting.io import open_recording
from spikelab.testing import maxwell as mxw

RAW = "wells/well000/rec0000/groups/routed/raw"
MAPPING = "wells/well000/rec0000/settings/mapping"


def _replace(path, name, data):
    with h5py.File(path, "r+") as f:
        del f[name]
        f[name] = data


@pytest.mark.parametrize("dtype, value", [("float32", 0.7), ("int16", -5), ("float64", 512.0), ("int32", 600)])
def test_legacy_signal_of_another_type_is_refused(tmp_path, dtype, value):
    """A float or signed /sig was cast to uint16 (0.7 read as 0, -5 as 65531)."""
    path = mxw.write_legacy(tmp_path / "converted.raw.h5", traces=np.full((4, 200), value, dtype=dtype))
    with pytest.raises(InputError, match=rf"converted\.raw\.h5.*{dtype}"):
        open_recording(path)


def test_new_layout_signal_of_another_type_is_refused(tmp_path):
    path = mxw.write_new(tmp_path / "new.raw.h5", num_channels=8)
    _replace(path, RAW, np.full((8, 200), -5, dtype=np.int16))
    with pytest.raises(InputError, match=r"new\.raw\.h5.*int16"):
        open_recording(path)


def test_new_layout_mapping_longer_than_traces_is_refused(tmp_path):
    """12 channel ids over 8 trace rows sorted as a success."""
    path = mxw.write_new(tmp_path / "new.raw.h5", num_channels=8)
    _replace(path, MAPPING, mxw.maxwell_mapping(12))
    with pytest.raises(InputError, match=r"new\.raw\.h5.*12 .*8 rows"):
        open_recording(path)


def test_new_layout_mapping_shorter_than_traces_is_refused(tmp_path):
    path = mxw.write_new(tmp_path / "new.raw.h5", num_channels=8)
    _replace(path, MAPPING, mxw.maxwell_mapping(5))
    with pytest.raises(InputError, match=r"new\.raw\.h5.*5 .*8 rows"):
        open_recording(path)


def test_legacy_extra_signal_rows_still_read(tmp_path):
    """Real legacy files carry more /sig rows than mapped channels; that stays valid."""
    path = mxw.write_legacy(tmp_path / "legacy.raw.h5", num_channels=16, extra_rows=1012)
    rec = open_recording(path).recording
    assert rec.get_num_channels() == 16
    np.testing.assert_allclose(rec.get_traces(end_frame=500).astype(float).mean(axis=0), 512 + np.arange(16), atol=1.0)


def _overwrite_middle(path, n_bytes, seed=1):
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(np.random.default_rng(seed).bytes(n_bytes))


def test_legacy_file_overwritten_mid_file_is_refused(tmp_path):
    """200 KB of garbage in the middle of /sig sorted as success with 6x the spikes.

    HDF5 keeps no checksum of contiguous, uncompressed data, so no reader can see this from
    the file's structure; the values give it away: a 10-bit ADC never writes a code above 1023.
    """
    path = mxw.write_legacy(tmp_path / "damaged.raw.h5", num_channels=16, num_samples=80_000)
    _overwrite_middle(path, 200_000)
    with pytest.raises(InputError, match=r"damaged\.raw\.h5.*1023"):
        open_recording(path)


def test_damage_missed_by_the_open_scan_fails_the_read(tmp_path, monkeypatch):
    """A large file is sampled at open; any block read later is checked too, so a damaged
    stretch never reaches a sorter."""
    monkeypatch.setattr("spikelab.spike_sorting.io._finite.SCAN_BUDGET_VALUES", 40_000)
    traces = mxw.synthetic_traces(4, 400_000)
    traces[:, 123_456:123_460] = 40_000  # 4 samples: between the blocks the open scan reads
    path = mxw.write_legacy(tmp_path / "damaged.raw.h5", traces=traces)
    rec = open_recording(path).recording
    with pytest.raises(InputError, match=r"damaged\.raw\.h5.*samples 120000"):
        rec.get_traces(start_frame=120_000, end_frame=130_000)


def test_compressed_chunk_damage_is_input_error(tmp_path):
    """A damaged gzip chunk makes HDF5 fail its filter; the error names the file."""
    path = mxw.write_new(tmp_path / "gz.raw.h5", num_channels=8, num_samples=200_000, compression="gzip")
    _overwrite_middle(path, 20_000)
    with pytest.raises(InputError, match=r"gz\.raw\.h5.*(filter|damaged|corrupt)"):
        open_recording(path)


def test_legacy_without_mapping_names_the_file(tmp_path):
    path = mxw.write_legacy(tmp_path / "nomap.raw.h5")
    with h5py.File(path, "r+") as f:
        del f["mapping"]
    with pytest.raises(InputError, match=r"nomap\.raw\.h5.*mapping"):
        open_recording(path)


def test_new_layout_without_mapping_names_the_file(tmp_path):
    path = mxw.write_new(tmp_path / "nomap.raw.h5")
    with h5py.File(path, "r+") as f:
        del f[MAPPING]
    with pytest.raises(InputError, match=r"nomap\.raw\.h5.*mapping"):
        open_recording(path)


def test_zero_byte_file_is_reported_as_empty(tmp_path):
    path = tmp_path / "empty.raw.h5"
    path.touch()
    with pytest.raises(InputError, match=r"empty\.raw\.h5.*empty file \(0 bytes\)"):
        open_recording(path)
