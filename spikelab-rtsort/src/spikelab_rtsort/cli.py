"""Command line: ``spikelab rtsort train`` (through core's command hook) or ``python -m spikelab_rtsort``."""

from __future__ import annotations

import argparse
import shlex
import sys

import attrs


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``train`` options to ``parser``."""
    from .training import TrainingConfig

    defaults = TrainingConfig()
    parser.add_argument("output", help="model folder to write (init_dict.json + state_dict.pt)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--n-train-recordings", type=int, default=defaults.n_train_recordings)
    parser.add_argument("--n-val-recordings", type=int, default=defaults.n_val_recordings)
    parser.add_argument("--duration-s", type=float, default=defaults.duration_s)
    parser.add_argument("--num-units", type=int, default=defaults.num_units)
    parser.add_argument("--hidden", type=int, default=defaults.hidden)
    parser.add_argument("--kernel-size", type=int, default=defaults.kernel_size)
    parser.add_argument("--dilations", type=int, nargs="+", default=list(defaults.dilations),
                        help="dilation of each conv layer (its count is the number of layers)")
    parser.add_argument("--samples-per-epoch", type=int, default=defaults.samples_per_epoch)
    parser.add_argument("--val-samples", type=int, default=defaults.val_samples)
    parser.add_argument("--max-epochs", type=int, default=defaults.max_epochs)
    parser.add_argument("--max-minutes", type=float, default=defaults.max_minutes)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--label-snr", type=float, default=defaults.label_snr)
    parser.add_argument("--sampling-frequency", type=float, default=defaults.sampling_frequency)
    return parser


def run_train(args: argparse.Namespace, command: str | None = None) -> int:
    """Run training from parsed arguments; print a one-line summary."""
    from .training import TrainingConfig, train_detection_model

    fields = {f.name for f in attrs.fields(TrainingConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields}
    if "dilations" in overrides:
        overrides["dilations"] = tuple(overrides["dilations"])
    config = TrainingConfig(**overrides)
    model = train_detection_model(args.output, config, command=command)
    info = model.init_dict["training"]["validation"]
    print(f"wrote {args.output}: stringent={model.stringent_thresh:.3f} "
          f"loose={model.loose_thresh:.3f} precision={info['precision']:.3f} "
          f"recall={info['recall']:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m spikelab_rtsort train ...``."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="spikelab rtsort")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(sub.add_parser("train", help="train a detection model on generated data"))
    args = parser.parse_args(argv)
    return run_train(args, command="spikelab rtsort " + shlex.join(argv))
