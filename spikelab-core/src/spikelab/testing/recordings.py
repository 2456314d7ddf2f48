"""Small, seeded ground-truth recordings for tests and demos."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording, BaseSorting


def tiny_recording(
    seed: int = 0,
    *,
    duration_s: float = 10.0,
    num_channels: int = 16,
    num_units: int = 6,
    sampling_frequency: float = 20000.0,
    firing_rate_hz: float = 8.0,
    noise_level_uv: float = 5.0,
) -> tuple[BaseRecording, BaseSorting]:
    """A small generated ground-truth recording with a probe attached, and its true sorting.

    Parameters
    ----------
    seed : int, default: 0
        Seed for units, templates, spike times and noise (same seed, same recording).
    duration_s : float, default: 10.0
        Duration in seconds.
    num_channels : int, default: 16
        Number of channels (a two-column probe, 20 µm pitch).
    num_units : int, default: 6
        Ground-truth units.
    sampling_frequency : float, default: 20000.0
        Sampling rate (Hz); 20 kHz is the Maxwell rate.
    firing_rate_hz : float, default: 8.0
        Mean firing rate of each unit.
    noise_level_uv : float, default: 5.0
        Standard deviation of the additive noise (µV).

    Returns
    -------
    recording : BaseRecording
        Float32 traces in µV (gain 1), with channel locations.
    sorting : BaseSorting
        The ground truth.
    """
    from spikeinterface.core import generate_ground_truth_recording

    recording, sorting = generate_ground_truth_recording(
        durations=[duration_s],
        sampling_frequency=sampling_frequency,
        num_channels=num_channels,
        num_units=num_units,
        seed=seed,
        generate_sorting_kwargs={"firing_rates": firing_rate_hz, "refractory_period_ms": 4.0},
        noise_kwargs={"noise_levels": noise_level_uv, "strategy": "on_the_fly"},
    )
    return recording, sorting
