"""sort_multistream with workers: the wells of one MaxTwo file sorted in parallel on a local Dask
cluster, where one well's failure leaves every other well's result whole."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from spikelab.demo import write_demo_recording
from spikelab.spike_sorting import sort_multistream, sort_recording
from spikelab.spike_sorting._exceptions import InsufficientActivityError
from spikelab.spikedata import SpikeData

pytestmark = pytest.mark.timeout(600)

WELLS = ("well000", "well001", "well002", "well003")
FAST = {"sorter": "fake", "isolation": "inline", "n_jobs": 1, "progress_bar": False, "prevent_system_sleep": False,
        "spikes_min": 5, "snr_min": None, "std_norm_max": None, "fr_min": None}


def _maxtwo_with_bad_wells(path):
    """Four wells of 16 channels x 3 s: well001 flat (no culture: the sorter finds no spike) and
    well002 holding no samples at all (a broken recording: it cannot be opened)."""
    write_demo_recording(path, duration_s=3.0, num_channels=16, num_units=4, seed=11, wells=WELLS)
    with h5py.File(path, "r+") as f:
        f["wells/well001/rec0000/groups/routed/raw"][...] = 512
        del f["wells/well002/rec0000/groups/routed/raw"]
        f.create_dataset("wells/well002/rec0000/groups/routed/raw", shape=(16, 0), dtype=np.uint16)
    return path


def test_failed_wells_leave_the_other_wells_sorted_and_reported(tmp_path):
    path = _maxtwo_with_bad_wells(tmp_path / "data" / "plate.raw.h5")
    with pytest.raises(InsufficientActivityError) as caught:
        sort_multistream(path, WELLS, workers=2, report_folder=tmp_path / "batch", **FAST)
    error = caught.value
    assert error.status == "not_sortable" and "no spikes" in str(error)
    results = {r.rec_name: r for r in error.results}
    assert list(results) == [f"plate_{w}" for w in WELLS]
    assert [r.status for r in results.values()] == ["success", "not_sortable", "failed", "success"]
    assert results["plate_well001"].error_class == "InsufficientActivityError"
    broken = results["plate_well002"]
    assert broken.error_class == "InputError" and "with data" in broken.error_message

    # Each well has its own folders; the successful wells' SpikeData are the ones a sort of that
    # well alone gives, and are saved with their reports.
    assert len({r.results_folder for r in error.results}) == 4
    assert len({r.intermediate_folder for r in error.results}) == 4
    for well in ("well000", "well003"):
        result = results[f"plate_{well}"]
        report = json.loads((tmp_path / "data" / "sorted_fake" / f"plate_{well}" / "recording_report.json").read_text())
        assert report["status"] == "success" and report["rec_name"] == f"plate_{well}"
        assert len(result.spike_data) == 1 and SpikeData.load(result.spikedata_path).N == result.spike_data[0].N > 0
    alone = sort_recording(path, stream_id="well003", intermediate_folders=[tmp_path / "alone" / "i"],
                           results_folders=[tmp_path / "alone" / "r"], **FAST)[0]
    [parallel] = results["plate_well003"].spike_data
    assert parallel.N == alone.N and all(np.array_equal(a, b) for a, b in zip(parallel.train, alone.train))
    assert results["plate_well000"].spike_data[0].train[0].tolist() != parallel.train[0].tolist()
    failed = json.loads((tmp_path / "data" / "sorted_fake" / "plate_well001" / "recording_report.json").read_text())
    assert failed["status"] == "not_sortable" and failed["error_class"] == "InsufficientActivityError"

    batch = json.loads((tmp_path / "batch" / "batch_report.json").read_text())
    assert batch["counts"] == {"failed": 1, "not_sortable": 1, "success": 2}
    assert [e["name"] for e in batch["recordings"]] == [f"plate_{w}" for w in WELLS]



def test_wells_sorted_at_once_share_the_cores_instead_of_each_taking_all(tmp_path):
    from spikelab.spike_sorting.batch.cluster import allowed_cores

    path = tmp_path / "data" / "plate.raw.h5"
    write_demo_recording(path, duration_s=3.0, num_channels=16, num_units=4, seed=12, wells=WELLS[:2])
    default_jobs = {k: v for k, v in FAST.items() if k != "n_jobs"}
    results = sort_multistream(path, WELLS[:2], workers=2, report_folder=tmp_path / "batch", **default_jobs)
    assert list(results) == list(WELLS[:2]) and all(len(sds) == 1 and sds[0].N > 0 for sds in results.values())
    for well in WELLS[:2]:
        report = json.loads((tmp_path / "data" / "sorted_fake" / f"plate_{well}" / "recording_report.json").read_text())
        # two sorts on this machine at once: each was given half of the cores (at least one)
        assert report["config"]["execution"]["n_jobs"] == max(1, allowed_cores() // 2)


def test_a_core_count_the_user_set_is_kept_in_a_batch():
    from spikelab.spike_sorting.batch.driver import cores_per_sort

    assert cores_per_sort(-1, sorts_on_host=4, cores=16) == 4
    assert cores_per_sort(-1, sorts_on_host=3, cores=2) == 1
    assert cores_per_sort(-1, sorts_on_host=1, cores=16) == -1
    assert cores_per_sort(8, sorts_on_host=4, cores=16) == 8


def test_sorts_per_host_counts_every_worker_on_the_busiest_host_and_no_more_than_the_jobs():
    from spikelab.spike_sorting.batch.driver import _sorts_per_host

    class Client:
        def nthreads(self):
            return {"tcp://10.0.0.1:4001": 1, "tcp://10.0.0.1:4002": 1, "tcp://10.0.0.1:4003": 2,
                    "tcp://10.0.0.2:4001": 1}

    assert _sorts_per_host(Client(), n_jobs=8) == 4
    # two recordings on a cluster of many slots: two sorts at once, each with half the cores
    assert _sorts_per_host(Client(), n_jobs=2) == 2
    assert _sorts_per_host(Client(), n_jobs=1) == 1
