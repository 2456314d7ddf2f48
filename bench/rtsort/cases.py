"""What the RT-Sort benches that sort one generated MEA recording in fresh processes share:
the recording and its ground truth saved as binary folders, a child run of the bench script,
and the per-unit accuracy of a sort (SpikeInterface's comparison, 0.4 ms)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def save_mea_recording(folder: Path, *, seconds: float, units: int, rows: int, seed: int,
                       firing_rate) -> tuple[Path, Path]:
    """Generate a ``rows`` x ``rows`` MEA-like recording and save it and its ground truth under
    ``folder`` (so a child loads them from disk instead of regenerating); returns both folders."""
    from spikelab_rtsort.synthetic import generate_mea_recording

    recording, gt = generate_mea_recording(duration_s=seconds, num_units=units, seed=seed, num_rows=rows,
                                           num_columns=rows, firing_rate=firing_rate)
    rec_folder, gt_folder = Path(folder) / "rec", Path(folder) / "gt"
    recording.save(folder=rec_folder, n_jobs=1, chunk_duration="1s", progress_bar=False)
    gt.save(folder=gt_folder)
    return rec_folder, gt_folder


def run_child(script: str, args: list[str]) -> dict:
    """Run ``script`` with ``args`` in a fresh interpreter; the JSON object on its last output line."""
    done = subprocess.run([sys.executable, script, *args], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def unit_accuracy(gt, trains: list, sampling_frequency: float):
    """Accuracy of every ground-truth unit (a pandas Series by unit id) against per-unit spike frames."""
    from spikeinterface.comparison import compare_sorter_to_ground_truth
    from spikeinterface.core import NumpySorting

    sorting = NumpySorting.from_unit_dict({k: t for k, t in enumerate(trains)}, sampling_frequency)
    return compare_sorter_to_ground_truth(gt, sorting, delta_time=0.4).get_performance()["accuracy"]
