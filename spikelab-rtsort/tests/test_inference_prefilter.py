"""The threshold pre-filter runs the network only where a channel's traces cross the threshold."""

from __future__ import annotations

import numpy as np

from spikelab_rtsort._paths import DEFAULT_MEA_MODEL_PATH
from spikelab_rtsort.inference import NO_OUTPUT, infer_logits
from spikelab_rtsort.model import load_detection_model


def test_prefilter_keeps_crossing_chunks_and_skips_quiet_ones():
    model = load_detection_model(DEFAULT_MEA_MODEL_PATH)
    rng = np.random.default_rng(0)
    scaled = rng.normal(0.0, 1.0, size=(3000, 3)).astype(np.float32)
    scaled[500:505, 0] -= 20.0  # one large trough on channel 0, in the first 1000-frame chunk
    full = infer_logits(model, scaled, chunk_frames=1000)
    gated = infer_logits(model, scaled, chunk_frames=1000, prefilter_sd=8.0)
    front = model.buffer_front
    # the chunk holding the trough is computed as without the pre-filter (batch rounding aside)
    np.testing.assert_allclose(gated[front:front + 1000, 0], full[front:front + 1000, 0], atol=1e-4)
    # quiet chunks and channels are not run
    assert np.all(gated[front + 1000:, 0][: 1000] == NO_OUTPUT)
    assert np.all(gated[:, 1:] == NO_OUTPUT)
    # no pre-filter (None) is today's behaviour
    np.testing.assert_array_equal(infer_logits(model, scaled, chunk_frames=1000, prefilter_sd=None), full)
