"""What the batch does after each outcome: accept, resubmit with a smaller knob, skip or stop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from spikelab.spike_sorting.backend import SorterBackend
    from spikelab.spike_sorting.config import BatchConfig, SortingPipelineConfig
    from spikelab.spike_sorting.results import RecordingResult

RESOURCE_STATUSES = frozenset(
    {"oom_gpu", "oom_host_ram", "oom_memoryerror", "sorter_timeout", "disk_exhausted", "gpu_thermal", "io_stall"}
)


@attrs.frozen
class Decision:
    """The batch's reaction to one outcome.

    ``action`` is ``"accept"`` (success), ``"retry"`` (resubmit with ``overrides``), ``"skip"``
    (keep the failure, move on) or ``"stop"`` (keep the failure, submit nothing new).
    """

    action: str
    reason: str
    overrides: dict[str, Any] = attrs.field(factory=dict)


def family_of(result: RecordingResult) -> str:
    """``success``, ``biological``, ``environment``, ``resource`` or ``unclassified``."""
    if result.ok:
        return "success"
    family = getattr(result.error, "family", None)
    if family in ("biological", "environment", "resource"):
        return family
    if result.status == "not_sortable":
        return "biological"
    if result.status in ("environment", "concurrent_sort"):
        return "environment"
    if result.status in RESOURCE_STATUSES:
        return "resource"
    return "unclassified"


def decide(
    result: RecordingResult,
    *,
    attempt: int,
    policy: BatchConfig,
    backend: SorterBackend,
    config: SortingPipelineConfig,
    params: dict[str, Any],
) -> Decision:
    """Apply ``policy`` to the outcome of the ``attempt``-th submission (1-based)."""
    family = family_of(result)
    if family == "success":
        return Decision("accept", "sorted")
    if family == "biological":
        if policy.on_biological == "stop":
            return Decision("stop", f"biological failure ({result.status}); on_biological='stop'")
        return Decision("skip", f"not sortable ({result.status}); skipped")
    if family == "environment":
        if policy.on_environment == "stop":
            return Decision("stop", f"environment failure ({result.status}): fix the environment, then rerun")
        return Decision("skip", f"environment failure ({result.status}); on_environment='continue'")
    if family == "resource":
        if attempt > policy.resource_retries:
            return Decision("skip", f"{result.status} after {attempt} submission(s); resource retries exhausted")
        knob = backend.oom_knob
        if knob is None:
            return Decision("retry", f"{result.status}; resubmitting (backend has no batch knob)")
        reduced = knob.reduced(params, policy.resource_retry_factor)
        if reduced is None:
            return Decision("skip", f"{result.status}; {knob.name} already at its floor {knob.floor}")
        return Decision("retry", f"{result.status}; resubmitting with {knob.name}={reduced}", {knob.name: reduced})
    if attempt <= policy.unclassified_retries:
        return Decision("retry", f"unclassified failure ({result.error_class}); resubmitting")
    return Decision("skip", f"unclassified failure ({result.error_class}: {str(result.error_message)[:120]})")
