"""A float recording whose every read refuses NaN or inf, so none reaches a sorter.

``open_recording`` scans spread blocks of a float recording when it opens it; this wrapper
checks every block read afterwards (the pipeline's full pass writing the cached binary
recording), at the cost of one ``isfinite`` per block.
"""

from __future__ import annotations

import numpy as np
from spikeinterface.preprocessing.basepreprocessor import BasePreprocessor, BasePreprocessorSegment

from spikelab.errors import InputError

#: Values read when a recording is opened: all of a recording up to this size, spread blocks of
#: a larger one (2**25 float32 values are 128 MiB: a few seconds of a 1024-channel array).
SCAN_BUDGET_VALUES = 2**25


def scan_windows(num_samples: int, num_channels: int, budget: int | None = None,
                 block_samples: int = 20_000) -> list[tuple[int, int]]:
    """``(start, end)`` sample windows to read at open: the whole recording when it fits in
    ``budget`` values (default :data:`SCAN_BUDGET_VALUES`), else that many in spread blocks."""
    budget = SCAN_BUDGET_VALUES if budget is None else budget
    if num_samples * num_channels <= budget:
        return [(s, min(num_samples, s + block_samples)) for s in range(0, num_samples, block_samples)]
    block = max(1, min(block_samples, budget // max(1, num_channels) // 32))
    count = max(1, budget // max(1, num_channels * block))
    starts = np.unique(np.linspace(0, max(0, num_samples - block), num=count).astype(np.int64))
    return [(int(s), int(min(num_samples, s + block))) for s in starts]


class FiniteCheckedRecording(BasePreprocessor):
    """``recording`` unchanged, except that a read holding NaN or inf raises :class:`InputError`.

    Parameters
    ----------
    recording : BaseRecording
        A float recording.
    label : str, default: "The recording"
        How the error names the input (its path, usually).
    """

    def __init__(self, recording, label: str = "The recording") -> None:
        BasePreprocessor.__init__(self, recording)
        for segment in recording._recording_segments:
            self.add_recording_segment(_FiniteSegment(segment, label, recording.get_channel_ids()))
        self._kwargs = {"recording": recording, "label": label}


class _FiniteSegment(BasePreprocessorSegment):
    def __init__(self, parent, label: str, channel_ids) -> None:
        BasePreprocessorSegment.__init__(self, parent)
        self._label = label
        self._channel_ids = channel_ids

    def get_traces(self, start_frame, end_frame, channel_indices):
        traces = self.parent_recording_segment.get_traces(start_frame, end_frame, channel_indices)
        bad = ~np.isfinite(traces)
        if bad.any():
            sample, column = (int(i) for i in np.argwhere(bad)[0])
            channels = self._channel_ids if channel_indices is None else np.asarray(self._channel_ids)[channel_indices]
            raise InputError(
                f"{self._label} holds {traces[sample, column]} (NaN or inf) "
                f"at sample {int(start_frame or 0) + sample}, "
                f"channel '{channels[column]}'; a sorter cannot use it. Replace or remove those samples "
                "(e.g. spikeinterface.preprocessing.remove_artifacts) before sorting."
            )
        return traces
