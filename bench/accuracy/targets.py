"""Issue 20's targets, per recording, from the accuracy bench's saved runs.

    python bench/accuracy/targets.py     # writes bench/results/accuracy/targets.md

Reads ``accuracy_quick.json`` (generated recordings) and ``accuracy_realistic.json`` (MEArec) and,
for every recording, compares SpikeLab's recommended sorter with the best SpikeInterface sorter
run directly (its own output, uncurated):

1. the recommended sorter, run through ``sort_recording`` and SpikeLab's default curation,
   detects at least as many units well (accuracy >= 0.8);
2. after that curation its unit precision is at least 0.9.

The recommended sorter is what ``sorter="auto"`` picks for the recording: the first sorter of the
shipped table's (``sorter_choice.toml``) row for its array type and sampling rate, on a machine
with every ranked sorter installed and no GPU. SpikeLab's best path (the most units well detected
after curation; ties: higher unit precision, then lower CPU time) is shown beside it. Where a
target is missed, the table gives what was measured: the units each side found well, and the false
positive and duplicate units curation kept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _report import criterion_counts, gt_kept

RESULTS = Path(__file__).resolve().parent.parent / "results" / "accuracy"
MODES = ("quick", "realistic")
#: ``layout`` of a data set's parameters -> the array type sorter="auto" sees (``array_kind``).
ARRAY = {"probe": "probe", "mea": "grid", "maxwell": "grid"}


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


def auto_sorter(params: dict) -> str | None:
    """The sorter ``sorter="auto"`` ranks first for a data set (shipped table, no GPU), or None."""
    from spikelab.spike_sorting.sorter_choice import _matches, load_table

    array = ARRAY.get(params["layout"])
    rows = [r for r in load_table() if array and _matches(r, array, float(params["sampling_frequency"]), False)]
    return rows[0]["ranking"][0]["sorter"] if rows else None


def _shortfall(ours: dict, peer: dict, n: int, truth: dict | None = None) -> str:
    """What was measured where a target is missed (``truth``: the default curation applied to
    the ground truth itself, when measured)."""
    before, after = ours["before"], ours["after"]
    notes = []
    if after["well_detected"] < peer["before"]["well_detected"]:
        notes.append(f"{ours['sorter']} found {after['well_detected']}/{n} well, {peer['sorter']} "
                     f"{peer['before']['well_detected']}/{n}")
        if truth and truth["kept"] < peer["before"]["well_detected"]:
            failed = criterion_counts(truth["removed_by"])
            notes.append(f"the default curation keeps only {truth['kept']}/{n} of the true units themselves "
                         f"(failing: {failed}), so no curated sort can match {peer['sorter']}'s uncurated "
                         f"{peer['before']['well_detected']}/{n}")
        if before["well_detected"] > after["well_detected"]:
            removed = criterion_counts(ours.get("removed_by") or {})
            notes.append(f"{ours['sorter']}'s own output had {before['well_detected']}/{n}: curation removed "
                         f"{before['well_detected'] - after['well_detected']} well-detected unit(s) (units removed "
                         f"per criterion: {removed})")
    if (after["unit_precision"] or 0.0) < 0.9:
        notes.append(f"curation kept {after['false_positive_units']} false positive and "
                     f"{after['redundant_units']} duplicate unit(s) of {after['units_found']}")
    return "; ".join(notes) or "-"


def rows() -> list[dict]:
    runs, datasets = _runs()
    out = []
    for name, info in datasets.items():
        here = [r for r in runs if r["dataset"] == name]
        p = info["params"]
        pick = auto_sorter(p)
        ours = next((r for r in here if r["via"] == "spikelab" and r["sorter"] == pick), None)
        best = _best([r for r in here if r["via"] == "spikelab"], "after")
        peer = _best([r for r in here if r["via"] == "spikeinterface"], "before")
        if peer is None or best is None:
            continue
        out.append({
            "recording": name, "kind": f"{'MEArec' if 'mearec' in p else 'generated'} {p['layout']}",
            "n": p["num_units"], "ours": ours, "best": best, "peer": peer, "pick": pick,
            "detect_met": ours is not None and ours["after"]["well_detected"] >= peer["before"]["well_detected"],
            "precision_met": ours is not None and (ours["after"]["unit_precision"] or 0.0) >= 0.9,
            "shortfall": _shortfall(ours, peer, p["num_units"], info.get("gt_curation")) if ours else
            f"not measured: {pick} was not run through sort_recording on this recording",
            "ceiling": gt_kept(info),
        })
    return out


def _cell(run: dict, stage: str, n: int) -> str:
    return f"{run['sorter']}: {run[stage]['well_detected']}/{n}, {run[stage]['unit_precision']}, {run['cpu_s']:.0f}"


def markdown(table: list[dict]) -> str:
    lines = [
        "# Issue 20 targets: SpikeLab's recommended sorter vs the best SpikeInterface sorter run directly",
        "",
        "Written by `python bench/accuracy/targets.py` from `accuracy_quick.json` and "
        "`accuracy_realistic.json` (one run each; CPU s = the sort's process tree, loaded 2-core machine). "
        "Well = accuracy >= 0.8 against ground truth. The recommended sorter is what `sorter=\"auto\"` picks "
        "for the recording (the shipped `sorter_choice.toml`, every ranked sorter installed, no GPU), run "
        "through `sort_recording`; SpikeLab's figures are after its default curation, the peer's are its "
        "own output.",
        "",
        "| recording | kind | auto's sorter via SpikeLab (well, unit precision, CPU s) "
        "| SpikeLab best path | best SpikeInterface direct "
        "| at least as many well | unit precision >= 0.9 | measured shortfall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in table:
        o, p, n = t["ours"], t["peer"], t["n"]
        if o is None:
            lines.append(f"| {t['recording']} | {t['kind']} | {t['pick']}: not run | {_cell(t['best'], 'after', n)} "
                         f"| {_cell(p, 'before', n)} | not measured | not measured | {t['shortfall']} |")
            continue
        lines.append(
            f"| {t['recording']} | {t['kind']} | {_cell(o, 'after', n)} | {_cell(t['best'], 'after', n)} "
            f"| {_cell(p, 'before', n)} | {'met' if t['detect_met'] else 'missed'} "
            f"({o['after']['well_detected']} vs {p['before']['well_detected']}) | "
            f"{'met' if t['precision_met'] else 'missed'} ({o['after']['unit_precision']}) | {t['shortfall']} |")
    notes = [f"- {t['recording']}: applied to the ground truth itself, {t['ceiling']}." for t in table if t["ceiling"]]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def main() -> int:
    (RESULTS / "targets.md").write_text(markdown(rows()))
    print((RESULTS / "targets.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
