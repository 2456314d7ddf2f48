"""Training from a user's sorted recording: pasted-template samples, the CLI, provenance, errors."""

import json

import numpy as np
import pytest

from spikelab.errors import InputError
from spikelab.spikedata.spikedata import SpikeData
from spikelab_rtsort.cli import main
from spikelab_rtsort.model import load_detection_model
from spikelab_rtsort.sorted_inputs import SortedRecording
from spikelab_rtsort.sorted_samples import SortedSampleConfig, build_sorted_sources
from spikelab_rtsort.synthetic import channel_labels, generate_mea_recording
from spikelab_rtsort.training import TrainingConfig, train_detection_model

SEED = 4343  # not one of the shipped model's training seeds (0..6)
TINY = ["--hidden", "4", "--samples-per-epoch", "2000", "--val-samples", "1000",
        "--max-epochs", "2"]


@pytest.fixture(scope="module")
def sorted_data(tmp_path_factory):
    """An 8 s generated recording saved as a SpikeInterface folder, with its ground-truth sorting
    written as a Kilosort / phy folder and as a SpikeData file."""
    root = tmp_path_factory.mktemp("sorted")
    recording, sorting = generate_mea_recording(duration_s=8.0, num_units=6, seed=SEED,
                                                noise_level=5.0)
    saved = recording.save(folder=root / "recording")
    phy = root / "kilosort"
    phy.mkdir()
    vector = sorting.to_spike_vector()
    np.save(phy / "spike_times.npy", vector["sample_index"].astype(np.uint64))
    np.save(phy / "spike_clusters.npy", vector["unit_index"].astype(np.int32))
    (phy / "params.py").write_text("dat_path = 'recording.dat'\nn_channels_dat = 64\n"
                                   "dtype = 'float32'\noffset = 0\nsample_rate = 20000.0\n"
                                   "hp_filtered = False\n")
    # phy curation marked the last unit as noise: training must leave it out
    (phy / "cluster_group.tsv").write_text("cluster_id\tgroup\n" + "".join(
        f"{unit}\t{'noise' if unit == 5 else 'good'}\n" for unit in range(6)))
    spikedata = root / "units.npz"
    SpikeData.from_spikeinterface(sorting).save(spikedata)
    return dict(recording=recording, saved=saved, sorting=sorting, folder=root / "recording",
                phy=phy, spikedata=spikedata)


def test_train_command_on_a_sorted_recording_alone(sorted_data, tmp_path, capsys):
    folder = tmp_path / "model"
    code = main(["train", str(folder), "--seed", "5", "--no-generated",
                 "--sorted", str(sorted_data["folder"]), str(sorted_data["phy"]), *TINY])
    assert code == 0, capsys.readouterr().err
    model = load_detection_model(folder)
    assert 0 < model.loose_thresh <= model.stringent_thresh < 1
    training = json.loads((folder / "init_dict.json").read_text())["training"]
    assert "--sorted" in training["command"] and str(sorted_data["phy"]) in training["command"]
    data = training["data"]
    assert data["recordings"] == []  # no generated recording was used
    (train,), (val,) = data["sorted"]["train"], data["sorted"]["validation"]
    # one recording: its first 80 % trains, the last 20 % validates
    assert train["sorting"] == val["sorting"] == str(sorted_data["phy"])
    assert train["recording"] == str(sorted_data["folder"])
    assert train["frames"] == [0, 128000] and val["frames"] == [128000, 160000]
    assert train["units"] == 5 and train["units_labelled"] >= 4  # the "noise" cluster is out
    assert 0 < train["spikes_used_for_templates"] <= 5 * 100
    vector = sorted_data["sorting"].to_spike_vector()
    assert train["spikes"] + val["spikes"] == int(np.count_nonzero(vector["unit_index"] != 5))


def test_generated_and_sorted_sources_mix_and_validate_on_a_held_out_recording(
        sorted_data, tmp_path):
    config = TrainingConfig(seed=2, n_train_recordings=1, n_val_recordings=0, duration_s=4.0,
                            num_units=5, hidden=4, samples_per_epoch=2000, val_samples=1000,
                            max_epochs=1)
    model = train_detection_model(
        tmp_path / "model", config, progress=False,
        sorted_recordings=[SortedRecording(sorted_data["saved"], sorted_data["spikedata"])],
        val_sorted_recordings=[SortedRecording(
            sorted_data["saved"].frame_slice(120000, 160000),
            SpikeData.from_spikeinterface(sorted_data["sorting"].frame_slice(120000, 160000)),
            name="held-out")])
    data = load_detection_model(tmp_path / "model").init_dict["training"]["data"]
    assert len(data["recordings"]) == 1 and data["n_train"] == 1
    assert [s["name"] for s in data["sorted"]["validation"]] == ["held-out"]
    assert data["sorted"]["train"][0]["sorting"] == str(sorted_data["spikedata"])
    assert data["sorted"]["validation"][0]["duration_s"] == 2.0
    assert model.init_dict["training"]["validation"]["recall"] > 0


def _source(sorted_data, **overrides):
    config = SortedSampleConfig(**overrides)
    (source,), _ = build_sorted_sources(
        [SortedRecording(sorted_data["saved"], sorted_data["sorting"])],
        [SortedRecording(sorted_data["saved"].frame_slice(0, 40000),
                         sorted_data["sorting"].frame_slice(0, 40000))],
        20000.0, 4.0, 2.0, 200, config, np.random.default_rng(0))
    return source


def test_pasted_templates_are_labelled_at_their_trough_frames(sorted_data):
    source = _source(sorted_data)
    source.windows = np.zeros_like(source.windows)  # silence: the sample is the pasted templates
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(400):
        x, codes = source.window(rng, True, 120, 81)
        assert x.shape == (200,) and codes.shape == (120,)
        labelled = np.flatnonzero(codes == 1)
        if labelled.size == 1 and not (codes == 2).any():
            assert np.argmin(x) == 40 + labelled[0]
            checked += 1
    assert checked > 50
    negatives = [source.window(rng, False, 120, 81)[1] for _ in range(50)]
    assert not np.any(negatives)  # no template pasted: no label


def test_sorted_labels_sit_at_the_ground_truth_troughs(sorted_data):
    source = _source(sorted_data, bandpass=False)
    recording, labels = source.curve_data(4.0)
    truth = channel_labels(sorted_data["recording"], sorted_data["sorting"], noise_level=5.0)
    n_labels = n_near = 0
    for channel, frames in enumerate(labels.frames):
        reference = np.sort(np.concatenate([truth.frames[channel], truth.ignore_frames[channel]]))
        if frames.size and reference.size:
            distance = np.abs(frames[:, None] - reference[None, :]).min(axis=1)
            n_near += int(np.count_nonzero(distance <= 1))
        n_labels += frames.size
    assert n_labels > 500
    assert n_near / n_labels > 0.95


def test_errors_name_the_bad_input_and_the_fix(sorted_data, tmp_path, capsys):
    folder = str(sorted_data["folder"])
    missing = tmp_path / "no_such_sorting"
    assert main(["train", str(tmp_path / "m"), "--no-generated", "--sorted", folder,
                 str(missing), *TINY]) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "Kilosort / phy" in err

    from spikelab.cli.main import main as spikelab_main  # the `spikelab` command

    assert spikelab_main(["rtsort", "train", str(tmp_path / "m"), "--no-generated", *TINY]) == 2  # user error
    assert "--sorted RECORDING SORTING" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()

    fast, fast_sorting = generate_mea_recording(duration_s=1.0, num_units=2, seed=SEED,
                                                sampling_frequency=30000.0)
    with pytest.raises(InputError, match="--sampling-frequency 30000"):
        train_detection_model(tmp_path / "m", TrainingConfig(n_train_recordings=0,
                                                             n_val_recordings=0),
                              sorted_recordings=[SortedRecording(fast, fast_sorting)])

    from spikeinterface.core import NumpySorting

    empty = NumpySorting.from_unit_dict([{}], sampling_frequency=20000.0)
    with pytest.raises(InputError, match="no units"):
        _ = build_sorted_sources([SortedRecording(sorted_data["saved"], empty)], [], 20000.0, 4.0,
                                 2.0, 200, SortedSampleConfig(), np.random.default_rng(0))
    with pytest.raises(InputError, match="has no sorting"):
        _ = build_sorted_sources([SortedRecording(sorted_data["saved"], None)], [], 20000.0, 4.0,
                                 2.0, 200, SortedSampleConfig(), np.random.default_rng(0))
    short = SortedRecording(sorted_data["saved"].frame_slice(0, 10000),
                            sorted_data["sorting"].frame_slice(0, 10000))
    with pytest.raises(InputError, match="at least 1 s"):
        _ = build_sorted_sources([short], [], 20000.0, 4.0, 2.0, 200, SortedSampleConfig(),
                                 np.random.default_rng(0))
    with pytest.raises(InputError, match="Cannot read"):
        _ = build_sorted_sources([SortedRecording(sorted_data["saved"], tmp_path)], [], 20000.0,
                                 4.0, 2.0, 200, SortedSampleConfig(), np.random.default_rng(0))


def test_every_sorting_form_gives_the_same_spikes(sorted_data, tmp_path):
    from spikelab_rtsort.sorted_inputs import open_sorting

    truth = sorted_data["sorting"]
    saved = truth.save(folder=tmp_path / "si_sorting")
    forms = [truth, sorted_data["spikedata"], SpikeData.load(sorted_data["spikedata"]),
             tmp_path / "si_sorting"]
    assert saved.get_num_units() == 6
    expected = np.sort(truth.to_spike_vector()["sample_index"])
    for form in forms:
        vector = open_sorting(form, 20000.0).to_spike_vector()
        assert np.array_equal(np.sort(vector["sample_index"]), expected), form
    phy = open_sorting(sorted_data["phy"], 20000.0)  # phy "noise" cluster 5 left out
    assert phy.get_num_units() == 5
    assert len(phy.to_spike_vector()) == int(np.count_nonzero(
        truth.to_spike_vector()["unit_index"] != 5))
