"""The plugin guide's example package installs with pip and sorts by name, with core unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "spikelab-example-sorter"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return target


def test_example_sorter_is_listed_and_sorts_by_name(installed_example, tmp_path, monkeypatch):
    from spikelab.plugins import SpikeLabPluginManager, manager
    from spikelab.spike_sorting import sort_recording
    from spikelab.testing import fake_backend, tiny_recording

    monkeypatch.syspath_prepend(str(installed_example))
    monkeypatch.setenv("PYTHONPATH", str(installed_example))
    fresh = SpikeLabPluginManager()  # a new process after `pip install` would discover it
    fresh.register(fake_backend, name="spikelab.testing.fake_backend")
    monkeypatch.setattr(manager, "_GLOBAL", fresh)

    info = {i.name: i for i in fresh.plugin_info()}
    assert info["threshold"].distribution == "spikelab-example-sorter"
    backend = fresh.sorter("threshold")
    assert backend.oom_knob.name == "chunk_samples"

    recording, _ = tiny_recording(seed=2)
    recording.save(folder=tmp_path / "rec", format="binary", verbose=False)
    sds = sort_recording([tmp_path / "rec"], sorter="threshold", threshold=4.5, curate=False, progress_bar=False)
    assert sds[0].N > 0
    assert (tmp_path / "sorted_threshold" / "rec" / "sorting_report.md").is_file()

    from spikelab.spike_sorting.config import get_preset

    assert get_preset("THRESHOLD").sorter.sorter_name == "threshold"
