"""Resolve the stim-sorting API from the ``spikelab-stim`` distribution."""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = "pip install spikelab-stim"


def provider(module: str = "spikelab_stim") -> ModuleType:
    """Import ``module`` from spikelab-stim, or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "spikelab_stim":
            raise ImportError(
                "Stimulation artifact removal is provided by the spikelab-stim distribution, "
                f"which is not installed: `{INSTALL_HINT}`."
            ) from exc
        raise
