"""sort_multistream one well after another: a well that cannot be opened fails alone, and the
wells of a folder of MaxTwo files each get their own folders."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from pipeline_helpers import inline_kwargs

from spikelab.demo import write_demo_recording
from spikelab.errors import ConfigError, InputError
from spikelab.spike_sorting import sort_multistream

WELLS = ("well000", "well001", "well002")


def test_a_well_that_cannot_be_opened_fails_alone(tmp_path):
    path, _ = write_demo_recording(tmp_path / "plate.raw.h5", duration_s=3.0, num_channels=8, num_units=3, seed=7,
                                   wells=WELLS)
    with h5py.File(path, "r+") as f:  # well001 holds no samples
        del f["wells/well001/rec0000/groups/routed/raw"]
        f.create_dataset("wells/well001/rec0000/groups/routed/raw", shape=(8, 0), dtype=np.uint16)
    with pytest.raises(InputError, match="well001.*with data") as caught:
        sort_multistream(path, WELLS, **inline_kwargs(curate=False))
    results = caught.value.results
    assert [(r.rec_name, r.status) for r in results] == [
        ("plate_well000", "success"), ("plate_well001", "failed"), ("plate_well002", "success"),
    ]
    assert results[2].spike_data and results[2].spike_data[0].N > 0  # the well after it was sorted too
    out = sort_multistream(path, WELLS, raise_on_failure=False, **inline_kwargs(curate=False))
    assert [len(out[w]) for w in WELLS] == [1, 0, 1]
    with pytest.raises(ConfigError, match="report_folder"):
        sort_multistream(path, WELLS, report_folder=tmp_path / "batch", **inline_kwargs())


def test_the_wells_of_a_folder_of_files_get_their_own_folders(tmp_path):
    folder = tmp_path / "day1"
    for part, seconds in (("part1", 3.0), ("part2", 2.0)):
        write_demo_recording(folder / f"{part}.raw.h5", duration_s=seconds, num_channels=8, num_units=3, seed=5,
                             wells=WELLS[:2])
    out = sort_multistream(folder, WELLS[:2], **inline_kwargs(curate=False))
    assert [[sd.length for sd in out[w]] for w in WELLS[:2]] == [pytest.approx([3000.0, 2000.0])] * 2
    reports = {w: json.loads((tmp_path / "sorted_fake" / f"day1_{w}" / "recording_report.json").read_text())
               for w in WELLS[:2]}
    assert [r["rec_name"] for r in reports.values()] == ["day1_well000", "day1_well001"]
    assert reports["well000"]["intermediate_folder"] != reports["well001"]["intermediate_folder"]
    # the second well did not overwrite the first's results
    assert out["well000"][0].train[0].tolist() != out["well001"][0].train[0].tolist()
