"""RT-Sort for SpikeLab: detection network, training, propagation sorting and streaming.

The model classes are imported on first use (they import torch, which plugin discovery, and so
every ``spikelab`` command, must not pay for).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"
__all__ = ["DetectionModel", "DetectionNet", "load_detection_model", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("DetectionModel", "DetectionNet", "load_detection_model"):
        from spikelab_rtsort import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
