"""Helpers shared by this package's tests (a uniquely named module: every package's tests run in
one pytest session, so ``conftest`` is not importable by name)."""

from __future__ import annotations

from pathlib import Path

GT_KWARGS = dict(
    durations=[10.0],
    sampling_frequency=30000.0,
    num_channels=32,
    num_units=16,
    seed=42,
    generate_sorting_kwargs={"firing_rates": 50.0, "refractory_period_ms": 4.0},
)


def make_job(recording_folder: Path, sorter_folder: Path, **overrides):
    """A SortJob for the kilosort4 backend, as the pipeline would build it."""
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting import check_config
    from spikelab.spike_sorting.backend import SortJob
    from spikelab.spike_sorting.config import SortingPipelineConfig

    backend = get_plugin_manager().sorter("kilosort4")
    config = check_config(SortingPipelineConfig().override(sorter="kilosort4", **overrides))
    sorter_folder.mkdir(parents=True, exist_ok=True)
    return SortJob(
        recording_folder=recording_folder,
        sorter_folder=sorter_folder,
        log_path=sorter_folder / backend.log_name,
        params=backend.resolve_params(config),
        config=config,
    )


CUDA_OOM = (
    "kilosort.run_kilosort: Out of memory error, printing performance...\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
    "capacity of 7.79 GiB of which 1.02 GiB is free. Including non-PyTorch memory, this process has "
    "6.76 GiB memory in use. If reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.\n"
)
