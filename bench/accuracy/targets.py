"""Issue 20's targets, per recording, from the accuracy bench's saved runs.

    python bench/accuracy/targets.py     # writes bench/results/accuracy/targets.md

Reads ``accuracy_quick.json`` (generated recordings) and ``accuracy_realistic.json`` (MEArec) and,
for every recording, compares SpikeLab's best path (the sorter run through ``sort_recording``,
then SpikeLab's default curation) with the best SpikeInterface sorter run directly (its own
output, uncurated):

1. SpikeLab's sorter detects at least as many units well (accuracy >= 0.8);
2. after SpikeLab's default curation its unit precision is at least 0.9.

SpikeLab's best path is the one with the most units well detected after curation (ties: the
higher unit precision, then the lower CPU time): what ``sorter="auto"`` is to pick per array type.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _report import gt_kept

RESULTS = Path(__file__).resolve().parent.parent / "results" / "accuracy"
MODES = ("quick", "realistic")


def _runs() -> tuple[list[dict], dict]:
    runs, datasets = [], {}
    for mode in MODES:
        path = RESULTS / f"accuracy_{mode}.json"
        if path.exists():
            report = json.loads(path.read_text())
            runs += [r for r in report["runs"] if r.get("ok")]
            datasets.update(report["datasets"])
    return runs, datasets


def _best(candidates: list[dict], stage: str) -> dict | None:
    key = (lambda r: (r[stage]["well_detected"], r[stage]["unit_precision"] or 0.0, -r["cpu_s"]))
    return max(candidates, key=key) if candidates else None


def rows() -> list[dict]:
    runs, datasets = _runs()
    out = []
    for name, info in datasets.items():
        here = [r for r in runs if r["dataset"] == name]
        ours = _best([r for r in here if r["via"] == "spikelab"], "after")
        peer = _best([r for r in here if r["via"] == "spikeinterface"], "before")
        if ours is None or peer is None:
            continue
        p = info["params"]
        out.append({
            "recording": name, "kind": f"{'MEArec' if 'mearec' in p else 'generated'} {p['layout']}",
            "n": p["num_units"], "ours": ours, "peer": peer,
            "detect_met": ours["after"]["well_detected"] >= peer["before"]["well_detected"],
            "precision_met": (ours["after"]["unit_precision"] or 0.0) >= 0.9,
            "ceiling": gt_kept(info),
        })
    return out


def markdown(table: list[dict]) -> str:
    lines = [
        "# Issue 20 targets: SpikeLab's best sorter vs the best SpikeInterface sorter run directly",
        "",
        "Written by `python bench/accuracy/targets.py` from `accuracy_quick.json` and "
        "`accuracy_realistic.json` (one run each; CPU s = the sort's process tree, loaded 2-core machine). "
        "Well = accuracy >= 0.8 against ground truth; SpikeLab's figures are after its default curation, "
        "the peer's are its own output.",
        "",
        "| recording | kind | SpikeLab best (well, unit precision, CPU s) "
        "| best SpikeInterface direct (well, unit precision, CPU s) "
        "| at least as many well | unit precision >= 0.9 |",
        "|---|---|---|---|---|---|",
    ]
    for t in table:
        o, p, n = t["ours"], t["peer"], t["n"]
        lines.append(
            f"| {t['recording']} | {t['kind']} | {o['sorter']}: {o['after']['well_detected']}/{n}, "
            f"{o['after']['unit_precision']}, {o['cpu_s']:.0f} | {p['sorter']}: {p['before']['well_detected']}/{n}, "
            f"{p['before']['unit_precision']}, {p['cpu_s']:.0f} | {'met' if t['detect_met'] else 'missed'} "
            f"({o['after']['well_detected']} vs {p['before']['well_detected']}) | "
            f"{'met' if t['precision_met'] else 'missed'} ({o['after']['unit_precision']}) |")
    notes = [f"- {t['recording']}: applied to the ground truth itself, {t['ceiling']}." for t in table if t["ceiling"]]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def main() -> int:
    (RESULTS / "targets.md").write_text(markdown(rows()))
    print((RESULTS / "targets.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
