"""How SpikeLab's curation settings trade real units against false and duplicate ones.

    python bench/accuracy/curation_sweep.py                       # mea-quick, mearec-mea, mearec-probe
    python bench/accuracy/curation_sweep.py --datasets mea-quick --sorter tridesclous2
    python bench/accuracy/curation_sweep.py --table               # rewrite the markdown from the JSON

Issue 20 asks for a unit precision of at least 0.9 after SpikeLab's default curation. On the
MEArec recordings the default keeps false-positive and duplicate units, and its SNR >= 5 criterion
removes some real ones. This sweep sorts each recording once (the sorter run directly by
SpikeInterface, its defaults), then applies each curation variant below to that same sorting and
to the ground truth itself, scoring every result as ``run.py`` does (well detected = accuracy >=
0.8; unit precision = the share of kept units that are neither false positive nor redundant).
The curation runs in this process on the attached raw traces, exactly as ``run.py`` curates.

Writes ``bench/results/accuracy/curation_sweep.{json,md}``; a rerun replaces the rows of the
(data set, sorter) pairs it ran and keeps the others.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("accuracy_run", HERE / "run.py")
accuracy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(accuracy)

RESULTS = HERE.parent / "results" / "accuracy"
OUT = RESULTS / "curation_sweep.json"

#: name -> (CurationConfig fields changed from the default, why it is tried)
VARIANTS: dict[str, tuple[dict, str]] = {
    "default": ({}, "the pipeline's defaults"),
    "merge": ({"merge_duplicates": True}, "merge duplicates on nearby electrodes first"),
    "snr4": ({"snr_min": 4.0}, "SNR >= 4 instead of 5"),
    "snr3": ({"snr_min": 3.0}, "SNR >= 3"),
    "merge+snr4": ({"merge_duplicates": True, "snr_min": 4.0}, "both"),
    "no_std_norm": ({"std_norm_max": None}, "without the waveform-spread criterion"),
    "spikes200": ({"spikes_min": 200}, "at least 200 spikes a unit"),
}


def curate(sd, changes: dict):
    """SpikeLab curation of ``sd`` with ``CurationConfig(**changes)``, as the pipeline's stage does."""
    from spikelab.spike_sorting.config import CurationConfig

    cfg = CurationConfig(**changes)
    removed = {}
    if cfg.merge_duplicates and sd.N > 1:
        sd, merged = sd.curate_by_merge_duplicates(
            dist_um=cfg.merge_dist_um, cosine_threshold=cfg.merge_cosine_threshold,
            max_isi_increase=cfg.merge_max_isi_increase,
        )
        removed["merge_duplicates"] = int((~merged["passed"]).sum())
    curated, results = sd.curate(
        min_spikes=cfg.spikes_min, min_rate_hz=cfg.fr_min, isi_max=cfg.isi_viol_max,
        isi_threshold_ms=cfg.isi_threshold_ms, min_snr=cfg.snr_min, max_std_norm=cfg.std_norm_max,
    )
    removed.update({name: int((~r["passed"]).sum()) for name, r in results.items()})
    return curated, removed


def sweep(dataset: str, sorter: str) -> dict:
    from spikeinterface.sorters import run_sorter

    from spikelab import SpikeData

    recording, gt, info = accuracy.load_dataset(dataset)
    fs = recording.get_sampling_frequency()
    work = Path(tempfile.mkdtemp(prefix=f"cursweep-{sorter}-"))
    try:
        start = time.process_time()
        began = time.perf_counter()
        sorting = run_sorter(sorter, recording, folder=work / "si", remove_existing_folder=True, verbose=False)
        sort_s = time.perf_counter() - began
        row = {"dataset": dataset, "sorter": sorter, "via": "spikeinterface", "sort_s": round(sort_s, 1),
               "sort_cpu_s_main_process": round(time.process_time() - start, 1),
               "before": accuracy.score(gt, sorting), "variants": {}}
        sd = SpikeData.from_spikeinterface(sorting, recording, attach_raw_data=True)
        sd.metadata["raw_data_filtered"] = False
        truth = SpikeData.from_spikeinterface(gt, recording, attach_raw_data=True)
        truth.metadata["raw_data_filtered"] = False
        for name, (changes, _) in VARIANTS.items():
            began = time.perf_counter()
            curated, removed = curate(sd, changes)
            kept_truth, _ = curate(truth, changes)
            row["variants"][name] = {
                "after": accuracy.score(gt, curated.to_spikeinterface(fs_Hz=fs)),
                "removed_by": removed,
                "true_units_kept": kept_truth.N,
                "curation_s": round(time.perf_counter() - began, 1),
            }
            v = row["variants"][name]
            print(f"[sweep] {dataset}/{sorter} {name}: well {v['after']['well_detected']}/{gt.get_num_units()}, "
                  f"units {v['after']['units_found']}, unit precision {v['after']['unit_precision']}, "
                  f"truth kept {kept_truth.N}", flush=True)
        row["n_true"] = int(gt.get_num_units())
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def markdown(rows: list[dict]) -> str:
    lines = [
        "# Curation settings against ground truth",
        "",
        "Written by `python bench/accuracy/curation_sweep.py` (one sort per recording, the sorter run directly "
        "by SpikeInterface with its defaults; every variant curates that same sorting). Cells: units well "
        "detected (accuracy >= 0.8) / units kept / unit precision (kept units neither false positive nor "
        "redundant); in brackets, true units the same curation keeps when applied to the ground truth itself.",
        "",
        "| variant | what changes | " + " | ".join(f"{r['dataset']} ({r['sorter']})" for r in rows) + " |",
        "|---|---|" + "---|" * len(rows),
        "| sorter output | - | " + " | ".join(
            f"{r['before']['well_detected']}/{r['n_true']}, {r['before']['units_found']}, "
            f"{r['before']['unit_precision']}" for r in rows) + " |",
    ]
    for name, (_, why) in VARIANTS.items():
        cells = []
        for r in rows:
            v = r["variants"].get(name)
            cells.append("not run" if v is None else
                         f"{v['after']['well_detected']}/{r['n_true']}, {v['after']['units_found']}, "
                         f"{v['after']['unit_precision']} [{v['true_units_kept']}]")
        lines.append(f"| {name} | {why} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["mea-quick", "mearec-mea", "mearec-probe"])
    parser.add_argument("--sorter", default="spykingcircus2")
    parser.add_argument("--table", action="store_true", help="only rewrite the markdown from the saved JSON")
    args = parser.parse_args(argv)
    saved = json.loads(OUT.read_text()) if OUT.exists() else {"rows": []}
    if not args.table:
        for dataset in args.datasets:
            row = sweep(dataset, args.sorter)
            saved["rows"] = [r for r in saved["rows"]
                             if (r["dataset"], r["sorter"]) != (dataset, args.sorter)] + [row]
            RESULTS.mkdir(parents=True, exist_ok=True)
            tmp = OUT.with_name(f".{OUT.name}.tmp")
            tmp.write_text(json.dumps(saved, indent=1))
            tmp.replace(OUT)
    OUT.with_suffix(".md").write_text(markdown(saved["rows"]))
    print(f"wrote {OUT.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
