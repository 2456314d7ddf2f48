"""``spikelab plugins``: what is installed, from which distribution, implementing which hooks."""

from __future__ import annotations

import argparse
import json

import attrs


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")


def run(args: argparse.Namespace) -> int:
    from spikelab.plugins import get_plugin_manager

    manager = get_plugin_manager()
    infos = manager.plugin_info()
    sorters = manager.sorters()
    if args.json:
        print(
            json.dumps(
                {
                    "plugins": [attrs.asdict(info) for info in infos],
                    "sorters": {
                        name: {"distribution": b.distribution, "version": b.version}
                        for name, b in sorted(sorters.items())
                    },
                },
                indent=2,
            )
        )
        return 0
    print("Plugins:")
    width = max([len(info.name) for info in infos] + [10]) + 2
    for info in infos:
        origin = f"{info.distribution or '?'} {info.version or ''}".strip()
        if info.error:
            print(f"  {info.name:<{width}} {origin:<22} BROKEN: {info.error}")
        else:
            print(f"  {info.name:<{width}} {origin:<22} {', '.join(info.hooks)}")
    print("\nSorters:")
    if not sorters:
        print("  none installed (pip install spikelab-ks4, spikelab-ks2 or spikelab-rtsort)")
    for name, backend in sorted(sorters.items()):
        print(f"  {name:<14} {backend.distribution} {backend.version}  {backend.description}")
    return 0
