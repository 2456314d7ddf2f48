"""Pipeline overhead: everything sort_recording does besides the sorter's own work.

A 64-channel Maxwell recording (5 minutes; 1 minute with ``--quick``) is generated and sorted
once end to end (cold: nothing cached). The sorter's own time is measured inside the sorter
process around ``backend.run`` (see ``timed_backend.py``); overhead is the rest of the wall time
of ``sort_recording``: opening the file, preflight, the binary copy, starting the sorter process,
reading its output, waveforms, curation, reports. Target: overhead < 10 % of the sorter's time.
A second, warm run shows what the caches save.

    python bench/pipeline/run.py            # kilosort4 if installed (else the fake sorter), 5 min
    python bench/pipeline/run.py --quick    # fake sorter, 1 min

Writes ``bench/results/pipeline/overhead.json`` and ``overhead.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "pipeline"
sys.path.insert(0, str(HERE))  # the sorter child inherits sys.path, so it can import timed_backend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 minute, fake sorter.")
    parser.add_argument("--sorter", help="Backend to time (default: kilosort4 if installed, fake for --quick).")
    parser.add_argument("--minutes", type=float, help="Recording length (default 5, or 1 with --quick).")
    args = parser.parse_args(argv)

    from spikelab.plugins import get_plugin_manager

    manager = get_plugin_manager()
    sorter = args.sorter or ("fake" if args.quick or "kilosort4" not in manager.sorters() else "kilosort4")
    minutes = args.minutes or (1.0 if args.quick else 5.0)
    os.environ["SPIKELAB_BENCH_WRAPPED"] = sorter
    import timed_backend

    timed_backend.BACKEND = timed_backend.make_backend()
    manager.register(timed_backend, name="bench.timed_backend")

    from spikelab.demo import write_demo_recording
    from spikelab.spike_sorting import run_recordings

    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        path, _ = write_demo_recording(
            folder / "bench.raw.h5", duration_s=minutes * 60, num_channels=64, num_units=32,
            firing_rate_hz=5.0, seed=0,
        )
        generate_s = time.perf_counter() - start
        kwargs = {"n_jobs": 1, "progress_bar": False, "prevent_system_sleep": False}
        if sorter == "kilosort4":
            kwargs["nblocks"] = 0
        runs = []
        for label in ("cold", "warm"):
            start = time.perf_counter()
            results = run_recordings([path], sorter="timed", intermediate_folders=[folder / "inter"],
                                     results_folders=[folder / "results"], **kwargs)
            wall = time.perf_counter() - start
            own_file = folder / "inter" / "sorter_output" / timed_backend.OWN_TIME
            own = json.loads(own_file.read_text())["sorter_own_time_s"]
            result = results[0]
            runs.append({
                "run": label, "wall_s": round(wall, 2),
                "sorter_own_s": round(own, 2) if label == "cold" else 0.0,
                "stage_times_s": result.stage_times_s, "cached_stages": result.cached_stages,
                "units": result.n_units, "curated_units": result.n_curated_units,
            })
        cold = runs[0]
        overhead = cold["wall_s"] - cold["sorter_own_s"]
        summary = {
            "generated": dt.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.platform()}, {psutil.cpu_count()} CPUs, "
                       f"{psutil.virtual_memory().total / 2**30:.0f} GiB, load average {os.getloadavg()[0]:.1f}",
            "quick": args.quick, "sorter": sorter, "channels": 64, "minutes": minutes,
            "generate_recording_s": round(generate_s, 1),
            "sorter_own_s": cold["sorter_own_s"], "overhead_s": round(overhead, 2),
            "overhead_pct_of_sorter": round(100 * overhead / cold["sorter_own_s"], 1),
            "target_pct": 10.0, "runs": runs,
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "overhead_quick" if args.quick else "overhead"
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


def markdown(s: dict) -> str:
    ok = "meets" if s["overhead_pct_of_sorter"] < s["target_pct"] else "MISSES"
    lines = [
        f"Pipeline overhead, {s['channels']} ch x {s['minutes']:g} min Maxwell recording, sorter `{s['sorter']}` "
        f"({'quick' if s['quick'] else 'full'} run, {s['generated']}; {s['machine']}).",
        "",
        f"**Overhead {s['overhead_s']} s = {s['overhead_pct_of_sorter']} % of the sorter's own "
        f"{s['sorter_own_s']} s** ({ok} the < {s['target_pct']:g} % target).",
        "",
        "| run | wall (s) | sorter own (s) | cached stages | "
        + " | ".join(sorted(s["runs"][0]["stage_times_s"]))
        + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in s["runs"][0]["stage_times_s"]) + " |",
    ]
    for run in s["runs"]:
        stages = " | ".join(f"{run['stage_times_s'].get(k, 0):.2f}" for k in sorted(s["runs"][0]["stage_times_s"]))
        lines.append(
            f"| {run['run']} | {run['wall_s']} | {run['sorter_own_s']} | "
            f"{', '.join(run['cached_stages']) or '-'} | {stages} |"
        )
    lines += ["", "The sort stage includes starting the sorter's fresh interpreter and reading its output; "
              "the sorter's own time is measured inside that process around `backend.run`."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
