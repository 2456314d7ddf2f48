"""The OOM retry policy: shrink the backend's batch knob and try again.

Any failure whose exception says ``oom_retryable`` (the sorter's own GPU out-of-memory error,
classified as :class:`GPUOutOfMemoryError`, and a :class:`GpuMemoryWatchdogError` trip alike) is
retried with the backend's :class:`~spikelab.spike_sorting.backend.OomKnob` multiplied by
``ExecutionConfig.oom_retry_factor`` (or the knob's own factor), rounded as the knob requires, at
most ``oom_retry_max`` times and never below the knob's floor. Every attempt is reported as a
:class:`~spikelab.spike_sorting.results.Attempt`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from spikelab.spike_sorting._exceptions import status_of
from spikelab.spike_sorting.results import Attempt

if TYPE_CHECKING:
    from spikelab.spike_sorting.backend import SorterBackend
    from spikelab.spike_sorting.config import SortingPipelineConfig

log = structlog.get_logger("spikelab.sort")
T = TypeVar("T")


def next_oom_params(
    backend: SorterBackend, params: dict[str, Any], config: SortingPipelineConfig
) -> dict[str, Any] | None:
    """``params`` with the backend's OOM knob reduced once, or None when it cannot shrink further."""
    knob = backend.oom_knob
    if knob is None:
        return None
    factor = config.execution.oom_retry_factor
    reduced = knob.reduced(params, factor)
    if reduced is None:
        return None
    return {**params, knob.name: reduced}


def run_with_oom_retry(
    attempt: Callable[[dict[str, Any]], T],
    *,
    backend: SorterBackend,
    params: dict[str, Any],
    config: SortingPipelineConfig,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> T:
    """Call ``attempt(params)``, retrying out-of-memory failures with a smaller batch.

    Parameters
    ----------
    attempt : callable
        Runs one sort with the given parameters; raises a classified exception on failure.
    backend : SorterBackend
        Its ``oom_knob`` says what to shrink (no knob: no retry).
    params : dict
        The parameters of the first attempt.
    config : SortingPipelineConfig
        ``execution.oom_retry_max`` and ``execution.oom_retry_factor`` are used.
    on_attempt : callable, optional
        Called with an :class:`Attempt` after every try, successful or not.

    Returns
    -------
    The value of the first successful ``attempt``.

    Raises
    ------
    Exception
        The last attempt's exception: a failure that is not an OOM, or an OOM after the retries
        ran out or the knob reached its floor.
    """
    max_retries = max(0, int(config.execution.oom_retry_max))
    current = dict(params)
    number = 0
    while True:
        number += 1
        started = time.monotonic()
        try:
            result = attempt(dict(current))
        except Exception as exc:
            elapsed = time.monotonic() - started
            if on_attempt is not None:
                on_attempt(
                    Attempt(
                        number=number,
                        params=dict(current),
                        status=status_of(exc),
                        error_class=type(exc).__name__,
                        error_message=str(exc)[:2000],
                        wall_time_s=round(elapsed, 3),
                    )
                )
            if not getattr(exc, "oom_retryable", False):
                raise
            knob = backend.oom_knob
            if number > max_retries:
                log.warning(
                    "oom_retries_exhausted", sorter=backend.name, attempts=number, max_retries=max_retries
                )
                raise
            reduced = next_oom_params(backend, current, config)
            if reduced is None:
                log.warning(
                    "oom_retry_floor_reached",
                    sorter=backend.name,
                    knob=None if knob is None else knob.name,
                    value=None if knob is None else knob.current(current),
                    floor=None if knob is None else knob.floor,
                )
                raise
            log.warning(
                "oom_retry",
                sorter=backend.name,
                attempt=number + 1,
                knob=knob.name,
                old=knob.current(current),
                new=reduced[knob.name],
                error=type(exc).__name__,
            )
            current = reduced
            gc.collect()
            continue
        if on_attempt is not None:
            on_attempt(
                Attempt(
                    number=number,
                    params=dict(current),
                    status="success",
                    wall_time_s=round(time.monotonic() - started, 3),
                )
            )
        return result
