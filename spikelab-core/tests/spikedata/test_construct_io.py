"""Building SpikeData from arrays and SpikeInterface, converting back, saving and loading."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab import SpikeData
from spikelab.spikedata import SpikeDataError


def test_from_unit_indices_groups_spikes_and_keeps_silent_units():
    sd = SpikeData.from_unit_indices([2, 0, 2, 0], [4.0, 1.0, 3.0, 2.0], N=4, length=10.0)
    assert sd.N == 4
    assert [t.tolist() for t in sd.train] == [[1.0, 2.0], [], [3.0, 4.0], []]
    with pytest.raises(SpikeDataError, match="one unit per spike"):
        SpikeData.from_unit_indices([0, 1], [1.0])


def test_spikeinterface_round_trip_keeps_samples_and_unit_ids(ground_truth):
    recording, sorting = ground_truth
    sd = SpikeData.from_spikeinterface(sorting, recording)
    assert sd.length == pytest.approx(recording.get_num_samples() / recording.get_sampling_frequency() * 1000)
    assert sd.metadata["channel_locations"].shape == (recording.get_num_channels(), 2)
    assert not sd.has_raw_data
    back = sd.to_spikeinterface()
    assert list(back.get_unit_ids()) == list(sorting.get_unit_ids())
    for unit_id in sorting.get_unit_ids():
        np.testing.assert_array_equal(back.get_unit_spike_train(unit_id), sorting.get_unit_spike_train(unit_id))


def test_to_spikeinterface_needs_a_sampling_rate():
    with pytest.raises(SpikeDataError, match="fs_Hz"):
        SpikeData([[1.0]]).to_spikeinterface()


def _rich_spikedata():
    return SpikeData(
        [[1.0, 2.0], [], [3.5]],
        length=10.0,
        neuron_attributes=[
            {"unit_id": 4, "channel": 1, "template": np.ones((2, 5), np.float32), "snr": 7.5, "std_norm": np.inf,
             "position": (1.0, 2.0)},
            {"unit_id": 5, "merged_from": [6, 7]},
            {"unit_id": 8},
        ],
        metadata={"fs_Hz": 1000.0, "channel_locations": np.array([[0.0, 0.0], [0.0, 17.5]]),
                  "rec_chunks_ms": [[0.0, 5.0], [5.0, 10.0]], "rec_chunk_names": ["a", "b"]},
        raw_data=np.arange(20, dtype=np.float32).reshape(2, 10),
        raw_time=1.0,
    )


@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_save_load_round_trip(tmp_path, suffix):
    sd = _rich_spikedata()
    path = sd.save(tmp_path / f"sub/sd{suffix}")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind
    back = SpikeData.load(path)
    assert back.N == 3 and back.length == 10.0
    assert [t.tolist() for t in back.train] == [[1.0, 2.0], [], [3.5]]
    np.testing.assert_array_equal(back.raw_data, sd.raw_data)
    np.testing.assert_array_equal(back.raw_time, sd.raw_time)
    np.testing.assert_array_equal(back.neuron_attributes[0]["template"], np.ones((2, 5)))
    assert back.neuron_attributes[0]["snr"] == 7.5 and np.isinf(back.neuron_attributes[0]["std_norm"])
    assert back.neuron_attributes[1]["merged_from"] == [6, 7]
    np.testing.assert_array_equal(back.metadata["channel_locations"], sd.metadata["channel_locations"])
    assert [len(e.train[0]) for e in back.split_epochs()] == [2, 0]


def test_save_refuses_unknown_suffix(tmp_path):
    with pytest.raises(SpikeDataError, match=".npz"):
        _rich_spikedata().save(tmp_path / "sd.mat")


def test_load_rejects_missing_or_foreign_files(tmp_path):
    with pytest.raises(SpikeDataError, match="No SpikeData file"):
        SpikeData.load(tmp_path / "nothing.npz")
    np.savez(tmp_path / "other.npz", json=np.array("{}"))
    with pytest.raises(SpikeDataError, match="not a SpikeData"):
        SpikeData.load(tmp_path / "other.npz")
