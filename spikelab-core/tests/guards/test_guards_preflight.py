"""Preflight: each failure is a classified exception raised before any sorting, naming the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import attrs
import pytest
from _guards_helpers import with_gpu

from spikelab.errors import InputError
from spikelab.spike_sorting._exceptions import (
    DiskExhaustionError,
    GpuNotAvailableError,
    PermissionDeniedError,
    ResourceSortFailure,
    SorterDependencyError,
)
from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.spike_sorting.guards.preflight import (
    PreflightProbes,
    raise_for_findings,
    run_preflight,
)
from spikelab.testing.fake_nvml import FakeGpu, FakeNvml

PLENTY = PreflightProbes(
    disk_usage=lambda path: (2e12, 1e12, 1e12),
    available_ram=lambda: 16e9,
    load_nvml=lambda: None,
    open_files_limit=lambda: 65536,
)


def _config(**flat):
    return SortingPipelineConfig().override(sorter="fake", **flat)


def _check(backend, recording, tmp_path, probes=PLENTY, config=None, inter=None, results=None):
    return run_preflight(
        config or _config(),
        backend,
        [recording],
        [inter or tmp_path / "inter"],
        [results or tmp_path / "results"],
        probes=probes,
    )


def test_a_healthy_setup_has_no_findings(fake_backend_obj, saved_recording, tmp_path):
    assert _check(fake_backend_obj, saved_recording, tmp_path) == []
    raise_for_findings([])  # nothing to raise


def test_missing_sorter_dependency(fake_backend_obj, saved_recording, tmp_path):
    backend = attrs.evolve(
        fake_backend_obj,
        check_environment=lambda config: ["kilosort: not importable; `pip install spikelab-ks4` installs it"],
    )
    findings = _check(backend, saved_recording, tmp_path)
    assert [f.code for f in findings] == ["sorter_dependency_missing"]
    with pytest.raises(SorterDependencyError) as info:
        raise_for_findings(findings, sorter="fake")
    error = info.value
    assert error.status == "environment" and error.stage == "preflight" and error.sorter == "fake"
    assert error.dependency == "kilosort" and "pip install spikelab-ks4" in str(error)


def test_folder_under_a_file_is_not_writable(fake_backend_obj, saved_recording, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    findings = _check(fake_backend_obj, saved_recording, tmp_path, results=blocker / "results")
    assert [f.code for f in findings] == ["results_not_writable"]
    with pytest.raises(PermissionDeniedError) as info:
        raise_for_findings(findings)
    assert info.value.folder == str(blocker / "results") and info.value.status == "environment"


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip("running as root without permission to mount a read-only volume")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_read_only_intermediate_folder(fake_backend_obj, saved_recording, tmp_path, read_only_folder):
    findings = _check(fake_backend_obj, saved_recording, tmp_path, inter=read_only_folder / "session1")
    assert "intermediate_not_writable" in [f.code for f in findings]
    with pytest.raises(PermissionDeniedError, match="not writable"):
        raise_for_findings(findings)


def test_too_little_disk_for_the_estimate(fake_backend_obj, saved_recording, tmp_path):
    size = 8 * 40000 * saved_recording.get_dtype().itemsize  # channels x samples x bytes
    free = 1.0e9 + 1.5 * size  # the floor plus less than the 2x estimate
    probes = attrs.evolve(PLENTY, disk_usage=lambda path: (1e12, 1e12 - free, free))
    findings = _check(fake_backend_obj, saved_recording, tmp_path, probes=probes)
    assert [(f.code, f.level) for f in findings] == [("low_disk_inter", "fail")]
    assert findings[0].evidence["required_gb"] == pytest.approx((2 * size + 1e9) / 1e9, abs=1e-3)
    with pytest.raises(DiskExhaustionError) as info:
        raise_for_findings(findings, sorter="fake")
    assert info.value.status == "disk_exhausted" and info.value.stage == "preflight"
    assert info.value.free_gb_at_trip < info.value.abort_threshold_gb
    roomy = attrs.evolve(PLENTY, disk_usage=lambda path: (1e12, 0, 1.0e9 + 2.5 * size + 6e9))
    assert _check(fake_backend_obj, saved_recording, tmp_path, probes=roomy) == []


def test_results_volume_below_its_floor(fake_backend_obj, saved_recording, tmp_path):
    results = tmp_path / "results"
    results.mkdir()  # the probe sees the folder itself, not a shared parent
    (tmp_path / "inter").mkdir()

    def disk(path):
        free = 0.2e9 if path == results else 1e12
        return (1e12, 1e12 - free, free)

    findings = _check(
        fake_backend_obj, saved_recording, tmp_path, probes=attrs.evolve(PLENTY, disk_usage=disk)
    )
    assert [f.code for f in findings] == ["low_disk_results"]


def test_low_ram_warns_and_strict_mode_fails(fake_backend_obj, saved_recording, tmp_path):
    probes = attrs.evolve(PLENTY, available_ram=lambda: 0.5e9)
    findings = _check(fake_backend_obj, saved_recording, tmp_path, probes=probes)
    assert [(f.code, f.level, f.family) for f in findings] == [("low_ram", "warn", "resource")]
    raise_for_findings(findings)  # a warning only
    with pytest.raises(ResourceSortFailure, match="host RAM"):
        raise_for_findings(findings, strict=True)


def test_gpu_checks_for_gpu_backends(fake_backend_obj, saved_recording, tmp_path):
    backend = with_gpu(fake_backend_obj)
    no_nvml = _check(backend, saved_recording, tmp_path)
    assert [f.code for f in no_nvml] == ["vram_unknown"]
    nvml = FakeNvml([FakeGpu(total_gb=8.0, used_gb=7.5)])
    nvml.nvmlInit()
    busy = _check(backend, saved_recording, tmp_path, probes=attrs.evolve(PLENTY, load_nvml=lambda: nvml))
    assert [(f.code, f.level) for f in busy] == [("low_vram", "warn")]
    config = _config(sorter_params={"torch_device": "cuda:2"})
    nvml.nvmlInit()
    absent = _check(
        backend, saved_recording, tmp_path, config=config, probes=attrs.evolve(PLENTY, load_nvml=lambda: nvml)
    )
    with pytest.raises(GpuNotAvailableError) as info:
        raise_for_findings(absent)
    assert info.value.device == "2"
    assert (
        _check(
            fake_backend_obj, saved_recording, tmp_path, probes=attrs.evolve(PLENTY, load_nvml=lambda: nvml)
        )
        == []
    )


class _Broken:
    """A recording whose reads fail (a truncated file)."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get_traces(self, **kwargs):
        raise OSError("Unable to read data (file is truncated)")


def test_unreadable_recording_is_an_input_error(fake_backend_obj, saved_recording, tmp_path):
    findings = _check(fake_backend_obj, _Broken(saved_recording), tmp_path)
    assert [f.code for f in findings] == ["recording_unreadable"]
    with pytest.raises(InputError, match="truncated"):
        raise_for_findings(findings)


def test_several_failures_are_all_named(fake_backend_obj, saved_recording, tmp_path):
    backend = attrs.evolve(fake_backend_obj, check_environment=lambda config: ["matlab: not on PATH"])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    findings = _check(backend, saved_recording, tmp_path, results=blocker / "r")
    with pytest.raises(SorterDependencyError) as info:
        raise_for_findings(findings)
    assert "results_not_writable" in str(info.value)


HDF5_SCRIPT = textwrap.dedent("""
    import json, sys
    import h5py
    from spikeinterface.core import BaseRecording, BaseRecordingSegment
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.guards.preflight import run_preflight, raise_for_findings, PreflightProbes
    from spikelab.testing.fake_backend import BACKEND

    class Segment(BaseRecordingSegment):
        def __init__(self, dataset):
            super().__init__(sampling_frequency=20000.0)
            self.dataset = dataset
        def get_num_samples(self):
            return self.dataset.shape[0]
        def get_traces(self, start_frame, end_frame, channel_indices):
            traces = self.dataset[start_frame:end_frame]
            return traces if channel_indices is None else traces[:, channel_indices]

    class H5Recording(BaseRecording):
        def __init__(self, path):
            dataset = h5py.File(path, "r")["sig"]
            super().__init__(20000.0, list(range(dataset.shape[1])), dataset.dtype)
            self.add_recording_segment(Segment(dataset))
            self._kwargs = {"file_path": str(path)}

    path, inter, results = sys.argv[1:4]
    assert "hdf5plugin" not in sys.modules
    config = SortingPipelineConfig().override(sorter="fake")
    findings = run_preflight(config, BACKEND, [H5Recording(path)], [inter], [results],
                             probes=PreflightProbes(load_nvml=lambda: None, available_ram=lambda: 1e11,
                                                    disk_usage=lambda p: (1e12, 0, 1e12),
                                                    open_files_limit=lambda: None))
    try:
        raise_for_findings(findings, sorter="fake")
    except Exception as exc:
        print(json.dumps({"class": type(exc).__name__, "status": exc.status, "message": str(exc),
                          "codes": [f.code for f in findings], "file_path": exc.file_path}))
""")


def test_missing_hdf5_filter_is_found_by_reading_a_few_samples(tmp_path):
    h5py = pytest.importorskip("h5py")
    hdf5plugin = pytest.importorskip("hdf5plugin")
    import numpy as np

    path = tmp_path / "compressed.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset(
            "sig", data=np.arange(8000, dtype="int16").reshape(1000, 8), **hdf5plugin.Blosc()
        )
    script = tmp_path / "check.py"
    script.write_text(HDF5_SCRIPT)
    env = {**os.environ, "HDF5_PLUGIN_PATH": str(tmp_path / "no_plugins_here")}
    done = subprocess.run(
        [sys.executable, str(script), str(path), str(tmp_path / "i"), str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["class"] == "HDF5PluginMissingError" and outcome["status"] == "environment"
    assert outcome["codes"] == ["hdf5_plugin_missing"]
    assert "HDF5_PLUGIN_PATH" in outcome["message"] and outcome["file_path"] == str(path)


def test_configured_hdf5_plugin_path_must_exist(fake_backend_obj, saved_recording, tmp_path):
    config = _config(hdf5_plugin_path=str(tmp_path / "missing"))
    findings = _check(fake_backend_obj, saved_recording, tmp_path, config=config)
    assert [f.code for f in findings] == ["hdf5_plugin_missing"]


@pytest.mark.parametrize(
    ("problem", "flat", "expected", "dependency"),
    [
        (
            "Kilosort4 needs the 'kilosort' package: `pip install kilosort`, or set use_docker=True.",
            {},
            "SorterDependencyError",
            "kilosort",
        ),
        (
            "The Docker engine is not reachable (DockerException: ...): start Docker.",
            {"use_docker": True},
            "DockerEnvironmentError",
            None,
        ),
        (
            "The RT-Sort model folder /m lacks state_dict.pt: pass rt_sort_model_path=",
            {},
            "ModelLoadingError",
            None,
        ),
    ],
)
def test_backend_problems_raise_their_specific_class(
    fake_backend_obj, saved_recording, tmp_path, problem, flat, expected, dependency
):
    backend = attrs.evolve(fake_backend_obj, check_environment=lambda config: [problem])
    findings = _check(backend, saved_recording, tmp_path, config=_config(**flat))
    with pytest.raises(Exception) as info:
        raise_for_findings(findings)
    assert type(info.value).__name__ == expected and info.value.status == "environment"
    assert problem in str(info.value)
    if dependency:
        assert info.value.dependency == dependency


def test_a_low_open_files_limit_is_a_warning(fake_backend_obj, saved_recording, tmp_path):
    probes = attrs.evolve(PLENTY, open_files_limit=lambda: 1024)
    findings = _check(fake_backend_obj, saved_recording, tmp_path, probes=probes)
    assert [(f.code, f.level) for f in findings] == [("low_rlimit_nofile", "warn")]
    assert "ulimit -n 4096" in findings[0].message
