"""RT-Sort: what a shorter sequence-detection window costs in units, by firing rate.

    python bench/rtsort/window.py                       # 100 ch x 300 s, windows 30/60/120 s and all
    python bench/rtsort/window.py --seconds 60 --windows 20 --units 8    # a quick check

Sequence detection holds its whole window in memory (4 bytes per channel and frame measured,
``bench/rtsort/memory.py``; the runner's window rule allows 5), so at 1,020 channels the window is
what sets RT-Sort's peak memory: 30 s hold about 2.5 GB, a minute 4.9 GB. A unit enters the
sorter only if its sequence is found in the window (at least ``min_seq_spikes_n`` = 10 spikes
there), so a short window drops slow units. This measures how
many: one MEA-like recording whose units fire at rates spread geometrically from ``--min-rate``
to ``--max-rate`` Hz, sorted with each detection window (the rest of the recording sorted with
the sequences found there), scored against the ground truth (0.4 ms, accuracy >= 0.8 = well
detected), per rate band. Writes ``bench/results/rtsort/window.md`` and ``window.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "rtsort"
sys.path.insert(0, str(ROOT))
BANDS = ((0.0, 0.34), (0.34, 1.0), (1.0, float("inf")))  # Hz: under 10 spikes in 30 s, under 1 Hz, the rest


def band_name(low: float, high: float) -> str:
    return f"< {high:g} Hz" if low == 0 else f">= {low:g} Hz" if high == float("inf") else f"{low:g}-{high:g} Hz"


def sort_with_window(folder: str, gt_folder: str, window_s: float | None, threads: int) -> dict:
    """Detect on the first ``window_s`` s (all when None), sort the whole recording, score it."""
    import numpy as np
    import spikeinterface as si
    import torch

    from bench.rtsort.cases import unit_accuracy
    from spikelab_rtsort._paths import default_model_path
    from spikelab_rtsort.model import load_detection_model
    from spikelab_rtsort.rtsort import RTSort

    torch.set_num_threads(threads)
    recording, gt = si.load(folder), si.load(gt_folder)
    model = load_detection_model(default_model_path("mea"))
    began, cpu0 = time.perf_counter(), time.process_time()
    rts, trains = RTSort.detect_and_sort(recording, model, detection_window_s=window_s)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu0
    accuracy = unit_accuracy(gt, trains, recording.get_sampling_frequency())
    duration = recording.get_total_duration()
    rates = {u: len(gt.get_unit_spike_train(u)) / duration for u in gt.unit_ids}
    well = {u for u, a in accuracy.items() if a >= 0.8}
    by_band = {}
    for low, high in BANDS:
        units = [u for u, r in rates.items() if low <= r < high]
        by_band[band_name(low, high)] = [sum(u in well for u in units), len(units)]
    channels = recording.get_num_channels()
    seconds = duration if window_s is None else min(window_s, duration)
    return dict(window_s=window_s, window_gb_at_1020ch=round(seconds * 20000 * 1020 * 4 / 1e9, 2),
                channels=channels, units_found=rts.num_units, well_detected=len(well), gt_units=len(rates),
                by_band=by_band, mean_accuracy=round(float(np.mean(accuracy)), 4),
                wall_s=round(wall, 1), cpu_s=round(cpu, 1))


def markdown(rows: list[dict], meta: dict) -> str:
    bands = list(rows[0]["by_band"])
    lines = [
        "# RT-Sort: units lost to a shorter sequence-detection window",
        "",
        f"`python bench/rtsort/window.py {meta['argv']}`, {meta['when']}, commit {meta['commit']}, "
        f"{meta['threads']} torch threads, load average {meta['load'][0]} at the end (shared 2-core machine: CPU "
        "times are the process's own). One SpikeInterface-generated MEA-like recording "
        f"({meta['channels']} channels on a 17.5 um grid, 20 kHz, {meta['seconds']:g} s, {meta['units']} units "
        f"firing at rates spaced geometrically from {meta['min_rate']:g} to {meta['max_rate']:g} Hz); each row "
        "detects sequences on the first `window` seconds and sorts the whole recording with them. Well = "
        "accuracy >= 0.8 (0.4 ms). The window's memory at 1,020 channels is what RT-Sort's detection "
        "would hold for it there (4 bytes per channel-frame).",
        "",
        "| window | window's memory at 1,020 ch | units found | well detected | "
        + " | ".join(f"well, {b}" for b in bands) + " | mean accuracy | CPU s |",
        "|---|---|---|---|" + "---|" * len(bands) + "---|---|",
    ]
    for r in rows:
        window = "whole recording" if r["window_s"] is None else f"{r['window_s']:g} s"
        lines.append(f"| {window} | {r['window_gb_at_1020ch']} GB | {r['units_found']} | "
                     f"{r['well_detected']}/{r['gt_units']} | "
                     + " | ".join(f"{w}/{n}" for w, n in r["by_band"].values())
                     + f" | {r['mean_accuracy']} | {r['cpu_s']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10, help="grid side (channels = rows^2)")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--units", type=int, default=24)
    parser.add_argument("--min-rate", type=float, default=0.1)
    parser.add_argument("--max-rate", type=float, default=8.0)
    parser.add_argument("--windows", type=float, nargs="+", default=[30.0, 60.0, 120.0],
                        help="detection windows (s); the whole recording is always added")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        folder, gt_folder, window = args._child
        print(json.dumps(sort_with_window(folder, gt_folder, None if window == "all" else float(window),
                                          args.threads)))
        return 0

    import numpy as np

    from bench.rtsort.cases import run_child, save_mea_recording

    rates = np.geomspace(args.min_rate, args.max_rate, args.units)
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        rec, gt = save_mea_recording(Path(tmp), seconds=args.seconds, units=args.units, rows=args.rows, seed=2024,
                                     firing_rate=rates)
        for window in [*(w for w in args.windows if w < args.seconds), "all"]:
            # a fresh process each: no window's allocations or caches carried into the next
            rows.append(run_child(__file__, ["--threads", str(args.threads), "--_child", str(rec), str(gt),
                                             str(window)]))
            print(json.dumps(rows[-1]), flush=True)
    meta = dict(argv=" ".join(sys.argv[1:] if argv is None else argv),
                when=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
                commit=subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                      cwd=RESULTS).stdout.strip(),
                threads=args.threads, load=[round(x, 2) for x in os.getloadavg()], channels=args.rows ** 2,
                seconds=args.seconds, units=args.units, min_rate=args.min_rate, max_rate=args.max_rate)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "window.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    (RESULTS / "window.md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
