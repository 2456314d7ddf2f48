"""The classified exceptions this package raises (defined in core)."""

from __future__ import annotations

from spikelab.spike_sorting._exceptions import (
    GPUOutOfMemoryError,
    InsufficientActivityError,
    ModelLoadingError,
)

__all__ = ["GPUOutOfMemoryError", "InsufficientActivityError", "ModelLoadingError"]
