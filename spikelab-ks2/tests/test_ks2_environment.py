"""Preflight: what check_environment tells a user whose MATLAB, Kilosort2 or Docker is not ready."""

from __future__ import annotations

import pytest

from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab_ks2.environment import check_environment


def _config(**flat) -> SortingPipelineConfig:
    return SortingPipelineConfig().override(sorter="kilosort2", **flat)


@pytest.fixture
def no_kilosort_env(monkeypatch):
    monkeypatch.delenv("KILOSORT2_PATH", raising=False)
    monkeypatch.delenv("KILOSORT_PATH", raising=False)


def test_ready_with_matlab_and_a_compiled_tree(fake_matlab, kilosort_tree, no_kilosort_env):
    assert check_environment(_config(kilosort_path=str(kilosort_tree))) == []


def test_missing_matlab_and_kilosort_path(monkeypatch, tmp_path, no_kilosort_env):
    monkeypatch.setenv("PATH", str(tmp_path))
    problems = check_environment(_config())
    assert len(problems) == 2
    assert "MATLAB executable 'matlab' was not found on PATH" in problems[0]
    assert "KILOSORT2_DOCKER" in problems[0], "the MATLAB-free route is offered"
    assert "kilosort_path is not set" in problems[1] and "mexGPUall" in problems[1]


def test_kilosort_path_from_the_environment(fake_matlab, kilosort_tree, monkeypatch, no_kilosort_env):
    monkeypatch.setenv("KILOSORT2_PATH", str(kilosort_tree))
    assert check_environment(_config()) == []


def test_kilosort_path_that_is_not_a_folder(fake_matlab, tmp_path, no_kilosort_env):
    (problem,) = check_environment(_config(kilosort_path=str(tmp_path / "nope")))
    assert "is not a folder" in problem


def test_folder_without_kilosort2_sources(fake_matlab, tmp_path, no_kilosort_env):
    (problem,) = check_environment(_config(kilosort_path=str(tmp_path)))
    assert "does not look like Kilosort2's sources" in problem
    assert "main_kilosort.m" in problem and "CUDA/mexGPUall.m" in problem


def test_uncompiled_mex_files(fake_matlab, kilosort_tree, no_kilosort_env):
    (kilosort_tree / "CUDA" / "mexThSpkPC.mexa64").unlink()
    (problem,) = check_environment(_config(kilosort_path=str(kilosort_tree)))
    assert "not compiled" in problem and "mexGPUall" in problem


def test_missing_npy_matlab_and_its_explicit_path(fake_matlab, kilosort_tree, tmp_path, no_kilosort_env):
    npy = kilosort_tree / "npy-matlab"
    moved = tmp_path / "elsewhere" / "npy-matlab"
    moved.parent.mkdir()
    npy.rename(moved)
    (problem,) = check_environment(_config(kilosort_path=str(kilosort_tree)))
    assert "npy-matlab" in problem and "npy_matlab_path" in problem
    assert check_environment(_config(kilosort_path=str(kilosort_tree), npy_matlab_path=str(moved))) == []


def test_nt_below_the_floor(fake_matlab, kilosort_tree, no_kilosort_env):
    (problem,) = check_environment(_config(kilosort_path=str(kilosort_tree), NT=512))
    assert "NT=512" in problem and "1024" in problem


def test_docker_route_needs_no_matlab(fake_docker, monkeypatch, tmp_path, no_kilosort_env):
    monkeypatch.setenv("PATH", str(tmp_path))
    config = _config(use_docker=True, docker_client_factory="ks2_fake_docker.make_client")
    assert check_environment(config) == []


def test_docker_engine_down(fake_docker, monkeypatch):
    monkeypatch.setenv("SPIKELAB_FAKE_DOCKER", "daemon_down")
    (problem,) = check_environment(_config(use_docker=True, docker_client_factory="ks2_fake_docker.make_client"))
    assert "Docker engine is not reachable" in problem and "Error while fetching server API version" in problem


def test_docker_factory_that_cannot_be_imported():
    (problem,) = check_environment(_config(use_docker=True, docker_client_factory="no_such_module.make"))
    assert "cannot be imported" in problem
