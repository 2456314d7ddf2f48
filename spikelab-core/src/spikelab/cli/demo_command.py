"""``spikelab demo``: sort a generated Maxwell recording with known units and show the accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--folder", default="spikelab_demo", help="Where to write the recording and results.")
    parser.add_argument("--sorter", help="Backend (default: the best installed CPU backend).")
    parser.add_argument("--duration", type=float, default=10.0, help="Recording length (s).")
    parser.add_argument("--channels", type=int, default=32, help="Number of channels.")
    parser.add_argument("--units", type=int, default=16, help="Number of true units.")
    parser.add_argument("--rate", type=float, default=50.0, help="Firing rate of each unit (Hz).")
    parser.add_argument("--seed", type=int, default=0, help="Generator seed.")


def run(args: argparse.Namespace) -> int:
    from spikelab.demo import describe, run_demo

    outcome = run_demo(
        Path(args.folder), sorter=args.sorter, duration_s=args.duration, num_channels=args.channels,
        num_units=args.units, firing_rate_hz=args.rate, seed=args.seed,
    )
    describe(outcome)
    return 0
