"""NWB export checked with pynwb, nwbinspector and SpikeInterface's reader; other tools' files read back."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from spikelab.export import export
from spikelab.export.nwb import load_nwb

SUBJECT = {"subject_id": "culture-1", "species": "Homo sapiens", "age": "P90D", "sex": "U"}


def _messages(path):
    from nwbinspector import inspect_nwbfile

    return list(inspect_nwbfile(nwbfile_path=str(path)))


def _read(path):
    from pynwb import NWBHDF5IO

    io = NWBHDF5IO(str(path), "r")
    return io, io.read()


def test_round_trip_keeps_ids_trains_positions_templates_metrics_and_history(curated_sort, tmp_path):
    sd, _ = curated_sort
    back = load_nwb(export(sd, "nwb", tmp_path / "units.nwb"))
    assert list(back.unit_ids) == [0, 1, 2, 6]
    for original, loaded, train, loaded_train in zip(
        sd.neuron_attributes, back.neuron_attributes, sd.train, back.train
    ):
        np.testing.assert_array_equal(train, loaded_train)
        assert loaded["channel"] == original["channel"]
        assert loaded["snr"] == pytest.approx(original["snr"])
        np.testing.assert_allclose(loaded["template"], original["template"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(back.unit_locations, sd.unit_locations)
    assert (back.length, back.fs_Hz) == (sd.length, sd.fs_Hz)
    np.testing.assert_allclose(back.metadata["channel_locations"], sd.metadata["channel_locations"])
    assert back.metadata["curation_history"] == sd.metadata["curation_history"]


def test_units_table_has_a_resolution_that_spikeinterface_reads(curated_sort, tmp_path):
    import spikeinterface.extractors as se

    sd, _ = curated_sort
    path = export(sd, "nwb", tmp_path / "units.nwb")
    io, nwbfile = _read(path)
    assert nwbfile.units.resolution == pytest.approx(1.0 / sd.fs_Hz)
    io.close()
    assert not [m for m in _messages(path) if m.importance.name == "BEST_PRACTICE_VIOLATION"]
    sorting = se.read_nwb_sorting(str(path))  # no sampling_frequency given
    assert sorting.sampling_frequency == sd.fs_Hz
    assert [int(u) for u in sorting.unit_ids] == [0, 1, 2, 6]
    for unit, train in zip(sorting.unit_ids, sd.train):
        np.testing.assert_array_equal(sorting.get_unit_spike_train(unit), np.rint(train * sd.fs_Hz / 1000))


def test_waveform_mean_is_in_volts_at_its_rate_and_spans_its_electrodes(curated_sort, tmp_path):
    sd, _ = curated_sort
    io, nwbfile = _read(export(sd, "nwb", tmp_path / "units.nwb"))
    units = nwbfile.units
    assert units.waveform_unit == "volts" and units.waveform_rate == sd.fs_Hz
    for index, attributes in enumerate(sd.neuron_attributes):
        waveform = np.asarray(units["waveform_mean"][index])
        electrodes = units["electrodes"][index]
        assert waveform.shape == attributes["template"].T.shape
        assert len(electrodes) == waveform.shape[1]
        peak_uv = np.abs(attributes["template"]).max()
        assert np.abs(waveform).max() == pytest.approx(peak_uv * 1e-6, rel=1e-5)  # volts, as declared
    io.close()


def test_metadata_comes_from_keywords_and_passes_the_inspector(curated_sort, tmp_path):
    sd, recording = curated_sort
    path = export(
        sd,
        "nwb",
        tmp_path / "units.nwb",
        recording=recording,
        include_traces="filtered",
        subject=SUBJECT,
        experimenter="Doe, Jane",
        institution="UC Santa Cruz",
        keywords=["organoid", "MEA"],
        session_id="day90",
        experiment_description="Spontaneous activity",
        session_start_time="2024-05-01T10:00:00-07:00",
    )
    bad = [
        m
        for m in _messages(path)
        if m.importance.name in ("CRITICAL", "PYNWB_VALIDATION", "ERROR", "BEST_PRACTICE_VIOLATION")
    ]
    assert bad == [], [m.message for m in bad]
    io, nwbfile = _read(path)
    assert nwbfile.subject.subject_id == "culture-1" and nwbfile.institution == "UC Santa Cruz"
    assert list(nwbfile.experimenter) == ["Doe, Jane"] and list(nwbfile.keywords) == ["organoid", "MEA"]
    assert nwbfile.session_start_time == dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    data = nwbfile.acquisition["ElectricalSeriesFiltered"].data
    assert data.compression == "gzip"
    assert data.shape == (recording.get_num_samples(), recording.get_num_channels())
    io.close()


def test_without_a_subject_the_inspector_names_it_and_nothing_worse(curated_sort, tmp_path):
    sd, _ = curated_sort
    messages = _messages(export(sd, "nwb", tmp_path / "units.nwb"))
    critical = [m.check_function_name for m in messages if m.importance.name == "CRITICAL"]
    assert critical == ["check_subject_exists"]
    assert not [m for m in messages if m.importance.name in ("BEST_PRACTICE_VIOLATION", "PYNWB_VALIDATION", "ERROR")]


def test_cli_takes_flags_and_a_neuroconv_metadata_file(curated_sort, tmp_path, capsys):
    from spikelab.cli.main import main

    sd, _ = curated_sort
    saved = sd.save(tmp_path / "results" / "sorted_spikedata_curated.pkl")
    (tmp_path / "meta.yaml").write_text(
        "NWBFile:\n  institution: UC Santa Cruz\n  lab: Braingeneers\n  keywords: [organoid]\n"
        "Subject:\n  subject_id: organoid-7\n  species: Homo sapiens\n  sex: U\n  age: P90D\n"
    )
    out = tmp_path / "out.nwb"
    argv = ["export", str(saved.parent), "--to", "nwb", str(out), "--metadata", str(tmp_path / "meta.yaml"),
            "--experimenter", "Doe, Jane", "--subject-id", "organoid-8", "--session-description", "Day 90"]
    assert main(argv) == 0
    assert "wrote" in capsys.readouterr().out
    io, nwbfile = _read(out)
    assert (nwbfile.lab, nwbfile.session_description, nwbfile.subject.subject_id) == (
        "Braingeneers",
        "Day 90",
        "organoid-8",
    )
    assert nwbfile.subject.species == "Homo sapiens" and list(nwbfile.experimenter) == ["Doe, Jane"]
    io.close()
    assert not [m for m in _messages(out) if m.importance.name == "CRITICAL"]
    back = load_nwb(out)
    for original, loaded in zip(sd.train, back.train):
        np.testing.assert_array_equal(original, loaded)
    assert main(["export", str(saved), "--to", "nwb", str(out)]) != 0  # exists
    (tmp_path / "bad.json").write_text(json.dumps({"NWBFile": {"institute": "x"}}))
    assert (
        main(["export", str(saved), "--to", "nwb", str(tmp_path / "b.nwb"), "--metadata", str(tmp_path / "bad.json")])
        != 0
    )
    assert "institute" in capsys.readouterr().err


def test_a_concatenated_result_keeps_its_files_as_epochs(curated_sort, tmp_path):
    sd, _ = curated_sort
    sd = sd.subset(np.arange(sd.N))
    middle = round(sd.length / 2)
    sd.metadata.update(rec_chunks_ms=[(0.0, middle), (middle, sd.length)], rec_chunk_names=["rec_a", "rec_b"])
    path = export(sd, "nwb", tmp_path / "units.nwb", subject=SUBJECT)
    io, nwbfile = _read(path)
    epochs = nwbfile.epochs.to_dataframe()
    assert [list(t) for t in epochs["tags"]] == [["rec_a"], ["rec_b"]]
    io.close()
    parts = load_nwb(path).split_epochs()
    assert [p.metadata["source_file"] for p in parts] == ["rec_a", "rec_b"]
    assert sum(p.spike_counts.sum() for p in parts) == sd.spike_counts.sum()


def _other_tool_file(path, *, with_unit_name: bool):
    """Units as pynwb users and neuroconv write them: no SpikeLab scratch, ids 3/7/9."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.misc import Units

    nwbfile = NWBFile("other tool", "id-1", dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
                      subject=Subject(subject_id="m1", species="Mus musculus", sex="M", age="P60D"))
    device = nwbfile.create_device(name="probe")
    group = nwbfile.create_electrode_group("shank", description="s", location="CA1", device=device)
    for k in range(4):
        nwbfile.add_electrode(rel_x=0.0, rel_y=25.0 * k, group=group, location="CA1")
    nwbfile.units = Units(name="units", description="units", electrode_table=nwbfile.electrodes, resolution=1 / 30000.0)
    if with_unit_name:
        nwbfile.add_unit_column(name="unit_name", description="name")
    nwbfile.add_unit_column(name="quality", description="label")
    fs = 30000.0
    trains = {3: [100, 4000, 90000], 7: [12, 13000], 9: [5, 6, 299000]}
    for electrode, (unit, samples) in enumerate(trains.items()):
        row = {"id": unit, "spike_times": np.asarray(samples) / fs, "obs_intervals": [[0.0, 10.0]],
               "electrodes": [electrode + 1], "quality": "good"}
        if with_unit_name:
            row["unit_name"] = f"{unit}"
        nwbfile.add_unit(**row)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return trains, fs


@pytest.mark.parametrize("with_unit_name", [False, True], ids=["pynwb", "neuroconv-style"])
def test_another_tools_file_keeps_ids_rate_length_and_positions(tmp_path, with_unit_name):
    trains, fs = _other_tool_file(tmp_path / "other.nwb", with_unit_name=with_unit_name)
    sd = load_nwb(tmp_path / "other.nwb")
    assert list(sd.unit_ids) == [3, 7, 9]
    assert sd.fs_Hz == fs
    assert sd.length == pytest.approx(10000.0)
    for samples, train in zip(trains.values(), sd.train):
        np.testing.assert_array_equal(train, np.asarray(samples) * 1000.0 / fs)
    np.testing.assert_allclose(sd.unit_locations, [[0.0, 25.0], [0.0, 50.0], [0.0, 75.0]])
    assert [a["quality"] for a in sd.neuron_attributes] == ["good"] * 3


def test_a_neuroconv_file_keeps_ids_rate_length_and_metrics(tmp_path):
    from neuroconv.tools.spikeinterface import add_recording_to_nwbfile, add_sorting_to_nwbfile
    from pynwb import NWBHDF5IO, NWBFile

    from spikelab.testing import tiny_recording

    recording, truth = tiny_recording(seed=3, duration_s=4.0, num_units=4)
    truth = truth.rename_units([3, 7, 9, 12])
    truth.set_property("snr", np.array([5.0, 6.0, 7.0, 8.0]))
    nwbfile = NWBFile("neuroconv", "id-2", dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    add_recording_to_nwbfile(recording, nwbfile)  # SpikeInterface's way to NWB
    add_sorting_to_nwbfile(truth, nwbfile)
    with NWBHDF5IO(str(tmp_path / "neuroconv.nwb"), "w") as io:
        io.write(nwbfile)
    sd = load_nwb(tmp_path / "neuroconv.nwb")
    assert list(sd.unit_ids) == [3, 7, 9, 12]
    assert sd.fs_Hz == recording.sampling_frequency
    assert sd.length == pytest.approx(4000.0)  # the recording's, not the last spike's
    assert [a["snr"] for a in sd.neuron_attributes] == [5.0, 6.0, 7.0, 8.0]
    for unit, train in zip(truth.unit_ids, sd.train):
        np.testing.assert_array_equal(np.rint(train * sd.fs_Hz / 1000), truth.get_unit_spike_train(unit))
