"""Safeguards: preflight checks, live watchdogs, the sleep blocker and the OOM retry policy."""
