"""Sections of the pipeline configuration that describe how it runs.

:class:`ExecutionConfig` (caching, resources, safeguards, retries, canary, reports) and
:class:`BatchConfig` (how ``sort_batch`` reacts to failures), composed by
:class:`~spikelab.spike_sorting.config.SortingPipelineConfig` and imported from
:mod:`spikelab.spike_sorting.config`.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from spikelab.errors import ConfigError
from spikelab.spike_sorting._knobs import (
    KnobValueError,
    fraction_open,
    knob,
    knobs,
    non_negative,
    one_of,
    percentage,
    positive,
)

#: Suffixes SpikeInterface's ``total_memory`` understands (``"16G"``, ``"512Mi"``).
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)\s*$")


def _memory_size(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not _MEMORY.match(value):
        raise KnobValueError(
            f"{attribute.name} must be a size such as '16G', '512M' or '2Gi' (suffixes k, M, G, T, "
            f"P, Ki, Mi, Gi, Ti, Pi), got {value!r}.",
            attribute.name,
        )


def _worker_count(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value != -1 and value < 1:
        raise KnobValueError(
            f"{attribute.name} must be -1 (every core allowed) or a positive number of workers, "
            f"got {value!r}.",
            attribute.name,
        )


@knobs
class ExecutionConfig:
    """How the pipeline runs: caching, resources, safeguards, retries, canary, reports."""

    # general
    n_jobs: int = knob(
        -1, "Worker processes for chunked work (-1: all cores allowed).", validator=_worker_count
    )
    total_memory: str | None = knob(
        None, "Memory budget for chunked work, e.g. '16G'.", validator=_memory_size
    )
    progress_bar: bool = knob(True, "Show progress bars on long stages.")
    sorter_output: str = knob(
        "auto",
        "Copy the sorter's own log lines to stderr: 'auto' (with progress bars, when stderr is a terminal), "
        "'always' or 'never'.",
        validator=one_of("auto", "always", "never"),
    )
    random_seed: int = knob(1, "Seed for every random choice (waveform sampling, ...).")
    isolation: str = knob(
        "process",
        "Run the sorter in a child process ('process', stoppable by watchdogs) or in this one ('inline').",
        validator=one_of("process", "inline"),
    )
    # caching
    recompute_recording: bool = knob(False, "Rewrite the cached binary recording.")
    recompute_sorting: bool = knob(False, "Sort again even if a valid cached sort exists.")
    reextract_waveforms: bool = knob(False, "Extract waveforms again even if cached.")
    delete_inter: bool = knob(
        False, "After success, delete what this run created in the intermediate folder."
    )
    # failures
    raise_on_failure: bool = knob(
        True, "After the batch, raise the first failure's classified exception."
    )
    oom_retry_max: int = knob(2, "Retries after an out-of-memory failure.", validator=non_negative)
    oom_retry_factor: float | None = knob(
        0.5, "Factor applied to the backend's batch knob on each OOM retry.", validator=fraction_open
    )
    # canary
    canary_first_n_s: float = knob(
        0.0, "Sort the first N seconds first as a smoke test (0 disables).", validator=non_negative
    )
    # preflight
    preflight: bool = knob(True, "Run preflight checks before each sort.")
    preflight_strict: bool = knob(False, "Treat preflight warnings as failures.")
    preflight_min_free_inter_gb: float = knob(
        1.0, "Floor on free space in the intermediate folder (GB), on top of the estimate.",
        validator=non_negative,
    )
    preflight_min_free_results_gb: float = knob(
        0.5, "Floor on free space in the results folder (GB).", validator=non_negative
    )
    preflight_min_available_ram_gb: float = knob(
        2.0, "Minimum available host RAM (GB).", validator=non_negative
    )
    preflight_min_free_vram_gb: float = knob(
        2.0, "Minimum free GPU memory for GPU backends (GB).", validator=non_negative
    )
    # host RAM watchdog
    host_ram_watchdog: bool = knob(True, "Stop the sort when host RAM use crosses the abort level.")
    host_ram_warn_pct: float = knob(85.0, "Warn above this host RAM use (%).", validator=percentage)
    host_ram_abort_pct: float = knob(92.0, "Stop the sort above this host RAM use (%).", validator=percentage)
    host_ram_poll_interval_s: float = knob(0.5, "Host RAM poll interval (s).", validator=positive)
    # GPU watchdog
    gpu_watchdog: bool = knob(True, "Watch GPU memory and temperature (through NVML).")
    gpu_warn_pct: float = knob(85.0, "Warn above this GPU memory use (%).", validator=percentage)
    gpu_abort_pct: float = knob(95.0, "Stop the sort above this GPU memory use (%).", validator=percentage)
    gpu_warn_temp_c: float = knob(85.0, "Warn above this GPU temperature (°C).", validator=positive)
    gpu_abort_temp_c: float = knob(92.0, "Stop the sort above this GPU temperature (°C).", validator=positive)
    gpu_poll_interval_s: float = knob(2.0, "GPU poll interval (s).", validator=positive)
    # disk watchdog
    disk_watchdog: bool = knob(True, "Stop the sort when free disk falls below the abort level.")
    disk_warn_free_gb: float = knob(5.0, "Warn below this free space (GB).", validator=non_negative)
    disk_abort_free_gb: float = knob(1.0, "Stop the sort below this free space (GB).", validator=non_negative)
    disk_poll_interval_s: float = knob(5.0, "Disk poll interval (s).", validator=positive)
    # inactivity watchdog
    sorter_inactivity_timeout: bool = knob(True, "Stop a sorter whose log goes silent too long.")
    sorter_inactivity_base_s: float = knob(600.0, "Silence tolerated for any recording (s).", validator=positive)
    sorter_inactivity_per_min_s: float = knob(
        30.0, "Extra silence tolerated per minute of recording (s).", validator=non_negative
    )
    sorter_inactivity_max_s: float = knob(7200.0, "Cap on the silence tolerance (s).", validator=positive)
    # I/O stall watchdog
    io_stall_watchdog: bool = knob(True, "Stop the sort when I/O byte counters stop advancing.")
    io_stall_s: float = knob(300.0, "Seconds without I/O progress that count as a stall.", validator=positive)
    io_stall_poll_interval_s: float = knob(10.0, "I/O counter poll interval (s).", validator=positive)
    # sleep blocker
    prevent_system_sleep: bool = knob(True, "Block system sleep during sorts (systemd-inhibit).")
    # reports
    generate_sorting_report: bool = knob(True, "Write sorting_report.md and recording_report.json.")
    save_raw_pkl: bool = knob(False, "Also save the uncurated SpikeData.")

    def __attrs_post_init__(self) -> None:
        for warn, abort in (
            ("host_ram_warn_pct", "host_ram_abort_pct"),
            ("gpu_warn_pct", "gpu_abort_pct"),
            ("gpu_warn_temp_c", "gpu_abort_temp_c"),
        ):
            if getattr(self, warn) > getattr(self, abort):
                raise ConfigError(
                    f"{warn} ({getattr(self, warn)}) must not exceed {abort} ({getattr(self, abort)})."
                )
        if self.disk_abort_free_gb > self.disk_warn_free_gb:
            raise ConfigError(
                f"disk_abort_free_gb ({self.disk_abort_free_gb}) must not exceed "
                f"disk_warn_free_gb ({self.disk_warn_free_gb})."
            )


@knobs
class BatchConfig:
    """How ``sort_batch`` reacts to each failure family across a batch of recordings."""

    resource_retries: int = knob(
        1, "Resubmissions of a recording after a resource failure, each with the backend's batch knob reduced.",
        validator=non_negative,
    )
    resource_retry_factor: float = knob(
        0.5, "Factor applied to the backend's batch knob on each resubmission.", validator=fraction_open
    )
    on_biological: str = knob(
        "skip", "After a biological failure: 'skip' (mark not sortable) or 'stop' the batch.",
        validator=one_of("skip", "stop"),
    )
    on_environment: str = knob(
        "stop", "After an environment failure: 'stop' submitting new work, or 'continue'.",
        validator=one_of("stop", "continue"),
    )
    unclassified_retries: int = knob(
        0, "Resubmissions of a recording after an unclassified failure.", validator=non_negative
    )
    skip_completed: bool = knob(True, "Skip recordings whose results are complete and valid (resume).")
    worker_gpus: int = knob(
        -1, "GPUs per local worker resource pool (-1: one worker per detected GPU).",
    )
