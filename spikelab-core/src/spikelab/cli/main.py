"""``spikelab`` entry point: sub-commands come from the command hook (built-ins included)."""

from __future__ import annotations

import argparse
import sys

from spikelab import __version__
from spikelab.errors import ConfigError, InputError, SpikeLabError


def build_parser(configure_only: str | None = None) -> argparse.ArgumentParser:
    """The ``spikelab`` parser with one sub-parser per registered command.

    Parameters
    ----------
    configure_only : str, optional
        Add the arguments of this command only (the one being run): a command's ``configure``
        may import what its work needs, which ``spikelab --help`` and other commands must not
        pay for. None configures every command.
    """
    from spikelab.plugins import get_plugin_manager

    parser = argparse.ArgumentParser(
        prog="spikelab", description="Spike sorting and curation for MEAs and probes."
    )
    parser.add_argument("--version", action="version", version=f"spikelab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in sorted(get_plugin_manager().commands().items()):
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        if configure_only is None or name == configure_only:
            command.configure(sub)
        sub.set_defaults(_run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    from spikelab.logconfig import configure_logging

    configure_logging()
    words = sys.argv[1:] if argv is None else argv
    chosen = next((word for word in words if not word.startswith("-")), None)
    parser = build_parser(configure_only=chosen or "")
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (ConfigError, InputError) as exc:  # the user's input: one line, argparse's exit code
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SpikeLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
