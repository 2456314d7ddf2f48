"""``spikelab export RESULTS --to phy|nwb|spikeinterface OUT``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spikelab.errors import InputError


def configure(parser: argparse.ArgumentParser) -> None:
    from spikelab.export import FORMATS

    parser.add_argument(
        "results", type=Path, help="A results folder written by `spikelab sort`, or a SpikeData file (.npz/.pkl)."
    )
    parser.add_argument("--to", required=True, choices=FORMATS, help="Target format.")
    parser.add_argument("out", type=Path, help="Folder (phy, spikeinterface) or .nwb file to write.")
    parser.add_argument(
        "--recording", type=Path, default=None,
        help="Recording the units came from: the original file (e.g. session.raw.h5, reopened with the sort's "
        "stream and time window) or a SpikeInterface folder. Default: the intermediate recording folder the "
        "pipeline recorded in the SpikeData, else its original file.",
    )
    parser.add_argument("--traces", choices=("raw", "filtered"), default=None, help="NWB only: also store the traces.")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing output.")
    nwb = parser.add_argument_group("NWB metadata (DANDI needs at least a subject)")
    nwb.add_argument("--metadata", type=Path, default=None,
                     help="YAML or JSON file with neuroconv's sections: NWBFile: {...}, Subject: {...}.")
    for flag, help_text in _NWB_FLAGS.items():
        nwb.add_argument(flag, default=None, help=help_text)


_NWB_FLAGS = {
    "--session-description": "What was recorded.",
    "--session-start-time": "ISO date/time, e.g. 2024-05-01T10:00:00-07:00.",
    "--session-id": "Lab's id of the session.",
    "--experimenter": "Name as 'Last, First'; several separated by ';' ('Doe, Jane;Roe, Ann').",
    "--institution": "Institution.",
    "--lab": "Lab.",
    "--keywords": "Comma-separated keywords.",
    "--experiment-description": "Experiment description.",
    "--subject-id": "Subject (animal, culture, organoid) id.",
    "--species": "Latin binomial, e.g. 'Homo sapiens', or an NCBI taxonomy link.",
    "--sex": "M, F, U or O.",
    "--age": "ISO 8601 duration, e.g. P90D.",
}
_SUBJECT_FLAGS = ("subject_id", "species", "sex", "age")


def nwb_options(args: argparse.Namespace) -> dict:
    """``export_to_nwb`` keywords from the CLI's NWB flags."""
    options = {}
    for flag in _NWB_FLAGS:
        name = flag[2:].replace("-", "_")
        value = getattr(args, name)
        if value is not None and name not in _SUBJECT_FLAGS:
            options[name] = value
    if "experimenter" in options:
        options["experimenter"] = [p.strip() for p in options["experimenter"].split(";") if p.strip()]
    subject = {name: getattr(args, name) for name in _SUBJECT_FLAGS if getattr(args, name) is not None}
    if subject:
        options["subject"] = subject
    if args.metadata is not None:
        options["metadata"] = args.metadata
    return options


def find_spikedata_file(results: Path) -> Path:
    """The SpikeData file of a results folder (the curated one when there are several)."""
    if results.is_file():
        return results
    if not results.is_dir():
        raise InputError(f"{results} does not exist.")
    candidates = sorted(p for p in results.iterdir() if p.suffix in (".npz", ".pkl", ".pickle"))
    curated = [p for p in candidates if "curated" in p.name]
    if curated or candidates:
        return (curated or candidates)[0]
    raise InputError(f"No SpikeData file (.npz or .pkl) in {results}; point at the file itself.")


def run(args: argparse.Namespace) -> int:
    from spikelab import SpikeData
    from spikelab.export import export

    if args.recording is not None and not args.recording.expanduser().exists():
        print(f"error: --recording {args.recording} does not exist; pass the file the units were sorted from "
              "(e.g. session.raw.h5).", file=sys.stderr)
        return 2
    sd = SpikeData.load(find_spikedata_file(args.results))
    kwargs = {"recording": args.recording, "overwrite": args.overwrite}
    nwb = nwb_options(args)
    if args.to == "nwb":
        kwargs.update(include_traces=args.traces, **nwb)
    elif args.traces or nwb:
        raise InputError("--traces and the NWB metadata flags apply to --to nwb only.")
    path = export(sd, args.to, args.out, **kwargs)
    print(f"wrote {path} ({sd.N} units)")
    return 0
