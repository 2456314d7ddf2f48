"""A MaxTwo plate through ``sort_multistream``: wells in parallel on a local Dask cluster, one well bad.

    flock /work/bigdisk.lock python bench/scale/multiwell.py --work /work/scratch/multiwell \\
        --wells 6 --channels 1020 --minutes 1 --workers 2 --bad-well well003 --sequential
    python bench/scale/multiwell.py --report      # multiwell.md from the saved multiwell.json

Writes one new-layout Maxwell file of ``--wells`` wells (``generate.py``'s ground-truth units,
each well its own seed), in 1 s blocks, under ``--work``. One well (``--bad-well``) is flat at
mid-scale, a well without a culture: the fake sorter finds no spike in it and fails with its
classified error (``InsufficientActivityError``, status ``not_sortable``) after the preprocess
stage has copied it, as a real sort of an empty well would.

Each mode runs in a fresh process (``measure``) that calls ``sort_multistream`` with the fake
sorter (the pipeline's own cost) and ``delete_inter=True`` (each well's intermediates go once it
succeeds, so the plate's peak disk stays bounded), and records: wall time; CPU time and peak RSS
of the whole process tree (the driver, the Dask scheduler's nanny and worker processes, the
sorter children, the copy's pool processes; 0.25 s psutil samples), the largest single process;
the bytes of the work folders, sampled every 2 s (peak) and at the end (kept); what was raised;
and each well's status, error, stage times and accuracy against its ground truth. The modes are
``parallel`` (``workers=N``) and ``sequential`` (the default: one well after another in the
driver). The work folders are emptied between modes and the file is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "bench" / "results" / "scale"
sys.path.insert(0, str(ROOT))

from bench.scale.run import TreeMonitor, folder_bytes  # noqa: E402


class PeakPerProcess(TreeMonitor):
    """TreeMonitor that also keeps each process's own peak RSS and what it was."""

    def __init__(self, pid: int, interval_s: float = 0.25):
        super().__init__(pid, interval_s)
        self.peaks: dict[int, tuple[float, str]] = {}

    def _sample(self) -> None:
        import psutil

        super()._sample()
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in procs:
            try:
                rss = proc.memory_info().rss
                if rss > self.peaks.get(proc.pid, (0, ""))[0]:
                    self.peaks[proc.pid] = (rss, " ".join(proc.cmdline()[:3])[-80:])
            except psutil.Error:
                continue


def write_plate(path: Path, wells: list[str], channels: int, minutes: float, bad_well: str | None) -> dict:
    """The plate file (every well block by block) and each good well's ground truth beside it."""
    import numpy as np

    from bench.scale.generate import blocks, grid_mapping, make_units
    from spikelab.testing import maxwell as mxw

    mapping = grid_mapping(channels)
    n_frames = int(minutes * 60 * 20000)
    per_well, truths = {}, {}
    for k, well in enumerate(wells):
        if well == bad_well:
            flat = np.full((channels, 20000), 512, dtype=np.uint16)
            per_well[well] = (flat[:, : min(20000, n_frames - s)] for s in range(0, n_frames, 20000))
            continue
        units = make_units(mapping, minutes * 60, seed=k)
        truths[well] = units
        per_well[well] = blocks(units, channels, seed=k)
    mxw.write_new(path, wells=tuple(wells), num_channels=channels, num_samples=n_frames, mapping=mapping,
                  blocks=per_well)
    for well, units in truths.items():
        np.savez(Path(f"{path}.{well}.gt.npz"), times=units["times"], labels=units["labels"], fs=20000.0)
    return {"bytes": path.stat().st_size, "units_per_well": {w: int(len(u["positions"])) for w, u in truths.items()}}


def accuracy(path: Path, well: str, spike_data) -> dict | None:
    import numpy as np
    from spikeinterface.comparison import compare_sorter_to_ground_truth
    from spikeinterface.core import NumpySorting

    truth = Path(f"{path}.{well}.gt.npz")
    if not spike_data or not truth.is_file():
        return None
    saved = np.load(truth)
    gt = NumpySorting.from_samples_and_labels([saved["times"]], [saved["labels"]], float(saved["fs"]))
    sorting = spike_data[0].to_spikeinterface(fs_Hz=float(saved["fs"]))
    if sorting.get_num_units() == 0:
        return {"gt_units": int(gt.get_num_units()), "units_found": 0, "well_detected": 0, "accuracy_mean": 0.0}
    scores = compare_sorter_to_ground_truth(gt, sorting, delta_time=0.4, exhaustive_gt=True).get_performance()
    acc = scores["accuracy"].to_numpy(dtype=float)
    return {"gt_units": int(len(acc)), "units_found": int(sorting.get_num_units()),
            "well_detected": int((acc >= 0.8).sum()), "accuracy_mean": round(float(np.mean(acc)), 4)}


def measure(args) -> int:
    """One ``sort_multistream`` of the plate in this fresh process; writes the mode's JSON."""
    import resource

    os.environ["SPIKELAB_TEST_PLUGINS"] = "1"  # the Dask workers register the fake sorter too
    from spikelab.spike_sorting import sort_multistream

    path, work = Path(args.file), Path(args.file).parent
    wells = args.wells
    outputs = [work / "spikelab_intermediate", work / "sorted_fake"]
    disk: list[int] = []
    stop = threading.Event()

    def sample_disk() -> None:
        while not stop.is_set():
            disk.append(sum(folder_bytes(f)["total"] for f in outputs))
            stop.wait(2.0)

    sampler = threading.Thread(target=sample_disk, daemon=True)
    sampler.start()
    raised, out, results = None, {}, []
    workers = args.workers if args.mode == "parallel" else None
    with PeakPerProcess(os.getpid()) as monitor:
        began = time.perf_counter()
        try:
            out = sort_multistream(path, wells, sorter="fake", workers=workers, progress_bar=False,
                                   prevent_system_sleep=False, delete_inter=True)
        except Exception as exc:
            raised = {"class": type(exc).__name__, "status": getattr(exc, "status", None), "message": str(exc)[:300]}
            results = list(getattr(exc, "results", None) or [])
        wall = time.perf_counter() - began
    stop.set()
    sampler.join()
    disk.append(sum(folder_bytes(f)["total"] for f in outputs))
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    by_name = {r.rec_name: r for r in results}
    per_well = []
    for well in wells:
        result = by_name.get(f"{path.name.removesuffix('.raw.h5')}_{well}")
        spike_data = out.get(well) or (result.spike_data if result is not None else [])
        per_well.append({
            "well": well,
            "status": result.status if result else ("success" if out.get(well) else None),
            "error": f"{result.error_class}: {str(result.error_message)[:200]}" if result and not result.ok else None,
            "wall_s": result.wall_time_s if result else None,
            "stages_s": result.stage_times_s if result else None,
            "units": spike_data[0].N if spike_data else None,
            "spikes": int(sum(len(t) for t in spike_data[0].train)) if spike_data else None,
            "accuracy": accuracy(path, well, spike_data),
        })
    largest = max(monitor.peaks.values(), default=(0, ""))
    run = {
        "mode": args.mode, "workers": workers, "wells": len(wells), "wall_s": round(wall, 1),
        "cpu_s_tree": round(monitor.samples[-1][2] - monitor.samples[0][2], 1) if monitor.samples else None,
        "cpu_s_rusage": round(own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, 1),
        "peak_rss_tree_gb": round(max(s[1] for s in monitor.samples) / 1e9, 3) if monitor.samples else None,
        "peak_rss_largest_process_gb": round(largest[0] / 1e9, 3), "largest_process": largest[1],
        "peak_rss_driver_gb": round(own.ru_maxrss * 1024 / 1e9, 3),
        "disk_peak_gb": round(max(disk) / 1e9, 2), "disk_kept_gb": round(disk[-1] / 1e9, 2),
        "raised": raised, "per_well": per_well,
        "succeeded": sum(1 for w in per_well if w["status"] == "success"),
        "failed": [f"{w['well']}: {w['error']}" for w in per_well if w["status"] != "success"],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    batch = work / "batch_report.json"
    if batch.is_file():
        run["batch_report_counts"] = json.loads(batch.read_text())["counts"]
    Path(args.json).write_text(json.dumps(run, indent=2) + "\n")
    print(json.dumps({k: run[k] for k in ("mode", "wall_s", "cpu_s_tree", "peak_rss_tree_gb", "succeeded",
                                          "failed")}), flush=True)
    return 0


def plate(args) -> int:
    work = Path(args.work) / "plate"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    path = work / "plate.raw.h5"
    wells = [f"well{k:03d}" for k in range(args.wells)]
    doc = {"channels": args.channels, "minutes": args.minutes, "wells": wells, "bad_well": args.bad_well,
           "host": f"{platform.node()}, {os.cpu_count()} CPUs",
           "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True).stdout.strip(), "runs": []}
    try:
        began = time.perf_counter()
        doc["file"] = write_plate(path, wells, args.channels, args.minutes, args.bad_well)
        doc["file"]["write_s"] = round(time.perf_counter() - began, 1)
        print(f"wrote {path}: {doc['file']}", flush=True)
        modes = ["parallel"] + (["sequential"] if args.sequential else [])
        for mode in modes:
            for name in ("spikelab_intermediate", "sorted_fake"):
                shutil.rmtree(work / name, ignore_errors=True)
            out = work / f"{mode}.json"
            subprocess.run([sys.executable, __file__, "measure", str(path), "--mode", mode, "--workers",
                            str(args.workers), "--wells", *wells, "--json", str(out)], check=False)
            if out.is_file():
                doc["runs"].append(json.loads(out.read_text()))
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "multiwell.json").write_text(json.dumps(doc, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_report(RESULTS / "multiwell.json")
    return 0


def write_report(source: Path) -> Path:
    """``multiwell.md``: the runs' table and each well's outcome."""
    doc = json.loads(source.read_text())
    runs = {r["mode"]: r for r in doc["runs"]}
    size = f"{len(doc['wells'])} wells x {doc['channels']:,} channels x {doc['minutes']:g} min"
    lines = [f"# A MaxTwo plate through `sort_multistream` ({size}, fake sorter)", "",
             f"Generated by `bench/scale/multiwell.py` at {doc['commit']} on {doc['host']}; "
             f"input {doc['file']['bytes'] / 1e9:.1f} GB (written in {doc['file']['write_s']:.0f} s); "
             f"{doc['bad_well']} is flat (a well without a culture). `delete_inter=True`.", "",
             "| | " + " | ".join(runs) + " |", "| --- |" + " --- |" * len(runs)]
    rows = [("workers", lambda r: str(r["workers"] or "- (one well after another)")),
            ("wall time (s)", lambda r: f"{r['wall_s']:.0f}"),
            ("CPU time, process tree (s)", lambda r: f"{r['cpu_s_tree']:.0f}"),
            ("peak RSS, process tree (GB)", lambda r: f"{r['peak_rss_tree_gb']:.2f}"),
            ("peak RSS, largest process (GB)", lambda r: f"{r['peak_rss_largest_process_gb']:.2f}"),
            ("work folders, peak / kept (GB)", lambda r: f"{r['disk_peak_gb']:.1f} / {r['disk_kept_gb']:.1f}"),
            ("wells sorted / failed", lambda r: f"{r['succeeded']} / {len(r['failed'])}"),
            ("raised", lambda r: f"{r['raised']['class']} ({r['raised']['status']})" if r["raised"] else "nothing"),
            ("load average at the end", lambda r: ", ".join(str(x) for x in r["load_avg_end"]))]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in runs.values()) + " |")
    for mode, run in runs.items():
        lines += ["", f"## {mode}: each well", "",
                  "| well | status | error | wall (s) | units | well detected / GT | accuracy mean |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for w in run["per_well"]:
            acc = w["accuracy"] or {}
            detected = f"{acc['well_detected']}/{acc['gt_units']}" if acc else ""
            wall = "" if w["wall_s"] is None else f"{w['wall_s']:.0f}"
            units = "" if w["units"] is None else w["units"]
            error = (w["error"] or "")[:90].replace("|", "/")
            lines.append(f"| {w['well']} | {w['status']} | {error} | {wall} | {units} | {detected} | "
                         f"{acc.get('accuracy_mean', '')} |")
    out = source.with_suffix(".md")
    out.write_text("\n".join(lines) + "\n")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("measure")
    one.add_argument("file")
    one.add_argument("--mode", choices=["parallel", "sequential"], required=True)
    one.add_argument("--workers", type=int, default=2)
    one.add_argument("--wells", nargs="+", required=True)
    one.add_argument("--json", required=True)
    parser.add_argument("--work", default="/work/scratch/multiwell")
    parser.add_argument("--wells", type=int, default=6)
    parser.add_argument("--channels", type=int, default=1020)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bad-well", default="well003")
    parser.add_argument("--sequential", action="store_true", help="also sort the wells one after another")
    parser.add_argument("--report", action="store_true", help="only write multiwell.md from multiwell.json")
    args = parser.parse_args(argv)
    if args.command == "measure":
        return measure(args)
    if args.report:
        write_report(RESULTS / "multiwell.json")
        return 0
    return plate(args)


if __name__ == "__main__":
    sys.exit(main())
