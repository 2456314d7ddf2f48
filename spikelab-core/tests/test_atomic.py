"""The one atomic-write helper: all or nothing, durable, usual permissions, one temporary name."""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest

from spikelab import atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    atomic.write_json(target, {"run": 1})
    with pytest.raises(RuntimeError), atomic.atomic_open(target, "w") as handle:
        handle.write('{"run": 2, "half')
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"run": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_files_get_the_usual_permissions_not_owner_only(tmp_path):
    path = atomic.write_text(tmp_path / "a.txt", "x")
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o666 & ~atomic._UMASK and mode & 0o044  # group and others may read, as with open()


def test_handles_take_binary_writers_and_the_encoder_takes_numpy(tmp_path):
    with atomic.atomic_open(tmp_path / "x.npy") as handle:
        np.save(handle, np.arange(3))
    assert np.load(tmp_path / "x.npy").tolist() == [0, 1, 2]
    text = atomic.dumps({"a": np.float32(1.5), "b": np.arange(2), "c": tmp_path, "d": {3}})
    assert json.loads(text) == {"a": 1.5, "b": [0, 1], "c": str(tmp_path), "d": [3]}


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    from spikelab.atomic import atomic_folder
    from spikelab.errors import InputError

    target = tmp_path / "sorted"
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as staging:
            (staging / "spike_times.npy").write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == [], "neither the folder nor its staging copy is left"

    with atomic_folder(target) as staging:
        (staging / "params.py").write_text("first")
    with pytest.raises(InputError, match="already exists"):
        with atomic_folder(target):
            pass
    with pytest.raises(RuntimeError):
        with atomic_folder(target, overwrite=True) as staging:
            (staging / "params.py").write_text("second")
            raise RuntimeError("failed before the end")
    assert (target / "params.py").read_text() == "first", "a failed overwrite keeps the old folder"
    with atomic_folder(target, overwrite=True) as staging:
        (staging / "params.py").write_text("second")
    assert (target / "params.py").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sorted"]
