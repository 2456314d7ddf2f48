"""A bench-only backend that runs another backend and records the sorter's own time.

``timed`` wraps the backend named by ``SPIKELAB_BENCH_WRAPPED`` (its parameters, reader, OOM knob
and log are the wrapped one's); inside the sorter process it times only ``backend.run(job)`` and
writes ``sorter_own_time.json`` into the sorter folder. Everything else the pipeline does is the
overhead being measured.
"""

from __future__ import annotations

import json
import os
import time

from spikelab.plugins import hookimpl
from spikelab.spike_sorting.backend import SorterBackend

OWN_TIME = "sorter_own_time.json"


def _wrapped():
    from spikelab.plugins import get_plugin_manager

    name = os.environ["SPIKELAB_BENCH_WRAPPED"]
    manager = get_plugin_manager()
    if name == "fake" and "fake" not in manager.sorters():
        from spikelab.testing import fake_backend

        manager.register(fake_backend, name="spikelab.testing.fake_backend")
    return manager.sorter(name)


def timed_run(job) -> None:
    start = time.perf_counter()
    _wrapped().run(job)
    elapsed = time.perf_counter() - start
    (job.sorter_folder / OWN_TIME).write_text(json.dumps({"sorter_own_time_s": elapsed}))


def make_backend() -> SorterBackend:
    inner = _wrapped()
    return SorterBackend(
        name="timed", distribution="bench", version=f"{inner.name}-{inner.version}", run=timed_run,
        read_sorting=inner.read_sorting, default_params=inner.default_params, oom_knob=inner.oom_knob,
        classifier=inner.classifier, log_name=inner.log_name, prepare_recording=inner.prepare_recording,
        check_environment=inner.check_environment,
    )


#: Set by the bench before it registers this module (built once: the hook must not ask for sorters).
BACKEND: SorterBackend | None = None


@hookimpl
def spikelab_register_sorters(register) -> None:
    if BACKEND is not None:
        register(BACKEND)
