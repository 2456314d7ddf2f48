"""Tables, checks and plots for ``bench/accuracy/run.py`` (JSON, markdown, two PNGs)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np


def one_line(entry: dict) -> str:
    if entry.get("refused"):
        return f"refused before sorting (preflight): {entry['error']}"
    if not entry["ok"]:
        return f"FAILED: {entry['error']}"
    b, a = entry["before"], entry["after"]
    return (f"sort {entry['sort_s']:.0f} s, well detected {b['well_detected']} -> {a['well_detected']}, "
            f"unit precision {b['unit_precision']} -> {a['unit_precision']}, "
            f"median acc {b['accuracy_median']:.3f} -> {a['accuracy_median']:.3f}")


def checks(entries: list[dict]) -> dict:
    """Per run: curation keeps unit precision (or raises it) and >= 90 % of well-detected units."""
    out = {}
    for e in entries:
        if not e["ok"]:
            continue
        b, a = e["before"], e["after"]
        precision_ok = (a["unit_precision"] or 0.0) >= (b["unit_precision"] or 0.0)
        kept_ok = a["well_detected"] >= math.ceil(0.9 * b["well_detected"])
        key = f"{e['dataset']}/{e['sorter']}" + (f"@{e['via']}" if "via" in e else "")
        out[key] = {"precision_not_lowered": precision_ok,
                                                "well_detected_kept_90pct": kept_ok, "ok": precision_ok and kept_ok}
    out["all_ok"] = all(v["ok"] for v in out.values()) if out else False
    return out


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    tmp.replace(path)


def criterion_counts(counts: dict) -> str:
    """``snr 7, std_norm 2``: the non-zero counts of a ``removed_by`` mapping ('' when none)."""
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v)


def gt_kept(info: dict) -> str:
    """``SpikeLab curation keeps 9/16 true units (snr 7, std_norm 2)``, or '' when not measured."""
    g = info.get("gt_curation")
    if not g:
        return ""
    failed = criterion_counts(g["removed_by"])
    return f"SpikeLab's default curation keeps {g['kept']}/{g['of']} true units" + (f" (failing: {failed})"
                                                                                    if failed else "")


def markdown(report: dict) -> str:
    n_units = {d: info["params"]["num_units"] for d, info in report["datasets"].items()}
    lines = [
        f"# Accuracy on ground truth, before / after SpikeLab curation ({report['mode']})",
        "",
        "Recordings (`bench/groundtruth.py`, `bench/mearec/make.py`; "
        "trough = template trough on the best channel, µV):",
        "",
    ]
    for name, info in report["datasets"].items():
        p, s = info["params"], info["stats"]
        if "description" in p:  # a MEArec recording (bench/mearec/make.py)
            kept = gt_kept(info)
            lines.append(f"- `{name}`: {p['description']}, trough min/median/max {s['trough_uV_min_median_max']} µV"
                         + (f"; applied to the ground truth, {kept}" if kept else ""))
            continue
        lines.append(f"- `{name}`: {p['layout']}, {p['num_channels']} ch x {p['duration_s']:g} s at "
                     f"{p['sampling_frequency'] / 1000:g} kHz, {p['num_units']} units at {p['firing_rate']:g} Hz, "
                     f"noise {p['noise_uV']:g} µV, trough min/median/max {s['trough_uV_min_median_max']} µV, "
                     f"seed {p['seed']}" + (f"; applied to the ground truth, {gt_kept(info)}" if gt_kept(info) else ""))
    lines += [
        "",
        "| recording | sorter (via) | units found | well detected (acc >= 0.8) | median acc / prec / rec | "
        "unit precision | FP / redundant / overmerged | failed curation criterion (units; a unit can fail several) | "
        "sort s | CPU s | peak RSS GB | load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = ["kilosort4", "rt_sort", "spykingcircus2", "tridesclous2", "lupin", "mountainsort5"]
    datasets = list(report["datasets"])
    runs = sorted(report["runs"], key=lambda e: (datasets.index(e["dataset"]),
                                                 order.index(e["sorter"]) if e["sorter"] in order else 99))
    for e in runs:
        label = f"{e['sorter']} ({e['via']})"
        if e.get("refused"):  # the backend declined this recording before any work: its documented answer
            lines.append(f"| {e['dataset']} | {label} | refused (preflight, as documented): "
                         f"{e['error'][:400].replace('|', '/')} |" + " |" * 9 + f" {e['load_avg_1min']} |")
            continue
        if not e["ok"]:
            lines.append(f"| {e['dataset']} | {label} | failed: {e['error'][:160].replace('|', '/')} |"
                         + " |" * 9 + f" {e['load_avg_1min']} |")
            continue
        b, a = e["before"], e["after"]
        n = n_units[e["dataset"]]
        removed = criterion_counts(e["removed_by"]) or "none"
        lines.append(
            f"| {e['dataset']} | {label} | {b['units_found']} → {a['units_found']} | "
            f"{b['well_detected']}/{n} → {a['well_detected']}/{n} | "
            f"{b['accuracy_median']:.3f} / {b['precision_median']:.3f} / {b['recall_median']:.3f} → "
            f"{a['accuracy_median']:.3f} / {a['precision_median']:.3f} / {a['recall_median']:.3f} | "
            f"{b['unit_precision']} → {a['unit_precision']} | "
            f"{b['false_positive_units']}/{b['redundant_units']}/{b['overmerged_units']} → "
            f"{a['false_positive_units']}/{a['redundant_units']}/{a['overmerged_units']} | {removed} | "
            f"{e['sort_s']:.1f} | {e['cpu_s']:.0f} | {e['peak_rss_gb']:.2f} | {e['load_avg_1min']} |"
        )
    c = report["checks"]
    failed = [k for k, v in c.items() if k != "all_ok" and not v["ok"]]
    lines += [
        "",
        f"Curation check (unit precision not lowered, >= 90 % of well-detected units kept): "
        f"{'met for every run' if c['all_ok'] else 'NOT met for ' + ', '.join(failed)}.",
        "",
        "- Unit precision = share of sorted units that are neither false positives nor redundant "
        "(what curation is meant to raise); per-unit precision/recall are medians over ground-truth units.",
        "- Curation: SpikeLab's pipeline defaults (min 50 spikes, >= 0.05 Hz, <= 1 % ISI violations at "
        "1.5 ms, SNR >= 5, std_norm <= 1) on the raw recording (SpikeLab band-passes the snippets).",
        "- Times are one run each, one sort at a time, in a child process (CPU time and peak RSS "
        "include its children). Load average above the core count means other work shared the CPU; "
        "the scaling plot's slopes mean something only when every point ran at a similar, low load.",
        f"- Not run here: {', '.join(report['missing_sorters']) or 'none'} (not installed / no backend). "
        f"Whole part: {report['total_s']:.0f} s on {report['host']}"
        + (" (the last --resume run only)." if report.get("resumed") else "."),
        *([f"- Not run on {d} for lack of time: {', '.join(v)}."
           for d, v in report.get("not_run", {}).items()]),
        "",
        f"![curation](curation_{report['mode']}.png) ![scaling](scaling_{report['mode']}.png)",
    ]
    return "\n".join(lines) + "\n"


def plot_curation(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [e for e in report["runs"] if e["ok"]]
    labels = [f"{e['dataset']}\n{e['sorter']}" for e in runs]
    x = np.arange(len(runs))
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 1.1 * len(runs) + 2) * 1.6, 3.8))
    for ax, key, title in (
        (axes[0], "well_detected", "well-detected units"),
        (axes[1], "unit_precision", "unit precision"),
    ):
        before = [e["before"][key] or 0 for e in runs]
        after = [e["after"][key] or 0 for e in runs]
        ax.bar(x - 0.2, before, 0.4, label="sorter output")
        ax.bar(x + 0.2, after, 0.4, label="after SpikeLab curation")
        ax.set_xticks(x, labels, fontsize=7, rotation=30, ha="right")
        ax.set_title(title)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    _atomic(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)


def plot_scaling(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for i, sorter in enumerate(dict.fromkeys(e["sorter"] for e in report["runs"])):
        params = report["datasets"]
        points = sorted(
            (params[e["dataset"]]["params"]["num_channels"] * params[e["dataset"]]["params"]["duration_s"],
             e["sort_s"], e["cpu_s"]) for e in report["runs"] if e["ok"] and e["sorter"] == sorter
        )
        if not points:
            continue
        xs, walls, cpus = np.array(points).T
        label = sorter
        if len(set(xs)) > 1:
            label += f" (wall slope {np.polyfit(np.log(xs), np.log(walls), 1)[0]:.2f})"
        ax.loglog(xs, walls, "o-", color=f"C{i}", label=label)
        ax.loglog(xs, cpus, "x--", color=f"C{i}", alpha=0.6)
    ax.set_xlabel("channels x duration (channel-seconds)")
    ax.set_ylabel("sort wall time (s, solid); process CPU time (s, dashed)", fontsize=8)
    ax.set_title(f"Cost vs recording size ({report['mode']}; load avg shown in table)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _atomic(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)


def write_all(report: dict, folder: Path, mode: str) -> None:
    _atomic(folder / f"accuracy_{mode}.json", lambda tmp: tmp.write_text(json.dumps(report, indent=1)))
    _atomic(folder / f"accuracy_{mode}.md", lambda tmp: tmp.write_text(markdown(report)))
    plot_curation(report, folder / f"curation_{mode}.png")
    plot_scaling(report, folder / f"scaling_{mode}.png")
