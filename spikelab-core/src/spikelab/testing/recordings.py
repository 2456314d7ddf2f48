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


def grid_shape(num_channels: int) -> tuple[int, int]:
    """``(rows, columns)`` of the squarest rectangle of ``num_channels`` contacts (columns <= rows)."""
    columns = max(c for c in range(1, int(num_channels**0.5) + 1) if num_channels % c == 0)
    return num_channels // columns, columns


def grid_recording(
    seed: int = 7,
    *,
    duration_s: float = 20.0,
    num_channels: int = 64,
    num_units: int = 16,
    sampling_frequency: float = 20000.0,
    firing_rate_hz: float = 20.0,
    noise_level_uv: float = 6.0,
    pitch_um: float = 17.5,
    alpha: tuple[float, float] = (60.0, 300.0),
    z_um: tuple[float, float] = (5.0, 30.0),
) -> tuple[BaseRecording, BaseSorting]:
    """A generated recording on a Maxwell-like dense grid, and its true sorting.

    The defaults are the benchmark's ``mea-quick`` recording (``bench/groundtruth.py``, which
    builds its MEA recordings with this function): an 8 x 8 grid at 17.5 µm pitch with 7 µm
    square contacts, 20 kHz, Gaussian noise of 6 µV, and cells 5-30 µm above the array whose
    template trough on the best electrode is roughly 30-200 µV.

    Parameters
    ----------
    seed : int, default: 7
        Seed for units, templates, spike times and noise.
    duration_s : float, default: 20.0
        Duration in seconds.
    num_channels : int, default: 64
        Contacts, laid out as :func:`grid_shape` (64: 8 x 8; 32: 8 rows x 4 columns).
    num_units : int, default: 16
        Ground-truth units.
    sampling_frequency : float, default: 20000.0
        Sampling rate (Hz).
    firing_rate_hz : float, default: 20.0
        Mean firing rate of each unit.
    noise_level_uv : float, default: 6.0
        Standard deviation of the additive noise (µV).
    pitch_um : float, default: 17.5
        Distance between neighbouring contacts (µm).
    alpha : tuple of float, default: (60.0, 300.0)
        Range of the template amplitude factor (SpikeInterface's ``unit_params["alpha"]``).
    z_um : tuple of float, default: (5.0, 30.0)
        Range of the cells' heights above the array (µm).

    Returns
    -------
    recording : BaseRecording
        Float32 traces in µV (gain 1), with channel locations.
    sorting : BaseSorting
        The ground truth.
    """
    from spikeinterface.core import generate_ground_truth_recording

    _, columns = grid_shape(num_channels)
    return generate_ground_truth_recording(
        durations=[duration_s],
        sampling_frequency=sampling_frequency,
        num_channels=num_channels,
        num_units=num_units,
        seed=seed,
        generate_sorting_kwargs={"firing_rates": firing_rate_hz, "refractory_period_ms": 4.0},
        noise_kwargs={"noise_levels": noise_level_uv, "strategy": "on_the_fly"},
        generate_probe_kwargs={"num_columns": columns, "xpitch": pitch_um, "ypitch": pitch_um,
                               "contact_shapes": "square", "contact_shape_params": {"width": 7.0}},
        generate_unit_locations_kwargs={"margin_um": 0.0, "minimum_z": z_um[0], "maximum_z": z_um[1],
                                        "minimum_distance": 12.0},
        generate_templates_kwargs={"unit_params": {"alpha": tuple(alpha)}},
    )
