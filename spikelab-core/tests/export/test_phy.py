"""phy export checked with phy's own reader (phylib) and SpikeInterface's, then read back.

Edits are made as phy makes them: phylib's ``TemplateModel.save_spike_clusters`` and
``save_metadata`` write ``spike_clusters.npy`` and ``cluster_<field>.tsv``; after a split, phy
gives the new clusters their parent's values (so ``cluster_si_unit_ids.tsv`` lists the parent's
id twice), which the test writes too.
"""

from __future__ import annotations

import os
import shutil
import stat

import numpy as np
import pytest

from spikelab.errors import InputError
from spikelab.export import export
from spikelab.export.phy import load_phy


def _by_id(sd):
    return {a["unit_id"]: (a, train) for a, train in zip(sd.neuron_attributes, sd.train)}


def _model(folder):
    from phylib.io.model import load_model

    return load_model(folder / "params.py")


def test_phylib_opens_the_traces_after_the_folder_is_moved(curated_sort, tmp_path):
    sd, recording = curated_sort
    folder = export(sd, "phy", tmp_path / "phy", recording=recording)
    moved = tmp_path / "elsewhere" / "my_phy"
    moved.parent.mkdir()
    shutil.move(str(folder), moved)
    model = _model(moved)
    assert model.traces is not None, "phy has no traces"
    assert model.traces.shape == (recording.get_num_samples(), recording.get_num_channels())
    np.testing.assert_allclose(
        np.asarray(model.traces[1000:1010]), recording.get_traces(start_frame=1000, end_frame=1010), rtol=1e-6
    )
    assert model.n_templates == sd.N
    model.close()


@pytest.mark.parametrize("keep", [[0, 1, 2, 3], [1, 2, 3]], ids=["ids-0-1-2-6", "ids-1-2-6"])
def test_values_are_filed_under_the_cluster_of_their_unit(curated_sort, tmp_path, keep):
    import spikeinterface.extractors as se

    sd, recording = curated_sort
    sd = sd.subset(keep)
    folder = export(sd, "phy", tmp_path / "phy", recording=recording)
    model = _model(folder)
    cluster_of = {str(u): c for c, u in model.metadata["si_unit_id"].items()}
    for attributes, train in zip(sd.neuron_attributes, sd.train):
        cluster = cluster_of[str(attributes["unit_id"])]
        assert model.metadata["snr"][cluster] == pytest.approx(attributes["snr"], rel=1e-6)
        assert model.metadata["channel"][cluster] == attributes["channel"]
        assert len(model.spike_times[model.spike_clusters == cluster]) == len(train)
    model.close()
    for reader in (se.read_phy, se.read_kilosort):
        sorting = reader(folder)
        assert sorted(int(u) for u in sorting.unit_ids) == sorted(int(u) for u in sd.unit_ids), reader.__name__
        for attributes, train in zip(sd.neuron_attributes, sd.train):
            unit = [u for u in sorting.unit_ids if int(u) == attributes["unit_id"]][0]
            spikes = sorting.get_unit_spike_train(unit)
            np.testing.assert_array_equal(spikes, np.rint(train * sd.fs_Hz / 1000).astype(np.int64))
            snr = sorting.get_property("snr")[list(sorting.unit_ids).index(unit)]
            assert snr == pytest.approx(attributes["snr"], rel=1e-6), reader.__name__


def test_an_unedited_folder_reads_back_with_ids_values_and_positions(curated_sort, tmp_path):
    sd, recording = curated_sort
    back = load_phy(export(sd, "phy", tmp_path / "phy", recording=recording))
    assert list(back.unit_ids) == [0, 1, 2, 6]
    for original, loaded, train, loaded_train in zip(
        sd.neuron_attributes, back.neuron_attributes, sd.train, back.train
    ):
        np.testing.assert_array_equal(train, loaded_train)
        assert loaded["snr"] == pytest.approx(original["snr"], rel=1e-6)
        assert loaded["channel"] == original["channel"]
    np.testing.assert_allclose(back.unit_locations, sd.unit_locations, rtol=1e-6)
    np.testing.assert_allclose(back.metadata["channel_locations"], sd.metadata["channel_locations"], rtol=1e-6)
    assert back.length == sd.length and back.fs_Hz == sd.fs_Hz
    assert back.metadata["previous_curation_history"] == sd.metadata["curation_history"]


def _cluster_of(model):
    return {int(u): c for c, u in model.metadata["si_unit_id"].items()}


def test_label_merge_and_split_read_back_without_borrowing_values(curated_sort, tmp_path):
    sd, recording = curated_sort
    folder = export(sd, "phy", tmp_path / "phy", recording=recording)
    model = _model(folder)
    cluster_of = _cluster_of(model)
    clusters = np.array(model.spike_clusters, dtype=np.int64)
    times = np.asarray(model.spike_times)
    # phy numbers new clusters after the largest one: merge 0+1 -> 4, split unit 2 -> 5 and 6,
    # so the new cluster 6 has the id of the exported unit 6
    merged = np.isin(clusters, [cluster_of[0], cluster_of[1]])
    clusters[merged] = 4
    parent = clusters == cluster_of[2]
    middle = np.median(times[parent])
    clusters[parent & (times < middle)] = 5
    clusters[parent & (times >= middle)] = 6
    model.save_spike_clusters(clusters)
    model.save_metadata("group", {4: "good", 5: "good", 6: "mua", cluster_of[6]: "noise"})
    inherited = dict(model.metadata["si_unit_id"]) | {5: 2, 6: 2}
    model.save_metadata(
        "si_unit_id", {c: v for c, v in inherited.items() if c not in (cluster_of[0], cluster_of[1], cluster_of[2])}
    )
    model.save_metadata("snr", dict(model.metadata["snr"]) | {5: model.metadata["snr"][cluster_of[2]]})
    model.close()

    back = load_phy(folder)
    units = _by_id(back)
    original = _by_id(sd)
    new_ids = sorted(set(units))
    assert 6 not in units, "unit 6 was labelled noise; no new unit may take its id"
    assert len(new_ids) == 3 and all(u > 6 for u in new_ids)
    by_cluster = {a["phy_cluster_id"]: (a, t) for a, t in units.values()}
    merged_attrs, merged_train = by_cluster[4]
    np.testing.assert_array_equal(merged_train, np.sort(np.concatenate([original[0][1], original[1][1]])))
    assert merged_attrs["merged_from"] == [0, 1] and "snr" not in merged_attrs
    counts = np.array([len(original[0][1]), len(original[1][1])])
    expected_x = np.average([original[0][0]["x"], original[1][0]["x"]], weights=counts)
    assert merged_attrs["x"] == pytest.approx(expected_x)
    halves = [by_cluster[5], by_cluster[6]]
    np.testing.assert_array_equal(np.sort(np.concatenate([t for _, t in halves])), original[2][1])
    for attrs, _ in halves:
        assert attrs["merged_from"] == [2]
        assert (attrs["x"], attrs["y"], attrs["channel"]) == pytest.approx(
            (original[2][0]["x"], original[2][0]["y"], original[2][0]["channel"])
        )
        assert "snr" not in attrs
    assert by_cluster[6][0]["phy_group"] == "mua"
    assert back.unit_locations.shape == (3, 2)
    history = back.metadata["curation_history"]
    assert history["merges"] == {str(merged_attrs["unit_id"]): [0, 1]}
    assert history["splits"] == {"2": sorted([by_cluster[5][0]["unit_id"], by_cluster[6][0]["unit_id"]])}
    assert history["failed"]["phy_group"] == [6]


def test_folders_are_readable_by_lab_mates(curated_sort, tmp_path):
    sd, recording = curated_sort
    previous = os.umask(0o022)
    try:
        folder = export(sd, "phy", tmp_path / "phy", recording=recording)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "params.py").stat().st_mode) == 0o644


def test_a_two_segment_recording_is_exported_on_the_units_clock(curated_sort, tmp_path):
    from spikeinterface.core import append_recordings

    sd, recording = curated_sort
    half = recording.get_num_samples() // 2
    two_segments = append_recordings([recording.frame_slice(0, half), recording.frame_slice(half, None)])
    sd = sd.subset(np.arange(sd.N))
    sd.metadata["rec_chunks_ms"] = [(0.0, half / sd.fs_Hz * 1000), (half / sd.fs_Hz * 1000, sd.length)]
    sd.metadata["rec_chunk_names"] = ["first", "second"]
    folder = export(sd, "phy", tmp_path / "phy", recording=two_segments)
    model = _model(folder)
    assert model.traces.shape[0] == recording.get_num_samples()
    model.close()
    back = load_phy(folder)
    for train, loaded in zip(sd.train, back.train):
        np.testing.assert_array_equal(train, loaded)
    assert back.split_epochs()[1].metadata["source_file"] == "second"


def test_a_folder_from_spikeinterface_keeps_its_unit_ids_and_metrics(tmp_path):
    import spikeinterface.core as sc
    from spikeinterface.exporters import export_to_phy

    from spikelab.testing import tiny_recording

    recording, truth = tiny_recording(seed=3, duration_s=4.0, num_units=4)
    truth = truth.rename_units([3, 7, 9, 12])
    analyzer = sc.create_sorting_analyzer(truth, recording, sparse=False, seed=0)
    analyzer.compute(["random_spikes", "templates", "noise_levels"], progress_bar=False)
    analyzer.compute("quality_metrics", metric_names=["snr", "firing_rate"])
    export_to_phy(analyzer, tmp_path / "si_phy", compute_pc_features=False, verbose=False)
    metrics = analyzer.get_extension("quality_metrics").get_data()

    back = load_phy(tmp_path / "si_phy")
    assert list(back.unit_ids) == [3, 7, 9, 12]
    for attributes, train in zip(back.neuron_attributes, back.train):
        unit = attributes["unit_id"]
        assert attributes["snr"] == pytest.approx(metrics.loc[unit, "snr"], rel=1e-4)
        np.testing.assert_array_equal(
            np.rint(train * recording.sampling_frequency / 1000), truth.get_unit_spike_train(unit)
        )
    assert back.unit_locations.shape == (4, 2)
    assert back.length == pytest.approx(4000.0)


def test_export_refuses_to_overwrite_and_needs_a_recording(curated_sort, tmp_path):
    sd, recording = curated_sort
    export(sd, "phy", tmp_path / "phy", recording=recording)
    with pytest.raises(InputError, match="already exists"):
        export(sd, "phy", tmp_path / "phy", recording=recording)
    with pytest.raises(InputError, match="needs the recording"):
        export(sd, "phy", tmp_path / "phy2")
    with pytest.raises(InputError, match="does not exist"):
        export(sd, "phy", tmp_path / "phy2", recording=tmp_path / "missing.raw.h5")
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


def test_a_merge_of_units_with_text_ids_gets_a_text_id_no_unit_has(sorted_recording, tmp_path):
    from phylib.io.model import load_model

    sd, recording = sorted_recording
    sd = sd.subset([0, 1, 2])
    for attributes, unit_id in zip(sd.neuron_attributes, ["0", "1", "3"]):  # SpikeInterface's text ids
        attributes["unit_id"] = unit_id
    folder = export(sd, "phy", tmp_path / "phy", recording=recording)
    model = load_model(folder / "params.py")
    clusters = np.array(model.spike_clusters, dtype=np.int64)
    clusters[np.isin(clusters, [0, 1])] = 3  # phy's next cluster id is 3: the text id "3" is taken
    model.save_spike_clusters(clusters)
    model.close()
    back = load_phy(folder)
    assert sorted(back.unit_ids.tolist()) == ["3", "4"]
    merged = [a for a in back.neuron_attributes if a["phy_cluster_id"] == 3][0]
    assert merged["unit_id"] == "4" and merged["merged_from"] == ["0", "1"]


def test_without_copying_the_binary_phy_still_finds_it_after_a_move(curated_sort, tmp_path):
    sd, recording = curated_sort  # a binary folder recording: phy can read it where it is
    folder = export(sd, "phy", tmp_path / "phy", recording=recording, copy_binary=False)
    assert not (folder / "recording.dat").exists()
    moved = tmp_path / "moved"
    shutil.move(str(folder), moved)
    model = _model(moved)
    assert model.traces is not None and model.traces.shape[0] == recording.get_num_samples()
    model.close()
