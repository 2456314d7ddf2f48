"""The fault and bad-input catalogue (issue 17) as a table: outcome, time to error, data lost, silent wrong.

Runs every case of ``cases.toml`` (see ``catalogue.py``) with the fake sorter on a small Maxwell
file and writes ``bench/results/reliability/catalogue.{md,json}``. The catalogue is the same
in quick and full runs (it is CI-sized already); ``--quick`` only names the output files
``*_quick`` so a quick run never overwrites the full one. Times to error are wall-clock on
whatever machine runs it: read them as "before or after long work", not as a speed figure.

    python bench/reliability/run.py [--quick] [--only CASE_ID ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import catalogue  # noqa: E402

RESULTS = HERE.parents[0] / "results" / "reliability"


def markdown(rows: list[dict], header: str) -> str:
    counts = Counter(r["group"] for r in rows)
    lines = [
        header,
        "",
        f"{len(rows)} cases ({', '.join(f'{n} {g}' for g, n in sorted(counts.items()))}): "
        f"**{sum(r['passed'] for r in rows)} pass, {sum(not r['passed'] for r in rows)} fail; "
        f"data lost in {sum(r['data_lost'] for r in rows)}, "
        f"silently wrong in {sum(r['silent_wrong'] for r in rows)}.**",
        "",
        "| case | source | expected | outcome | time to error (s) | data lost | silent wrong | pass | problem |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        problem = "; ".join(r["problems"]).replace("|", "\\|")[:160]
        owner = f" ({r['owner']})" if r["owner"] and not r["passed"] else ""
        tte = "" if r["time_to_error_s"] is None else f"{r['time_to_error_s']:.2f}"
        lines.append(
            f"| {r['case']} | {r['source']}{owner} | {r['expected']} | {r['outcome']} | {tte} | "
            f"{'y' if r['data_lost'] else 'n'} | {'y' if r['silent_wrong'] else 'n'} | "
            f"{'yes' if r['passed'] else '**no**'} | {problem} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Write *_quick files (the cases are the same).")
    parser.add_argument("--only", nargs="*", default=None, help="Run only these case ids.")
    args = parser.parse_args(argv)
    cases = catalogue.load_cases()
    if args.only:
        cases = [c for c in cases if c["id"] in set(args.only)]
    catalogue.ensure_fake_sorter()
    rows = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="spikelab-reliability-") as tmp, catalogue.quiet_logs():
        references = catalogue.References(Path(tmp))
        for case in cases:
            try:
                row = catalogue.run_case(case, Path(tmp) / case["id"], references)
            except Exception as exc:  # noqa: BLE001 - one broken case must not hide the others
                row = catalogue.harness_error(case, exc)
            rows.append(row)
            print(f"{'ok  ' if row['passed'] else 'FAIL'} {case['id']}: {row['outcome']}"
                  + (f" -- {'; '.join(row['problems'])[:200]}" if row["problems"] else ""), flush=True)
    total = time.monotonic() - start
    machine = f"{platform.platform()}, Python {platform.python_version()}"
    header = (f"Fault and bad-input catalogue, {dt.date.today().isoformat()}, {machine}; "
              f"{total:.0f} s for all cases (`python bench/reliability/run.py{' --quick' if args.quick else ''}`).")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "catalogue_quick" if args.quick else "catalogue"
    (RESULTS / f"{stem}.json").write_text(json.dumps({"machine": machine, "total_s": total, "cases": rows}, indent=1))
    (RESULTS / f"{stem}.md").write_text(markdown(rows, header))
    print(f"wrote {RESULTS / stem}.md: {sum(r['passed'] for r in rows)}/{len(rows)} pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
