"""One stage's work alone on one file, each in a fresh process: what it costs against reading the file.

    python bench/scale/stage_cost.py FILE --what read filter copy --chunk-memory 128M 32M --n-jobs 1 -1

* ``read``: the signal read once through SpikeLab's Maxwell reader in 1 s blocks (what every
  stage pays at least);
* ``filter``: the same blocks through the waveforms stage's band-pass (SpikeLab's FFT zero-phase
  Butterworth, 300-6000 Hz, float32), in this one process;
* ``filter_si``: the same through SpikeInterface's ``bandpass_filter`` (sosfiltfilt, what the
  stage used until the FFT band-pass replaced it);
* ``copy``: the preprocess stage's binary copy (``recording.save`` with the stage's job kwargs but
  the given ``chunk_memory`` and ``n_jobs``), into a folder deleted afterwards.

Each prints one JSON line: wall and CPU seconds (this process and its workers), and the exact peak
RSS (``getrusage``) of this process and of its largest worker. Runs with ``--json`` append there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def one(args) -> dict:
    from spikelab.spike_sorting.io import open_recording

    recording = open_recording(Path(args.file)).recording
    fs = int(recording.get_sampling_frequency())
    n = recording.get_num_samples(0)
    began, cpu = time.perf_counter(), time.process_time()
    if args.what in ("read", "filter", "filter_si"):
        if args.what == "filter":
            from spikelab.spike_sorting.waveforms._bandpass import zero_phase_bandpass

            recording = zero_phase_bandpass(recording, 300.0, 6000.0)
        elif args.what == "filter_si":
            import spikeinterface.preprocessing as spre

            recording = spre.bandpass_filter(recording, freq_min=300.0, freq_max=6000.0, dtype="float32")
        for start in range(0, n, fs):
            recording.get_traces(start_frame=start, end_frame=min(n, start + fs))
    else:
        folder = Path(tempfile.mkdtemp(dir=args.scratch)) / "recording"
        try:
            recording.save(folder=folder, overwrite=True, verbose=False, n_jobs=args.n_jobs,
                           chunk_memory=args.chunk_memory, progress_bar=False)
        finally:
            shutil.rmtree(folder.parent, ignore_errors=True)
    wall = time.perf_counter() - began
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"file": Path(args.file).name, "what": args.what, "channels": recording.get_num_channels(),
            "minutes": round(n / fs / 60, 2), "chunk_memory": args.chunk_memory if args.what == "copy" else None,
            "n_jobs": args.n_jobs if args.what == "copy" else 1, "wall_s": round(wall, 2),
            "cpu_s": round(time.process_time() - cpu + workers.ru_utime + workers.ru_stime, 2),
            "peak_rss_gb": round(own.ru_maxrss * 1024 / 1e9, 3),
            "peak_rss_largest_worker_gb": round(workers.ru_maxrss * 1024 / 1e9, 3),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--what", nargs="+", default=["read", "filter", "copy"],
                        choices=["read", "filter", "filter_si", "copy"])
    parser.add_argument("--chunk-memory", nargs="+", default=["128M"])
    parser.add_argument("--n-jobs", nargs="+", type=int, default=[-1])
    parser.add_argument("--scratch", default=None, help="folder for the copy (default: beside the file)")
    parser.add_argument("--json", default=None, help="append each result as one JSON line to this file")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        args.what, args.chunk_memory, args.n_jobs = args.what[0], args.chunk_memory[0], args.n_jobs[0]
        print(json.dumps(one(args)), flush=True)
        return 0
    scratch = args.scratch or str(Path(args.file).parent)
    for what in args.what:
        grid = [(c, j) for c in args.chunk_memory for j in args.n_jobs] if what == "copy" else [("0", 1)]
        for chunk_memory, n_jobs in grid:
            out = subprocess.run([sys.executable, __file__, args.file, "--one", "--what", what, "--chunk-memory",
                                  chunk_memory, "--n-jobs", str(n_jobs), "--scratch", scratch],
                                 capture_output=True, text=True, check=False)
            line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else json.dumps(
                {"what": what, "error": out.stderr[-500:]})
            print(line, flush=True)
            if args.json:
                with open(args.json, "a") as sink:
                    sink.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
