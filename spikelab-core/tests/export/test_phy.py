"""phy round trip: export, curate by hand as phy would record it, load back with the history."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from spikelab.errors import InputError
from spikelab.export import export
from spikelab.export.phy import load_phy


def _write_groups(folder, groups):
    with open(folder / "cluster_group.tsv", "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["cluster_id", "group"])
        writer.writerows(sorted(groups.items()))


def test_exported_folder_opens_unchanged(sorted_recording, tmp_path):
    sd, recording = sorted_recording
    folder = export(sd, "phy", tmp_path / "phy", recording=recording)
    for name in ("params.py", "spike_times.npy", "spike_clusters.npy", "templates.npy",
                 "channel_positions.npy", "cluster_snr.tsv", "cluster_x.tsv", "spikelab_curation_history.json"):
        assert (folder / name).is_file(), name
    back = load_phy(folder)
    assert back.N == sd.N
    for original, loaded in zip(sd.train, back.train):
        np.testing.assert_array_equal(original, loaded)
    assert back.neuron_attributes[0]["snr"] == pytest.approx(sd.neuron_attributes[0]["snr"], rel=1e-5)
    assert back.metadata["previous_curation_history"]["curations"] == ["spike_count"]


def test_manual_merge_split_and_noise_label_are_read_with_history(sorted_recording, tmp_path):
    sd, recording = sorted_recording
    folder = export(sd, "phy", tmp_path / "phy", recording=recording)
    ids = [int(u) for u in sd.unit_ids]
    clusters = np.load(folder / "spike_clusters.npy").ravel()
    times = np.load(folder / "spike_times.npy").ravel()
    # what phy writes after: merge units 0+1 -> 100, split unit 2 at mid-recording -> 101/102, 3 is noise
    clusters = clusters.copy()
    clusters[np.isin(clusters, [ids[0], ids[1]])] = 100
    mid = np.median(times[clusters == ids[2]])
    unit2 = clusters == ids[2]
    clusters[unit2 & (times < mid)] = 101
    clusters[unit2 & (times >= mid)] = 102
    np.save(folder / "spike_clusters.npy", clusters)
    _write_groups(folder, {100: "good", 101: "good", 102: "mua", ids[3]: "noise", ids[4]: "good"})

    back = load_phy(folder)
    by_id = {a["unit_id"]: (a, train) for a, train in zip(back.neuron_attributes, back.train)}
    assert sorted(by_id) == sorted([100, 101, 102, ids[4]])
    merged_train = np.sort(np.concatenate([sd.train[0], sd.train[1]]))
    np.testing.assert_array_equal(by_id[100][1], merged_train)
    assert by_id[100][0]["merged_from"] == sorted([ids[0], ids[1]])
    np.testing.assert_array_equal(np.sort(np.concatenate([by_id[101][1], by_id[102][1]])), sd.train[2])
    assert by_id[102][0]["phy_group"] == "mua"
    history = back.metadata["curation_history"]
    assert history["merges"]["100"] == sorted([ids[0], ids[1]])
    assert history["splits"][str(ids[2])] == [101, 102]
    assert history["failed"]["phy_group"] == [ids[3]]
    assert history["curated_final"] == sorted(by_id)
    import json

    json.dumps(history)


def test_export_refuses_to_overwrite_and_needs_a_recording(sorted_recording, tmp_path):
    sd, recording = sorted_recording
    export(sd, "phy", tmp_path / "phy", recording=recording)
    with pytest.raises(InputError, match="already exists"):
        export(sd, "phy", tmp_path / "phy", recording=recording)
    with pytest.raises(InputError, match="needs the recording"):
        export(sd, "phy", tmp_path / "phy2")
    assert not (tmp_path / "phy2").exists()


def test_load_rejects_a_folder_that_is_not_phy(tmp_path):
    with pytest.raises(InputError, match="not a phy folder"):
        load_phy(tmp_path)


def test_spikedata_export_method_writes_the_same_folder(sorted_recording, tmp_path):
    sd, recording = sorted_recording
    folder = sd.export("spikeinterface", tmp_path / "si", recording=recording)
    import spikeinterface as si

    sorting = si.load(folder / "sorting")
    assert sorting.get_num_units() == sd.N
    assert (folder / "analyzer").is_dir()
    assert (folder / "spikelab_curation_history.json").is_file()
