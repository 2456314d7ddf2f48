"""Sorting accuracy on ground truth, per backend and per peer sorter, before and after curation.

    python bench/accuracy/run.py --quick    # probe 32 ch x 10 s + MEA 64 ch x 20 s (CI-sized)
    python bench/accuracy/run.py            # the scaling ladder up to 128-256 ch x 5 min (hours)
    python bench/accuracy/run.py --realistic  # MEArec recordings (bench/mearec/make.py): Maxwell MEA, probe

For every ground-truth recording of ``bench/groundtruth.py`` and every sorter that runs on this
machine, one sort per child process (so peak RSS and CPU time are that sort's own, read from
``os.wait4``):

* SpikeLab backends: ``sort_recording(sorter="kilosort4")`` and ``sort_recording(sorter="rt_sort")``
  (SpikeLab curation off in the call; applied afterwards as for the peers).
* SpikeInterface's internal sorters through SpikeLab's ``spikelab-si`` backend (same call).
* Peers through SpikeInterface's ``run_sorter`` with their defaults: spykingcircus2, tridesclous2,
  lupin and mountainsort5 when installed.
* ``--sorters`` takes names (every path) or ``name@via`` (``spykingcircus2@spikeinterface``).

On the Maxwell-format MEArec recording, SpikeLab's sorts are given the ``.raw.h5`` file (SpikeLab's
reader); the peers and the scoring get the same file opened with that reader.

Each sorting is scored with ``spikeinterface.comparison.compare_sorter_to_ground_truth``
(exhaustive ground truth, 0.4 ms window): well-detected units (accuracy >= 0.8), median
accuracy / precision / recall over ground-truth units, and unit precision (the share of sorted
units that are neither false positives nor redundant). Then SpikeLab curation with the pipeline's
default thresholds (``CurationConfig()``) is applied to the same sorting and it is scored again.
Check: curation does not lower unit precision and keeps >= 90 % of the well-detected units.
The same curation is applied to the true sorting, for its ceiling: how many real units it keeps.
A SpikeLab backend that declines a recording in its preflight (RT-Sort's 20 kHz model on a 30 kHz
recording) is recorded as refused, with its message, not as a failure.

Writes ``bench/results/accuracy/accuracy_<quick|full>.{json,md}`` and two PNGs (curation effect,
log-log wall time vs channels x duration).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import groundtruth  # noqa: E402

sys.path.insert(0, str(HERE.parent / "mearec"))
import make as mearec  # noqa: E402

RESULTS = HERE.parent / "results" / "accuracy"
DATASETS = {"quick": ["probe-quick", "mea-quick"],
            "full": ["probe-32x60", "mea-64x120", "probe-64x120", "probe-long", "mea-long"],
            "realistic": ["mearec-mea", "mearec-probe"]}
SPIKELAB_SORTERS = ["kilosort4", "rt_sort", "spykingcircus2", "tridesclous2", "lupin", "mountainsort5"]
PEER_SORTERS = ["spykingcircus2", "tridesclous2", "lupin", "mountainsort5"]
TIMEOUT_S = {"quick": 900, "full": 12 * 3600, "realistic": 3 * 3600}  # per sort; generous for a shared machine


def load_dataset(name: str):
    """``(recording, gt_sorting, info)`` of a generated or a MEArec preset."""
    return mearec.load(name) if name in mearec.PRESETS else groundtruth.load(name)


def available_sorters() -> list[tuple[str, str]]:
    """``(sorter, via)`` pairs that can run here; ``via`` is ``spikelab`` or ``spikeinterface``."""
    from spikeinterface.sorters import installed_sorters

    from spikelab.plugins import get_plugin_manager

    backends = get_plugin_manager().sorters()
    peers = set(installed_sorters())
    # Peers first: they are the quick ones, so a run cut short still has a comparison.
    return ([(s, "spikeinterface") for s in PEER_SORTERS if s in peers]
            + [(s, "spikelab") for s in SPIKELAB_SORTERS if s in backends])


# ----------------------------------------------------------------------------------- worker side


def score(gt, sorting) -> dict:
    import numpy as np
    from spikeinterface.comparison import compare_sorter_to_ground_truth

    found = len(sorting.get_unit_ids())
    comparison = compare_sorter_to_ground_truth(gt, sorting, exhaustive_gt=True)
    perf = comparison.get_performance()
    bad = comparison.count_bad_units() if found else 0
    return {
        "units_found": found,
        "well_detected": int(comparison.count_well_detected_units(0.8)),
        **{f"{m}_median": round(float(np.median(perf[m].to_numpy(dtype=float))), 4)
           for m in ("accuracy", "precision", "recall")},
        "accuracy_mean": round(float(np.mean(perf["accuracy"].to_numpy(dtype=float))), 4),
        "false_positive_units": int(comparison.count_false_positive_units()) if found else 0,
        "redundant_units": int(comparison.count_redundant_units()) if found else 0,
        "overmerged_units": int(comparison.count_overmerged_units()) if found else 0,
        "unit_precision": round((found - bad) / found, 4) if found else None,
    }


def sort(sorter: str, via: str, recording, work: Path, quick: bool, path: str | None = None):
    if via == "spikeinterface":
        from spikeinterface.sorters import run_sorter

        return run_sorter(sorter, recording, folder=work / "si", remove_existing_folder=True, verbose=False)
    from spikelab.spike_sorting import run_recordings

    extra = {"nblocks": 0} if (sorter == "kilosort4" and quick) else {}
    results = run_recordings(
        [path or recording], sorter=sorter, curate=False, create_figures=False, recompute_sorting=True,
        intermediate_folders=[work / "inter"], results_folders=[work / "results"], **extra,
    )
    spike_data = results[0].spike_data
    if not spike_data or results[0].status != "success":
        status = results[0] if results else None
        raise RuntimeError(f"sort_recording({sorter}) failed: {getattr(status, 'status', '?')}: "
                           f"{getattr(status, 'error_message', 'no result')}")
    return spike_data[0].to_spikeinterface(fs_Hz=recording.get_sampling_frequency())


def curate(sorting, recording):
    """SpikeLab curation with the sorting pipeline's default thresholds."""
    from spikelab import SpikeData
    from spikelab.spike_sorting.config import CurationConfig

    cfg = CurationConfig()
    sd = SpikeData.from_spikeinterface(sorting, recording, attach_raw_data=True)
    sd.metadata["raw_data_filtered"] = False
    curated, results = sd.curate(
        min_spikes=cfg.spikes_min, min_rate_hz=cfg.fr_min, isi_max=cfg.isi_viol_max,
        isi_threshold_ms=cfg.isi_threshold_ms, min_snr=cfg.snr_min, max_std_norm=cfg.std_norm_max,
    )
    removed = {name: int((~r["passed"]).sum()) for name, r in results.items()}
    return curated.to_spikeinterface(fs_Hz=recording.get_sampling_frequency()), removed


def gt_curation(recording, gt) -> dict:
    """SpikeLab's default curation applied to the true sorting: how many real units it would keep."""
    curated, removed = curate(gt, recording)
    return {"kept": len(curated.get_unit_ids()), "of": len(gt.get_unit_ids()), "removed_by": removed}


def worker(sorter: str, via: str, dataset: str, out: Path, quick: bool) -> None:
    recording, gt, info = load_dataset(dataset)
    work = Path(tempfile.mkdtemp(prefix=f"acc-{sorter}-"))
    try:
        start = time.perf_counter()
        try:
            sorting = sort(sorter, via, recording, work, quick, info.get("path"))
        except Exception as exc:
            # A backend that declines the recording before any work (RT-Sort's 20 kHz model on a
            # 30 kHz probe) is a documented answer, kept apart from a crash.
            if via != "spikelab" or getattr(exc, "stage", None) != "preflight":
                raise
            message = f"{type(exc).__name__}: {exc}".replace(f"{HERE.parent.parent}/", "")  # repo-relative paths
            out.write_text(json.dumps({"refused": message}))
            return
        sort_s = time.perf_counter() - start
        entry = {"sort_s": round(sort_s, 2), "before": score(gt, sorting)}
        start = time.perf_counter()
        curated, removed = curate(sorting, recording)
        entry.update(curation_s=round(time.perf_counter() - start, 2), removed_by=removed, after=score(gt, curated))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out.write_text(json.dumps(entry))


# ----------------------------------------------------------------------------------- driver side


def _previous_runs(mode: str) -> dict:
    path = RESULTS / f"accuracy_{mode}.json"
    if not path.exists():
        return {}
    runs = json.loads(path.read_text()).get("runs", [])
    return {(r["dataset"], r.get("dataset_key"), r["sorter"], r["via"]): r for r in runs if r.get("ok")}


def _still_current(name: str, saved: dict) -> bool:
    """Whether a saved data set was made with the parameters its preset has now (not regenerated)."""
    if name in mearec.PRESETS:
        return saved["params"].get("mearec") == json.loads(json.dumps(mearec.PRESETS[name]))
    return name in groundtruth.PRESETS and all(
        r.get("dataset_key") == groundtruth.key(groundtruth.PRESETS[name]) for r in saved["runs"])


def _saved(report: dict, name: str) -> dict:
    """One data set of a saved report, with its runs."""
    return {**report["datasets"][name], "runs": [r for r in report["runs"] if r["dataset"] == name]}


def _carried(mode: str, names: list[str]) -> dict:
    """With ``--resume``: the saved data sets this run does not name, with all their runs, when
    their presets are unchanged; so one recording can be added without regenerating the others."""
    path = RESULTS / f"accuracy_{mode}.json"
    if not path.exists():
        return {}
    report = json.loads(path.read_text())
    out = {}
    for name in report["datasets"]:
        saved = _saved(report, name)
        if name not in names and _still_current(name, saved):
            out[name] = saved
        elif name not in names:
            print(f"[accuracy] {name}: its preset changed since the saved run; dropped", flush=True)
    return out


def run_one(sorter: str, via: str, dataset: str, quick: bool, timeout_s: float) -> dict:
    """Run one sort in a child interpreter; its own wall, CPU and peak RSS from ``os.wait4``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "entry.json"
        log = Path(tmp) / "log.txt"
        command = [sys.executable, __file__, "--worker", sorter, via, dataset, str(out)] + (
            ["--quick"] if quick else []
        )
        load_before = os.getloadavg()[0]
        start = time.monotonic()
        with log.open("w") as handle:
            # Own session, so a timeout also ends the sorter processes the worker started.
            proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - start > timeout_s:
                    os.killpg(proc.pid, signal.SIGKILL)
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.5)
        proc.returncode = os.waitstatus_to_exitcode(status)
        entry = {
            "sorter": sorter, "via": via, "dataset": dataset,
            "process_wall_s": round(time.monotonic() - start, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2),
            "load_avg_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        }
        result = json.loads(out.read_text()) if proc.returncode == 0 and out.exists() else None
        if result is not None and "refused" in result:
            entry.update(ok=False, refused=True, error=result["refused"])
        elif result is not None:
            entry.update(result, ok=True)
        else:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            entry.update(ok=False, error=f"exit {proc.returncode}" + (f" after timeout {timeout_s:.0f} s" if
                         time.monotonic() - start > timeout_s else "") + ": " + " | ".join(tail)[-400:])
        return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI-sized recordings (under 10 minutes).")
    parser.add_argument("--realistic", action="store_true", help="the MEArec recordings of bench/mearec/make.py")
    parser.add_argument("--sorters", nargs="*", default=None, help="subset of the available sorters")
    parser.add_argument(
        "--datasets", nargs="*", default=None, help=f"ground-truth presets ({sorted(groundtruth.PRESETS)})"
    )
    parser.add_argument("--resume", action="store_true",
                        help="keep successful runs of the saved JSON (same recording parameters) and run the rest; "
                        "saved data sets that --datasets leaves out are kept whole")
    parser.add_argument("--replot", action="store_true", help="rewrite the markdown and PNGs from the saved JSON")
    parser.add_argument("--refresh-gt-curation", action="store_true",
                        help="measure, with no sort, how many true units the default curation keeps on each saved "
                        "data set (whose preset is unchanged), store it in the saved JSON and replot")
    parser.add_argument("--worker", nargs=4, metavar=("SORTER", "VIA", "DATASET", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        sorter, via, dataset, out = args.worker
        worker(sorter, via, dataset, Path(out), args.quick)
        return 0

    import _report

    mode = "quick" if args.quick else "realistic" if args.realistic else "full"
    if args.refresh_gt_curation:
        path = RESULTS / f"accuracy_{mode}.json"
        report = json.loads(path.read_text())
        for name, info in report["datasets"].items():
            if not _still_current(name, _saved(report, name)):
                print(f"[accuracy] {name}: its preset changed since the saved run; not measured", flush=True)
                continue
            recording, gt, _ = load_dataset(name)
            info["gt_curation"] = gt_curation(recording, gt)
            print(f"[accuracy] {name}: {_report.gt_kept(info)}", flush=True)
        path.write_text(json.dumps(report, indent=1))
        args.replot = True
    if args.replot:
        report = json.loads((RESULTS / f"accuracy_{mode}.json").read_text())
        report["checks"] = _report.checks(report["runs"])
        _report.write_all(report, RESULTS, mode)
        return 0
    sorters = [(s, v) for s, v in available_sorters()
               if args.sorters is None or s in args.sorters or f"{s}@{v}" in args.sorters]
    datasets = args.datasets or DATASETS[mode]
    previous = _previous_runs(mode) if args.resume else {}
    carried = _carried(mode, datasets) if args.resume else {}
    known = DATASETS[mode]
    order = sorted([*datasets, *carried], key=lambda d: known.index(d) if d in known else len(known))
    began = time.monotonic()
    report = {
        "mode": mode,
        "host": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "total_s": 0.0,
        "resumed": args.resume,
        "datasets": {},
        "runs": [],
        # not installed or no backend here (a sorter left out by --sorters is not 'missing')
        "missing_sorters": sorted({s for s in SPIKELAB_SORTERS + PEER_SORTERS} - {x for x, _ in available_sorters()}),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    for dataset in order:
        if dataset in carried:
            print(f"[accuracy] {dataset}: kept whole from the previous run (--resume, not in --datasets)", flush=True)
            report["datasets"][dataset] = {k: v for k, v in carried[dataset].items() if k != "runs"}
            report["runs"] += carried[dataset]["runs"]
            continue
        recording, gt, info = load_dataset(dataset)
        report["datasets"][dataset] = {"params": info["params"], "stats": info["stats"],
                                       "gt_curation": gt_curation(recording, gt)}
        for sorter, via in sorters:
            kept = previous.get((dataset, groundtruth.key(info["params"]), sorter, via))
            if kept is not None:
                print(f"[accuracy] {dataset}: {sorter} kept from the previous run (--resume)", flush=True)
                entry = kept
            else:
                print(f"[accuracy] {dataset}: {sorter} via {via} ...", flush=True)
                entry = run_one(sorter, via, dataset, args.quick, TIMEOUT_S[mode])
                print(f"[accuracy]   {_report.one_line(entry)}", flush=True)
            entry["dataset_key"] = groundtruth.key(info["params"])
            report["runs"].append(entry)
            # Rewritten after every sort, so an interrupted run still leaves its results.
            report["total_s"] = round(time.monotonic() - began, 1)
            report["checks"] = _report.checks(report["runs"])
            _report.write_all(report, RESULTS, mode)
    # Again at the end: a data set carried whole after the last one sorted is in no write above.
    report["total_s"] = round(time.monotonic() - began, 1)
    report["checks"] = _report.checks(report["runs"])
    _report.write_all(report, RESULTS, mode)
    print(f"[accuracy] done in {report['total_s']:.0f} s; wrote {RESULTS}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
