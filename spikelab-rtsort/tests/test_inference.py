import numpy as np
import pytest
import torch

from spikelab_rtsort.inference import NO_OUTPUT, StreamingInference, channel_median, find_peaks, infer_logits
from spikelab_rtsort.model import DetectionModel, DetectionNet


def _model():
    torch.manual_seed(1)
    net = DetectionNet(hidden=4, kernel_size=11, dilations=(1, 2, 4, 1))
    net.init_weights()
    return DetectionModel(net, dict(sample_size=200, buffer_front_sample=40,
                                    buffer_end_sample=40))


def test_chunked_inference_matches_one_pass_for_any_batch_size():
    model = _model()
    traces = np.random.default_rng(0).normal(size=(5000, 6)).astype(np.float32)
    with torch.no_grad():
        full = model.net(torch.from_numpy(traces.T[:, None, :].copy())).numpy().T
    for batch_size, chunk in [(1, 700), (4, 2000), (64, 100000)]:
        logits = infer_logits(model, traces, batch_size=batch_size, chunk_frames=chunk)
        np.testing.assert_allclose(logits[40:-40], full, rtol=1e-4, atol=1e-4)
        assert (logits[:40] == NO_OUTPUT).all() and (logits[-40:] == NO_OUTPUT).all()


def test_find_peaks_reports_each_local_maximum_above_threshold_once():
    logits = np.full((20, 2), -5.0, np.float32)
    logits[5, 0] = 1.0
    logits[[9, 10], 1] = 2.0  # plateau: counted once
    logits[15, 1] = -3.0  # below threshold
    frames, channels = find_peaks(logits, 0.0)
    assert sorted(zip(frames.tolist(), channels.tolist())) == [(5, 0), (9, 1)]


def test_find_peaks_taken_block_by_block_finds_the_same_peaks_across_block_edges(monkeypatch):
    import spikelab_rtsort.inference as inference

    rng = np.random.default_rng(3)
    logits = np.round(rng.normal(size=(1000, 7)), 1).astype(np.float32)  # rounding makes plateaus
    columns = np.array([6, 0, 3])
    whole_f, whole_c = find_peaks(logits, 0.5, columns=columns)
    monkeypatch.setattr(inference, "PEAK_BLOCK_FRAMES", 17)  # edges fall on peaks and plateaus
    for source in (logits, logits.astype(np.float16)):
        frames, cols = find_peaks(source, 0.5, columns=columns)
        assert np.array_equal(frames, whole_f) and np.array_equal(cols, whole_c)
    # the same local maxima a reader would mark by hand (neither end frame can be one)
    sub = logits[:, columns]
    expect = [(t, c) for t in range(1, 999) for c in range(3)
              if sub[t, c] >= 0.5 and sub[t, c] > sub[t - 1, c] and sub[t, c] >= sub[t + 1, c]]
    assert list(zip(whole_f.tolist(), whole_c.tolist())) == expect


def test_find_peaks_keeps_float64_logits_in_float64():
    logits = np.array([[0.0], [1.0], [1.0 + 1e-12], [0.0]])
    assert find_peaks(logits, 0.5)[0].tolist() == [2]  # not a float32 plateau at frame 1
    below = np.array([[0.0], [0.5 - 1e-12], [0.0]])
    assert find_peaks(below, 0.5 - 1e-13)[0].size == 0


def test_detection_window_held_as_float16_stays_finite_through_a_saturated_artifact():
    from spikeinterface.core import NumpyRecording

    from spikelab_rtsort.inference import detect_recording

    traces = np.random.default_rng(4).normal(scale=5.0, size=(4000, 4)).astype(np.float32)
    traces[2000:2050, 1] = 1e9  # far beyond float16 once scaled
    recording = NumpyRecording([traces], sampling_frequency=20000.0)
    logits, scaled, _ = detect_recording(_model(), recording, gain=1.0, dtype=np.float16)
    assert logits.dtype == scaled.dtype == np.float16
    assert np.isfinite(scaled).all() and np.isfinite(logits).all()
    reference, _, _ = detect_recording(_model(), recording, gain=1.0)
    np.testing.assert_allclose(logits.astype(np.float32)[:, [0, 2, 3]], reference[:, [0, 2, 3]],
                               rtol=2e-3, atol=2e-2)


def test_streaming_inference_gives_the_one_pass_logits_chunk_by_chunk():
    model = _model()
    traces = np.random.default_rng(2).normal(size=(3000, 5)).astype(np.float32)
    full = infer_logits(model, traces)
    stream = StreamingInference(model)
    pieces, start = [], 0
    for size in [7, 30, 1, 100, 250, 13] * 20:  # shorter and longer than the receptive field
        if start >= len(traces):
            break
        piece = traces[start:start + size]
        pieces.append(stream.push(piece))
        start += len(piece)
    streamed = np.concatenate(pieces)
    # The first output scores frame buffer_front; afterwards one output per new frame.
    assert streamed.shape == (start - model.receptive_field + 1, 5)
    np.testing.assert_allclose(streamed, full[40:40 + len(streamed)], rtol=1e-4, atol=1e-4)
    stream.reset()
    assert stream.push(traces[:50]).shape[0] == 0  # context is rebuilt after a reset


@pytest.mark.parametrize("frames", [100, 101, 1])
def test_channel_median_is_numpys_median(frames):
    traces = np.random.default_rng(frames).normal(size=(frames, 7)).astype(np.float32)
    np.testing.assert_array_equal(channel_median(traces), np.median(traces, axis=0, keepdims=True))
