"""Fixtures for the safeguard tests: a tiny saved recording and sort jobs on it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def saved_recording(tmp_path_factory):
    """A 2 s, 8-channel generated recording saved as a SpikeInterface binary folder."""
    from spikelab.testing.recordings import tiny_recording

    recording, _ = tiny_recording(seed=3, duration_s=2.0, num_channels=8, num_units=3)
    folder = tmp_path_factory.mktemp("guards_rec") / "recording"
    return recording.save(folder=folder, verbose=False)


@pytest.fixture
def fake_backend_obj():
    from spikelab.plugins import get_plugin_manager

    return get_plugin_manager().sorter("fake")


@pytest.fixture
def make_job(saved_recording, tmp_path, fake_backend_obj):
    """``make_job(backend=None, **flat) -> (job, context)`` for the fake sorter."""
    from spikelab.spike_sorting.backend import SortJob
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.guards.base import WatchContext

    def make(backend=None, results=None, **flat):
        backend = backend or fake_backend_obj
        flat.setdefault("sorter", "fake")
        config = SortingPipelineConfig().override(**flat)
        sorter_folder = tmp_path / "inter" / "sorter_output"
        job = SortJob(
            recording_folder=_folder_of(saved_recording),
            sorter_folder=sorter_folder,
            log_path=sorter_folder / backend.log_name,
            params=backend.resolve_params(config),
            config=config,
        )
        context = WatchContext(
            config=config,
            backend=backend,
            job=job,
            recording_duration_s=2.0,
            results_folder=Path(results) if results else tmp_path / "results",
        )
        return job, context

    return make


def _folder_of(recording) -> Path:
    return Path(recording._kwargs["folder_path"])
