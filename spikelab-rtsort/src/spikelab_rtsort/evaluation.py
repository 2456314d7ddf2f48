"""Detection precision / recall against per-channel labels, and threshold selection."""

from __future__ import annotations

import attrs
import numpy as np

from .inference import find_peaks
from .model import logit
from .synthetic import ChannelLabels


@attrs.frozen
class DetectionScore:
    """Detection quality at one probability threshold."""

    threshold: float
    precision: float
    recall: float
    n_detections: int
    n_labels: int

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 0.0 if total == 0 else 2 * self.precision * self.recall / total


def _near(query: np.ndarray, reference: np.ndarray, tolerance: int) -> np.ndarray:
    """For each query frame, whether a reference frame lies within ``tolerance`` frames."""
    if reference.size == 0 or query.size == 0:
        return np.zeros(query.size, dtype=bool)
    idx = np.clip(np.searchsorted(reference, query), 1, reference.size - 1)
    dist = np.minimum(np.abs(reference[idx] - query), np.abs(reference[idx - 1] - query))
    if reference.size == 1:
        dist = np.abs(reference[0] - query)
    return dist <= tolerance


def score_detections(logits: np.ndarray, labels: ChannelLabels, threshold: float,
                     tolerance: int = 8, valid: slice | None = None) -> DetectionScore:
    """Precision and recall of per-channel logit peaks against ground-truth labels.

    Parameters
    ----------
    logits : np.ndarray
        (frames, channels) logits.
    labels : ChannelLabels
        Ground-truth labels.
    threshold : float
        Probability threshold.
    tolerance : int, default: 8
        Matching tolerance in frames (8 frames = 0.4 ms at 20 kHz).
    valid : slice or None, default: None
        Frame range to score (defaults to everything with network output).

    Returns
    -------
    score : DetectionScore
        Precision = fraction of detections near a label; recall = fraction of labels near a
        detection. Detections near a "don't care" spike and no label are not counted.
    """
    n_frames = logits.shape[0]
    lo, hi = (0, n_frames) if valid is None else (valid.start or 0, valid.stop or n_frames)
    frames, channels = find_peaks(logits[lo:hi], logit(threshold))
    frames = frames + lo
    tp_det = n_det = tp_lab = n_lab = 0
    order = np.argsort(channels, kind="stable")
    frames, channels = frames[order], channels[order]
    bounds = np.searchsorted(channels, np.arange(logits.shape[1] + 1))
    for channel in range(logits.shape[1]):
        det = frames[bounds[channel]:bounds[channel + 1]]
        lab = labels.frames[channel]
        lab = lab[(lab >= lo + 50) & (lab < hi - 50)]
        det = det[(det >= lo + 50) & (det < hi - 50)]
        hit = _near(det, lab, tolerance)
        dont_care = ~hit & _near(det, labels.ignore_frames[channel], tolerance)
        tp_det += int(hit.sum())
        n_det += int(det.size - dont_care.sum())
        tp_lab += int(_near(lab, det, tolerance).sum())
        n_lab += int(lab.size)
    precision = tp_det / n_det if n_det else 0.0
    recall = tp_lab / n_lab if n_lab else 0.0
    return DetectionScore(float(threshold), precision, recall, n_det, n_lab)


def threshold_curve(logits, labels, thresholds=None, tolerance: int = 8) -> list[DetectionScore]:
    """Scores over a grid of probability thresholds (2.5 % steps by default)."""
    if thresholds is None:
        thresholds = np.arange(0.025, 0.951, 0.025)
    return [score_detections(logits, labels, float(t), tolerance) for t in thresholds]


def pick_thresholds(curve: list[DetectionScore], loose_gap: float = 0.15,
                    min_loose: float = 0.05) -> tuple[float, float]:
    """Stringent threshold = best F1; loose = at or below it (and at least ``min_loose``), where
    recall - precision is closest to ``loose_gap``."""
    best = max(curve, key=lambda s: (s.f1, s.threshold))
    below = [s for s in curve if min(min_loose, best.threshold) <= s.threshold <= best.threshold]
    loose = min(below, key=lambda s: abs((s.recall - s.precision) - loose_gap))
    return best.threshold, loose.threshold
