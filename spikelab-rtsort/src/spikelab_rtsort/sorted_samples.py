"""Training samples from a sorted recording: unit templates pasted into its own spike-free noise.

As the published RT-Sort training did with Kilosort2 sortings: every unit gets a per-channel mean
waveform (from at most ``max_spikes_per_unit`` randomly chosen spikes); 10 ms single-channel noise
windows are cut where no sorted spike visible on that channel lies within ``pad_ms`` of the window;
a sample is one noise window plus 0-4 pasted channel templates whose troughs fall at random frames
of the scored central region, at least ``isi_min_ms`` apart. A pasted template is labelled at its
trough when its trough is at least ``label_snr`` times that channel's noise (MAD) and its spread
across spikes at the trough is at most ``max_std_norm`` of its amplitude; weaker visible templates
are pasted as "don't care" (masked out of the loss). Memory is bounded by the template array and
``max_noise_windows`` windows, whatever the recording's length.
"""

from __future__ import annotations

import attrs
import numpy as np
import structlog
from tqdm.auto import tqdm

from spikelab.errors import InputError

from .inference import sample_pieces
from .runner import bandpass  # as the rt_sort sorter does before detection
from .sequences import robust_noise
from .synthetic import ChannelLabels

log = structlog.get_logger(__name__)

#: Probabilities of 0, 1, 2, 3, 4 pasted templates in one sample (published values).
N_TEMPLATE_PROBS = (0.5, 0.3, 0.12, 0.06, 0.02)
#: At most this many frames x channels are scored for the threshold curve (about 320 MB).
MAX_CURVE_VALUES = 40_000_000
#: Template spikes closer than this (s) are read in one block of at most MAX_BLOCK_S seconds.
READ_GAP_S = 0.05
MAX_BLOCK_S = 1.0


@attrs.frozen
class SortedSampleConfig:
    """How samples are built from sorted recordings (recorded in the model's provenance)."""

    max_spikes_per_unit: int = 100
    ms_before: float = 2.0
    ms_after: float = 2.0
    max_std_norm: float = 0.6
    ignore_fraction: float = 0.6
    pad_ms: float = 2.0
    isi_min_ms: float = 0.2
    max_noise_windows: int = 5000
    noise_chunk_s: float = 0.5
    bandpass: bool = True
    val_fraction: float = 0.2
    curve_seconds: float = 30.0
    sorted_fraction: float = 0.5

    def __attrs_post_init__(self):
        for name in ("val_fraction", "sorted_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be between 0 and 1, got {getattr(self, name)}.")
        if self.max_spikes_per_unit < 1 or self.max_noise_windows < 1:
            raise InputError("max_spikes_per_unit and max_noise_windows must be at least 1, got "
                             f"{self.max_spikes_per_unit} and {self.max_noise_windows}.")


def _traces(recording, start: int, stop: int) -> np.ndarray:
    scaled = recording.has_scaleable_traces()
    return np.asarray(recording.get_traces(start_frame=start, end_frame=stop,
                                           return_in_uV=scaled), dtype=np.float32)


def _noise_and_gain(recording, target_iqr: float, max_seconds: float = 2.0):
    """Per-channel MAD noise and the input gain (median channel IQR -> ``target_iqr``)."""
    starts, piece = sample_pieces(recording, max_seconds)
    mads, iqrs = [], []
    for start in starts:
        traces = _traces(recording, int(start), int(start) + piece)
        traces = traces - np.median(traces, axis=0)
        mads.append(robust_noise(traces, floor=0.0))
        q75, q25 = np.percentile(traces, [75, 25], axis=0)
        iqrs.append(q75 - q25)
    noise = np.maximum(np.median(mads, axis=0), 1e-6)
    gain = float(target_iqr / max(float(np.median(np.median(iqrs, axis=0))), 1e-9))
    return noise.astype(np.float32), gain


def _templates(recording, sorting, config: SortedSampleConfig, rng: np.random.Generator):
    """Mean and std templates (units, frames, channels) from at most ``max_spikes_per_unit``
    random spikes per unit, read around those spikes only (cost set by the spikes, not the
    recording's length)."""
    fs = recording.get_sampling_frequency()
    nbefore = int(round(config.ms_before * fs / 1000.0))
    width = nbefore + int(round(config.ms_after * fs / 1000.0))
    n_frames, n_units = recording.get_num_frames(), sorting.get_num_units()
    vector = sorting.to_spike_vector()
    inside = (vector["sample_index"] >= nbefore) & (vector["sample_index"] + width - nbefore
                                                   <= n_frames)
    candidates = np.flatnonzero(inside)
    candidates = candidates[np.argsort(vector["unit_index"][candidates], kind="stable")]
    bounds = np.searchsorted(vector["unit_index"][candidates], np.arange(n_units + 1))
    chosen = []
    for unit in range(n_units):
        spikes = candidates[bounds[unit]:bounds[unit + 1]]
        if spikes.size > config.max_spikes_per_unit:
            spikes = rng.choice(spikes, size=config.max_spikes_per_unit, replace=False)
        chosen.append(spikes)
    chosen = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=int)
    total = np.zeros((n_units, width, recording.get_num_channels()), dtype=np.float32)
    squares = np.zeros_like(total)
    spikes = vector[chosen]
    runs = np.split(spikes, _run_starts(spikes["sample_index"], width, fs)) if spikes.size else []
    for run in tqdm(runs, desc="rtsort templates", disable=len(runs) < 500):
        first = int(run["sample_index"][0]) - nbefore
        block = _traces(recording, first, int(run["sample_index"][-1]) - nbefore + width)
        for spike in run:
            start = int(spike["sample_index"]) - nbefore - first
            snippet = block[start:start + width]
            total[spike["unit_index"]] += snippet
            squares[spike["unit_index"]] += snippet**2
    counts = np.bincount(vector["unit_index"][chosen], minlength=n_units)[:, None, None]
    average = total / np.maximum(counts, 1)
    std = np.sqrt(np.maximum(squares / np.maximum(counts, 1) - average**2, 0.0))
    return average.astype(np.float32), std.astype(np.float32), nbefore, int(chosen.size)


def _run_starts(frames: np.ndarray, width: int, fs: float) -> list[int]:
    """Where to cut sorted spike frames into read blocks: at gaps over ``READ_GAP_S`` and before a
    block would span more than ``MAX_BLOCK_S`` (so one read stays small)."""
    gap, span = width + int(READ_GAP_S * fs), int(MAX_BLOCK_S * fs)
    cuts, first = [], frames[0] if frames.size else 0
    for index in range(1, frames.size):
        if frames[index] - frames[index - 1] > gap or frames[index] - first > span:
            cuts.append(index)
            first = frames[index]
    return cuts


class SortedSource:
    """Pasted-template samples of one sorted recording (same interface as generated sources).

    Parameters
    ----------
    opened : OpenedSorted
        The recording (already band-passed when wanted) and its sorting.
    config : SortedSampleConfig
        Sample settings.
    label_snr : float
        A pasted template is labelled when its trough is at least this many noise levels.
    target_iqr : float
        Input scaling: the median channel IQR is mapped to this value.
    sample_size : int
        Frames of one network input window.
    rng : np.random.Generator
        Random state for spikes, windows and chunks.
    """

    def __init__(self, opened, config: SortedSampleConfig, label_snr: float, target_iqr: float,
                 sample_size: int, rng: np.random.Generator):
        self.name = opened.name
        self.recording, self.sorting = opened.recording, opened.sorting
        self.config, self.label_snr = config, label_snr
        fs = self.recording.get_sampling_frequency()
        if self.recording.get_num_frames() < max(fs, 5 * sample_size):
            raise InputError(f"Recording {self.name} is {self.recording.get_num_frames() / fs:.2f} "
                             "s long; give at least 1 s (for a single recording split in time, "
                             "at least 1 s in each part: see --sorted-val-fraction).")
        self.noise, self.gain = _noise_and_gain(self.recording, target_iqr)
        average, std, nbefore, n_used = _templates(self.recording, self.sorting, config, rng)
        amplitude = np.maximum(-average.min(axis=1), 0.0)  # (units, channels)
        trough = average.argmin(axis=1)
        spread = np.take_along_axis(std, trough[:, None, :], axis=1)[:, 0, :]
        self.snr = snr = amplitude / self.noise[None, :]
        steady = spread <= config.max_std_norm * np.maximum(amplitude, 1e-9)
        self.labelled = (snr >= label_snr) & steady  # (units, channels)
        self.visible = snr >= config.ignore_fraction * label_snr
        self.offsets = trough - nbefore  # trough frame relative to the sorted spike frame
        if not self.labelled.any():
            raise InputError(
                f"No unit of {self.name} has a channel template with a trough of {label_snr} noise "
                f"levels (largest: {float(snr.max()):.1f}); lower --label-snr or give a sorting "
                "with larger units.")
        units, channels = np.nonzero(self.visible)
        self.pool = (average[units, :, channels] * np.float32(self.gain)).astype(np.float32)
        self.pool_trough = trough[units, channels]
        self.pool_label = self.labelled[units, channels]
        self.windows = self._noise_windows(sample_size, rng)
        self.isi_min = max(1, int(round(config.isi_min_ms * fs / 1000.0)))
        self.description = dict(
            opened.description, units_labelled=int(self.labelled.any(axis=1).sum()),
            channel_templates_labelled=int(self.labelled.sum()),
            channel_templates_dont_care=int((self.visible & ~self.labelled).sum()),
            spikes_used_for_templates=n_used, noise_windows=int(len(self.windows)),
            median_noise=round(float(np.median(self.noise)), 4))
        log.info("rtsort.sorted_source", **self.description)

    def _trough_counts(self, start: int, stop: int) -> np.ndarray:
        """Cumulative counts (frames + 1, channels) of visible sorted troughs in [start, stop)."""
        vector = self.sorting.to_spike_vector()
        reach = int(np.abs(self.offsets).max())
        lo, hi = np.searchsorted(vector["sample_index"], [start - reach, stop + reach])
        spikes = vector[lo:hi]
        which, channel = np.nonzero(self.visible[spikes["unit_index"]])
        at = spikes["sample_index"][which] + self.offsets[spikes["unit_index"][which], channel]
        inside = (at >= start) & (at < stop)
        marks = np.zeros((stop - start + 1, self.visible.shape[1]), dtype=np.int32)
        np.add.at(marks, (at[inside] - start + 1, channel[inside]), 1)
        return np.cumsum(marks, axis=0)

    def _noise_windows(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Up to ``max_noise_windows`` single-channel windows without a visible sorted spike."""
        fs = self.recording.get_sampling_frequency()
        pad = int(round(self.config.pad_ms * fs / 1000.0))
        n_frames = self.recording.get_num_frames()
        chunk = min(n_frames, max(size, int(self.config.noise_chunk_s * fs)))
        n_chunks = max(1, min(n_frames // chunk, 64))
        starts = np.sort(rng.choice(n_frames - chunk + 1, size=min(n_chunks, n_frames - chunk + 1),
                                    replace=False))
        per_chunk = int(np.ceil(self.config.max_noise_windows / len(starts)))
        windows = []
        for start in (int(s) for s in starts):
            traces = _traces(self.recording, start, start + chunk) * np.float32(self.gain)
            counts = self._trough_counts(start - pad, start + chunk + pad)
            span = size + 2 * pad  # a window at f must have no trough in [f - pad, f + size + pad)
            free = (counts[span:] - counts[:-span]) == 0  # (chunk - size + 1, channels)
            first, channel = np.nonzero(free)
            if first.size == 0:
                continue
            pick = rng.choice(first.size, size=min(per_chunk, first.size), replace=False)
            windows.extend(traces[f:f + size, c] for f, c in zip(first[pick], channel[pick]))
        if not windows:
            raise InputError(f"Recording {self.name} has no {size}-frame stretch free of sorted "
                             "spikes on any channel; give a longer recording.")
        return np.stack(windows)[: self.config.max_noise_windows]

    def window(self, rng: np.random.Generator, positive: bool, n_outputs: int, rf: int):
        """One sample: (input window, per-output-frame codes 0 / 1 = spike / 2 = don't care)."""
        front = (rf - 1) // 2
        x = self.windows[rng.integers(len(self.windows))].copy()
        codes = np.zeros(n_outputs, dtype=np.uint8)
        k = 0
        if positive:
            probs = np.asarray(N_TEMPLATE_PROBS[1:]) / sum(N_TEMPLATE_PROBS[1:])
            k = 1 + int(rng.choice(len(probs), p=probs))
        placed: list[int] = []
        for _ in range(k):
            frame = int(rng.integers(n_outputs))
            if any(abs(frame - p) <= self.isi_min for p in placed):  # more than 0.2 ms apart
                continue
            placed.append(frame)
            index = int(rng.integers(len(self.pool)))
            template, trough = self.pool[index], int(self.pool_trough[index])
            first = front + frame - trough  # input frame of the template's first frame
            lo, hi = max(0, first), min(x.size, first + template.size)
            x[lo:hi] += template[lo - first:hi - first]
            if self.pool_label[index]:
                codes[frame] = 1
            else:
                near = np.arange(max(0, frame - 2), min(n_outputs, frame + 3))
                codes[near[codes[near] == 0]] = 2
        return x - np.median(x), codes

    def curve_data(self, seconds: float):
        """A stretch of at most ``seconds`` and its per-channel labels, for the threshold curve."""
        fs = self.recording.get_sampling_frequency()
        n_channels = self.recording.get_num_channels()  # logits + inputs: 8 bytes a value
        n_frames = min(self.recording.get_num_frames(), int(seconds * fs),
                       max(int(fs), int(MAX_CURVE_VALUES / n_channels)))
        recording = self.recording.frame_slice(0, n_frames)
        vector = self.sorting.to_spike_vector()
        vector = vector[vector["sample_index"] < n_frames]
        frames, ignore = [], []
        for channel in range(self.visible.shape[1]):
            at = vector["sample_index"] + self.offsets[vector["unit_index"], channel]
            inside = (at >= 0) & (at < n_frames)
            keep = self.labelled[vector["unit_index"], channel]
            soft = self.visible[vector["unit_index"], channel] & ~keep
            frames.append(np.sort(at[inside & keep]))
            ignore.append(np.sort(at[inside & soft]))
        return recording, ChannelLabels(frames, ignore, np.argmax(self.snr, axis=1))


def build_sorted_sources(train_items, val_items, sampling_frequency: float, label_snr: float,
                         target_iqr: float, sample_size: int, config: SortedSampleConfig,
                         rng: np.random.Generator):
    """Training and validation sources from the user's sorted recordings.

    Parameters
    ----------
    train_items : sequence of SortedRecording
        Recordings to train on.
    val_items : sequence of SortedRecording
        Held-out recordings to validate on. When empty, the last of several ``train_items`` is held
        out, or a single one is split in time (its last ``config.val_fraction`` validates).
    sampling_frequency : float
        The model's rate; every recording must match it.
    label_snr, target_iqr : float
        Label threshold (noise levels) and input scaling of the model.
    sample_size : int
        Frames of one network input window.
    config : SortedSampleConfig
        Sample settings.
    rng : np.random.Generator
        Random state.

    Returns
    -------
    train, val : list of SortedSource
        The sources.
    """
    from .sorted_inputs import open_sorted_recording, time_split

    def prepared(item):
        opened = open_sorted_recording(item, sampling_frequency)
        if config.bandpass:
            opened = attrs.evolve(opened, recording=bandpass(opened.recording))
        return opened

    train = [prepared(item) for item in train_items]
    val = [prepared(item) for item in val_items]
    if train and not val:
        if len(train) > 1:
            val = [train.pop()]
        else:
            train[0], held_out = time_split(train[0], config.val_fraction)
            val = [held_out]
    for role, group in (("train", train), ("validation", val)):
        for opened in group:
            opened.description["role"] = role
    return ([SortedSource(o, config, label_snr, target_iqr, sample_size, rng) for o in train],
            [SortedSource(o, config, label_snr, target_iqr, sample_size, rng) for o in val])
