"""Command line: ``spikelab rtsort train`` (through core's command hook) or ``python -m spikelab_rtsort``."""

from __future__ import annotations

import argparse
import shlex
import sys

import attrs

from spikelab.errors import SpikeLabError


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``train`` options to ``parser``."""
    from .sorted_samples import SortedSampleConfig
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
    sorted_defaults = SortedSampleConfig()
    group = parser.add_argument_group(
        "sorted recordings", "train on your own sorted data: each unit's templates are pasted into "
                             "spike-free noise of its recording")
    group.add_argument("--sorted", nargs=2, action="append", default=[],
                       metavar=("RECORDING", "SORTING"),
                       help="a recording (Maxwell .raw.h5, NWB, SpikeInterface folder) and its "
                            "sorting (Kilosort / phy folder, SpikeData .npz / .pkl, SpikeInterface "
                            "sorting folder); repeat for more recordings")
    group.add_argument("--val-sorted", nargs=2, action="append", default=[],
                       metavar=("RECORDING", "SORTING"),
                       help="a sorted recording held out for validation (default: the last "
                            "--sorted one, or the end of a single one, see --sorted-val-fraction)")
    group.add_argument("--no-generated", action="store_true",
                       help="skip the generated recordings: train and validate on sorted ones only")
    group.add_argument("--max-spikes-per-unit", type=int,
                       default=sorted_defaults.max_spikes_per_unit,
                       help="spikes averaged into each unit's templates")
    group.add_argument("--sorted-val-fraction", type=float, default=sorted_defaults.val_fraction,
                       help="final fraction of a single sorted recording held out for validation")
    group.add_argument("--sorted-fraction", type=float, default=sorted_defaults.sorted_fraction,
                       help="share of samples drawn from sorted recordings when mixed with "
                            "generated ones")
    group.add_argument("--no-sorted-bandpass", action="store_true",
                       help="do not band-pass sorted recordings (300-6000 Hz) before use")
    return parser


def run_train(args: argparse.Namespace, command: str | None = None) -> int:
    """Run training from parsed arguments; print a one-line summary."""
    from .sorted_inputs import SortedRecording
    from .sorted_samples import SortedSampleConfig
    from .training import TrainingConfig, train_detection_model

    fields = {f.name for f in attrs.fields(TrainingConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields}
    if "dilations" in overrides:
        overrides["dilations"] = tuple(overrides["dilations"])
    if getattr(args, "no_generated", False):
        overrides.update(n_train_recordings=0, n_val_recordings=0)
    config = TrainingConfig(**overrides)
    defaults = SortedSampleConfig()
    sorted_config = SortedSampleConfig(
        max_spikes_per_unit=getattr(args, "max_spikes_per_unit", defaults.max_spikes_per_unit),
        val_fraction=getattr(args, "sorted_val_fraction", defaults.val_fraction),
        sorted_fraction=getattr(args, "sorted_fraction", defaults.sorted_fraction),
        bandpass=not getattr(args, "no_sorted_bandpass", not defaults.bandpass))
    sorted_pairs = [SortedRecording(r, s) for r, s in getattr(args, "sorted", [])]
    val_pairs = [SortedRecording(r, s) for r, s in getattr(args, "val_sorted", [])]
    model = train_detection_model(args.output, config, command=command,
                                  sorted_recordings=sorted_pairs, val_sorted_recordings=val_pairs,
                                  sorted_config=sorted_config)
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
    add_train_arguments(sub.add_parser("train", help="train a detection model on generated and/or sorted data"))
    args = parser.parse_args(argv)
    try:
        return run_train(args, command="spikelab rtsort " + shlex.join(argv))
    except SpikeLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
