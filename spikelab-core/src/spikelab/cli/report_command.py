"""``spikelab report FOLDER``: rebuild sorting_report.md, sorting_report.html and the figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikelab.errors import InputError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="A results folder written by sort_recording.")


def run(args: argparse.Namespace) -> int:
    from spikelab.spike_sorting.report import regenerate_report

    folder = Path(args.folder)
    if not (folder / "recording_report.json").is_file():
        raise InputError(
            f"{folder} is not a SpikeLab results folder (no recording_report.json); pass the folder "
            "sort_recording wrote for one recording."
        )
    print(regenerate_report(folder))
    page = folder / "sorting_report.html"
    if page.is_file():
        print(page)
    return 0
