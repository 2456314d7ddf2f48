"""Exported files reach the disk before they take their final name (fsynced, then renamed)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from spikelab.export import export
from spikelab.export._phy_read import UNITS_FILE


@pytest.fixture
def synced(monkeypatch):
    """Names of the files fsynced during the test (the real fsync still runs): the power-loss boundary."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd):
        try:
            seen.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
        except OSError:  # no /proc: record nothing, the assertions then fail loudly
            pass
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def test_an_nwb_file_is_fsynced_under_a_name_pynwb_accepts_then_renamed(curated_sort, tmp_path, synced):
    sd, _ = curated_sort
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export(sd, "nwb", tmp_path / "units.nwb")
    assert any(name.startswith(".units.nwb.") and name.endswith(".tmp.nwb") for name in synced), synced
    assert not [w for w in caught if "does not end in '.nwb'" in str(w.message)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["units.nwb"]  # no temporary left behind


def test_the_phy_folder_json_files_are_fsynced_before_they_are_renamed(curated_sort, tmp_path, synced):
    sd, recording = curated_sort
    folder = export(sd, "phy", tmp_path / "phy", recording=recording)
    assert (folder / UNITS_FILE).is_file()
    assert any(name.startswith(f".{UNITS_FILE}.") and name.endswith(".tmp") for name in synced), synced
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
