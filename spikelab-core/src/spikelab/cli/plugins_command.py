"""``spikelab plugins``: what is installed, from which distribution, implementing which hooks."""

from __future__ import annotations

import argparse
import json

import attrs


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    parser.add_argument(
        "--params", metavar="SORTER",
        help="List the parameters SORTER accepts (type, default, unit, meaning) instead.",
    )


def print_params(backend, as_json: bool) -> None:
    """The backend's declared parameters, one per line (or as JSON)."""
    from spikelab.spike_sorting._knobs import knob_rows

    rows = knob_rows(backend.params_type)
    if as_json:
        print(json.dumps(rows, indent=2, default=repr))
        return
    print(f"Parameters of {backend.name} ({backend.distribution} {backend.version}); set them as "
          f"keywords, --set NAME=VALUE or sorter_params={{...}}:")
    width = max([len(row["name"]) for row in rows] + [4]) + 2
    type_width = max(len(row["type"]) for row in rows) + 2 if rows else 0
    value_width = max(len(repr(row["default"])) for row in rows) + 2 if rows else 0
    for row in rows:
        unit = f" [{row['unit']}]" if row["unit"] else ""
        print(f"  {row['name']:<{width}}{row['type']:<{type_width}}{row['default']!r:<{value_width}}"
              f"{row['doc']}{unit}")
    for alias, name in sorted(backend.param_aliases.items()):
        print(f"  {alias:<{width}}also accepted for {name}")


def run(args: argparse.Namespace) -> int:
    from spikelab.plugins import get_plugin_manager

    manager = get_plugin_manager()
    if args.params:
        print_params(manager.sorter(args.params), args.json)
        return 0
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
