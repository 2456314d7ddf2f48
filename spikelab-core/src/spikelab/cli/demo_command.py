"""``spikelab demo``: sort a generated Maxwell recording with known units and show the accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikelab.cli._args import integer_at_least, positive_float

#: The demo's folder; the repository's .gitignore lists it, and the README names it.
DEFAULT_FOLDER = "demo_output"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--folder", default=DEFAULT_FOLDER,
                        help=f"Where to write the recording and results (default: {DEFAULT_FOLDER}).")
    parser.add_argument("--sorter", help="Backend (default: the best installed CPU backend).")
    parser.add_argument("--duration", type=positive_float,
                        help="Recording length (s; default: spikelab.demo.DEMO_DURATION_S, 30 s).")
    parser.add_argument("--channels", type=integer_at_least(1), default=32, help="Number of channels.")
    parser.add_argument("--units", type=integer_at_least(1), default=16, help="Number of true units.")
    parser.add_argument("--rate", type=positive_float, default=50.0, help="Firing rate of each unit (Hz).")
    parser.add_argument("--seed", type=integer_at_least(0), default=0, help="Generator seed.")


def run(args: argparse.Namespace) -> int:
    from spikelab.cli.console import Console
    from spikelab.demo import DEMO_DURATION_S, choose_sorter, describe, run_demo

    console = Console.from_args(args)
    duration = DEMO_DURATION_S if args.duration is None else args.duration
    sorter, why = choose_sorter(args.sorter)
    console.say(f"spikelab demo: {sorter} ({why}) on a generated {args.channels}-channel x {duration:g} s "
                f"recording with {args.units} true units, in {args.folder}/")
    outcome = run_demo(
        Path(args.folder), sorter=sorter, duration_s=duration, num_channels=args.channels,
        num_units=args.units, firing_rate_hz=args.rate, seed=args.seed, sorter_reason=why,
        **console.overrides({}),
    )
    describe(outcome)
    page = outcome.results_folder / "sorting_report.html"
    if page.is_file():
        print(f"Browse    : {page} (every unit's footprint, waveform, ISI, autocorrelogram, amplitudes)")
    return 0
