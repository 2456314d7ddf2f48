"""RT-Sort: memory of sequence detection per channel and frame of its window, and its accuracy.

    python bench/rtsort/memory.py                      # 256 ch x 30 s, 40 units
    python bench/rtsort/memory.py --rows 8 --seconds 20 --units 10   # a quick check

Sequence detection holds its whole window (the network's logits and the scaled traces) in
memory, and the runner sizes the default window with ``DETECTION_BYTES_PER_CHANNEL_FRAME``. This
measures what one ``RTSort.detect_and_sort`` call really adds to the process's peak resident
memory, divided by the channel-frames of the window, on a SpikeInterface-generated MEA-like grid
(17.5 um, 20 kHz) cached to a binary folder first (so the generator's own memory is not counted),
and scores the sort against the ground truth (0.4 ms, accuracy > 0.8 = well detected).

Each case runs in a fresh process: ``ru_maxrss`` is a process's lifetime peak.
Appends a row to ``bench/results/rtsort/memory.md``.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "rtsort"
sys.path.insert(0, str(ROOT))


def _rss_now() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _rss_anon() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class _AnonPeak:
    """Largest anonymous resident memory (the heap: not the recording's file pages, which the
    binary folder's memmap adds to ``ru_maxrss`` and the kernel can drop) sampled every 20 ms."""

    def __enter__(self):
        import threading

        self.peak, self._stop = _rss_anon(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_anon())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def measure(folder: str, gt_folder: str, threads: int, overrides: dict) -> dict:
    """In this (fresh) process: detect and sort the saved recording, peak memory and accuracy."""
    import numpy as np
    import spikeinterface as si
    import torch

    from bench.rtsort.cases import unit_accuracy
    from spikelab_rtsort._paths import default_model_path
    from spikelab_rtsort.model import load_detection_model
    from spikelab_rtsort.params import RTSortParams
    from spikelab_rtsort.rtsort import RTSort

    torch.set_num_threads(threads)
    recording = si.load(folder)
    gt = si.load(gt_folder)
    model = load_detection_model(default_model_path("mea"))
    base, anon_base = _rss_now(), _rss_anon()
    began, cpu0 = time.perf_counter(), time.process_time()
    with _AnonPeak() as anon:
        rts, trains = RTSort.detect_and_sort(recording, model,
                                             params=RTSortParams().override(**overrides))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    channel_frames = recording.get_num_frames() * recording.get_num_channels()
    acc = unit_accuracy(gt, trains, recording.get_sampling_frequency()).to_numpy(dtype=float)
    return dict(channels=recording.get_num_channels(), seconds=round(recording.get_total_duration(), 3),
                base_gb=round(base / 1e9, 3), peak_gb=round(peak / 1e9, 3),
                bytes_per_channel_frame=round((peak - base) / channel_frames, 2),
                anon_peak_gb=round(anon.peak / 1e9, 3),
                anon_bytes_per_channel_frame=round((anon.peak - anon_base) / channel_frames, 2),
                wall_s=round(wall, 1), cpu_s=round(cpu, 1), units_found=rts.num_units,
                gt_units=len(acc), well_detected=int((acc > 0.8).sum()),
                mean_accuracy=round(float(np.mean(acc)), 4))


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        out[name] = ast.literal_eval(value)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16, help="grid side (channels = rows^2)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--units", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--label", default="", help="what code this row measures")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="an RTSortParams override, e.g. float16_window=False (repeatable)")
    parser.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        print(json.dumps(measure(*args._child, args.threads, _overrides(args.param))))
        return 0

    from bench.rtsort.cases import run_child, save_mea_recording

    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        rec, gt = save_mea_recording(Path(tmp), seconds=args.seconds, units=args.units, rows=args.rows, seed=4242,
                                     firing_rate=8.0)
        params = [f"--param={p}" for p in args.param]
        row = run_child(__file__, ["--threads", str(args.threads), *params, "--_child", str(rec), str(gt)])
    row.update(label=args.label, params=" ".join(args.param), when=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
               commit=subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True, cwd=RESULTS).stdout.strip(),
               threads=args.threads)
    print(json.dumps(row, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    table = RESULTS / "memory.md"
    keys = ["label", "params", "channels", "seconds", "base_gb", "peak_gb", "bytes_per_channel_frame", "anon_peak_gb",
            "anon_bytes_per_channel_frame", "wall_s",
            "cpu_s", "units_found", "well_detected", "gt_units", "mean_accuracy", "threads", "commit", "when"]
    if not table.exists():
        table.write_text("# RT-Sort sequence detection: memory per channel-frame of the window\n\n"
                         "Rows appended by `python bench/rtsort/memory.py`; peak is the sorting process's "
                         "`ru_maxrss`, base its resident memory just before `RTSort.detect_and_sort`; anon_peak is "
                         "the largest anonymous resident memory sampled every 20 ms (the heap, without the "
                         "memmapped input's file pages).\n\n"
                         "| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n")
    with table.open("a") as handle:
        handle.write("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
