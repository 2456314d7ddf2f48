"""Getting a Dask client: yours, one at a scheduler address, or a local cluster sized to the machine."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import psutil
import structlog

from spikelab.spike_sorting.gpus import count_nvidia_gpus

log = structlog.get_logger("spikelab.batch")

GB = 1e9


def allowed_cores() -> int:
    """Cores this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # macOS, Windows


def default_workers(
    n_recordings: int, needs_gpu: bool, gpus: int, *, ram_per_worker_gb: float = 0.0, available_ram: float | None = None
) -> int:
    """One worker per GPU for GPU sorters; else one per two cores (sorters are multi-threaded),
    and never more than the available host RAM holds at ``ram_per_worker_gb`` per sort."""
    if needs_gpu and gpus:
        return max(1, min(n_recordings, gpus))
    workers = min(n_recordings, allowed_cores() // 2)
    if ram_per_worker_gb > 0:
        available = psutil.virtual_memory().available if available_ram is None else available_ram
        workers = min(workers, int(available // (ram_per_worker_gb * GB)))
    return max(1, workers)


@contextlib.contextmanager
def batch_client(
    client: Any = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    needs_gpu: bool = False,
    n_recordings: int = 1,
    worker_gpus: int = -1,
    ram_per_worker_gb: float = 0.0,
) -> Iterator[Any]:
    """Yield a ``distributed.Client``; a local cluster made here is closed on exit.

    A local cluster gets one process per worker, one thread each (a sort is a process tree of its
    own), and a ``GPU`` resource per worker when GPUs are present, so two sorts never share one
    GPU. Without ``workers`` it is sized by :func:`default_workers`; a ``workers`` count the
    available RAM cannot hold at ``ram_per_worker_gb`` each is kept, with a warning.
    """
    import dask
    from distributed import Client, LocalCluster

    if client is not None:
        yield client
        return
    if scheduler is not None:
        with Client(scheduler) as remote:
            yield remote
        return
    gpus = count_nvidia_gpus() if worker_gpus < 0 else worker_gpus
    n_workers = workers or default_workers(n_recordings, needs_gpu, gpus, ram_per_worker_gb=ram_per_worker_gb)
    available = psutil.virtual_memory().available
    if ram_per_worker_gb > 0 and n_workers * ram_per_worker_gb * GB > available:
        log.warning("local_cluster_ram", workers=n_workers, ram_per_worker_gb=ram_per_worker_gb,
                    available_gb=round(available / GB, 1),
                    advice="fewer workers, or a smaller preflight_min_available_ram_gb if each sort needs less")
    resources = {"GPU": 1} if gpus else None
    log.info("local_cluster", workers=n_workers, gpus=gpus)
    # Non-daemonic workers may start processes of their own (chunked writes, the sorter child).
    with dask.config.set({"distributed.worker.daemon": False}), LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        resources=resources,
        dashboard_address=None,
        host="127.0.0.1",
    ) as cluster, Client(cluster) as local:
        yield local
