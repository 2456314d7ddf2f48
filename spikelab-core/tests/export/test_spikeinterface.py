"""SpikeInterface folder round trip: export, curate in SpikeInterface, read back; NWB edited with pynwb."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab import SpikeData
from spikelab.export import export
from spikelab.export.spikeinterface import load_spikeinterface


def test_spikeinterface_round_trip_keeps_edits_ids_positions_and_length(curated_sort, tmp_path):
    import spikeinterface as si

    sd, recording = curated_sort
    sd = sd.subset(np.arange(sd.N))
    for attributes in sd.neuron_attributes:  # placed by their channel only, as the pipeline's units are
        attributes.pop("x"), attributes.pop("y")
    folder = export(sd, "spikeinterface", tmp_path / "si", recording=recording)
    sorting = si.load(folder / "sorting")
    assert [int(u) for u in sorting.unit_ids] == [0, 1, 2, 6]
    np.testing.assert_allclose(np.c_[sorting.get_property("x"), sorting.get_property("y")], sd.unit_locations)
    analyzer = si.load(folder / "analyzer")
    assert [int(u) for u in analyzer.unit_ids] == [0, 1, 2, 6]
    # a person's curation in SpikeInterface: label the units, drop unit 1
    sorting.set_property("quality", np.array(["good", "noise", "mua", "good"]))
    sorting = sorting.remove_units([sorting.unit_ids[1]])
    sorting.save(folder=tmp_path / "edited" / "sorting", format="numpy_folder")
    for name in ("spikelab_facts.json", "spikelab_curation_history.json"):
        (tmp_path / "edited" / name).write_bytes((folder / name).read_bytes())

    back = load_spikeinterface(tmp_path / "edited")
    assert list(back.unit_ids) == [0, 2, 6]
    assert [a["quality"] for a in back.neuron_attributes] == ["good", "mua", "good"]
    for index, original in zip(range(3), [0, 2, 3]):
        np.testing.assert_array_equal(back.train[index], sd.train[original])
    np.testing.assert_allclose(back.unit_locations, sd.unit_locations[[0, 2, 3]])
    assert back.length == sd.length
    np.testing.assert_allclose(back.metadata["channel_locations"], sd.metadata["channel_locations"])
    assert back.metadata["curation_history"] == sd.metadata["curation_history"]
    assert SpikeData.load(tmp_path / "edited").N == 3


def test_nwb_edited_with_pynwb_reads_back_with_the_new_labels(curated_sort, tmp_path):
    from pynwb import NWBHDF5IO

    from spikelab.export.nwb import load_nwb

    sd, _ = curated_sort
    path = export(sd, "nwb", tmp_path / "units.nwb")
    with NWBHDF5IO(str(path), "a") as io:  # a curator adds a label column, as DANDI users do
        nwbfile = io.read()
        nwbfile.units.add_column(name="quality", description="manual label", data=["good", "mua", "good", "noise"])
        io.write(nwbfile)
    back = load_nwb(path)
    assert list(back.unit_ids) == [0, 1, 2, 6]
    assert [a["quality"] for a in back.neuron_attributes] == ["good", "mua", "good", "noise"]
    for a, b in zip(sd.train, back.train):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(back.unit_locations, sd.unit_locations)
    assert back.length == pytest.approx(sd.length)
