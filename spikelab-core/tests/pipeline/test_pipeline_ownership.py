"""Ownership: the pipeline deletes or overwrites only what it created (issue 17, findings 1, 2, 9).

A layout where an input or a user's own file lies where the pipeline writes is refused before
any work, with an error naming the path; nothing of the user's is touched.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from pipeline_helpers import inline_kwargs

from spikelab.errors import FolderConflictError
from spikelab.spike_sorting import cache, sort_recording
from spikelab.spike_sorting.folders import Manifest


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


def test_an_input_inside_the_intermediate_folder_is_refused_and_kept(small_file, tmp_path):
    """The finding: ``exp/recording/part0.raw.h5`` with ``intermediate_folders=["exp"]`` was deleted."""
    path, _ = small_file
    user = tmp_path / "exp" / "recording" / "part0.raw.h5"
    user.parent.mkdir(parents=True)
    shutil.copyfile(path, user)
    before = user.read_bytes()
    with pytest.raises(FolderConflictError) as info:
        sort_recording([user], **inline_kwargs(), intermediate_folders=[tmp_path / "exp"],
                       results_folders=[tmp_path / "results"])
    assert str(user) in str(info.value) and "intermediate" in str(info.value)
    assert user.read_bytes() == before
    assert info.value.status == "failed"


def test_a_directory_input_named_like_a_cache_folder_is_refused(small_file, tmp_path):
    path, _ = small_file
    folder = tmp_path / "exp" / "recording"
    folder.mkdir(parents=True)
    shutil.copyfile(path, folder / "part0.raw.h5")
    with pytest.raises(FolderConflictError):
        sort_recording([folder], **inline_kwargs(), intermediate_folders=[tmp_path / "exp"],
                       results_folders=[tmp_path / "results"])
    assert (folder / "part0.raw.h5").is_file()


def test_a_user_file_where_a_cache_goes_is_refused_before_any_work(small_file, tmp_path):
    path, _ = small_file
    notes = tmp_path / "inter" / "waveforms" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("mine")
    with pytest.raises(FolderConflictError) as info:
        sort_recording([path], **inline_kwargs(), intermediate_folders=[tmp_path / "inter"],
                       results_folders=[tmp_path / "results"])
    assert str(notes.parent) in str(info.value)
    assert notes.read_text() == "mine"
    assert not (tmp_path / "inter" / "recording").exists()  # refused before preprocessing


def test_a_user_file_named_like_a_result_is_not_overwritten(small_file, tmp_path):
    path, _ = small_file
    results = tmp_path / "results"
    results.mkdir()
    (results / "sorted_spikedata_curated.pkl").write_bytes(b"my own analysis")
    with pytest.raises(FolderConflictError) as info:
        sort_recording([path], **inline_kwargs(), intermediate_folders=[tmp_path / "inter"],
                       results_folders=[results])
    assert "sorted_spikedata_curated.pkl" in str(info.value)
    assert (results / "sorted_spikedata_curated.pkl").read_bytes() == b"my own analysis"


def test_user_files_beside_the_caches_survive_a_rerun_and_cleanup(small_file, tmp_path):
    path, _ = small_file
    inter = tmp_path / "inter"
    inter.mkdir()
    (inter / "notes.txt").write_text("mine")
    kwargs = dict(intermediate_folders=[inter], results_folders=[tmp_path / "results"])
    sort_recording([path], **inline_kwargs(), **kwargs)
    sort_recording([path], **inline_kwargs(recompute_sorting=True, delete_inter=True), **kwargs)
    assert _files(inter) == [type(inter)("notes.txt")]


def test_two_recordings_cannot_share_a_results_folder(small_file, tmp_path):
    """The finding: ``results_folders=[R, R]`` silently overwrote the first recording's results."""
    path, _ = small_file
    other = tmp_path / "other.raw.h5"
    shutil.copyfile(path, other)
    shared = tmp_path / "results"
    with pytest.raises(FolderConflictError) as info:
        sort_recording([path, other], **inline_kwargs(), results_folders=[shared, shared],
                       intermediate_folders=[tmp_path / "i1", tmp_path / "i2"])
    assert str(shared) in str(info.value)
    assert not shared.exists()


def test_nested_results_folders_are_refused(small_file, tmp_path):
    path, _ = small_file
    other = tmp_path / "other.raw.h5"
    shutil.copyfile(path, other)
    with pytest.raises(FolderConflictError):
        sort_recording([path, other], **inline_kwargs(), results_folders=[tmp_path / "r", tmp_path / "r" / "b"],
                       intermediate_folders=[tmp_path / "i1", tmp_path / "i2"])


def test_a_results_folder_equal_to_the_input_folder_is_refused(small_file, tmp_path):
    path, _ = small_file
    data = path.parent
    before = _files(data)
    with pytest.raises(FolderConflictError) as info:
        sort_recording([data], **inline_kwargs(), results_folders=[data], intermediate_folders=[tmp_path / "i"])
    assert str(data) in str(info.value)
    assert _files(data) == before


def test_an_intermediate_folder_inside_a_directory_input_is_refused(small_file, tmp_path):
    path, _ = small_file
    data = path.parent
    with pytest.raises(FolderConflictError):
        sort_recording([data], **inline_kwargs(), intermediate_folders=[data / "cache"],
                       results_folders=[tmp_path / "r"])
    assert not (data / "cache").exists()


def test_reset_refuses_a_folder_the_manifest_does_not_list(tmp_path):
    folder = tmp_path / "inter" / "recording"
    folder.mkdir(parents=True)
    (folder / "part0.raw.h5").write_bytes(b"raw")
    manifest = Manifest.open(tmp_path / "inter")
    with pytest.raises(FolderConflictError):
        cache.reset(folder, manifest)
    assert (folder / "part0.raw.h5").read_bytes() == b"raw"
    with pytest.raises(FolderConflictError):
        manifest.claim(folder)
    fresh = manifest.claim(tmp_path / "inter" / "waveforms")
    assert cache.reset(fresh, manifest).is_dir()


def test_an_in_memory_recording_named_with_dots_stays_in_the_working_directory(tmp_path, monkeypatch):
    """The finding: a recording named ``../../escape`` created folders outside the working directory."""
    import spikeinterface.core as sc

    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    recording = sc.NumpyRecording([np.zeros((30000, 4), dtype="float32")], sampling_frequency=30000.0)
    recording.set_dummy_probe_from_locations(np.c_[np.zeros(4), np.arange(4) * 20.0])
    recording.set_annotation("name", "../../escape")
    try:
        sort_recording([recording], **inline_kwargs(raise_on_failure=False, preflight=False))
    except Exception:  # noqa: BLE001 - the outcome does not matter here, only where it wrote
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["work"]
