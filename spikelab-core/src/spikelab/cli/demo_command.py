"""``spikelab demo``: sort a generated Maxwell recording with known units and show the accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikelab.cli._args import integer_at_least, positive_float

#: The demo's folder; the repository's .gitignore lists it, and the README names it.
DEFAULT_FOLDER = "demo_output"


def configure(parser: argparse.ArgumentParser) -> None:
    from spikelab.demo import DEMO_RECORDING as DEFAULT

    parser.add_argument("--folder", default=DEFAULT_FOLDER,
                        help=f"Where to write the recording and results (default: {DEFAULT_FOLDER}).")
    parser.add_argument("--sorter", help="Backend (default: 'auto', the best measured installed sorter for the "
                                         "recording, as spikelab sort chooses).")
    parser.add_argument("--duration", type=positive_float, default=DEFAULT["duration_s"],
                        help="Recording length (s; default: %(default)s).")
    parser.add_argument("--channels", type=integer_at_least(1), default=DEFAULT["num_channels"],
                        help="Number of electrodes, laid out as the squarest grid (default: %(default)s, 8 x 8).")
    parser.add_argument("--units", type=integer_at_least(1), default=DEFAULT["num_units"],
                        help="Number of true units (default: %(default)s).")
    parser.add_argument("--rate", type=positive_float, default=DEFAULT["firing_rate_hz"],
                        help="Firing rate of each unit (Hz; default: %(default)s).")
    parser.add_argument("--seed", type=integer_at_least(0), default=DEFAULT["seed"],
                        help="Generator seed (default: %(default)s; the defaults make the benchmark's mea-quick "
                             "recording).")


def run(args: argparse.Namespace) -> int:
    from spikelab.cli.console import Console
    from spikelab.demo import describe, run_demo

    console = Console.from_args(args)
    console.say(f"spikelab demo: a generated {args.channels}-electrode x {args.duration:g} s Maxwell-like grid "
                f"recording with {args.units} true units, in {args.folder}/")
    outcome = run_demo(
        Path(args.folder), sorter=args.sorter, duration_s=args.duration, num_channels=args.channels,
        num_units=args.units, firing_rate_hz=args.rate, seed=args.seed,
        on_choice=lambda sorter, why: console.say(f"spikelab demo: sorting with {sorter}, because {why}"),
        **console.overrides({}),
    )
    describe(outcome)
    page = outcome.results_folder / "sorting_report.html"
    if page.is_file():
        print(f"Browse    : {page} (every unit's footprint, waveform, ISI, autocorrelogram, amplitudes)")
    return 0
