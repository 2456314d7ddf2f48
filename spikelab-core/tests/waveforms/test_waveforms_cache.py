"""The waveform cache is reused only when inputs and parameters match, and survives a killed run."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.spike_sorting.waveforms import _cache, build, build_spikedata


@pytest.fixture
def counted(monkeypatch):
    """Count real extractions (the cache must skip them)."""
    calls = []
    original = build._build

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(build, "_build", spy)
    return calls


def test_second_call_reuses_the_cache(known, tmp_path, counted):
    recording, sorting, _ = known
    config = SortingPipelineConfig()
    first = build_spikedata(recording, sorting, config, tmp_path, progress_bar=False)
    second = build_spikedata(recording, sorting, config, tmp_path, progress_bar=False)
    assert len(counted) == 1
    np.testing.assert_array_equal(first.neuron_attributes[0]["template"], second.neuron_attributes[0]["template"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [_cache.MARKER, _cache.SPIKEDATA_FILE]


def test_changed_parameters_or_spikes_invalidate(known, tmp_path, counted):
    from spikeinterface.core import NumpySorting

    recording, sorting, _ = known
    config = SortingPipelineConfig()
    build_spikedata(recording, sorting, config, tmp_path, progress_bar=False)
    wider = build_spikedata(recording, sorting, config.override(ms_after=3.0), tmp_path, progress_bar=False)
    assert wider.neuron_attributes[0]["template"].shape == (8, 80)
    fewer = NumpySorting.from_unit_dict([{7: sorting.get_unit_spike_train(7)[:50]}], sorting.sampling_frequency)
    only7 = build_spikedata(recording, fewer, config, tmp_path, progress_bar=False)
    assert only7.N == 1
    build_spikedata(recording, sorting, config.override(random_seed=5), tmp_path, progress_bar=False)
    assert len(counted) == 4


def test_reextract_forces_a_new_extraction(known, tmp_path, counted):
    recording, sorting, _ = known
    config = SortingPipelineConfig()
    build_spikedata(recording, sorting, config, tmp_path, progress_bar=False)
    build_spikedata(recording, sorting, config.override(reextract_waveforms=True), tmp_path, progress_bar=False)
    assert len(counted) == 2


def test_a_run_killed_before_the_key_is_written_is_redone(known, tmp_path, counted, monkeypatch):
    recording, sorting, _ = known
    config = SortingPipelineConfig()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cache, "mark_valid", killed)
    with pytest.raises(KeyboardInterrupt):
        build_spikedata(recording, sorting, config, tmp_path, progress_bar=False)
    monkeypatch.undo()
    monkeypatch.setattr(build, "_build", _count(counted, build._build))
    sd = build_spikedata(recording, sorting, config, tmp_path, progress_bar=False)
    assert sd.N == 2 and len(counted) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _count(calls, function):
    def wrapped(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)

    return wrapped


def test_corrupt_cache_is_recomputed(known, tmp_path, counted):
    recording, sorting, _ = known
    config = SortingPipelineConfig()
    build_spikedata(recording, sorting, config, tmp_path, progress_bar=False)
    (tmp_path / _cache.SPIKEDATA_FILE).write_bytes(b"not a pickle")
    sd = build_spikedata(recording, sorting, config, tmp_path, progress_bar=False)
    assert sd.N == 2 and len(counted) == 2
