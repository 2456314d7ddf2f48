"""Streaming a recording chunk by chunk gives the spikes of sorting the same traces in one pass.

Streaming scales each chunk by its own median (offline scales a whole block), so the reference
here is an offline assignment over the stream's own scaled traces: the same spikes, frame for
frame, show that no spike is lost or doubled at chunk edges and that the network's context is
carried over correctly.
"""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from spikelab_rtsort.inference import NO_OUTPUT, channel_median, infer_logits
from spikelab_rtsort.rtsort import RTSort


def _variant(rt_sort, **changes):
    params = attrs.evolve(rt_sort.params, **changes)
    return RTSort(rt_sort.model, rt_sort.sequences, rt_sort.locations, rt_sort.sampling_frequency,
                  params, rt_sort.gain, rt_sort.noise, rt_sort.calibration)


def _stream(sorter, traces, sizes):
    """Spikes (frame, unit) of streaming ``traces`` in chunks of ``sizes`` (cycled), and the
    stream's scaled traces."""
    sorter.reset()
    spikes, scaled, start, i = [], [], 0, 0
    while start < traces.shape[0]:
        chunk = traces[start:start + sizes[i % len(sizes)]]
        spikes += sorter.process(chunk)
        scaled.append((chunk - channel_median(chunk)) * np.float32(sorter.gain))
        start += chunk.shape[0]
        i += 1
    return sorted((s.frame, s.unit_id) for s in spikes), np.concatenate(scaled)


def _one_pass(sorter, scaled, offset=0, prefilter_chunk=None):
    """First candidate frame and spikes of one assignment over ``scaled[offset:]`` up to the
    frame the stream decided."""
    logits = np.full(scaled.shape, NO_OUTPUT, dtype=np.float32)
    prefilter = {} if prefilter_chunk is None else dict(
        prefilter_sd=sorter.params.prefilter_sd, noise=sorter.noise, chunk_frames=prefilter_chunk)
    logits[offset:] = infer_logits(sorter.detector, scaled[offset:], **prefilter)
    first = offset + sorter.model.buffer_front + sorter.half_window + 2
    frames, units = sorter._assign(logits, scaled, first, sorter._decided)
    return first, sorted(zip(frames.tolist(), units.tolist()))


@pytest.mark.parametrize("changes", [{}, {"prefilter_sd": None}],
                         ids=["pre-filter + int8 (defaults)", "int8, every channel"])
def test_streaming_in_5_ms_chunks_gives_the_one_pass_spikes(rt_sort, held_out_recording, changes):
    recording, _ = held_out_recording
    fs = recording.get_sampling_frequency()
    traces = recording.get_traces(start_frame=int(10 * fs), end_frame=int(15 * fs))
    sorter = _variant(rt_sort, **changes)
    streamed, scaled = _stream(sorter, traces, [100])
    if sorter.params.prefilter_sd is None:
        first, expected = _one_pass(sorter, scaled)
    else:  # pre-filter chunks as the stream's: from its second call on, each scores the frames
        # of its 5 ms chunk shifted back by the network's end buffer
        offset = 100 - sorter.model.buffer_end - sorter.model.buffer_front
        first, expected = _one_pass(sorter, scaled, offset, prefilter_chunk=100)
    assert len(expected) > 200
    assert [s for s in streamed if s[0] >= first] == expected


def test_streaming_in_uneven_chunks_gives_the_one_pass_spikes(rt_sort, held_out_recording):
    """Chunks shorter than the receptive field, and longer than the buffer kept between calls."""
    recording, _ = held_out_recording
    fs = recording.get_sampling_frequency()
    traces = recording.get_traces(start_frame=int(10 * fs), end_frame=int(13 * fs))
    sorter = _variant(rt_sort, prefilter_sd=None)
    streamed, scaled = _stream(sorter, traces, [37, 250, 100, 61, 1000, 13])
    _, expected = _one_pass(sorter, scaled)
    assert len(expected) > 100
    assert streamed == expected


def test_streaming_the_float_network_gives_the_one_pass_spikes(rt_sort, held_out_recording):
    """The float network keeps each layer's context between chunks instead of a window."""
    recording, _ = held_out_recording
    fs = recording.get_sampling_frequency()
    traces = recording.get_traces(start_frame=int(10 * fs), end_frame=int(13 * fs))
    sorter = _variant(rt_sort, prefilter_sd=None, int8_inference=False)
    streamed, scaled = _stream(sorter, traces, [100])
    _, expected = _one_pass(sorter, scaled)
    assert len(expected) > 100
    # equal up to float rounding (layer by layer against whole windows): at most a spike or two
    assert len(set(streamed) ^ set(expected)) <= 2
