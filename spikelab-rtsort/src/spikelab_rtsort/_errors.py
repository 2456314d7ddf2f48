"""Classified exceptions used by the RT-Sort package.

The canonical classes live in core (``spikelab.spike_sorting._exceptions``). When core is not
importable (for example when this package is used on its own), small stand-ins with the same names
and evidence attributes are defined here so the package still raises meaningful errors.
"""

from __future__ import annotations

try:  # pragma: no cover - exercised whichever way the environment is set up
    from spikelab.spike_sorting._exceptions import (  # type: ignore[attr-defined]
        GPUOutOfMemoryError,
        InsufficientActivityError,
        ModelLoadingError,
    )
except Exception:  # pragma: no cover - fallback when core is absent or not yet complete

    class _ClassifiedError(RuntimeError):
        status = "failed"

        def __init__(self, message: str = "", *, sorter: str = "rt_sort", stage=None,
                     log_path=None, matched_line=None, **evidence):
            super().__init__(message)
            self.sorter = sorter
            self.stage = stage
            self.log_path = log_path
            self.matched_line = matched_line
            for key, value in evidence.items():
                setattr(self, key, value)

    class ModelLoadingError(_ClassifiedError):
        """The detection model folder is missing, incomplete or malformed."""

        def __init__(self, message: str = "", *, model_path=None, **kwargs):
            super().__init__(message, **kwargs)
            self.model_path = model_path

    class GPUOutOfMemoryError(_ClassifiedError):
        """The device ran out of memory during detection inference."""

        status = "oom_gpu"

    class InsufficientActivityError(_ClassifiedError):
        """Too little activity to form propagation sequences."""

        def __init__(self, message: str = "", *, threshold_crossings=None, units_at_failure=None,
                     nspks_at_failure=None, **kwargs):
            super().__init__(message, **kwargs)
            self.threshold_crossings = threshold_crossings
            self.units_at_failure = units_at_failure
            self.nspks_at_failure = nspks_at_failure


__all__ = ["GPUOutOfMemoryError", "InsufficientActivityError", "ModelLoadingError"]
