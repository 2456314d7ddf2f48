"""Sorting many recordings across workers and machines, on Dask distributed.

:func:`sort_batch` runs the whole per-recording pipeline on Dask workers (a local cluster sized
to the machine, or any cluster you point it at), applies a retry policy per failure family,
keeps a batch report up to date as recordings finish, and skips recordings whose results are
already complete when it is run again.
"""

from __future__ import annotations

from spikelab.spike_sorting.batch.driver import sort_batch

__all__ = ["sort_batch"]
