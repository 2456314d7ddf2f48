"""SpikeData construction, validation, subsets and epochs."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab import SpikeData
from spikelab.spikedata import SpikeDataError


def test_trains_are_sorted_copies_and_length_defaults_to_last_spike():
    source = [np.array([5.0, 1.0]), [2.5]]
    sd = SpikeData(source)
    source[0][0] = 99.0
    assert sd.N == 2
    assert sd.length == 5.0
    np.testing.assert_array_equal(sd.train[0], [1.0, 5.0])


def test_nan_spike_time_is_rejected_naming_the_unit():
    with pytest.raises(SpikeDataError, match="unit 1 has 1 NaN"):
        SpikeData([[1.0], [2.0, np.nan]], length=10.0)


def test_spike_beyond_length_is_rejected():
    with pytest.raises(SpikeDataError, match="outside"):
        SpikeData([[1.0, 12.0]], length=10.0)
    with pytest.raises(SpikeDataError, match="outside"):
        SpikeData([[-1.0]], length=10.0)


def test_negative_or_infinite_length_is_rejected():
    with pytest.raises(SpikeDataError, match="length"):
        SpikeData([[1.0]], length=-5.0)
    with pytest.raises(SpikeDataError, match="length"):
        SpikeData([[1.0]], length=np.inf)


def test_empty_units_and_no_units():
    sd = SpikeData([], N=3, length=1000.0)
    assert sd.N == 3 and all(t.size == 0 for t in sd.train)
    assert SpikeData([]).N == 0
    with pytest.raises(SpikeDataError, match="N=2"):
        SpikeData([[1.0]], N=2)


def test_neuron_attributes_must_match_units():
    with pytest.raises(SpikeDataError, match="one dict per unit"):
        SpikeData([[1.0], [2.0]], neuron_attributes=[{}])


def test_raw_data_needs_a_time_base():
    with pytest.raises(SpikeDataError, match="raw_time"):
        SpikeData([[1.0]], raw_data=np.zeros((2, 100)))
    sd = SpikeData([[1.0]], raw_data=np.zeros((2, 100)), raw_time=20.0)
    np.testing.assert_allclose(sd.raw_time[:3], [0.0, 0.05, 0.1])
    assert sd.fs_Hz == pytest.approx(20000.0)
    sd = SpikeData([[1.0]], raw_data=np.zeros((2, 100)), metadata={"fs_Hz": 10000.0})
    assert sd.raw_time[1] == pytest.approx(0.1)
    with pytest.raises(SpikeDataError, match="samples"):
        SpikeData([[1.0]], raw_data=np.zeros((2, 100)), raw_time=np.arange(50.0))


def test_subset_by_index_mask_and_unit_id_keeps_length_and_attributes():
    attrs = [{"unit_id": 10}, {"unit_id": 11}, {"unit_id": 12}]
    sd = SpikeData([[1.0], [2.0], [3.0]], length=50.0, neuron_attributes=attrs, metadata={"fs_Hz": 1e4})
    by_index = sd.subset([2, 0])
    assert by_index.unit_ids.tolist() == [12, 10]
    assert by_index.length == 50.0 and by_index.metadata["fs_Hz"] == 1e4
    assert sd.subset(np.array([False, True, False])).unit_ids.tolist() == [11]
    assert sd.subset([11], by="unit_id").train[0].tolist() == [2.0]
    with pytest.raises(SpikeDataError, match="out of range"):
        sd.subset([3])
    with pytest.raises(SpikeDataError, match="unit_id"):
        sd.subset([99], by="unit_id")


def test_subset_does_not_share_attribute_dicts():
    sd = SpikeData([[1.0]], neuron_attributes=[{"unit_id": 1}])
    sub = sd.subset([0])
    sub.neuron_attributes[0]["snr"] = 3.0
    assert "snr" not in sd.neuron_attributes[0]


def test_split_epochs_shifts_each_file_to_zero():
    templates = [np.full((2, 4), 1.0), np.full((2, 4), 2.0)]
    sd = SpikeData(
        [[100.0, 999.0, 1000.0, 2400.0], [1500.0]],
        length=2500.0,
        neuron_attributes=[{"unit_id": 0, "channel": 1, "epoch_templates": templates}, {"unit_id": 1}],
        metadata={"rec_chunks_ms": [(0.0, 1000.0), (1000.0, 2500.0)], "rec_chunk_names": ["a.raw.h5", "b.raw.h5"]},
        raw_data=np.arange(2 * 2500, dtype=float).reshape(2, 2500),
        raw_time=1.0,
    )
    first, second = sd.split_epochs()
    assert (first.length, second.length) == (1000.0, 1500.0)
    assert first.train[0].tolist() == [100.0, 999.0]
    assert second.train[0].tolist() == [0.0, 1400.0]
    assert second.train[1].tolist() == [500.0]
    assert second.metadata["source_file"] == "b.raw.h5" and second.metadata["epoch_index"] == 1
    assert "rec_chunks_ms" not in second.metadata
    assert second.neuron_attributes[0]["template"][0, 0] == 2.0
    assert second.neuron_attributes[0]["avg_waveform"].tolist() == [2.0] * 4
    assert second.raw_data.shape == (2, 1500) and second.raw_time[0] == 0.0
    assert second.raw_data[0, 0] == 1000.0


def test_split_epochs_without_chunks_says_what_is_missing():
    with pytest.raises(SpikeDataError, match="rec_chunks_ms"):
        SpikeData([[1.0]]).split_epochs()


def test_unit_locations_from_xy_position_or_channel():
    sd = SpikeData(
        [[1.0], [1.0], [1.0]],
        neuron_attributes=[{"x": 1.0, "y": 2.0}, {"position": (3.0, 4.0)}, {"channel": 1}],
        metadata={"channel_locations": np.array([[0.0, 0.0], [5.0, 6.0]])},
    )
    np.testing.assert_array_equal(sd.unit_locations, [[1, 2], [3, 4], [5, 6]])
    with pytest.raises(SpikeDataError, match="no position"):
        _ = SpikeData([[1.0]]).unit_locations
