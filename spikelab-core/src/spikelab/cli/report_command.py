"""``spikelab report FOLDER``: rebuild sorting_report.md (and figures) from a results folder."""

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
    return 0
