"""SpikeLab: spike sorting and curation for multi-electrode arrays and probes.

``SpikeData`` is the object everything returns; ``hookimpl`` is what plugin authors import.
Importing SpikeLab leaves logging alone (a library does not configure structlog); the
``spikelab`` command, the demo and the test kit call :func:`spikelab.logconfig.configure_logging`.
"""

from __future__ import annotations

import importlib
import importlib.metadata as _metadata
from typing import Any

from spikelab.errors import ConfigError, InputError, SpikeLabError
from spikelab.plugins import hookimpl

try:
    __version__ = _metadata.version("spikelab-core")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

_LAZY = {"SpikeData": "spikelab.spikedata"}


__all__ = ["ConfigError", "InputError", "SpikeData", "SpikeLabError", "__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spikelab' has no attribute {name!r}")
