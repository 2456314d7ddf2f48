"""Directory concatenation split back per file, multi-stream files, recording objects."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pipeline_helpers import inline_kwargs

from spikelab.demo import write_demo_recording
from spikelab.errors import InputError
from spikelab.spike_sorting import run_recordings, sort_multistream, sort_recording
from spikelab.spikedata import SpikeData


def test_a_directory_is_sorted_once_and_split_back_per_file(tmp_path):
    folder = tmp_path / "day1"
    write_demo_recording(folder / "part1.raw.h5", duration_s=4.0, num_channels=8, num_units=4, seed=3)
    write_demo_recording(folder / "part2.raw.h5", duration_s=3.0, num_channels=8, num_units=4, seed=4)
    results = run_recordings([folder], **inline_kwargs(curate=False))
    epochs = results[0].spike_data
    assert len(results) == 1 and results[0].status == "success"
    assert [sd.length for sd in epochs] == pytest.approx([4000.0, 3000.0])
    assert [sd.metadata["source_file"] for sd in epochs] == ["part1", "part2"]
    # Round trip: the epochs are exactly the concatenated result, cut at the file boundary.
    whole = SpikeData.load(results[0].spikedata_path)
    assert np.allclose(whole.metadata["rec_chunks_ms"], [(0.0, 4000.0), (4000.0, 7000.0)])
    assert epochs[0].N == epochs[1].N == whole.N > 0
    assert sum(len(t) for t in epochs[1].train) > 0
    for unit in range(whole.N):
        joined = np.concatenate([epochs[0].train[unit], epochs[1].train[unit] + 4000.0])
        assert np.allclose(joined, whole.train[unit])
    assert all(len(t) == 0 or t.max() <= 3000.0 for t in epochs[1].train)


def test_a_list_of_files_is_sorted_one_by_one(tmp_path):
    a, _ = write_demo_recording(tmp_path / "a.raw.h5", duration_s=3.0, num_channels=8, num_units=3, seed=5)
    b, _ = write_demo_recording(tmp_path / "b.raw.h5", duration_s=2.0, num_channels=8, num_units=3, seed=6)
    sds = sort_recording([a, b], **inline_kwargs(curate=False))
    assert [sd.length for sd in sds] == pytest.approx([3000.0, 2000.0])
    assert (tmp_path / "sorted_fake" / "a").is_dir() and (tmp_path / "sorted_fake" / "b").is_dir()


def test_multistream_sorts_each_well_into_its_own_folders(tmp_path):
    path, truths = write_demo_recording(
        tmp_path / "multiwell.raw.h5", duration_s=3.0, num_channels=8, num_units=3, seed=7,
        wells=("well000", "well001"),
    )
    out = sort_multistream(path, ["well000", "well001"], **inline_kwargs(curate=False))
    assert list(out) == ["well000", "well001"]
    assert all(len(sds) == 1 and sds[0].N > 0 for sds in out.values())
    reports = [json.loads(p.read_text()) for p in path.parent.glob("**/recording_report.json")]
    assert len({r["results_folder"] for r in reports}) == 2
    assert len({r["intermediate_folder"] for r in reports}) == 2
    # Different wells hold different activity.
    assert out["well000"][0].train[0].tolist() != out["well001"][0].train[0].tolist()
    with pytest.raises(InputError, match="well007"):
        sort_multistream(path, ["well007"], **inline_kwargs())


def test_a_recording_object_is_sorted_with_explicit_folders(tmp_path, tiny_ground_truth):
    recording, _ = tiny_ground_truth
    sds = sort_recording(
        recording, **inline_kwargs(curate=False),
        intermediate_folders=[tmp_path / "i"], results_folders=[tmp_path / "r"],
    )
    assert sds[0].length == pytest.approx(10000.0)
    assert (tmp_path / "r" / "recording_report.json").is_file()
