"""Locations of the models shipped with the package."""

from __future__ import annotations

from pathlib import Path

MODELS_FOLDER = Path(__file__).resolve().parent / "models"
#: The MEA model trained by ``spikelab rtsort train`` (see its ``init_dict.json`` for provenance).
DEFAULT_MEA_MODEL_PATH = MODELS_FOLDER / "mea"
#: No Neuropixels model is shipped; train one with ``spikelab rtsort train --sampling-frequency
#: 30000`` and pass its folder as ``model_path``.
DEFAULT_NEUROPIXELS_MODEL_PATH = MODELS_FOLDER / "neuropixels"


def default_model_path(probe: str = "mea") -> Path:
    """Folder of the shipped model for ``probe`` ("mea" or "neuropixels")."""
    if probe not in ("mea", "neuropixels"):
        raise ValueError(f"probe must be 'mea' or 'neuropixels', got {probe!r}.")
    return DEFAULT_MEA_MODEL_PATH if probe == "mea" else DEFAULT_NEUROPIXELS_MODEL_PATH
