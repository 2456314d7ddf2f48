"""Stimulation artifact removal: quality on ground truth, and speed against spikelab 0.1.2.

Synthetic stim recordings (``spikelab_stim/synthetic.py``: saturating mono/biphasic pulses,
amplifier recovery, exponential tails, raw spikes with known times and amplitudes) are
cleaned by ``spikelab_stim.remove_stim_artifacts`` and by the ``polynomial`` method of the
published ``spikelab==0.1.2`` (run from its own virtualenv, see ``runner.py``). Every
measurement runs in a fresh interpreter.

Quality (issue #8 targets): ground-truth spikes from 2 ms after the pulse's end onward
recovered >= 0.9 with amplitude error < 10 %; residual artifact RMS <= 1.5x noise RMS.
Throughput: ``remove_stim_artifacts`` on 1,024 channels x 60 s x 1,000 pulses at 20 kHz,
as a ratio against 0.1.2's polynomial method (target >= 5x). The full size is generated and
timed as four 256-channel blocks so that the two implementations' copies fit in memory;
times are summed. Both sides are timed single-threaded (BLAS threads = 1); ours is also
timed with ``n_jobs=2`` (threads over event batches).

    python bench/stim/run.py            # full size (the 0.1.2 run alone takes ~15 min)
    python bench/stim/run.py --quick    # 128 ch x 10 s x 200 pulses, smaller quality runs -> stim_quick.*
    python bench/stim/run.py --reuse-peer   # keep the 0.1.2 numbers of the last run of that size

Set ``SPIKELAB_PEER_PYTHON`` (default ``/work/peer-venv/bin/python``) to the interpreter
of a venv with ``pip install spikelab==0.1.2``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "bench" / "results" / "stim"
SYNTHETIC = ROOT / "spikelab-stim" / "src" / "spikelab_stim" / "synthetic.py"
SINGLE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

SCENARIOS = {
    "biphasic": {},
    "monophasic": {"pulse": "monophasic"},
    "cathodic-first": {"polarity": -1.0},
    "dc-offset-400uV": {"dc_offset_uV": 400.0},
    "slow-tail-2.5ms": {"tail_tau_ms": 2.5},
    "paired-20ms": {"protocol": "paired", "pair_interval_ms": 20.0},
    "train-5x100Hz": {"protocol": "train", "train_n": 5, "train_interval_ms": 10.0},
}


def peer_python() -> str:
    return os.environ.get("SPIKELAB_PEER_PYTHON", "/work/peer-venv/bin/python")


def run_one(impl: str, case: dict, *, single_thread: bool) -> dict:
    python = sys.executable if impl == "ours" else peer_python()
    if not Path(python).exists():
        return {"impl": impl, "skipped": f"{python} not found: python3.11 -m venv <dir> && <dir>/bin/pip install "
                                         "spikelab==0.1.2, then set SPIKELAB_PEER_PYTHON"}
    env = {**os.environ, **(SINGLE_THREAD if single_thread else {})}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [python, str(HERE / "runner.py"), "--impl", impl, "--synthetic", str(SYNTHETIC),
               "--case", json.dumps(case), "--out", str(out)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"impl": impl, "error": proc.stderr[-2000:]}
        return json.loads(out.read_text())


def previous_peer(quick: bool) -> dict | None:
    """0.1.2 results from the last report of the same size (they cannot change), if any."""
    path = RESULTS / f"{_stem(quick)}.json"
    if not path.exists():
        return None
    report = json.loads(path.read_text())
    if report.get("quick") != quick:
        return None
    return {
        "quality": {r["scenario"]: r for r in report["quality"] if r.get("impl") == "peer"},
        "throughput": report["throughput"],
    }


def quality(quick: bool, reuse: dict | None) -> list[dict]:
    size = dict(n_channels=32, duration_s=10.0, n_events=100) if quick else dict(n_channels=64, duration_s=30.0,
                                                                                   n_events=300)
    rows = []
    for name, extra in SCENARIOS.items():
        case = {"data": {**size, **extra, "seed": 100 + len(rows)}, "score": True}
        for impl in ("ours", "peer"):
            if impl == "peer" and reuse and name in reuse["quality"]:
                result = dict(reuse["quality"][name], reused=True)
            else:
                result = run_one(impl, case, single_thread=True)
            result["scenario"] = name
            rows.append(result)
            print(f"quality {name:>16} {impl}: {_fmt_score(result)}", flush=True)
    return rows


def throughput(quick: bool, reuse: dict | None) -> dict:
    if quick:
        blocks, block = 1, dict(n_channels=128, duration_s=10.0, n_events=200)
    else:
        blocks, block = 4, dict(n_channels=256, duration_s=60.0, n_events=1000)
    old = reuse["throughput"] if reuse else None
    runs = {"peer": [], "ours_1thread": [], "ours_n_jobs_2": []}
    for b in range(blocks):
        case = {"data": {**block, "seed": 1000 + b}, "score": False}
        runs["ours_1thread"].append(run_one("ours", case, single_thread=True))
        runs["ours_n_jobs_2"].append(run_one("ours", {**case, "ours_kwargs": {"n_jobs": 2}}, single_thread=False))
        if old is not None and "peer_runs" in old:
            runs["peer"].append(dict(old["peer_runs"][b], reused=True))
        else:
            runs["peer"].append(run_one("peer", case, single_thread=True))
        print(f"throughput block {b + 1}/{blocks}: "
              + ", ".join(f"{k} {v[-1].get('seconds', float('nan')):.1f} s" for k, v in runs.items()), flush=True)
    total = {k: sum(r.get("seconds", float("nan")) for r in v) for k, v in runs.items()}
    skipped = [r["skipped"] for v in runs.values() for r in v if "skipped" in r]
    return {
        "size": {"n_channels": blocks * block["n_channels"], "duration_s": block["duration_s"],
                 "n_pulses": block["n_events"], "blocks": blocks, "fs_Hz": 20000.0},
        "seconds": total,
        "speedup_1thread": total["peer"] / total["ours_1thread"],
        "speedup_n_jobs_2": total["peer"] / total["ours_n_jobs_2"],
        "peak_rss_gib": {k: max(r.get("peak_rss_gib", float("nan")) for r in v) for k, v in runs.items()},
        "peer_runs": runs["peer"],
        "peer_reused": bool(runs["peer"] and runs["peer"][0].get("reused")),
        "errors": [r["error"] for v in runs.values() for r in v if "error" in r],
        "skipped": skipped[:1],
    }


def _fmt_score(result: dict) -> str:
    if "skipped" in result:
        return "skipped (" + result["skipped"] + ")"
    if "error" in result:
        return "ERROR " + result["error"].strip().splitlines()[-1]
    s = result["score"]
    return (f"recovered {s['recovered_fraction']:.3f}, amp err {s['amplitude_error']:.3f}, "
            f"residual/noise {s['residual_to_noise']:.2f}, {result['seconds']:.2f} s")


def markdown(report: dict) -> str:
    q, t = report["quality"], report["throughput"]
    size = t["size"]
    lines = [
        "Stim artifact removal, `spikelab-stim` vs `spikelab==0.1.2` "
        "(`polynomial`, default options, true stim times), "
        f"{'quick' if report['quick'] else 'full'} run, {report['machine']}, {report['date']}.",
        "",
        "Targets (issue #8): spikes from 2 ms after pulse end recovered >= 0.9 with amplitude error < 10 %; "
        "residual artifact RMS <= 1.5x noise RMS; >= 5x faster than 0.1.2.",
        "",
        "| scenario | implementation | spikes scored | recovered | amplitude error | residual / noise RMS "
        "| blanked | time (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in q:
        if "skipped" in r:
            lines.append(f"| {r['scenario']} | {r['impl']} | skipped: peer venv missing | | | | | |")
            continue
        if "error" in r:
            lines.append(f"| {r['scenario']} | {r['impl']} | error | | | | | |")
            continue
        s = r["score"]
        lines.append(
            f"| {r['scenario']} | {'spikelab-stim' if r['impl'] == 'ours' else 'spikelab 0.1.2'} "
            f"| {s['n_spikes_scored']} "
            f"| {s['recovered_fraction']:.3f} | {100 * s['amplitude_error']:.1f} % | {s['residual_to_noise']:.2f} "
            f"| {100 * s['blanked_fraction']:.2f} % | {r['seconds']:.2f} |"
        )
    sec = t["seconds"]
    lines += [
        "",
        f"Throughput: {size['n_channels']} channels x {size['duration_s']:.0f} s x {size['n_pulses']} pulses per "
        f"{size['n_channels'] // size['blocks']}-channel block, {size['blocks']} block(s), 20 kHz float32.",
        "",
        "| implementation | time (s) | speed-up vs 0.1.2 | peak RSS (GiB, one block) |",
        "| --- | --- | --- | --- |",
        f"| spikelab 0.1.2, 1 BLAS thread | {sec['peer']:.1f} | 1.0x | {t['peak_rss_gib']['peer']:.2f} |",
        f"| spikelab-stim, 1 BLAS thread | {sec['ours_1thread']:.1f} | {t['speedup_1thread']:.1f}x "
        f"| {t['peak_rss_gib']['ours_1thread']:.2f} |",
        f"| spikelab-stim, `n_jobs=2` | {sec['ours_n_jobs_2']:.1f} | {t['speedup_n_jobs_2']:.1f}x "
        f"| {t['peak_rss_gib']['ours_n_jobs_2']:.2f} |",
    ]
    if t.get("peer_reused") or any(r.get("reused") for r in q):
        lines += ["", "The spikelab 0.1.2 numbers were reused from the previous run of the same size "
                      "(`--reuse-peer`); same data, same machine."]
    if t["errors"]:
        lines += ["", f"Errors: {len(t['errors'])} run(s) failed; see stim.json."]
    if t.get("skipped"):
        lines += ["", f"The spikelab 0.1.2 runs were skipped: {t['skipped'][0]}."]
    return "\n".join(lines) + "\n"


def _stem(quick: bool) -> str:
    """Quick (CI) runs write beside the full results instead of over them."""
    return "stim_quick" if quick else "stim"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI-sized inputs.")
    parser.add_argument("--skip-throughput", action="store_true", help="Quality runs only.")
    parser.add_argument("--reuse-peer", action="store_true",
                        help="Reuse spikelab 0.1.2 results of the previous run of the same size.")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "quick": args.quick,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs",
    }
    reuse = previous_peer(args.quick) if args.reuse_peer else None
    report["quality"] = quality(args.quick, reuse)
    report["throughput"] = (throughput(args.quick, reuse) if not args.skip_throughput else
                            {"size": {"n_channels": 0, "duration_s": 0, "n_pulses": 0, "blocks": 1},
                             "seconds": {"peer": float("nan"), "ours_1thread": float("nan"),
                                         "ours_n_jobs_2": float("nan")},
                             "speedup_1thread": float("nan"), "speedup_n_jobs_2": float("nan"),
                             "peak_rss_gib": {"peer": float("nan"), "ours_1thread": float("nan"),
                                              "ours_n_jobs_2": float("nan")}, "errors": []})
    write_atomic(RESULTS / f"{_stem(args.quick)}.json", json.dumps(report, indent=2))
    md = markdown(report)
    write_atomic(RESULTS / f"{_stem(args.quick)}.md", md)
    print(md)
    failed = [r for r in report["quality"] if "error" in r] or report["throughput"]["errors"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
