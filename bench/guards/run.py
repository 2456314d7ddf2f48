"""Safeguards: what the live watchdogs cost during a sort, and how fast they stop a runaway one.

Two measurements, both with real sorter child processes (the ``fake`` test sorter, run through
``spikelab.spike_sorting.child.run_in_child`` exactly as the pipeline runs a backend):

- ``overhead``: a sort of a generated recording with every built-in watchdog at its default poll
  interval. Reported: the watchdog threads' own CPU time, and the parent process's extra CPU time
  compared with the same sort without watchdogs, each over the sort's wall time (target < 1 %).
- ``ram_trip``: a child allocating 100 MB every ~50 ms; the host RAM abort threshold is set 3 %
  above the current use. A 10 ms monitor thread records when use first crosses the threshold;
  the latency is the time from that crossing to ``run_in_child`` returning with the child's
  process tree gone (target < 3 s), at the default 0.5 s poll interval.

    python bench/guards/run.py            # 60 s recording, 10 RAM trips
    python bench/guards/run.py --quick    # 20 s recording, 3 RAM trips
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parents[1] / "results" / "guards"


def _setup(tmp: Path, duration_s: float, channels: int):
    from spikelab.plugins import get_plugin_manager
    from spikelab.testing import fake_backend
    from spikelab.testing.recordings import tiny_recording

    manager = get_plugin_manager()
    if "fake" not in manager.sorters():
        manager.register(fake_backend, name="spikelab.testing.fake_backend")
    recording, _ = tiny_recording(seed=5, duration_s=duration_s, num_channels=channels, num_units=8)
    saved = recording.save(folder=tmp / "recording", verbose=False, n_jobs=1)
    return manager.sorter("fake"), Path(saved._kwargs["folder_path"])


def _job(backend, recording_folder: Path, folder: Path, duration_s: float, **flat):
    from spikelab.spike_sorting.backend import SortJob
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.guards.base import WatchContext

    config = SortingPipelineConfig().override(sorter="fake", **flat)
    job = SortJob(
        recording_folder=recording_folder,
        sorter_folder=folder / "sorter",
        log_path=folder / "sorter" / "fake.log",
        params=backend.resolve_params(config),
        config=config,
    )
    context = WatchContext(
        config=config,
        backend=backend,
        job=job,
        recording_duration_s=duration_s,
        results_folder=folder / "results",
    )
    return job, context


def _timed_sort(job, watchdogs) -> tuple[float, float]:
    from spikelab.spike_sorting.child import run_in_child
    from spikelab.testing.fake_backend import run

    me = psutil.Process()
    cpu0, wall0 = sum(me.cpu_times()[:2]), time.perf_counter()
    run_in_child(run, job, sorter="fake", watchdogs=watchdogs)
    return time.perf_counter() - wall0, sum(me.cpu_times()[:2]) - cpu0


def bench_overhead(tmp: Path, duration_s: float, channels: int, repeats: int) -> dict:
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting.guards.watch import build_watchdogs

    backend, recording_folder = _setup(tmp, duration_s, channels)
    rows = []
    for index in range(repeats):
        job, _ = _job(backend, recording_folder, tmp / f"bare{index}", duration_s)
        bare_wall, bare_cpu = _timed_sort(job, [])
        job, context = _job(backend, recording_folder, tmp / f"guarded{index}", duration_s)
        watchdogs = build_watchdogs(context, plugin_manager=get_plugin_manager())
        wall, cpu = _timed_sort(job, watchdogs)
        threads_cpu = sum(w.cpu_time_s for w in watchdogs)
        rows.append(
            {
                "sort_wall_s": round(wall, 3),
                "bare_sort_wall_s": round(bare_wall, 3),
                "watchdogs": [w.name for w in watchdogs],
                "checks": {w.name: w.n_checks for w in watchdogs},
                "watchdog_threads_cpu_s": round(threads_cpu, 5),
                "threads_cpu_pct_of_wall": round(100 * threads_cpu / wall, 4),
                "parent_extra_cpu_s": round(cpu - bare_cpu, 4),
                "parent_extra_cpu_pct_of_wall": round(100 * (cpu - bare_cpu) / wall, 3),
            }
        )
    return {
        "recording": f"{duration_s:g} s x {channels} channels",
        "runs": rows,
        "threads_cpu_pct_of_wall": max(r["threads_cpu_pct_of_wall"] for r in rows),
        "parent_extra_cpu_pct_of_wall_median": statistics.median(
            r["parent_extra_cpu_pct_of_wall"] for r in rows
        ),
    }


def bench_ram_trip(tmp: Path, repeats: int, poll_s: float) -> dict:
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting._exceptions import HostMemoryWatchdogError
    from spikelab.spike_sorting.guards.watch import build_watchdogs

    backend, recording_folder = _setup(tmp / "ram", 1.0, 4)
    latencies, rows = [], []
    for index in range(repeats):
        current = psutil.virtual_memory().percent
        abort = min(99.0, current + 3.0)
        job, context = _job(
            backend,
            recording_folder,
            tmp / f"trip{index}",
            1.0,
            fake_behaviour="eat_memory",
            fake_eat_limit_gb=4.0,
            fake_eat_step_mb=100,
            host_ram_warn_pct=abort,
            host_ram_abort_pct=abort,
            host_ram_poll_interval_s=poll_s,
            disk_watchdog=False,
            io_stall_watchdog=False,
        )
        crossed: list[float] = []
        done = threading.Event()

        def monitor(done=done, abort=abort, crossed=crossed):
            while not done.is_set():
                if psutil.virtual_memory().percent >= abort:
                    crossed.append(time.perf_counter())
                    return
                time.sleep(0.01)

        watcher = threading.Thread(target=monitor, daemon=True)
        watcher.start()
        watchdogs = build_watchdogs(context, plugin_manager=get_plugin_manager())
        from spikelab.spike_sorting.child import run_in_child
        from spikelab.testing.fake_backend import run

        try:
            run_in_child(run, job, sorter="fake", watchdogs=watchdogs)
            outcome = "not stopped"
        except HostMemoryWatchdogError:
            outcome = "stopped"
        stopped = time.perf_counter()
        done.set()
        watcher.join(2)
        pid = next(w.pid for w in watchdogs if w.name == "host_memory")
        gone = not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        if crossed and outcome == "stopped":
            latencies.append(stopped - crossed[0])
        rows.append(
            {
                "abort_pct": abort,
                "outcome": outcome,
                "child_gone": gone,
                "latency_s": round(stopped - crossed[0], 3) if crossed else None,
            }
        )
        time.sleep(1.0)  # let the machine settle before the next baseline
    return {
        "poll_interval_s": poll_s,
        "runs": rows,
        "latency_s_median": round(statistics.median(latencies), 3) if latencies else None,
        "latency_s_max": round(max(latencies), 3) if latencies else None,
    }


def markdown(result: dict) -> str:
    o, r = result["overhead"], result["ram_trip"]
    lines = [
        "# Safeguards",
        "",
        f"Machine: {result['machine']}. Mode: {'quick' if result['quick'] else 'full'}.",
        "",
        "| measurement | value | target |",
        "|---|---|---|",
        f"| watchdog threads' CPU time / sort wall time ({o['recording']}, worst run) | "
        f"{o['threads_cpu_pct_of_wall']:.4f} % | < 1 % |",
        f"| parent's extra CPU time with watchdogs / sort wall time (median) | "
        f"{o['parent_extra_cpu_pct_of_wall_median']:.3f} % | < 1 % |",
    ]
    for poll in r:
        lines.append(
            f"| RAM threshold crossed -> child tree stopped, poll {poll['poll_interval_s']} s "
            f"(median / max of {len(poll['runs'])}) | {poll['latency_s_median']} s / {poll['latency_s_max']} s "
            "| < 3 s |"
        )
    lines += [
        "",
        "Overhead runs:",
        "",
        "| sort wall (s) | bare wall (s) | threads CPU (s) | parent extra CPU (s) |",
        "|---|---|---|---|",
    ]
    for row in o["runs"]:
        lines.append(
            f"| {row['sort_wall_s']} | {row['bare_sort_wall_s']} | {row['watchdog_threads_cpu_s']} | "
            f"{row['parent_extra_cpu_s']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Smaller recording, fewer repeats.")
    args = parser.parse_args(argv)
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    duration, channels, repeats, trips = (20.0, 32, 2, 3) if args.quick else (60.0, 64, 3, 10)
    with tempfile.TemporaryDirectory(prefix="spikelab_bench_guards_") as tmp:
        tmp = Path(tmp)
        result = {
            "machine": f"{platform.platform()}, {psutil.cpu_count()} CPUs, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM",
            "quick": args.quick,
            "overhead": bench_overhead(tmp / "overhead", duration, channels, repeats),
            "ram_trip": [bench_ram_trip(tmp / "trip", trips, 0.5)],
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "guards_quick" if args.quick else "guards"  # a quick run never overwrites the full one
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
