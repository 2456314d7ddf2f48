"""Which Kilosort4 settings lose units at 20 kHz on dense arrays, and which recover them.

    python bench/ks4/sweep.py --recordings demo-0 mea-quick --variants default nt_fs grid
    python bench/ks4/sweep.py --table          # rewrite bench/results/ks4/sweep.md from the JSONL

Each run calls ``kilosort.run_kilosort`` in this process on a saved float32 binary (µV), with
drift correction off (``nblocks=0``; 10-20 s cannot show drift), one sort at a time, and scores
it with SpikeInterface's ``compare_sorter_to_ground_truth``: units well detected (accuracy
>= 0.8) and the mean accuracy over true units. Results append to
``bench/results/ks4/sweep.jsonl`` (one line per recording x variant); ``--table`` writes
``sweep.md`` from it.

Recordings:

* ``demo-<seed>``: the demo's own recording (``spikelab.testing.recordings.tiny_recording``
  with the demo's arguments: 32 channels of a two-column probe at 20 µm pitch, 20 kHz, 10 s,
  16 units at 50 Hz, noise 6 µV); ``demo-<seed>-<N>s`` lasts N seconds instead of 10.
* ``demo30-<seed>``: the same generator at 30 kHz (the control: what changes is the rate only).
* ``mearec-mea`` and ``mearec-probe`` from ``bench/mearec/make.py`` (MEArec, realistic);
* ``probe-quick`` and ``mea-quick`` (and any other preset) from ``bench/groundtruth.py``;
  ``mea-quick-s<seed>`` is mea-quick with another seed.

Variants are single changes to Kilosort4's defaults, each with the reason it is tried
(:data:`VARIANTS`); ``derived`` is what :func:`spikelab_ks4.params.derived_settings` sets.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
RESULTS = HERE.parent / "results" / "ks4"
JSONL = RESULTS / "sweep.jsonl"


def _derived(fs):
    from spikelab_ks4.params import derived_settings

    return derived_settings(fs)


def _pitch(xc, yc):
    """The contact pitch of a grid: the smaller median step between distinct x and y positions."""
    steps = [np.median(np.diff(np.unique(np.round(v, 1)))) for v in (xc, yc) if len(np.unique(np.round(v, 1))) > 1]
    return float(min(steps))


def _ystep(yc):
    return float(np.median(np.diff(np.unique(np.round(yc, 1)))))


#: name -> (reason it is tried, function of (fs, xc, yc) giving the settings it changes).
VARIANTS = {
    "default": ("Kilosort4's own defaults (tuned for Neuropixels at 30 kHz)", lambda fs, xc, yc: {}),
    "nt_fs": (
        "nt=61 and nt0min=20 are samples: 2 ms and a trough at 0.67 ms at 30 kHz, but 3 ms and 1 ms at "
        "20 kHz; scaled to the rate they keep the same durations",
        lambda fs, xc, yc: _derived(fs),
    ),
    "nt_fs_even": (
        "nt scaled to 2 ms but nt0min left at Kilosort's rule int(20 nt / 61)",
        lambda fs, xc, yc: {k: v for k, v in _derived(fs).items() if k == "nt"},
    ),
    "batch_2s": (
        "batch_size=60000 is 2 s at 30 kHz but 3 s at 20 kHz; 2 s of data per batch at any rate",
        lambda fs, xc, yc: {"batch_size": int(2 * fs)},
    ),
    "th_low": (
        "lower detection thresholds (Th_universal 9->7, Th_learned 8->6) find smaller spikes",
        lambda fs, xc, yc: {"Th_universal": 7, "Th_learned": 6},
    ),
    "pitch": (
        "dmin/dminx: spacing of the universal template centres, by default the median vertical step "
        "and 32 µm across; set to the contact pitch",
        lambda fs, xc, yc: {"dmin": _pitch(xc, yc), "dminx": _pitch(xc, yc)},
    ),
    "x_centers": (
        "clustering groups templates around x positions found from channel-density peaks, which "
        "Kilosort's docs say fails for 2-D arrays; they advise centres every few hundred µm (200 here)",
        lambda fs, xc, yc: {"x_centers": max(1, int(round(float(np.ptp(xc)) / 200.0)))},
    ),
    "nearest_chans_20": (
        "spike detection looks for maxima over 10 nearest channels; a dense grid has more contacts "
        "within a spike's footprint",
        lambda fs, xc, yc: {"nearest_chans": 20},
    ),
    "template_size_5": (
        "min_template_size=10 µm (x1..5) sets the spatial envelopes of the universal templates; "
        "dense contacts resolve smaller footprints",
        lambda fs, xc, yc: {"min_template_size": 5},
    ),
    "whitening_16": (
        "whitening uses the 32 nearest channels; on a 32-64 channel dense array that is (nearly) "
        "all of them, which flattens spatial footprints",
        lambda fs, xc, yc: {"whitening_range": 16},
    ),
    "near_templates_20": (
        "a spike is kept only if it is the largest within +-nt0min samples among its nearest_templates=100 "
        "universal template positions; a 32-64 channel array has fewer than 100, so one spike anywhere "
        "on the array hides every other one in that window (at 16 units x 50 Hz most of them)",
        lambda fs, xc, yc: {"nearest_templates": 20},
    ),
    "dmin_2x": (
        "clustering groups spikes around centres 2*dmin apart and leaves any group with under 1000 "
        "spikes as ONE cluster (hard-coded in clustering_qr.run); doubling dmin halves the groups",
        lambda fs, xc, yc: {"dmin": 2 * _ystep(yc)},
    ),
    "derived_pitch": (
        "the derived settings plus dmin/dminx at the contact pitch: whether SpikeLab should add the "
        "grid's pitch to what it derives",
        lambda fs, xc, yc: {**_derived(fs), "dmin": _pitch(xc, yc), "dminx": _pitch(xc, yc)},
    ),
    "derived": (
        "what spikelab_ks4 now derives from the recording (spikelab_ks4.params.derived_settings): "
        "nt and nt0min scaled to the rate, the same as nt_fs",
        lambda fs, xc, yc: _derived(fs),
    ),
}


def _demo(seed: int, fs: float, duration_s: float):
    from spikelab.testing.recordings import tiny_recording

    return tiny_recording(seed, duration_s=duration_s, num_channels=32, num_units=16, sampling_frequency=fs,
                          firing_rate_hz=50.0, noise_level_uv=6.0)


def load_recording(name: str, work: Path):
    """``(binary recording, ground truth)`` for a recording name (see the module docstring)."""
    import groundtruth
    import spikeinterface as si

    if name.startswith(("demo-", "demo30-")):
        kind, seed, *duration = name.split("-")
        duration_s = float(duration[0].rstrip("s")) if duration else 10.0
        recording, gt = _demo(int(seed), 30000.0 if kind == "demo30" else 20000.0, duration_s)
        target = work / name
        if not (target / "binary.json").exists():
            recording.save(folder=target, format="binary", overwrite=True, verbose=False)
        return si.load(target), gt
    if name.startswith("mearec-"):  # bench/mearec/make.py; the Maxwell file as float32 µV for run_kilosort
        sys.path.insert(0, str(HERE.parent / "mearec"))
        import make as mearec
        from spikeinterface.preprocessing import scale_to_uV

        recording, gt, _ = mearec.load(name)
        target = work / name
        if not (target / "binary.json").exists():
            scale_to_uV(recording).save(folder=target, format="binary", dtype="float32", overwrite=True, verbose=False)
        return si.load(target), gt
    if "-s" in name:
        base, seed = name.rsplit("-s", 1)
        params = {**groundtruth.PRESETS[base], "seed": int(seed)}
        recording, gt, _ = groundtruth.load(name, params=params)
        return recording, gt
    recording, gt, _ = groundtruth.load(name)
    return recording, gt


def sort_once(recording, settings: dict, work: Path):
    """Run Kilosort4 on the recording's binary file; returns ``(sorting, seconds)``."""
    import torch
    from kilosort import run_kilosort
    from spikeinterface.core import NumpySorting

    locations = np.asarray(recording.get_channel_locations(), dtype=np.float32)
    n = recording.get_num_channels()
    probe = {"chanMap": np.arange(n, dtype=np.int32), "xc": locations[:, 0].copy(),
             "yc": locations[:, 1].copy(), "kcoords": np.zeros(n, np.float32), "n_chan": n}
    fs = recording.get_sampling_frequency()
    full = {"n_chan_bin": n, "fs": fs, "nblocks": 0, **settings}
    out = Path(tempfile.mkdtemp(dir=work))
    description = recording.get_binary_description()
    start = time.perf_counter()
    run_kilosort(settings=full, probe=probe, filename=description["file_paths"][0],
                 data_dtype=np.dtype(description["dtype"]).name, results_dir=out,
                 device=torch.device("cpu"))
    seconds = time.perf_counter() - start
    times = np.load(out / "spike_times.npy").astype(np.int64).ravel()
    labels = np.load(out / "spike_clusters.npy").astype(np.int64).ravel()
    return NumpySorting.from_samples_and_labels([times], [labels], fs), seconds


def score(gt, sorting) -> dict:
    from spikeinterface.comparison import compare_sorter_to_ground_truth

    comparison = compare_sorter_to_ground_truth(gt, sorting, exhaustive_gt=True)
    accuracy = comparison.get_performance()["accuracy"].to_numpy(dtype=float)
    return {
        "units_found": len(sorting.get_unit_ids()),
        "well_detected": int(comparison.count_well_detected_units(0.8)),
        "true_units": len(gt.get_unit_ids()),
        "false_positive": int(comparison.count_false_positive_units()),
        "accuracy_mean": round(float(np.mean(accuracy)), 3),
    }


def run(recordings: list[str], variants: list[str], work: Path) -> None:
    import os

    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in recordings:
        recording, gt = load_recording(name, work)
        locations = np.asarray(recording.get_channel_locations(), dtype=float)
        fs = recording.get_sampling_frequency()
        for variant in variants:
            settings = VARIANTS[variant][1](fs, locations[:, 0], locations[:, 1])
            sorting, seconds = sort_once(recording, settings, work)
            row = {"recording": name, "variant": variant, "settings": settings, **score(gt, sorting),
                   "sort_s": round(seconds, 1), "load_avg": round(os.getloadavg()[0], 1)}
            print(json.dumps(row), flush=True)
            with JSONL.open("a") as f:
                f.write(json.dumps(row) + "\n")


FINDINGS = """## What was measured and why units are lost

- **The sampling rate is not the cause on the demo's recording.** The same generator and seed at
  30 kHz (`demo30-0`) loses the same units as at 20 kHz (`demo-0`): 7/16 well detected at both.
  Scaling `nt`/`nt0min` to 20 kHz changes nothing there (7/16, mean accuracy 0.460 vs 0.461).
- **The cause is Kilosort4's clustering floor.** `clustering_qr.run` groups spikes around centres
  `2*dmin` apart (and `x_centers` across) and leaves any group with fewer than 1000 spikes as ONE
  cluster; the 1000 is hard-coded, not a setting. The demo's 10 s at 50 Hz is 500 spikes a unit,
  the first detection pass keeps 3120 of 8000 spikes, so all 8 centres of the 32-channel probe
  hold 300-800 spikes and each becomes one unit: 8 units found with the defaults (Kilosort's
  debug log in each run's results folder, `Center i | Xd shape`, shows the group sizes).
- Settings that change the groups or the detections do not get past that floor:
  `nearest_templates=20` lets more first-pass spikes through (4328 instead of 3120, since with
  fewer than 100 template positions one spike anywhere hides every other within +-nt0min) but
  still 8 groups under 1000 (7/16); `dmin` doubled (4 groups, some over 1000) made it worse
  (5/16, 7 units); lower thresholds
  (`Th_universal`/`Th_learned` 7/6) found 10 units but the same 7/16.
- **What recovers units is enough spikes per group**: the same recording at 30 s
  (`demo-0-30s`) gives 10/16 well detected (11 units, mean accuracy 0.623), and another seed at
  30 s (`demo-1-30s`) 12/16 (12 units, none false, mean accuracy 0.749) where its 10 s gave
  8 units again and 5/16 (`demo-1`); the demo now records 30 s. Of the 16 true units of seed 0,
  one has a 4 µV trough under 6 µV of noise and three are 27-36 µV (under 6x the noise); those
  are the ones a sorter struggles with.
- The Maxwell-like grid (`mea-quick`, 8x8 at 17.5 µm, 20 kHz, 20 s, 16 units at 20 Hz) gets
  11/16 with Kilosort4's defaults; its 4 clustering groups hold 670-1330 spikes.
- **The grid pitch (`dmin`=`dminx`=17.5 µm) helps on the generated grid and not on the realistic
  one**, so SpikeLab leaves `dmin`, `dminx` and `x_centers` to Kilosort. On `mea-quick`: 12/16 well
  detected, 16 units, none false, mean accuracy 0.745, with or without the derived `nt`/`nt0min`
  (11/16, 0.67 without the pitch). On `mearec-mea` (MEArec, 100 electrodes at 17.6 µm, drift,
  bursting): defaults 2/16 (mean 0.403), derived 2/16 (0.400), pitch 2/16 (0.509, one false
  positive fewer), derived plus pitch 1/16 (0.252). One run each.
- SpikeLab's Kilosort4 backend now scales `nt` and `nt0min` to the rate by default
  (`derive_settings`), which keeps Kilosort's documented durations and was neutral in every
  measurement here; a value the user sets wins, and `derive_settings=False` turns it off.
"""


def table() -> str:
    rows = [json.loads(line) for line in JSONL.read_text().splitlines() if line.strip()]
    lines = [
        "# Kilosort4 settings sweep: 20 kHz and dense 2-D arrays",
        "",
        "Written by `python bench/ks4/sweep.py --table` from `sweep.jsonl`. Each row is one "
        "`run_kilosort` call on the CPU (nblocks=0), scored with SpikeInterface's ground-truth "
        "comparison; well detected = accuracy >= 0.8. Sort times were taken on a shared 2-core "
        "machine under load (load average beside them) and mean little.",
        "",
        "| recording | variant | well detected | units found | false positive | mean accuracy | settings "
        "| sort s (load) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items()) or "-"
        lines.append(
            f"| {r['recording']} | {r['variant']} | {r['well_detected']}/{r['true_units']} | {r['units_found']} "
            f"| {r['false_positive']} | {r['accuracy_mean']:.3f} | {settings} | {r['sort_s']} ({r['load_avg']}) |"
        )
    lines += ["", FINDINGS, "", "## Why each variant is tried", ""]
    lines += [f"- `{name}`: {reason}." for name, (reason, _) in VARIANTS.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", nargs="*", default=["demo-0", "mea-quick"])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--work", type=Path, default=HERE.parent / "data" / "ks4_sweep")
    parser.add_argument("--table", action="store_true", help="only rewrite sweep.md from sweep.jsonl")
    args = parser.parse_args(argv)
    if not args.table:
        args.work.mkdir(parents=True, exist_ok=True)
        run(args.recordings, args.variants, args.work)
    (RESULTS / "sweep.md").write_text(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
