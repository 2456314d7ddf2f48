"""Generated MEA-like ground truth and per-channel spike labels.

Recordings come from SpikeInterface's :func:`generate_ground_truth_recording` on a dense 2-D grid of
electrodes at 20 kHz. A channel-spike is labelled when the unit's template trough on that channel is
at least ``label_snr`` times the noise level; the label frame is the template's trough on that
channel (so small propagation delays across channels are kept).
"""

from __future__ import annotations

import attrs
import numpy as np


@attrs.frozen
class ChannelLabels:
    """Per-channel spike labels of a ground-truth recording.

    Attributes
    ----------
    frames : list of np.ndarray
        For each channel, sorted frames of labelled spike troughs.
    ignore_frames : list of np.ndarray
        For each channel, frames of spikes just under the label threshold ("don't care").
    unit_peak_channels : np.ndarray
        For each ground-truth unit, the channel with the largest trough.
    """

    frames: list
    ignore_frames: list
    unit_peak_channels: np.ndarray


def generate_mea_recording(duration_s: float = 60.0, num_units: int = 10, seed: int = 0,
                           noise_level: float = 5.0, num_rows: int = 8, num_columns: int = 8,
                           pitch_um: float = 17.5, firing_rate: float = 10.0,
                           sampling_frequency: float = 20000.0, minimum_distance_um: float = 30.0):
    """Generate an MEA-like ground-truth recording with SpikeInterface.

    Parameters
    ----------
    duration_s : float, default: 60.0
        Duration in seconds.
    num_units : int, default: 10
        Number of ground-truth units.
    seed : int, default: 0
        Seed of every random step.
    noise_level : float, default: 5.0
        Standard deviation of the additive noise, in uV.
    num_rows, num_columns : int, default: 8
        Electrode grid shape (``num_rows * num_columns`` channels).
    pitch_um : float, default: 17.5
        Electrode spacing in um, both directions.
    firing_rate : float, default: 10.0
        Mean firing rate of every unit in Hz.
    sampling_frequency : float, default: 20000.0
        Sampling frequency in Hz.
    minimum_distance_um : float, default: 30.0
        Minimum distance between unit locations.

    Returns
    -------
    recording : BaseRecording
        The recording, in uV (float32).
    sorting : BaseSorting
        The ground-truth sorting.
    """
    from spikeinterface.core import generate_ground_truth_recording

    return generate_ground_truth_recording(
        durations=[float(duration_s)],
        sampling_frequency=float(sampling_frequency),
        num_channels=num_rows * num_columns,
        num_units=num_units,
        generate_probe_kwargs=dict(num_columns=num_columns, xpitch=pitch_um, ypitch=pitch_um,
                                   contact_shapes="circle", contact_shape_params={"radius": 5}),
        generate_unit_locations_kwargs=dict(margin_um=0.0, minimum_z=5.0, maximum_z=25.0,
                                            minimum_distance=minimum_distance_um),
        generate_sorting_kwargs=dict(firing_rates=firing_rate, refractory_period_ms=4.0),
        noise_kwargs=dict(noise_levels=noise_level, strategy="on_the_fly"),
        seed=seed,
    )


def channel_labels(recording, sorting, noise_level: float, label_snr: float = 4.0,
                   ignore_fraction: float = 0.6, ms_before: float = 1.0) -> ChannelLabels:
    """Per-channel trough frames of every ground-truth spike large enough to be detected.

    Parameters
    ----------
    recording : InjectTemplatesRecording
        A recording from :func:`generate_mea_recording` (it carries ``templates`` and ``nbefore``).
    sorting : BaseSorting
        Its ground-truth sorting.
    noise_level : float
        Noise standard deviation in uV.
    label_snr : float, default: 4.0
        A channel-spike is labelled when its template trough is at least this many noise levels.
    ignore_fraction : float, default: 0.6
        Channel-spikes between ``ignore_fraction * label_snr`` and ``label_snr`` are "don't care":
        neither a miss nor a false detection.
    ms_before : float, default: 1.0
        Template lead used by the generator (SpikeInterface's default, 1 ms).

    Returns
    -------
    labels : ChannelLabels
        The labels.
    """
    templates = np.asarray(recording.templates)
    if templates.ndim == 4:  # upsampled templates: use the first phase
        templates = templates[..., 0]
    nbefore = int(round(ms_before * recording.get_sampling_frequency() / 1000.0))
    troughs = templates.min(axis=1)  # (units, channels), negative
    trough_frames = templates.argmin(axis=1) - nbefore
    amp_snr = -troughs / noise_level
    vector = sorting.to_spike_vector()
    n_frames = recording.get_num_frames()
    frames, ignore = [], []
    for channel in range(templates.shape[2]):
        keep = amp_snr[:, channel] >= label_snr
        soft = (amp_snr[:, channel] >= ignore_fraction * label_snr) & ~keep
        shifted = vector["sample_index"] + trough_frames[vector["unit_index"], channel]
        inside = (shifted >= 0) & (shifted < n_frames)
        frames.append(np.sort(shifted[inside & keep[vector["unit_index"]]]))
        ignore.append(np.sort(shifted[inside & soft[vector["unit_index"]]]))
    return ChannelLabels(frames, ignore, np.argmin(troughs, axis=1))
