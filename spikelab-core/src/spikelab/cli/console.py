"""What the command line shows, decided once from ``--verbose``/``--quiet`` and the terminal.

Progress bars and the sorter's own output go to stderr and only when stderr is a terminal
(SpikeInterface and tqdm do the same), so logs of batch jobs and pipes stay readable; the plan
and the summary go to stdout. ``--quiet`` keeps errors and the summary only; ``--verbose``
copies the sorter's output even when stderr is not a terminal.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

import attrs


@attrs.frozen(kw_only=True)
class Console:
    """How chatty a command is.

    Parameters
    ----------
    quiet, verbose : bool
        ``--quiet`` / ``--verbose``.
    interactive : bool
        Whether stderr (where bars go) is a terminal.
    out : file
        Where the plan and the summary go (stdout).
    """

    quiet: bool = False
    verbose: bool = False
    interactive: bool = False
    out: TextIO = attrs.field(factory=lambda: sys.stdout)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Console:
        return cls(quiet=bool(getattr(args, "quiet", False)), verbose=bool(getattr(args, "verbose", False)),
                   interactive=bool(sys.stderr.isatty()), out=sys.stdout)

    def overrides(self, given: dict[str, Any], *, batch: bool = False) -> dict[str, Any]:
        """Settings for bars and the sorter's output; anything the user set (``given``) wins."""
        show_bars = self.interactive and not self.quiet and not batch
        values = {"progress_bar": show_bars,
                  "sorter_output": "never" if self.quiet or batch else ("always" if self.verbose else "auto")}
        return {key: value for key, value in values.items() if key not in given}

    def say(self, text: str = "") -> None:
        """A line of the plan (hidden by ``--quiet``)."""
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def summary(self, text: str) -> None:
        """The final line(s), shown even with ``--quiet``."""
        print(text, file=self.out, flush=True)
