"""The one exception class this package adds to SpikeLab's classified failures."""

from __future__ import annotations

from spikelab.errors import ConfigError
from spikelab.spike_sorting._exceptions import EnvironmentSortFailure


class KilosortSettingsError(EnvironmentSortFailure, ConfigError):
    """Kilosort4 was given settings it rejects (an unknown name, an even ``nt``, a bad channel map).

    Every recording of a batch would fail the same way, so it is an environment failure (status
    ``"environment"``: stop and fix the configuration); it is also a
    :class:`~spikelab.errors.ConfigError`.
    """

    evidence_fields = ("setting",)


__all__ = ["KilosortSettingsError"]
