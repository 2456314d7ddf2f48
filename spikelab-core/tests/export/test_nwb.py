"""NWB round trip: identical spike trains, attributes preserved, inspector finds nothing critical."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab.export import export
from spikelab.export.nwb import load_nwb


def test_round_trip_keeps_spike_trains_bit_identical(sorted_recording, tmp_path):
    sd, _ = sorted_recording
    path = export(sd, "nwb", tmp_path / "units.nwb")
    back = load_nwb(path)
    assert back.N == sd.N
    for original, loaded in zip(sd.train, back.train):
        np.testing.assert_array_equal(original, loaded)
    assert back.length == sd.length
    assert back.metadata["fs_Hz"] == sd.metadata["fs_Hz"]
    np.testing.assert_allclose(back.metadata["channel_locations"], sd.metadata["channel_locations"])


def test_round_trip_keeps_positions_templates_metrics_and_history(sorted_recording, tmp_path):
    sd, _ = sorted_recording
    back = load_nwb(export(sd, "nwb", tmp_path / "units.nwb"))
    for original, loaded in zip(sd.neuron_attributes, back.neuron_attributes):
        assert loaded["unit_id"] == int(original["unit_id"])
        assert loaded["channel"] == original["channel"]
        assert loaded["snr"] == pytest.approx(original["snr"])
        np.testing.assert_allclose(loaded["template"], original["template"], rtol=1e-6)
    assert back.metadata["curation_history"] == sd.metadata["curation_history"]


def test_file_passes_the_nwb_inspector(sorted_recording, tmp_path):
    from nwbinspector import Importance, inspect_nwbfile

    sd, recording = sorted_recording
    path = export(
        sd, "nwb", tmp_path / "units.nwb", recording=recording, include_traces="filtered",
        subject={"subject_id": "culture-1", "species": "Homo sapiens", "age": "P90D", "sex": "U"},
    )
    messages = list(inspect_nwbfile(nwbfile_path=str(path)))
    critical = [m for m in messages if m.importance in (Importance.CRITICAL, Importance.PYNWB_VALIDATION, Importance.ERROR)]
    assert critical == [], [m.message for m in critical]


def test_cli_exports_a_saved_spikedata(sorted_recording, tmp_path, capsys):
    from spikelab.cli.main import main

    sd, _ = sorted_recording
    saved = sd.save(tmp_path / "results" / "sorted_spikedata_curated.npz")
    assert main(["export", str(saved.parent), "--to", "nwb", str(tmp_path / "out.nwb")]) == 0
    assert "wrote" in capsys.readouterr().out
    back = load_nwb(tmp_path / "out.nwb")
    for original, loaded in zip(sd.train, back.train):
        np.testing.assert_array_equal(original, loaded)
    assert main(["export", str(saved), "--to", "nwb", str(tmp_path / "out.nwb")]) == 1  # exists
