"""Merging duplicate units: the same neuron picked up twice on nearby electrodes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.spikedata.errors import MissingWaveformDataError, SpikeDataError
from spikelab.spikedata.metrics import ISI_TOLERANCE_MS

if TYPE_CHECKING:
    from spikelab.spikedata.spikedata import SpikeData

log = structlog.get_logger("spikelab.spikedata")


def curate_by_merge_duplicates(
    sd: SpikeData,
    dist_um: float = 24.8,
    max_violation_rate: float = 0.04,
    isi_threshold_ms: float = 1.5,
    cosine_threshold: float = 0.5,
    max_lag: int = 10,
    delta_ms: float = 0.4,
    max_isi_increase: float = 0.04,
    min_coincidence: float = 0.1,
) -> tuple[SpikeData, dict[str, np.ndarray]]:
    """Merge pairs of nearby units with similar waveforms, most similar pair first.

    1. Candidate pairs: units at most ``dist_um`` apart (``sd.unit_locations``), both with an
       ISI violation fraction (ISIs < ``isi_threshold_ms`` over spikes) of at most
       ``max_violation_rate``.
    2. Similarity: the largest cosine similarity of the two units' templates (all channels, from
       ``template``; ``avg_waveform`` when templates are missing) over shifts of up to
       ``max_lag`` samples; a best shift at the edge of that range counts as 0.
    3. Pairs with similarity >= ``cosine_threshold`` are merged greedily, most similar first,
       chains allowed (A+B, then AB+C). The unit with more spikes absorbs the other; the
       absorbed train is shifted by the template lag, and its spikes within ``delta_ms`` of an
       absorbing spike are dropped as duplicates. A merge is refused when the merged ISI
       violation fraction exceeds the larger of the two by more than ``max_isi_increase``.
    4. A merge is also refused when fewer than ``min_coincidence`` of the smaller unit's spikes
       fall within ``delta_ms`` of the other's: a duplicate of the same neuron seen on a nearby
       electrode shares its spikes, while two neighbouring neurons with similar waveforms
       coincide only by chance (about ``2 * delta_ms * rate``, under 2 % at 20 Hz). Set it to 0
       to merge on waveform similarity and ISI alone, as the older SpikeLab did.

    ``max_violation_rate``, ``max_isi_increase`` and ``min_coincidence`` are fractions
    (0.04 means 4 %).

    Parameters
    ----------
    sd : SpikeData
        Needs positions (``x``/``y``, ``position``, or ``channel`` + ``metadata["channel_locations"]``)
        and ``template`` or ``avg_waveform`` per unit, or ``raw_data`` to compute them.
    dist_um, max_violation_rate, isi_threshold_ms, cosine_threshold, max_lag, delta_ms, max_isi_increase, \
    min_coincidence
        See above.

    Returns
    -------
    sd_merged : SpikeData
        The kept units (in their original order) with merged trains; each carries
        ``merged_from`` (unit ids it absorbed) and ``n_duplicates_removed``.
    result : dict
        ``metric`` (N,): similarity to the partner of its merge (0 if not merged);
        ``passed`` (N,): False for absorbed units; ``merged_into`` (N,): index of the
        absorbing unit, -1 for kept units.
    """
    if min(cosine_threshold, dist_um, max_lag, delta_ms, min_coincidence) < 0:
        raise SpikeDataError("dist_um, cosine_threshold, max_lag, delta_ms and min_coincidence must be >= 0.")
    n = sd.N
    metric, merged_into = np.zeros(n), np.full(n, -1)
    if n < 2:
        return sd.subset(np.arange(n)), {"metric": metric, "passed": np.ones(n, bool), "merged_into": merged_into}
    sd, waves = _waveforms(sd)  # first: computing waveforms also gives each unit its primary channel
    positions = sd.unit_locations
    fraction = _isi_fraction(sd.train, isi_threshold_ms)
    distance = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    eligible = fraction <= max_violation_rate
    pairs = []
    for i, j in zip(*np.nonzero(np.triu(distance <= dist_um, k=1))):
        if eligible[i] and eligible[j] and waves[i] is not None and waves[j] is not None:
            similarity, lag = lagged_cosine(waves[i], waves[j], max_lag)
            if similarity >= cosine_threshold:
                pairs.append((similarity, int(i), int(j), lag))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))

    fs = sd.fs_Hz
    group = np.arange(n)  # group representative (primary) of every unit
    offset_ms = np.zeros(n)  # shift that brings a unit's times onto its primary's clock
    trains = {i: t for i, t in enumerate(sd.train)}
    removed = np.zeros(n, dtype=np.int64)
    end = sd.start_time + sd.length
    for similarity, i, j, lag in pairs:
        gi, gj = group[i], group[j]
        if gi == gj:
            continue
        if lag and not fs:
            raise SpikeDataError("Merging needs metadata['fs_Hz'] to convert template lags to ms.")
        shift_ij = lag * 1000.0 / fs if lag else 0.0  # j's times + shift align with i's
        if len(trains[gi]) >= len(trains[gj]):
            primary, secondary, shift = gi, gj, shift_ij + offset_ms[i] - offset_ms[j]
        else:
            primary, secondary, shift = gj, gi, -shift_ij + offset_ms[j] - offset_ms[i]
        moved = np.clip(trains[secondary] + shift, sd.start_time, end)
        merged, dropped = _merge_trains(trains[primary], moved, delta_ms)
        if dropped < min_coincidence * min(len(trains[primary]), len(moved)):
            continue
        before = max(_isi_fraction([trains[primary]], isi_threshold_ms)[0], _isi_fraction([moved], isi_threshold_ms)[0])
        if _isi_fraction([merged], isi_threshold_ms)[0] - before > max_isi_increase:
            continue
        members = np.flatnonzero(group == secondary)
        offset_ms[members] += shift
        group[members] = primary
        trains[primary] = merged
        removed[primary] += removed[secondary] + dropped
        for unit in (i, j):
            metric[unit] = max(metric[unit], similarity)
    keep = np.flatnonzero(group == np.arange(n))
    merged_into[group != np.arange(n)] = group[group != np.arange(n)]
    ids = sd.unit_ids
    out = sd.subset(keep)
    out.train = [trains[k] for k in keep]
    for attrs, k in zip(out.neuron_attributes, keep):
        absorbed = np.flatnonzero((group == k) & (np.arange(n) != k))
        attrs["merged_from"] = [ids[a].item() if hasattr(ids[a], "item") else ids[a] for a in absorbed]
        attrs["n_duplicates_removed"] = int(removed[k])
    log.info("duplicates_merged", units=n, kept=len(keep), candidate_pairs=len(pairs))
    return out, {"metric": metric, "passed": group == np.arange(n), "merged_into": merged_into}


def lagged_cosine(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Best cosine similarity of ``a[..., t]`` and ``b[..., t + lag]`` over ``|lag| <= max_lag``.

    Returns ``(similarity, lag)``; the similarity is 0 when the best lag is at the edge of the
    range (the true optimum may lie beyond it).
    """
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.shape != b.shape:
        raise SpikeDataError(f"Waveforms to compare have different shapes {a.shape} and {b.shape}.")
    width = a.shape[-1]
    best, best_lag = -np.inf, 0
    for lag in range(-min(max_lag, width - 1), min(max_lag, width - 1) + 1):
        x = a[:, max(0, -lag) : width - max(0, lag)]
        y = b[:, max(0, lag) : width - max(0, -lag)]
        norm = np.sqrt(np.sum(x * x) * np.sum(y * y))
        value = float(np.sum(x * y) / norm) if norm > 0 else 0.0
        if value > best:
            best, best_lag = value, lag
    if max_lag > 0 and abs(best_lag) == max_lag:
        return 0.0, best_lag
    return best, best_lag


def _waveforms(sd: SpikeData) -> tuple[SpikeData, list[np.ndarray | None]]:
    attributes = sd.neuron_attributes
    if not all(a.get("template") is not None or a.get("avg_waveform") is not None for a in attributes):
        if not sd.has_raw_data:
            raise MissingWaveformDataError(
                "template", "Merging compares unit waveforms: units need 'template' or 'avg_waveform'."
            )
        from spikelab.spikedata.waveforms import compute_waveform_metrics

        sd = compute_waveform_metrics(sd)[0]
        attributes = sd.neuron_attributes
    key = "template" if all(a.get("template") is not None for a in attributes) else "avg_waveform"
    waves: list[Any] = [None if a.get(key) is None else np.asarray(a[key], dtype=np.float64) for a in attributes]
    return sd, waves


def _isi_fraction(trains: list[np.ndarray], threshold_ms: float) -> np.ndarray:
    """Fraction of spikes following the previous one by less than ``threshold_ms``."""
    limit = threshold_ms - ISI_TOLERANCE_MS
    return np.array([np.count_nonzero(np.diff(t) < limit) / max(len(t), 1) for t in trains])


def _merge_trains(primary: np.ndarray, secondary: np.ndarray, delta_ms: float) -> tuple[np.ndarray, int]:
    """Union of two trains without the secondary spikes within ``delta_ms`` of a primary one."""
    if primary.size == 0 or secondary.size == 0:
        return np.sort(np.concatenate([primary, secondary])), 0
    pos = np.searchsorted(primary, secondary)
    left = np.abs(secondary - primary[np.clip(pos - 1, 0, primary.size - 1)])
    right = np.abs(primary[np.clip(pos, 0, primary.size - 1)] - secondary)
    duplicate = np.minimum(left, right) <= delta_ms
    return np.sort(np.concatenate([primary, secondary[~duplicate]])), int(duplicate.sum())
