"""Recordings for batch tests: saved SpikeInterface folders, each annotated with how the fake
sorter should behave on it."""

from __future__ import annotations

from pathlib import Path

import pytest


def make_recordings(folder: Path, behaviours: list[str], duration_s: float = 4.0) -> list[Path]:
    from spikelab.testing import tiny_recording

    paths = []
    for index, behaviour in enumerate(behaviours):
        recording, _ = tiny_recording(seed=index, duration_s=duration_s, num_units=4, firing_rate_hz=15.0)
        recording.annotate(fake_behaviour=behaviour)
        path = folder / f"rec{index}"
        recording.save(folder=path, format="binary", verbose=False)
        paths.append(path)
    return paths


@pytest.fixture
def recordings_factory(tmp_path):
    return lambda behaviours, **kw: make_recordings(tmp_path, behaviours, **kw)


@pytest.fixture
def fast():
    """Small, fast batch settings: no curation thresholds that a 4 s recording cannot meet."""
    return {"progress_bar": False, "spikes_min": 5, "snr_min": None, "std_norm_max": None, "fr_min": None}
