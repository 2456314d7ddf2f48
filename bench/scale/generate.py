"""Full-array Maxwell files with ground truth, written block by block (never whole in memory).

Channels sit on a square 17.5 um grid (8 x 8 for 64, 16 x 16 for 256, 32 x 32 less four for
1,020), as a dense routed block of a MaxOne array. One ground-truth unit per 8 channels is placed
uniformly over the whole block. Each unit's spike is a 2 ms biphasic waveform whose amplitude falls
off as exp(-d / 25 um) (cut below 1 ADC step) with distance ``d`` from the unit, reaching farther electrodes up to
0.15 ms later (a 0.4 m/s propagation), over Gaussian noise of 1 ADC step (6.3 uV) around
mid-scale. Poisson firing at 3-8 Hz with a 2 ms refractory period. Spike times and units are saved
beside the file (``<file>.gt.npz``) for scoring.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

FS = 20000.0
PITCH_UM = 17.5
NOISE_ADC = 1.0
BLOCK_S = 1.0
BEFORE, AFTER = 10, 30  # frames of the waveform before / after its trough


def grid_mapping(num_channels: int) -> np.ndarray:
    """Mapping table of ``num_channels`` electrodes on a near-square grid."""
    from spikelab.testing.maxwell import maxwell_mapping

    columns = math.ceil(math.sqrt(num_channels))
    mapping = maxwell_mapping(num_channels)
    index = np.arange(num_channels)
    mapping["x"] = (index % columns) * PITCH_UM
    mapping["y"] = (index // columns) * PITCH_UM
    return mapping


def waveform() -> np.ndarray:
    t = (np.arange(-BEFORE, AFTER) / FS) * 1000.0  # ms
    return -np.exp(-((t / 0.2) ** 2)) + 0.35 * np.exp(-(((t - 0.5) / 0.4) ** 2))


def make_units(mapping: np.ndarray, duration_s: float, seed: int) -> dict:
    """Unit positions, per-channel amplitudes and lags, and spike trains."""
    rng = np.random.default_rng(seed)
    xy = np.stack([mapping["x"], mapping["y"]], axis=1)
    n_units = max(1, len(mapping) // 8)
    positions = rng.uniform(xy.min(axis=0), xy.max(axis=0), size=(n_units, 2))
    distance = np.linalg.norm(xy[None, :, :] - positions[:, None, :], axis=2)
    peak = rng.uniform(10.0, 30.0, n_units)  # ADC steps at the unit
    amplitude = peak[:, None] * np.exp(-distance / 25.0)
    amplitude[amplitude < 1.0] = 0.0  # below the noise
    lag = np.rint(distance / 400.0 * FS / 1000.0).astype(int)  # 0.4 m/s = 400 um/ms
    lag[amplitude == 0] = 0
    rates = rng.uniform(3.0, 8.0, n_units)
    n_frames = int(duration_s * FS)
    times, labels = [], []
    for unit, rate in enumerate(rates):
        isi = rng.exponential(1.0 / rate, size=int(rate * duration_s * 1.5) + 10) + 0.002
        spikes = np.rint(np.cumsum(isi) * FS).astype(np.int64)
        spikes = spikes[(spikes > BEFORE) & (spikes < n_frames - AFTER - lag.max() - 1)]
        times.append(spikes)
        labels.append(np.full(len(spikes), unit))
    times, labels = np.concatenate(times), np.concatenate(labels)
    order = np.argsort(times, kind="stable")
    return {"amplitude": amplitude, "lag": lag, "times": times[order], "labels": labels[order],
            "positions": positions, "n_frames": n_frames}


def blocks(units: dict, num_channels: int, seed: int) -> Iterator[np.ndarray]:
    """uint16 (channels, frames) blocks of noise plus the units' spikes."""
    shape = waveform()
    width = len(shape) + int(units["lag"].max())
    step = int(BLOCK_S * FS)
    carry = np.zeros((num_channels, width), dtype=np.float32)  # spike tails spilling into the next block
    times, labels = units["times"], units["labels"]
    sparse = [np.flatnonzero(a) for a in units["amplitude"]]
    frames = np.arange(len(shape))[None, :]
    for start in range(0, units["n_frames"], step):
        stop = min(units["n_frames"], start + step)
        rng = np.random.default_rng([seed, start])
        block = np.zeros((num_channels, stop - start + width), dtype=np.float32)
        block[:, :width] += carry
        lo, hi = np.searchsorted(times, [start, stop])
        for t, unit in zip(times[lo:hi], labels[lo:hi]):
            channels = sparse[unit]
            at = (t - start - BEFORE + units["lag"][unit, channels])[:, None] + frames
            block[channels[:, None], at] += units["amplitude"][unit, channels][:, None] * shape
        carry = block[:, stop - start:].copy()
        body = block[:, : stop - start]
        body += rng.standard_normal(body.shape, dtype=np.float32) * NOISE_ADC + 512.0
        yield np.clip(np.rint(body), 0, 1023).astype(np.uint16)


def write(path: Path, num_channels: int, duration_s: float, layout: str, seed: int = 0) -> dict:
    """Write one file (``layout`` "legacy" or "new") and its ground truth; return a description."""
    from spikelab.testing import maxwell as mxw

    mapping = grid_mapping(num_channels)
    units = make_units(mapping, duration_s, seed)
    n_frames = units["n_frames"]
    data = blocks(units, num_channels, seed)
    if layout == "legacy":
        mxw.write_legacy(path, num_channels=num_channels, num_samples=n_frames, mapping=mapping, blocks=data)
    else:
        mxw.write_new(path, num_channels=num_channels, num_samples=n_frames, mapping=mapping, blocks=data)
    np.savez(Path(str(path) + ".gt.npz"), times=units["times"], labels=units["labels"], fs=FS)
    return {"units": int(len(units["positions"])), "spikes": int(len(units["times"])),
            "bytes": path.stat().st_size}


def ground_truth(path: Path):
    """The ground-truth sorting saved beside ``path``."""
    from spikeinterface.core import NumpySorting

    saved = np.load(Path(str(path) + ".gt.npz"))
    return NumpySorting.from_samples_and_labels([saved["times"]], [saved["labels"]], float(saved["fs"]))
