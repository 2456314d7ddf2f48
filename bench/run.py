"""Run SpikeLab's benchmarks and collect them into ``bench/results/RESULTS.md``.

Each part lives in ``bench/<part>/run.py`` and writes JSON plus a markdown table into
``bench/results/<part>/``. This driver runs the parts (each in its own interpreter, so peak-memory
figures are not polluted by the others) and stitches their markdown together.

    python bench/run.py --quick                 # CI-sized run of every part
    python bench/run.py --only ks4 stim         # some parts, full size
    python bench/run.py --summary               # only rewrite RESULTS.md from the results folders
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


def parts() -> list[str]:
    return sorted(p.parent.name for p in BENCH.glob("*/run.py"))


def machine() -> str:
    return (
        f"{platform.platform()}, Python {platform.python_version()}, "
        f"{psutil.cpu_count(logical=True)} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI-sized inputs (minutes, not hours).")
    parser.add_argument("--only", nargs="*", default=None, help=f"Parts to run (default: all of {parts()}).")
    parser.add_argument("--summary", action="store_true",
                        help="run nothing: rewrite RESULTS.md from bench/results (after a part was run by hand), "
                        "keeping each part's last-run line")
    args = parser.parse_args(argv)
    if args.summary:
        write_summary(previous_status(), quick=None)
        return 0
    selected = args.only or parts()
    unknown = sorted(set(selected) - set(parts()))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; available: {parts()}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    status: dict[str, str] = {}
    for part in selected:
        command = [sys.executable, str(BENCH / part / "run.py")] + (["--quick"] if args.quick else [])
        print(f"== {part}: {' '.join(command)}", flush=True)
        start = time.monotonic()
        proc = subprocess.run(command, cwd=BENCH.parent)
        status[part] = (
            f"{'ok' if proc.returncode == 0 else f'FAILED (exit {proc.returncode})'} "
            f"in {time.monotonic() - start:.0f} s"
        )
    write_summary(status, quick=args.quick)
    return 0 if all(s.startswith("ok") for s in status.values()) else 1


def previous_status() -> dict[str, str]:
    """The part / last-run rows of the current RESULTS.md (empty when there is none)."""
    path = RESULTS / "RESULTS.md"
    text = path.read_text() if path.exists() else ""
    table = text.split("| part | last run |", 1)[1].split("\n\n", 1)[0] if "| part | last run |" in text else ""
    return {m[1]: m[2] for m in re.finditer(r"^\| (\S+) \| (.+) \|$", table, re.M) if m[1] != "---"}


def write_summary(status: dict[str, str], *, quick: bool | None) -> Path:
    """RESULTS.md: the status table, then every results folder's markdown (``quick=None``: rewritten
    with ``--summary``, the table being the previous one)."""
    run = ("summary rewritten from bench/results, no part run: `python bench/run.py --summary`" if quick is None
           else f"{'quick' if quick else 'full'} run; `python bench/run.py{' --quick' if quick else ''}`")
    lines = [
        "# SpikeLab benchmark results",
        "",
        f"Generated {dt.datetime.now().isoformat(timespec='seconds')} on {machine()} ({run}).",
        "",
        "| part | last run |",
        "| --- | --- |",
    ]
    lines += [f"| {part} | {state} |" for part, state in sorted(status.items())]
    # every results folder, also those of parts run outside this driver (gpu: bench/gpu/run.sh)
    for part in sorted(p.name for p in RESULTS.iterdir() if p.is_dir()):
        for md in sorted((RESULTS / part).glob("*.md")):
            # images sit beside each part's markdown: point at them from results/
            text = re.sub(r"\]\((?!https?:|/)([^)]+\.png)\)", rf"]({part}/\1)", md.read_text().strip())
            lines += ["", f"## {part}: {md.stem}", "", text]
    out = RESULTS / "RESULTS.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(out)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    sys.exit(main())
