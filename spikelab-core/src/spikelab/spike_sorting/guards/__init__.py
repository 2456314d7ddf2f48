"""Safeguards: preflight checks, live watchdogs, the sleep blocker and the OOM retry policy.

- :mod:`~spikelab.spike_sorting.guards.preflight`: ``run_preflight`` / ``raise_for_findings``,
  run once before a batch (disk against an estimate, RAM, GPU memory, backend prerequisites,
  a few samples of every recording, write access).
- :mod:`~spikelab.spike_sorting.guards.watch`: ``build_watchdogs`` from every registered factory;
  the built-in ones (``builtin_watchdogs``) are ``host_memory``, ``gpu`` (memory and
  temperature, through NVML), ``disk``, ``inactivity`` and ``io_stall``, each off by its
  ``ExecutionConfig`` knob. Events go to ``<results>/watchdog_events.jsonl``.
- :mod:`~spikelab.spike_sorting.guards.sleep`: ``prevent_system_sleep``.
- :mod:`~spikelab.spike_sorting.guards.retry`: ``run_with_oom_retry``.
"""
