"""Fixtures: a generated ground-truth recording, a Kilosort2 source tree, fake MATLAB and Docker.

MATLAB and the Docker engine are the only fakes; everything between them and the user's call
(the binary, chanMap.mat, the generated scripts, the child process, the phy reader) is real.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from spikelab.testing import kit_plugins

pytest_plugins = kit_plugins()  # the test kit is opt-in

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


@pytest.fixture(scope="session")
def ground_truth(tmp_path_factory):
    """A 16-channel, 10 s generated recording saved twice (float32 µV and int16), and its truth."""
    import spikeinterface.preprocessing as spre

    from spikelab.testing.recordings import tiny_recording

    recording, sorting = tiny_recording(seed=0)
    base = tmp_path_factory.mktemp("ks2_gt")
    float_folder = base / "float32"
    recording.save(folder=float_folder, format="binary", n_jobs=1, progress_bar=False)
    int16 = spre.scale(recording, gain=10.0, offset=0.0, dtype="int16")
    int16.set_channel_gains(0.1)
    int16.set_channel_offsets(0.0)
    int16_folder = base / "int16"
    int16.save(folder=int16_folder, format="binary", n_jobs=1, progress_bar=False)
    vector = sorting.to_spike_vector()
    truth = base / "truth.npz"
    np.savez(truth, samples=vector["sample_index"], labels=vector["unit_index"])
    return {
        "recording": recording,
        "sorting": sorting,
        "float_folder": float_folder,
        "int16_folder": int16_folder,
        "truth": truth,
    }


@pytest.fixture
def kilosort_tree(tmp_path) -> Path:
    """A folder laid out like a compiled Kilosort2 v2.0 clone with npy-matlab inside."""
    root = tmp_path / "Kilosort2"
    (root / "CUDA").mkdir(parents=True)
    (root / "main_kilosort.m").write_text("% Kilosort2 main script\n")
    (root / "CUDA" / "mexGPUall.m").write_text("% compiles the CUDA MEX files\n")
    (root / "CUDA" / "mexThSpkPC.mexa64").write_bytes(b"\x7fELF")
    (root / "npy-matlab").mkdir()
    (root / "npy-matlab" / "writeNPY.m").write_text("function writeNPY(var, filename)\n")
    return root


@pytest.fixture
def fake_matlab(tmp_path, monkeypatch, ground_truth):
    """Put the fake ``matlab`` first on PATH; returns a reader of its recorded command lines."""
    bin_dir = tmp_path / "fake_bin"
    bin_dir.mkdir()
    script = bin_dir / "matlab"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS_DIR)!r})\n"
        "import ks2_fake_matlab\n"
        "sys.exit(ks2_fake_matlab.main(sys.argv[1:]))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    calls = tmp_path / "matlab_calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("SPIKELAB_FAKE_MATLAB_CALLS", str(calls))
    monkeypatch.setenv("SPIKELAB_FAKE_KS2_GT", str(ground_truth["truth"]))
    monkeypatch.setenv("SPIKELAB_FAKE_KS2_MODE", "ok")
    monkeypatch.delenv("SPIKELAB_FAKE_KS2_OOM_ABOVE_NT", raising=False)

    def read_calls() -> list[dict]:
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    return read_calls


@pytest.fixture
def fake_docker(tmp_path, monkeypatch, ground_truth):
    """Make ``ks2_fake_docker.make_client`` importable here and in child processes."""
    calls = tmp_path / "docker_calls.jsonl"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("SPIKELAB_FAKE_DOCKER_CALLS", str(calls))
    monkeypatch.setenv("SPIKELAB_FAKE_DOCKER", "ok")
    monkeypatch.delenv("SPIKELAB_FAKE_DOCKER_HAS_IMAGE", raising=False)
    monkeypatch.setenv("SPIKELAB_FAKE_KS2_GT", str(ground_truth["truth"]))
    monkeypatch.setenv("SPIKELAB_FAKE_KS2_MODE", "ok")

    def read_calls() -> list[dict]:
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    return read_calls


@pytest.fixture
def make_job(tmp_path):
    """Build a SortJob for the kilosort2 backend from flat overrides."""
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting.backend import SortJob
    from spikelab.spike_sorting.config import SortingPipelineConfig

    backend = get_plugin_manager().sorter("kilosort2")

    def build(recording_folder: Path, name: str = "sort", **overrides) -> SortJob:
        config = SortingPipelineConfig().override(sorter="kilosort2", **overrides)
        folder = tmp_path / name / "sorter_output"
        return SortJob(
            recording_folder=Path(recording_folder),
            sorter_folder=folder,
            log_path=folder / backend.log_name,
            params=backend.resolve_params(config),
            config=config,
        )

    return build
