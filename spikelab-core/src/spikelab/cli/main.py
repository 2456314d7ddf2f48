"""``spikelab`` entry point: sub-commands come from the command hook (built-ins included).

Exit status: 0 success, 1 a sort or export that failed (its status and remedy are printed),
2 a user error (a bad argument, file or setting), printed as one line that names the input and
the fix. By default the plan, progress bars and warnings are shown; ``--verbose`` adds each
stage's events and the sorter's own output; ``--quiet`` shows only errors and the final summary.
"""

from __future__ import annotations

import argparse
import os
import sys

from spikelab import __version__
from spikelab.errors import ConfigError, InputError, SpikeLabError

#: Exit status of a user error (bad argument, input or setting), as argparse uses.
USAGE_ERROR = 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the bad argument, what was wrong, where the help is."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def add_verbosity(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """``--verbose`` / ``--quiet``, accepted before or after the sub-command."""
    default = argparse.SUPPRESS if suppress else False
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="Show each stage's events and the sorter's own output, even when not on a terminal.")
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="Show only errors and the final summary (no plan, no progress bars).")


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

    parser = Parser(prog="spikelab", description="Spike sorting and curation for MEAs and probes.")
    parser.add_argument("--version", action="version", version=f"spikelab {__version__}")
    add_verbosity(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in sorted(get_plugin_manager().commands().items()):
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        add_verbosity(sub, suppress=True)
        if configure_only is None or name == configure_only:
            command.configure(sub)
        sub.set_defaults(_run=command.run)
    return parser


def _log_level(args: argparse.Namespace) -> str:
    """error with --quiet; warning by default (bars and the plan say what happens); info with --verbose.

    ``SPIKELAB_LOG_LEVEL`` (e.g. ``debug``) replaces the default and the --verbose level.
    """
    if getattr(args, "quiet", False):
        return "error"
    return os.environ.get("SPIKELAB_LOG_LEVEL") or ("info" if getattr(args, "verbose", False) else "warning")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    from spikelab.logconfig import configure_logging

    configure_logging()
    words = sys.argv[1:] if argv is None else argv
    chosen = next((word for word in words if not word.startswith("-")), None)
    parser = build_parser(configure_only=chosen or "")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 0
    configure_logging(_log_level(args), force=True)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return USAGE_ERROR
    try:
        return int(args._run(args) or 0)
    except (InputError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except SpikeLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
