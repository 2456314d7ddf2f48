"""``spikelab export RESULTS --to phy|nwb|spikeinterface OUT``."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikelab.errors import InputError


def configure(parser: argparse.ArgumentParser) -> None:
    from spikelab.export import FORMATS

    parser.add_argument("results", type=Path, help="A results folder written by `spikelab sort`, or a SpikeData file (.npz/.pkl).")
    parser.add_argument("--to", required=True, choices=FORMATS, help="Target format.")
    parser.add_argument("out", type=Path, help="Folder (phy, spikeinterface) or .nwb file to write.")
    parser.add_argument("--recording", type=Path, default=None, help="Recording the units came from (SpikeInterface folder or file).")
    parser.add_argument("--traces", choices=("raw", "filtered"), default=None, help="NWB only: also store the traces.")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing output.")


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

    sd = SpikeData.load(find_spikedata_file(args.results))
    recording = None
    if args.recording is not None:
        import spikeinterface as si

        recording = si.load(args.recording)
    kwargs = {"recording": recording, "overwrite": args.overwrite}
    if args.to == "nwb":
        kwargs["include_traces"] = args.traces
    elif args.traces:
        raise InputError("--traces applies to --to nwb only.")
    path = export(sd, args.to, args.out, **kwargs)
    print(f"wrote {path} ({sd.N} units)")
    return 0
