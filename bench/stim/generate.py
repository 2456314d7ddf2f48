"""Write a synthetic stimulation recording with ground truth to an ``.npz`` file.

The model (saturating mono/biphasic pulses, amplifier recovery, exponential tails, raw
spikes with known times and amplitudes) is ``spikelab_stim.synthetic.make_stim_recording``;
``run.py`` generates the same data in memory. Any keyword of that function can be given
as ``--set name=value``.

    python bench/stim/generate.py out.npz --channels 64 --seconds 30 --pulses 300 \\
        --set protocol=train --set train_interval_ms=10
"""

from __future__ import annotations

import argparse
import ast
import json
import os
from pathlib import Path

import numpy as np

from spikelab_stim.synthetic import make_stim_recording


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="Destination .npz file.")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--pulses", type=int, default=300, help="Number of stimulation events.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="Any other make_stim_recording keyword (Python literal values).")
    args = parser.parse_args(argv)
    extra = {}
    for item in args.set:
        name, _, value = item.partition("=")
        try:
            extra[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            extra[name] = value
    data = make_stim_recording(n_channels=args.channels, duration_s=args.seconds, n_events=args.pulses,
                               seed=args.seed, **extra)
    tmp = args.output.with_name(args.output.name + ".tmp.npz")
    np.savez(
        tmp, traces=data.traces, clean=data.clean, fs_Hz=data.fs_Hz, stim_times_ms=data.stim_times_ms,
        logged_stim_times_ms=data.logged_stim_times_ms, pulse_end_ms=data.pulse_end_ms,
        spike_times_ms=data.spike_times_ms, spike_channels=data.spike_channels,
        spike_amplitudes=data.spike_amplitudes, spike_evoked=data.spike_evoked,
        params=json.dumps(data.params),
    )
    os.replace(tmp, args.output)
    print(f"wrote {args.output}: {data.traces.shape[0]} channels x {data.traces.shape[1]} samples, "
          f"{data.stim_times_ms.size} pulses, {data.spike_times_ms.size} ground-truth spikes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
