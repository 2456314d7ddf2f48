"""The scale ladder's tables, fits and plots, from the runs saved by ``run.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LADDER = [(c, m) for c in (64, 256, 1020) for m in (1, 10, 30)]


def load_runs(results: Path, tag: str = "") -> list[dict]:
    """The saved runs; a variant (a run with non-default settings) is its own sorter, ``rt_sort (window30)``."""
    runs = [json.loads(p.read_text()) for p in sorted((results / f"runs{tag}").glob("*.json"))]
    for run in runs:
        if run.get("variant"):
            run["sorter"] = f"{run['sorter']} ({run['variant']})"
    return runs


def fit(x, y) -> dict | None:
    """Least-squares ``y = a + b x``; None with fewer than two distinct x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(set(x.tolist())) < 2:
        return None
    b, a = np.polyfit(x, y, 1)
    return {"intercept": round(float(a), 3), "slope": round(float(b), 5)}


def fits(runs: list[dict]) -> dict:
    """Per sorter: wall, CPU and peak RSS against channels (1-minute runs) and against minutes."""
    out: dict = {}
    for sorter in sorted({r["sorter"] for r in runs}):
        mine = [r for r in runs if r["sorter"] == sorter and r.get("status") == "success"]
        per_channel = [r for r in mine if r["minutes"] == 1]
        at_full = [r for r in mine if r["channels"] == 1020]
        out[sorter] = {
            "wall_s_vs_channels": fit([r["channels"] for r in per_channel], [r["wall_s"] for r in per_channel]),
            "cpu_s_vs_channels": fit([r["channels"] for r in per_channel], [r["cpu_s"] for r in per_channel]),
            "peak_rss_gb_vs_channels": fit([r["channels"] for r in per_channel],
                                           [r["peak_rss_tree_gb"] for r in per_channel]),
            "wall_s_vs_minutes_at_1020": fit([r["minutes"] for r in at_full], [r["wall_s"] for r in at_full]),
            "cpu_s_vs_minutes": {
                c: fit([r["minutes"] for r in mine if r["channels"] == c],
                       [r["cpu_s"] for r in mine if r["channels"] == c])
                for c in sorted({r["channels"] for r in mine})},
        }
        stages = sorted({s for r in per_channel for s in r["stages"]})
        out[sorter]["stage_wall_s_vs_channels"] = {
            s: fit([r["channels"] for r in per_channel if s in r["stages"]],
                   [r["stages"][s]["wall_s"] for r in per_channel if s in r["stages"]]) for s in stages}
    return out


def plots(runs: list[dict], folder: Path, tag: str = "") -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    ok = [r for r in runs if r.get("status") == "success"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for sorter in sorted({r["sorter"] for r in ok}):
        for layout, marker in (("legacy", "o"), ("new", "s")):
            mine = sorted((r for r in ok if r["sorter"] == sorter and r["layout"] == layout and r["minutes"] == 1),
                          key=lambda r: r["channels"])
            if not mine:
                continue
            c = [r["channels"] for r in mine]
            axes[0].plot(c, [r["wall_s"] for r in mine], marker=marker, label=f"{sorter} {layout}: sort_recording")
            axes[1].plot(c, [r["peak_rss_tree_gb"] for r in mine], marker=marker, label=f"{sorter} {layout}")
    fastest: dict[int, float] = {}
    for r in ok:
        if r["minutes"] == 1:
            fastest[r["channels"]] = min(fastest.get(r["channels"], np.inf), r["read_once"]["wall_s"])
    floor = sorted(fastest.items())
    if floor:
        axes[0].plot([f[0] for f in floor], [f[1] for f in floor], "k:", label="read once (floor)")
    axes[0].set(xlabel="channels (1 minute at 20 kHz)", ylabel="wall time (s)", xscale="log", yscale="log",
                title="Cost against channels (loaded 2-core machine)")
    axes[1].set(xlabel="channels (1 minute)", ylabel="peak RSS of the process tree (GB)", xscale="log",
                title="Memory against channels")
    axes[1].axhline(4.0, color="r", lw=0.8, ls="--", label="target 4 GB")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / f"scale{tag}_channels.png", dpi=90)
    plt.close(fig)
    made.append(f"scale{tag}_channels.png")
    durations = {r["minutes"] for r in ok}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    if len(durations) > 1:
        for sorter in sorted({r["sorter"] for r in ok}):
            for channels in sorted({r["channels"] for r in ok}):
                mine = sorted((r for r in ok if r["sorter"] == sorter and r["channels"] == channels
                               and r["layout"] == "legacy"), key=lambda r: r["minutes"])
                if len({r["minutes"] for r in mine}) < 2:
                    continue
                m = [r["minutes"] for r in mine]
                axes[0].plot(m, [r["cpu_s"] for r in mine], marker="o", label=f"{sorter}, {channels} ch")
                axes[0].plot(m, [r["read_once"]["cpu_s"] for r in mine], "k:", label=f"read once, {channels} ch")
                axes[1].plot(m, [r["peak_rss_tree_gb"] for r in mine], marker="o", label=f"{sorter}, {channels} ch")
        for ax in axes:
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
    else:
        axes[0].text(0.5, 0.5, "only 1-minute rungs were run:\n10 and 30 minutes are not measured yet",
                     ha="center", va="center", transform=axes[0].transAxes)
    axes[0].set(xlabel="minutes of recording", ylabel="CPU time of the process tree (s)",
                title="Cost against duration")
    axes[1].set(xlabel="minutes of recording", ylabel="peak RSS of the process tree (GB)",
                title="Memory against duration")
    axes[1].set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(folder / f"scale{tag}_duration.png", dpi=90)
    plt.close(fig)
    made.append(f"scale{tag}_duration.png")
    return made


def _results_over_input(run: dict) -> float:
    """What stays on disk when ``delete_inter=True`` removes the intermediates: the results folder."""
    return round(run["kept_bytes"]["results"]["total"] / run["input_bytes"], 3)


def _peak_disk(run: dict) -> str:
    """The work folder's peak during the call, where the run recorded it (the size left at the end misses
    the intermediates that ``delete_inter`` removed)."""
    peak = run.get("peak_work_folder_over_input")
    return "" if peak is None else f"; peak {peak}x"


def overhead(run: dict) -> dict:
    """Everything but the sort stage (issue 21's pipeline overhead), in CPU and wall seconds and as x read-once."""
    rest = [s for name, s in run["stages"].items() if name != "sort"]
    cpu, wall = sum(s["cpu_s"] for s in rest), sum(s["wall_s"] for s in rest)
    floor = run["read_once"]
    return {"cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
            "cpu_x": round(cpu / floor["cpu_s"], 1) if floor["cpu_s"] else None,
            "wall_x": round(wall / floor["wall_s"], 1) if floor["wall_s"] else None}


def _stage_cell(run: dict) -> str:
    parts = []
    for name, s in run["stages"].items():
        if s["wall_s"] >= 0.5:
            parts.append(
                f"{name} {s['wall_s']:.1f}s/{s['cpu_s']:.0f}cpu/{s['peak_rss_gb']:.2f}GB/{s['written_gb']:.2f}GBw"
            )
    return "; ".join(parts)


def markdown(runs: list[dict], fitted: dict, host: str) -> str:
    lines = [
        "# Scale ladder: sort_recording on full-array Maxwell files",
        "",
        f"**Loaded-machine numbers**: {host}, shared with other jobs (load average in the table; "
        "above 2 means the cores were shared). Wall times are upper bounds; CPU times are less distorted.",
        "",
        "The read once is the file's signal read with h5py in 1 s blocks right before the sort (wall / CPU). "
        "Overhead is every stage but the sort (issue 21's pipeline overhead), as CPU s and x the read's CPU. "
        "Peak RSS of the tree sums every process's RSS (a forked worker counts the pages it shares with the "
        "pipeline again); PSS, where recorded, splits shared pages among their sharers.",
        "",
        "| file | sorter | status | wall | read once | ratio | CPU | overhead (x read CPU) "
        "| peak RSS tree / pipeline / largest child | peak PSS tree | "
        "written | kept / input (with delete_inter; peak of the work folder during the call) | "
        "accuracy (well detected, mean) | load | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(runs, key=lambda r: (r["sorter"], r["channels"], r["minutes"], r["layout"])):
        acc = r.get("accuracy")
        acc_cell = f"{acc['well_detected']}/{acc['gt_units']}, {acc['accuracy_mean']:.3f}" if acc else "-"
        lines.append(
            f"| {r['channels']} ch x {r['minutes']:g} min {r['layout']} ({r['input_bytes'] / 1e9:.2f} GB) | "
            f"{r['sorter']} | {r['status']} | {r['wall_s']:.1f} s | {r['read_once']['wall_s']:.2f} s / "
            f"{r['read_once']['cpu_s']:.2f} cpu | {r['ratio_to_read_once']}x | {r['cpu_s']} s | "
            f"{overhead(r)['cpu_s']} s ({overhead(r)['cpu_x']}x) | {r['peak_rss_tree_gb']} / "
            f"{r['peak_rss_pipeline_gb']} / {r['peak_rss_largest_child_gb']} GB | "
            f"{str(r['peak_pss_tree_gb']) + ' GB' if r.get('peak_pss_tree_gb') else '-'} | {r['written_gb']} GB | "
            f"{r['kept_over_input']}x ({_results_over_input(r)}x){_peak_disk(r)} | {acc_cell} | "
            f"{r['load_avg'][0]} | {r.get('commit', '')} |")
    lines += ["", "Per stage (wall s / CPU s / peak RSS of the tree / GB written; stages under 0.5 s left out):", ""]
    for r in sorted(runs, key=lambda r: (r["sorter"], r["channels"], r["minutes"], r["layout"])):
        lines.append(f"- {r['channels']} ch x {r['minutes']:g} min {r['layout']}, {r['sorter']}: {_stage_cell(r)}")
    lines += ["", "## Fits (least squares; against channels: 1-minute rungs)", ""]
    for sorter, f in fitted.items():
        lines.append(f"- **{sorter}**: wall = {f['wall_s_vs_channels']} (s, per channel); "
                     f"CPU = {f['cpu_s_vs_channels']}; peak RSS = {f['peak_rss_gb_vs_channels']} (GB); "
                     f"against minutes at 1,020 ch: {f['wall_s_vs_minutes_at_1020'] or 'not measured'}")
        by_minutes = {c: v for c, v in f["cpu_s_vs_minutes"].items() if v}
        if by_minutes:
            lines.append("  - CPU s against minutes: " + "; ".join(
                f"{c} ch: {v['intercept']:.1f} s + {v['slope']:.1f} s per minute" for c, v in by_minutes.items()))
        stage_fits = {s: v for s, v in f["stage_wall_s_vs_channels"].items() if v}
        if stage_fits:
            biggest = max(stage_fits.items(), key=lambda kv: kv[1]["slope"])
            lines.append(
                f"  - steepest stage against channels: {biggest[0]} ({biggest[1]['slope'] * 1000:.0f} s of wall "
                "time per 1,000 channels, 1-minute files)"
            )
    ran = {(r["channels"], r["minutes"]) for r in runs}
    missing = [f"{c} ch x {m} min" for c, m in LADDER if (c, m) not in ran]
    lines += ["", f"Not run yet: {', '.join(missing) or 'none'} (1,020 ch x 30 min needs about 147 GB of disk at "
              "the peak, input and binary copy: more than this machine has, see findings.md); nor Kilosort4 to the "
              "end (at 1,020 ch x 1 min its first pass alone projected to 40 min: findings.md). "
              "The 6-well MaxTwo plate through sort_multistream: multiwell.md.", ""]
    return "\n".join(lines)


def write_report(results: Path, host: str, tag: str = "") -> None:
    runs = load_runs(results, tag)
    if not runs:
        print("no runs saved yet")
        return
    fitted = fits(runs)
    made = plots(runs, results, tag)
    text = markdown(runs, fitted, host) + "\n" + "\n".join(f"![{m}]({m})" for m in made) + "\n"
    (results / f"scale{tag}.md").write_text(text)
    (results / f"scale{tag}.json").write_text(json.dumps({"runs": runs, "fits": fitted}, indent=2) + "\n")
    print(text)
