"""Maxwell files written block by block read back as the same recording as one written at once."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab.spike_sorting.io import open_recording
from spikelab.testing import maxwell as mxw


@pytest.mark.parametrize("layout", ["legacy", "new"])
def test_blocks_read_back_like_a_whole_write(tmp_path, layout):
    traces = mxw.synthetic_traces(8, 3000, seed=4)
    blocks = [traces[:, :1100], traces[:, 1100:2000], traces[:, 2000:]]
    if layout == "legacy":
        whole = mxw.write_legacy(tmp_path / "whole.raw.h5", traces=traces, extra_rows=4)
        parts = mxw.write_legacy(tmp_path / "parts.raw.h5", num_channels=8, num_samples=3000, extra_rows=4,
                                 blocks=iter(blocks))
    else:
        whole = mxw.write_new(tmp_path / "whole.raw.h5", traces={("well000", "rec0000"): traces})
        parts = mxw.write_new(tmp_path / "parts.raw.h5", num_channels=8, num_samples=3000, blocks=iter(blocks))
    expected, got = open_recording(whole).recording, open_recording(parts).recording
    np.testing.assert_array_equal(got.get_traces(), expected.get_traces())
    np.testing.assert_array_equal(got.get_channel_locations(), expected.get_channel_locations())


def test_blocks_must_add_up_to_num_samples(tmp_path):
    traces = mxw.synthetic_traces(4, 100)
    with pytest.raises(ValueError, match="num_samples"):
        mxw.write_legacy(tmp_path / "short.raw.h5", num_channels=4, num_samples=200, blocks=[traces])


def test_blocks_per_well_read_back_like_a_whole_multiwell_write(tmp_path):
    from spikelab.spike_sorting.config import RecordingConfig

    wells = ("well000", "well001")
    traces = {well: mxw.synthetic_traces(8, 3000, seed=5 + k) for k, well in enumerate(wells)}
    whole = mxw.write_new(tmp_path / "whole.raw.h5", wells=wells, traces={(w, "rec0000"): t for w, t in traces.items()})
    parts = mxw.write_new(tmp_path / "parts.raw.h5", wells=wells, num_channels=8, num_samples=3000,
                          blocks={w: iter([t[:, :1000], t[:, 1000:]]) for w, t in traces.items()})
    for well in wells:
        config = RecordingConfig(stream_id=well)
        expected, got = open_recording(whole, config).recording, open_recording(parts, config).recording
        np.testing.assert_array_equal(got.get_traces(), expected.get_traces())
        np.testing.assert_array_equal(got.get_channel_locations(), expected.get_channel_locations())
    with pytest.raises(ValueError, match="every well"):
        mxw.write_new(tmp_path / "half.raw.h5", wells=wells, num_channels=8, num_samples=3000,
                      blocks={"well000": iter([traces["well000"]])})
