"""Scale ladder: what ``sort_recording`` costs on full-array Maxwell files, against reading them once.

    python bench/scale/run.py --rungs 64x1 256x1 1020x1 --sorters fake rt_sort --rtsort-max-channels 256
    python bench/scale/run.py --report           # tables, fits and plots from the saved runs

For each rung (channels x minutes) and layout (legacy MaxOne, new MaxOne/MaxTwo), a file with
ground-truth units over the whole array is written block by block (``generate.py``), then each
sorter runs on it in a fresh process (``measure``) that records:

* the read-once floor: the file's signal read once with h5py in 1 s blocks, right before the sort
  (same page-cache state);
* ``sort_recording`` per stage: wall time (the pipeline's own stage times), CPU time, peak RSS of
  the process tree and bytes written (``write_chars`` of the tree), all from 0.25 s psutil
  samples attributed to the stage running at that moment; plus the exact peak RSS of the pipeline
  process and of its largest child (``getrusage``);
* bytes kept on disk (intermediate and results folders) against the input file;
* accuracy against ground truth (SpikeInterface ``compare_sorter_to_ground_truth``, 0.4 ms).

Each run is saved as ``bench/results/scale/runs/<rung>_<layout>_<sorter>.json``; ``--report``
writes ``scale.md``, ``scale.json`` and the plots. Generated files go under ``--data`` (default
``bench/data/scale``, ignored) and are deleted after their rung, with the sort's work folder. Each run also
lists every process of the tree it sampled (peak RSS, lifetime, the stage it started in).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "bench" / "results" / "scale"
DATA = ROOT / "bench" / "data" / "scale"
sys.path.insert(0, str(ROOT))


def pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (0 where the kernel does not say).

    A forked worker's RSS counts every page it shares with its parent again, so a sum of RSS over a
    process tree overstates its memory; a sum of PSS splits each shared page among its sharers.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeMonitor:
    """Samples RSS (and PSS), CPU time and bytes written of a process and its descendants."""

    def __init__(self, pid: int, interval_s: float = 0.25, folder: Path | None = None, folder_every_s: float = 2.0):
        import psutil

        self.root = psutil.Process(pid)
        self.interval_s = interval_s
        # the sort's work folder, walked every ``folder_every_s``: with delete_inter the intermediates
        # are gone by the end of the call, so only a running peak says what the sort kept on disk
        self.folder, self.folder_every_s = folder, folder_every_s
        self._folder_at, self._folder_bytes = -1e9, 0
        # t, summed RSS, CPU, write_chars, processes, summed PSS, bytes in the work folder
        self.samples: list[tuple[float, float, float, float, int, float, int]] = []
        self._seen: dict[int, float] = {}  # pid -> last CPU seconds, for exited ones
        self.processes: dict[int, dict] = {}  # pid -> peak rss, first/last seen, command line
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        import psutil

        rss, alive, proportional, wchar = 0, 0, 0, 0
        now = time.perf_counter()
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in procs:
            try:
                with proc.oneshot():
                    own = proc.memory_info().rss
                    times = proc.cpu_times()
                    cpu = times.user + times.system  # not children_*: the children are sampled themselves
                    written = getattr(proc.io_counters(), "write_chars", 0)
                self._seen[proc.pid] = cpu
                # the kernel adds a reaped child's I/O to its parent's counters (not its CPU time):
                # the live processes' counters hold the tree's total, those of exited ones are in them
                wchar += written
                shared = pss(proc.pid)
                rss, alive, proportional = rss + own, alive + 1, proportional + shared
                entry = self.processes.get(proc.pid)
                if entry is None:
                    try:
                        command = " ".join(proc.cmdline())[-160:]
                    except psutil.Error:
                        command = ""
                    entry = self.processes[proc.pid] = {"peak_rss": 0, "peak_pss": 0, "first": now, "last": now,
                                                        "command": command}
                entry["peak_rss"] = max(entry["peak_rss"], own)
                entry["peak_pss"] = max(entry["peak_pss"], shared)
                entry["last"] = now
            except psutil.Error:
                continue
        cpu = sum(self._seen.values())
        if self.folder is not None and now - self._folder_at >= self.folder_every_s:
            self._folder_at, self._folder_bytes = now, folder_bytes(self.folder)["total"]
        self.samples.append((now, rss, cpu, wchar, alive, proportional, self._folder_bytes))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def read_once(path: Path) -> dict:
    """Seconds and CPU seconds to read the file's signal once, in 1 s blocks, with h5py."""
    import h5py

    began, cpu = time.perf_counter(), time.process_time()
    total = 0
    with h5py.File(path, "r") as f:
        data = f["sig"] if "sig" in f else f["wells/well000/rec0000/groups/routed/raw"]
        step = 20000
        for start in range(0, data.shape[1], step):
            total += data[:, start:start + step].nbytes
    return {"wall_s": round(time.perf_counter() - began, 3), "cpu_s": round(time.process_time() - cpu, 3),
            "bytes": total}


def folder_bytes(folder: Path) -> dict:
    """Bytes under ``folder`` by top-level entry (files vanishing meanwhile, as ``delete_inter`` removes
    them during the call, are skipped)."""
    sizes: dict[str, int] = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            try:
                size = path.stat().st_size
            except OSError:
                continue
            top = path.relative_to(folder).parts[0]
            sizes[top] = sizes.get(top, 0) + size
    return {"total": sum(sizes.values()), "by_entry": dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:8])}


def stages_start(began: float, wall: float, stage_times: dict) -> float:
    """When the first timed stage began: the timed stages end where the call ends.

    The call first opens the file and runs preflight, which ``stage_times_s`` leaves out (7 s for
    a 24 GB file), so laying the stages from the call's start would shift each stage's window early.
    """
    return max(began, began + wall - sum(stage_times.values()))


def per_stage(samples, start: float, stage_times: dict) -> dict:
    """Attribute samples to stages laid end to end from ``start``, in execution order."""
    out, t = {}, start
    for name, seconds in stage_times.items():
        window = [s for s in samples if t <= s[0] <= t + seconds]
        before = [s for s in samples if s[0] <= t]
        after = [s for s in samples if s[0] <= t + seconds]
        first, last = (before[-1] if before else samples[0]), (after[-1] if after else samples[0])
        out[name] = {"wall_s": round(seconds, 3),
                     "cpu_s": round(last[2] - first[2], 2),
                     "peak_rss_gb": round(max((s[1] for s in window), default=0) / 1e9, 3),
                     "peak_pss_gb": round(max((s[5] for s in window), default=0) / 1e9, 3),
                     "written_gb": round((last[3] - first[3]) / 1e9, 3),
                     "peak_work_folder_gb": round(max((s[6] for s in window), default=0) / 1e9, 3),
                     "processes": max((s[4] for s in window), default=0)}
        t += seconds
    return out


def by_process(monitor: TreeMonitor, start: float, stage_times: dict) -> list[dict]:
    """Each sampled process of the tree: its peak RSS, lifetime and the stage it started in."""
    bounds, t = [], start
    for name, seconds in stage_times.items():
        bounds.append((t + seconds, name))
        t += seconds
    out = []
    for pid, entry in sorted(monitor.processes.items(), key=lambda kv: kv[1]["first"]):
        stage = next((name for end, name in bounds if entry["first"] <= end), "after")
        out.append({"pid": pid, "role": "pipeline" if pid == monitor.root.pid else "child",
                    "stage_started": stage if entry["first"] >= start else "before",
                    "peak_rss_gb": round(entry["peak_rss"] / 1e9, 3),
                    "peak_pss_gb": round(entry["peak_pss"] / 1e9, 3),
                    "seen_s": round(entry["last"] - entry["first"], 2), "command": entry["command"]})
    return out


def overrides(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs (values read as JSON where they parse, else as text) for ``run_recordings``."""
    out = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def measure(args) -> int:
    """One sort of one file, in this fresh process; writes the run's JSON."""
    import numpy as np
    from spikeinterface.comparison import compare_sorter_to_ground_truth

    from bench.scale.generate import ground_truth
    from spikelab.spike_sorting import run_recordings

    if args.sorter == "fake":
        from spikelab.plugins import get_plugin_manager
        from spikelab.testing import fake_backend

        get_plugin_manager().register(fake_backend, name="spikelab.testing.fake_backend")
    path = Path(args.file)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    floor = read_once(path)
    results: list = []
    params = {"rt_sort_device": "cpu"} if args.sorter == "rt_sort" else {}
    params.update(overrides(args.set))
    with TreeMonitor(os.getpid(), folder=work) as monitor:
        began = time.perf_counter()
        try:
            results = run_recordings([path], sorter=args.sorter, intermediate_folders=[work / "inter"],
                                     results_folders=[work / "results"],
                                     progress_bar=False, prevent_system_sleep=False, **params)
            spike_data, error = results[0].spike_data, None
            if results[0].error is not None:
                spike_data, error = None, f"{results[0].error_class}: {results[0].error_message}"[:1000]
        except Exception as exc:
            results = list(getattr(exc, "results", None) or [])
            spike_data, error = None, f"{type(exc).__name__}: {exc}"[:1000]
        wall = time.perf_counter() - began
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = results[0] if results else None
    start = stages_start(began, wall, result.stage_times_s) if result else began
    stages = per_stage(monitor.samples, start, result.stage_times_s) if result else {}
    inter, res = folder_bytes(work / "inter"), folder_bytes(work / "results")
    run = {
        "file": path.name, "sorter": args.sorter, "channels": args.channels, "minutes": args.minutes,
        "layout": args.layout, "input_bytes": path.stat().st_size, "read_once": floor,
        "overrides": overrides(args.set), "variant": args.variant,
        "wall_s": round(wall, 2), "status": result.status if result else None, "error": error,
        "ratio_to_read_once": round(wall / floor["wall_s"], 1) if floor["wall_s"] else None,
        "stages": stages,
        "before_stages_s": round(start - began, 2),
        "processes": by_process(monitor, start, result.stage_times_s) if result else [],
        "cpu_s": round(monitor.samples[-1][2] - monitor.samples[0][2], 1) if monitor.samples else None,
        "peak_rss_tree_gb": round(max(s[1] for s in monitor.samples) / 1e9, 3) if monitor.samples else None,
        "peak_pss_tree_gb": round(max(s[5] for s in monitor.samples) / 1e9, 3) if monitor.samples else None,
        "peak_rss_pipeline_gb": round(own.ru_maxrss * 1024 / 1e9, 3),
        "peak_rss_largest_child_gb": round(children.ru_maxrss * 1024 / 1e9, 3),
        "written_gb": round((monitor.samples[-1][3] - monitor.samples[0][3]) / 1e9, 3) if monitor.samples else None,
        "kept_bytes": {"intermediate": inter, "results": res},
        "kept_over_input": round((inter["total"] + res["total"]) / path.stat().st_size, 3),
        "peak_work_folder_gb": round(max(s[6] for s in monitor.samples) / 1e9, 3) if monitor.samples else None,
        "peak_work_folder_over_input": (round(max(s[6] for s in monitor.samples) / path.stat().st_size, 3)
                                        if monitor.samples else None),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if spike_data:
        gt = ground_truth(path)
        sorting = spike_data[0].to_spikeinterface(fs_Hz=gt.get_sampling_frequency())
        comparison = compare_sorter_to_ground_truth(gt, sorting, delta_time=0.4, exhaustive_gt=True)
        accuracy = comparison.get_performance()["accuracy"].to_numpy(dtype=float)
        run["accuracy"] = {"gt_units": int(len(accuracy)), "units_found": int(sorting.get_num_units()),
                           "well_detected": int((accuracy >= 0.8).sum()),
                           "accuracy_mean": round(float(np.mean(accuracy)), 4)}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(run, indent=2) + "\n")
    if error:  # the work folder goes next: keep its logs beside it to find out why
        for log in work.rglob("*.log"):
            kept = work.parent / f"logs_{Path(args.json).stem}" / log.relative_to(work)
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(log, kept)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: run[k] for k in ("file", "sorter", "wall_s", "ratio_to_read_once", "peak_rss_tree_gb",
                                          "status")}), flush=True)
    return 0


def ladder(args) -> int:
    from bench.scale.generate import write

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    for rung in args.rungs:
        channels, minutes = (float(x) for x in rung.split("x"))
        channels = int(channels)
        for layout in args.layouts:
            path = data / f"scale_{channels}ch_{minutes:g}min_{layout}.raw.h5"
            began = time.perf_counter()
            written = write(path, channels, minutes * 60, layout)
            print(f"wrote {path.name}: {written} in {time.perf_counter() - began:.1f} s", flush=True)
            try:
                for sorter in args.sorters:
                    if sorter == "rt_sort" and channels > args.rtsort_max_channels:
                        print(f"skip rt_sort at {channels} ch (--rtsort-max-channels)", flush=True)
                        continue
                    suffix = f"_{args.variant}" if args.variant else ""
                    out = RESULTS / f"runs{args.tag}" / f"{channels}ch_{minutes:g}min_{layout}_{sorter}{suffix}.json"
                    subprocess.run([sys.executable, __file__, "measure", str(path), "--sorter", sorter,
                                    "--channels", str(channels), "--minutes", str(minutes), "--layout", layout,
                                    "--work", str(data / "work"), "--json", str(out),
                                    *(["--set", *args.set] if args.set else []),
                                    *(["--variant", args.variant] if args.variant else [])], check=False)
            finally:
                path.unlink(missing_ok=True)
                Path(str(path) + ".gt.npz").unlink(missing_ok=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("measure")
    one.add_argument("file")
    one.add_argument("--sorter", required=True)
    one.add_argument("--channels", type=int, required=True)
    one.add_argument("--minutes", type=float, required=True)
    one.add_argument("--layout", required=True)
    one.add_argument("--work", required=True)
    one.add_argument("--json", required=True)
    for command in (one, parser):
        command.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                             help="configuration overrides for sort_recording (preflight=false, delete_inter=true);"
                                  " recorded in the run's JSON")
        command.add_argument("--variant", default="",
                             help="name of a run with non-default settings (window30): saved beside the default"
                                  " run, not over it, and shown as its own sorter row in the report")
    parser.add_argument("--rungs", nargs="+", default=["64x1", "256x1", "1020x1"])
    parser.add_argument("--layouts", nargs="+", default=["legacy", "new"])
    parser.add_argument("--sorters", nargs="+", default=["fake", "rt_sort"])
    parser.add_argument("--rtsort-max-channels", type=int, default=1020)
    parser.add_argument("--data", default=str(DATA),
                        help="folder for the generated files and the sort's work folder (deleted after each rung);"
                             " default: bench/data/scale")
    parser.add_argument("--report", action="store_true", help="only write the report from saved runs")
    parser.add_argument("--quick", action="store_true",
                        help="CI size: 64 ch x 0.5 min, legacy, fake sorter; writes *_quick files")
    args = parser.parse_args(argv)
    if args.command == "measure":
        return measure(args)
    args.tag = "_quick" if args.quick else ""
    if args.quick:
        args.rungs, args.layouts, args.sorters = ["64x0.5"], ["legacy"], ["fake"]
    from bench.scale.report import write_report

    code = 0 if args.report else ladder(args)
    write_report(RESULTS, host=f"{platform.node()}, {os.cpu_count()} CPUs", tag=args.tag)
    return code


if __name__ == "__main__":
    sys.exit(main())
