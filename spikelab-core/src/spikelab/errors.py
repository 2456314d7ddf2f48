"""The root of every exception SpikeLab raises on purpose."""

from __future__ import annotations


class SpikeLabError(Exception):
    """Root of SpikeLab's exceptions; catch it to catch anything SpikeLab raised deliberately."""


class ConfigError(SpikeLabError, ValueError):
    """A configuration value or key is invalid; the message names it and the fix."""


class UnknownParameterError(ConfigError, TypeError):
    """A parameter name is not a known configuration knob (close matches are listed)."""


class InputError(SpikeLabError, ValueError):
    """An input (file, array, recording) is malformed; the message names it and the fix."""
