"""The CPU fast paths (threshold pre-filter, int8 network) sort as the plain network does, and an
offline sort runs the network once."""

from __future__ import annotations

import attrs
import numpy as np
from spikeinterface.comparison import compare_two_sorters
from spikeinterface.core import NumpySorting

from spikelab_rtsort.params import RTSortParams
from spikelab_rtsort.rtsort import RTSort


def _plain(rt_sort):
    """The same sorter, network run everywhere in float32."""
    params = attrs.evolve(rt_sort.params, prefilter_sd=None, int8_inference=False)
    return RTSort(rt_sort.model, rt_sort.sequences, rt_sort.locations, rt_sort.sampling_frequency,
                  params, rt_sort.gain, rt_sort.noise, rt_sort.calibration)


def _agreement(trains_a, trains_b, fs):
    a = NumpySorting.from_unit_dict(dict(enumerate(trains_a)), fs)
    b = NumpySorting.from_unit_dict(dict(enumerate(trains_b)), fs)
    comparison = compare_two_sorters(a, b, delta_time=0.4)
    return np.diag(comparison.agreement_scores.to_numpy())


def _stream(rt_sort, traces):
    rt_sort.reset()
    spikes = []
    for start in range(0, traces.shape[0], 100):
        spikes += rt_sort.process(traces[start:start + 100])
    return [np.array([s.frame for s in spikes if s.unit_id == k], dtype=np.int64)
            for k in range(rt_sort.num_units)]


def test_prefilter_and_int8_give_the_spikes_of_the_plain_network(rt_sort, held_out_recording):
    recording, _ = held_out_recording
    n = recording.get_num_frames()
    second = recording.frame_slice(n // 2, n)
    assert rt_sort.params.prefilter_sd is not None and rt_sort.params.int8_inference  # the defaults
    fast = rt_sort.sort_offline(second, return_spikeinterface_sorter=False)
    plain = _plain(rt_sort).sort_offline(second, return_spikeinterface_sorter=False)
    fs = recording.get_sampling_frequency()
    assert sum(len(t) for t in plain) > 500
    assert _agreement(fast, plain, fs).min() > 0.97


def test_streaming_with_the_fast_paths_matches_the_plain_network(rt_sort, held_out_recording):
    recording, _ = held_out_recording
    traces = recording.get_traces(start_frame=0, end_frame=int(5 * recording.get_sampling_frequency()))
    fast = _stream(rt_sort, traces)
    plain = _stream(_plain(rt_sort), traces)
    assert _agreement(fast, plain, recording.get_sampling_frequency()).min() > 0.95


def test_offline_sort_runs_the_network_once_over_the_recording(shipped_model, held_out_recording):
    recording, _ = held_out_recording
    recording = recording.frame_slice(0, recording.get_num_frames() // 2)
    frames_in = []
    hook = shipped_model.net.register_forward_hook(
        lambda module, args, out: frames_in.append(args[0].shape[0] * args[0].shape[2]))
    params = RTSortParams(prefilter_sd=None, int8_inference=False)
    try:
        rts, trains = RTSort.detect_and_sort(recording, shipped_model, params=params)
    finally:
        hook.remove()
    samples = recording.get_num_frames() * recording.get_num_channels()
    assert sum(frames_in) < 1.2 * samples  # once, plus the receptive field of each chunk
    offline = rts.sort_offline(recording, return_spikeinterface_sorter=False)
    assert _agreement(trains, offline, recording.get_sampling_frequency()).min() > 0.95


def test_a_loaded_sorter_rebuilds_its_int8_network(rt_sort, shipped_model, held_out_recording, tmp_path):
    recording, _ = held_out_recording
    traces = recording.get_traces(start_frame=0, end_frame=int(3 * recording.get_sampling_frequency()))
    loaded = RTSort.load(rt_sort.save(tmp_path / "rt_sort.pickle"), shipped_model)
    for mine, theirs in zip(_stream(rt_sort, traces), _stream(loaded, traces)):
        np.testing.assert_array_equal(mine, theirs)


def test_a_sorter_pickled_before_the_fast_paths_loads_and_streams(rt_sort, shipped_model, held_out_recording,
                                                                   tmp_path):
    import copyreg
    import pickle

    path = rt_sort.save(tmp_path / "rt_sort.pickle")
    with open(path, "rb") as fh:
        state = pickle.load(fh)
    del state["calibration"]  # as saved before the fast paths: no calibration sample,
    old_fields = {f.name: getattr(rt_sort.params, f.name) for f in attrs.fields(RTSortParams)
                  if f.name not in ("prefilter_sd", "int8_inference")}  # and fewer parameters

    class OldPickler(pickle.Pickler):
        def reducer_override(self, obj):
            if type(obj) is RTSortParams:
                return copyreg.__newobj__, (RTSortParams,), old_fields
            return NotImplemented

    with open(path, "wb") as fh:
        OldPickler(fh).dump(state)
    loaded = RTSort.load(path, shipped_model)
    recording, _ = held_out_recording
    traces = recording.get_traces(start_frame=0, end_frame=int(3 * recording.get_sampling_frequency()))
    assert sum(len(t) for t in _stream(loaded, traces)) > 0  # the float network, pre-filter default
