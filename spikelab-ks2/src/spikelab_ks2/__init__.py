"""Kilosort2 for SpikeLab: ``sort_recording(..., sorter="kilosort2")`` and the KILOSORT2 presets.

Kilosort2 runs either in a local MATLAB (``kilosort_path`` = your Kilosort2 clone) or in
SpikeInterface's MATLAB-compiled Docker image (``use_docker=True``). Both need an NVIDIA GPU.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
