"""Training the detection network on generated ground truth and on the user's sorted recordings.

Samples are 10 ms single-channel windows cut from SpikeInterface-generated MEA-like recordings,
half of them placed so that a labelled spike trough falls inside the scored central region and half
at random, and/or windows of spike-free noise of a sorted recording with 0-4 of its unit templates
pasted in (:mod:`.sorted_samples`); sources are mixed sample by sample. Targets are multi-hot per
output frame; frames near spikes just under the label threshold are masked out of the loss.
The loss is binary cross-entropy summed over output frames. Training uses Adam, reduces the
learning rate on plateaus, stops early on the validation loss, restores the
best weights, then picks the stringent and loose thresholds from the validation threshold curve and
writes a model folder with full provenance.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import attrs
import numpy as np
import structlog
import torch
from torch import nn

from spikelab.errors import InputError

from .evaluation import pick_thresholds, threshold_curve
from .inference import detect_recording
from .model import DetectionModel, DetectionNet
from .runner import bandpass
from .sorted_samples import SortedSampleConfig, build_sorted_sources
from .synthetic import channel_labels, generate_mea_recording

log = structlog.get_logger(__name__)


@attrs.frozen
class TrainingConfig:
    """Everything that determines a trained model (recorded in its ``init_dict.json``)."""

    seed: int = 0
    n_train_recordings: int = 6
    n_val_recordings: int = 2
    duration_s: float = 20.0
    num_units: int = 16
    noise_level_range: tuple = (3.0, 8.0)
    pitch_range_um: tuple = (15.0, 20.0)
    firing_rate: float = 10.0
    sampling_frequency: float = 20000.0
    label_snr: float = 4.0
    filtered_every: int = 2
    hidden: int = 16
    kernel_size: int = 11
    dilations: tuple = (1, 2, 4, 1)
    n_outputs: int = 120
    target_iqr: float = 2.0
    batch_size: int = 128
    samples_per_epoch: int = 60000
    val_samples: int = 20000
    positive_fraction: float = 0.5
    learning_rate: float = 2e-3
    max_epochs: int = 15
    patience: int = 5
    max_minutes: float = 30.0
    threads: int = 1


class _Source:
    """Scaled traces and a label map (1 = spike, 2 = don't care) of one generated recording."""

    def __init__(self, traces: np.ndarray, label_map: np.ndarray, positives: np.ndarray):
        self.traces = traces
        self.label_map = label_map
        self.positives = positives  # (n, 2) frame, channel

    def window(self, rng: np.random.Generator, positive: bool, n_outputs: int, rf: int):
        """One sample: (input window, per-output-frame codes 0 / 1 = spike / 2 = don't care)."""
        size = n_outputs + rf - 1
        front = (rf - 1) // 2
        n_frames, n_channels = self.traces.shape
        if positive and len(self.positives):
            frame, channel = self.positives[rng.integers(len(self.positives))]
            start = int(frame) - front - int(rng.integers(n_outputs))
        else:
            channel = int(rng.integers(n_channels))
            start = int(rng.integers(n_frames - size))
        start = min(max(start, 0), n_frames - size)
        window = self.traces[start:start + size, channel]
        return window - np.median(window), \
            self.label_map[start + front:start + front + n_outputs, channel]


def _make_source(config: TrainingConfig, seed: int, rng: np.random.Generator, filtered: bool):
    noise = float(rng.uniform(*config.noise_level_range))
    pitch = float(rng.uniform(*config.pitch_range_um))
    recording, sorting = generate_mea_recording(
        duration_s=config.duration_s, num_units=config.num_units, seed=seed, noise_level=noise,
        pitch_um=pitch, firing_rate=config.firing_rate,
        sampling_frequency=config.sampling_frequency)
    labels = channel_labels(recording, sorting, noise_level=noise, label_snr=config.label_snr)
    if filtered:  # zero-phase 300-6000 Hz band-pass: troughs stay where they were
        recording = bandpass(recording)
    traces = np.asarray(recording.get_traces(), dtype=np.float32)
    q75, q25 = np.percentile(traces[: int(2 * config.sampling_frequency)], [75, 25], axis=0)
    traces *= np.float32(config.target_iqr / np.median(q75 - q25))
    label_map = np.zeros(traces.shape, dtype=np.uint8)
    for channel, frames in enumerate(labels.ignore_frames):
        for shift in range(-2, 3):
            label_map[np.clip(frames + shift, 0, traces.shape[0] - 1), channel] = 2
    positives = []
    for channel, frames in enumerate(labels.frames):
        label_map[frames, channel] = 1
        positives.append(np.stack([frames, np.full_like(frames, channel)], axis=1))
    description = dict(seed=seed, noise_level_uV=round(noise, 3), pitch_um=round(pitch, 3),
                       bandpass_300_6000_hz=filtered,
                       n_labels=int(sum(f.size for f in labels.frames)))
    return _Source(traces, label_map, np.concatenate(positives)), (recording, labels), description


def _draw(sources, n: int, config: TrainingConfig, rng: np.random.Generator, rf: int,
          weights=None):
    """Draw ``n`` (input, target, weight) samples, each from a source chosen at random (with
    probabilities ``weights``, or uniformly)."""
    size = config.n_outputs + rf - 1
    x = np.empty((n, size), dtype=np.float32)
    y = np.empty((n, config.n_outputs), dtype=np.float32)
    which = rng.integers(len(sources), size=n) if weights is None else \
        rng.choice(len(sources), size=n, p=weights)
    positive = rng.random(n) < config.positive_fraction
    for i in range(n):
        x[i], y[i] = sources[which[i]].window(rng, bool(positive[i]), config.n_outputs, rf)
    weight = (y != 2).astype(np.float32)
    return torch.from_numpy(x[:, None, :]), torch.from_numpy((y == 1).astype(np.float32)), \
        torch.from_numpy(weight)


def _mix(n_generated: int, n_sorted: int, sorted_fraction: float):
    """Source probabilities giving sorted sources ``sorted_fraction`` of the samples (None when
    only one kind is present: uniform)."""
    if not n_generated or not n_sorted:
        return None
    return [(1.0 - sorted_fraction) / n_generated] * n_generated + \
        [sorted_fraction / n_sorted] * n_sorted


def _loss(net, x, y, w, criterion):
    return (criterion(net(x), y) * w).sum(dim=1).mean()


def train_detection_model(output_folder, config: TrainingConfig | None = None,
                          command: str | None = None, progress: bool = True,
                          sorted_recordings=(), val_sorted_recordings=(),
                          sorted_config: SortedSampleConfig | None = None) -> DetectionModel:
    """Train a detection model on ground truth and write it to ``output_folder``.

    The ground truth is generated (``config.n_train_recordings`` / ``config.n_val_recordings``
    SpikeInterface recordings; set both to 0 to skip) and/or the user's sorted recordings, whose
    unit templates are pasted into their own spike-free noise (:mod:`.sorted_samples`).

    Parameters
    ----------
    output_folder : str or Path
        Model folder to write (``init_dict.json`` + ``state_dict.pt``).
    config : TrainingConfig or None, default: None
        Training configuration; defaults reproduce the shipped MEA model.
    command : str or None, default: None
        Command line to record as provenance.
    progress : bool, default: True
        Log one event per epoch.
    sorted_recordings : sequence of SortedRecording, default: ()
        Sorted recordings to train on. Without ``val_sorted_recordings`` the last of several is
        held out for validation, or a single one is split in time.
    val_sorted_recordings : sequence of SortedRecording, default: ()
        Sorted recordings held out for validation (loss, early stopping and thresholds).
    sorted_config : SortedSampleConfig or None, default: None
        How samples are built from sorted recordings.

    Returns
    -------
    model : DetectionModel
        The trained model, with thresholds chosen on validation data.
    """
    config = config or TrainingConfig()
    began = time.time()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = DetectionNet(config.hidden, config.kernel_size, config.dilations)
    rf = net.receptive_field
    has_train = config.n_train_recordings > 0 or bool(sorted_recordings)
    has_val = config.n_val_recordings > 0 or bool(sorted_recordings or val_sorted_recordings)
    if not has_train or not has_val:
        raise InputError(
            f"Nothing to {'train' if not has_train else 'validate'} on: keep generated recordings "
            "(--n-train-recordings / --n-val-recordings above 0) or give sorted recordings "
            "(--sorted RECORDING SORTING).")
    # Sorted inputs first (their own random stream), so a bad one fails before data generation.
    sorted_config = sorted_config or SortedSampleConfig()
    sorted_train, sorted_val = [], []
    if sorted_recordings or val_sorted_recordings:
        sorted_train, sorted_val = build_sorted_sources(
            sorted_recordings, val_sorted_recordings, config.sampling_frequency, config.label_snr,
            config.target_iqr, config.n_outputs + rf - 1, sorted_config,
            np.random.default_rng([config.seed, 1]))
    n_total = config.n_train_recordings + config.n_val_recordings
    built = [_make_source(config, config.seed * 1000 + k, rng,
                          filtered=config.filtered_every > 0 and k % config.filtered_every == 1)
             for k in range(n_total)]
    train = [b[0] for b in built[:config.n_train_recordings]]
    val = [b[0] for b in built[config.n_train_recordings:]]
    train_weights = _mix(len(train), len(sorted_train), sorted_config.sorted_fraction)
    val_weights = _mix(len(val), len(sorted_val), sorted_config.sorted_fraction)
    train, val = train + sorted_train, val + sorted_val
    x_val, y_val, w_val = _draw(val, config.val_samples, config, rng, rf, val_weights)
    spike_prob = float(y_val.mean()) or 1e-3
    net.init_weights(spike_prob)
    criterion = nn.BCEWithLogitsLoss(reduction="none")
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.4, patience=3)
    best_loss, best_state, stale, history = np.inf, None, 0, []
    for epoch in range(config.max_epochs):
        net.train()
        x, y, w = _draw(train, config.samples_per_epoch, config, rng, rf, train_weights)
        for first in range(0, len(x), config.batch_size):
            sl = slice(first, first + config.batch_size)
            optimizer.zero_grad()
            loss = _loss(net, x[sl], y[sl], w[sl], criterion)
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            val_loss = float(_loss(net, x_val, y_val, w_val, criterion))
        scheduler.step(val_loss)
        history.append(round(val_loss, 5))
        if progress:
            log.info("rtsort.train_epoch", epoch=epoch, val_loss=val_loss,
                     lr=optimizer.param_groups[0]["lr"], minutes=(time.time() - began) / 60)
        if val_loss < best_loss * 0.995:
            best_loss, stale = val_loss, 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        if stale >= config.patience or (time.time() - began) / 60 > config.max_minutes:
            break
    net.load_state_dict(best_state)
    front = (rf - 1) // 2
    init_dict = dict(
        num_channels_in=1, sample_size=config.n_outputs + rf - 1, buffer_front_sample=front,
        buffer_end_sample=rf - 1 - front, buffer_front_loc=0, buffer_end_loc=0, input_scale=1.0,
        device="cpu", hidden=config.hidden, kernel_size=config.kernel_size,
        dilations=list(config.dilations), target_iqr=config.target_iqr,
        samp_freq_hz=config.sampling_frequency, loc_prob_thresh=27.5, loose_prob_thresh=10.0)
    model = DetectionModel(net, init_dict)
    # Thresholds from the validation threshold curve, on whole validation recordings.
    curve_scores = []
    curve_data = [b[1] for b in built[config.n_train_recordings:]]
    curve_data += [source.curve_data(sorted_config.curve_seconds) for source in sorted_val]
    for recording, labels in curve_data:
        logits, _, _ = detect_recording(model, recording)
        curve_scores.append(threshold_curve(logits, labels))
    curve = [_pool(scores) for scores in zip(*curve_scores)]
    stringent, loose = pick_thresholds(curve)
    best = next(s for s in curve if s.threshold == stringent)
    init_dict.update(
        loc_prob_thresh=round(100 * stringent, 3), loose_prob_thresh=round(100 * loose, 3),
        training=dict(
            command=command or "spikelab rtsort train", seed=config.seed,
            config=attrs.asdict(config), epochs=len(history), val_loss=history,
            best_val_loss=best_loss, minutes=round((time.time() - began) / 60, 2),
            validation=dict(precision=round(best.precision, 4), recall=round(best.recall, 4),
                            f1=round(best.f1, 4), tolerance_frames=8),
            curve=[dict(threshold=round(s.threshold, 3), precision=round(s.precision, 4),
                        recall=round(s.recall, 4)) for s in curve],
            data=_data_record(config, built, sorted_train, sorted_val, sorted_config),
            versions=dict(python=sys.version.split()[0], torch=torch.__version__,
                          machine=platform.machine())))
    model = DetectionModel(net, init_dict)
    model.save(Path(output_folder))
    log.info("rtsort.train_done", folder=str(output_folder), stringent=stringent, loose=loose,
             precision=best.precision, recall=best.recall)
    return model


def _data_record(config, built, sorted_train, sorted_val, sorted_config) -> dict:
    """Provenance of the training data: generated recordings and sorted inputs."""
    data = dict(generator="spikeinterface.core.generate_ground_truth_recording",
                probe="8 x 8 grid, circular contacts r=5 um") if built else {}
    data.update(recordings=[b[2] for b in built], n_train=config.n_train_recordings,
                n_val=config.n_val_recordings)
    if sorted_train or sorted_val:
        data["sorted"] = dict(
            samples="unit templates pasted into spike-free noise of the same recording",
            config=attrs.asdict(sorted_config),
            train=[s.description for s in sorted_train],
            validation=[s.description for s in sorted_val])
    return data


def _pool(scores):
    """Pool per-recording scores at one threshold (weighted by counts)."""
    from .evaluation import DetectionScore

    n_det = sum(s.n_detections for s in scores)
    n_lab = sum(s.n_labels for s in scores)
    precision = sum(s.precision * s.n_detections for s in scores) / n_det if n_det else 0.0
    recall = sum(s.recall * s.n_labels for s in scores) / n_lab if n_lab else 0.0
    return DetectionScore(scores[0].threshold, precision, recall, n_det, n_lab)
