"""The root of every exception SpikeLab raises on purpose."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """A "did you mean" hint for a name that is not known.

    Parameters
    ----------
    name : str
        What the user typed.
    candidates : iterable of str
        The known names (duplicates are listed once).
    n : int, default: 3
        At most this many suggestions.

    Returns
    -------
    str
        `` Did you mean 'a', 'b'?`` for the close matches, or ``""`` when there are none.
    """
    unique = list(dict.fromkeys(candidates))
    close = difflib.get_close_matches(name, unique, n=n, cutoff=0.6)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


class SpikeLabError(Exception):
    """Root of SpikeLab's exceptions; catch it to catch anything SpikeLab raised deliberately."""


class ConfigError(SpikeLabError, ValueError):
    """A configuration value or key is invalid; the message names it and the fix."""


class UnknownParameterError(ConfigError, TypeError):
    """A parameter name is not a known configuration knob (close matches are listed)."""


class UnknownPresetError(ConfigError, KeyError):
    """No installed backend contributes a preset of this name (close matches are listed)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputError(SpikeLabError, ValueError):
    """An input (file, array, recording) is malformed; the message names it and the fix."""


class FolderConflictError(ConfigError):
    """The folders asked for would make SpikeLab write where it must not.

    Raised before any work when an input or a path SpikeLab did not create lies where the
    pipeline writes or deletes (a cache folder, a results file), or when two recordings' folders
    overlap. The message names the path and the fix; nothing is touched.
    """

    status = "failed"


class SortTerminated(KeyboardInterrupt):
    """The process received SIGTERM (a scheduler ending the job, ``kill``) during a sort.

    Handled like Ctrl-C: the recording's report is written with this error and its sort lock is
    released before the run stops.
    """

    status = "failed"


class MainGuardError(SpikeLabError, RuntimeError):
    """``sort_batch`` was called at the top level of a script without a main guard.

    Its local cluster starts worker processes that import the script again, which would start
    the batch again inside each worker.
    """

    status = "failed"
