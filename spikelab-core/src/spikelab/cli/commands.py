"""What a plugin contributes to the command line: one :class:`Command` per sub-command."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import attrs


@attrs.frozen(kw_only=True)
class Command:
    """A ``spikelab`` sub-command.

    Parameters
    ----------
    name : str
        The word typed after ``spikelab`` (``"plugins"``, ``"sort"``, ``"rtsort"``).
    help : str
        One line for ``spikelab --help``.
    configure : callable
        ``configure(parser)`` adds the arguments (and nested sub-parsers, if any).
    run : callable
        ``run(args) -> int`` does the work and returns the exit code.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
