"""A lazy SpikeInterface recording with stimulation artifacts removed.

:func:`preprocess_stim_artifacts` recentres the stim times once (reading only a window
around each event), estimates each channel's noise once, and returns a
:class:`StimArtifactRemovedRecording`. Its segment cleans only the chunk a caller asks
for, plus the margins the events touching that chunk need, so any sorter (or
``recording.save``) can stream through a recording longer than memory. Every chunk equals
the same samples of a whole-array :func:`remove_stim_artifacts` run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import structlog
from spikeinterface.core import BaseRecording, load
from spikeinterface.preprocessing.basepreprocessor import BasePreprocessor, BasePreprocessorSegment

from spikelab.atomic import atomic_folder
from spikelab_stim import _engine
from spikelab_stim._engine import make_engine_params
from spikelab_stim._validation import check_stim_times
from spikelab_stim.artifact_removal import check_noise_levels
from spikelab_stim.params import REMOVAL_OPTIONS, stim_params
from spikelab_stim.recentering import build_report, make_align_params, recenter_with_reader

log = structlog.get_logger(__name__)

__all__ = ["StimArtifactRemovedRecording", "preprocess_stim_artifacts"]

def _check_recording(recording, name="recording"):
    if not isinstance(recording, BaseRecording):
        raise TypeError(
            f"`{name}` must be a SpikeInterface BaseRecording; got {type(recording).__name__}. "
            "For a numpy array use `remove_stim_artifacts` or wrap it with `spikeinterface.core.NumpyRecording`."
        )
    if recording.get_num_segments() != 1:
        raise ValueError(
            f"`{name}` has {recording.get_num_segments()} segments; stim artifact removal needs one. "
            "Split it with `recording.select_segments([i])` and process each segment."
        )
    if recording.get_num_samples(0) == 0 or recording.get_num_channels() == 0:
        raise ValueError(f"`{name}` is empty (no samples or no channels).")


def _read(recording, start, end, channel_indices=None):
    """(channels, samples) float32 traces of ``recording`` (segment 0)."""
    traces = recording.get_traces(segment_index=0, start_frame=start, end_frame=end, channel_ids=None
                                  if channel_indices is None else recording.channel_ids[channel_indices])
    return np.asarray(traces, dtype=np.float32).T


def _gather_from(recording, n_samples):
    """A ``gather_fn`` for :func:`_engine.estimate_noise` that reads only the windows."""
    def gather_fn(starts, width):
        out = []
        for a in starts:
            lo, hi = max(0, int(a)), min(n_samples, int(a) + width)
            block = _read(recording, lo, hi)
            out.append(np.pad(block, ((0, 0), (lo - int(a), int(a) + width - hi)), mode="edge"))
        return np.stack(out, axis=1)
    return gather_fn


class StimArtifactRemovedRecording(BasePreprocessor):
    """Recording whose traces have stimulation artifacts removed, computed chunk by chunk.

    Parameters
    ----------
    recording : BaseRecording
        Single-segment recording to clean.
    stim_times_ms : array-like
        Stim times in ms (already recentred), non-decreasing.
    noise_levels : array-like
        Per-channel noise SD in trace units (one value per channel of ``recording``).
    raw_recording : BaseRecording or None, default: None
        Unfiltered version of ``recording`` used to find saturation (flat rail runs).
    **options
        Removal options of :func:`remove_stim_artifacts` (``method``, ``artifact_window_ms``,
        ``poly_order``, ``saturation_threshold``, ``baseline_threshold``, ``pre_blank_ms``,
        ``min_blank_ms``, ``fit_half_width_ms``, ``min_flat_samples``, ``blank_fill``).
    """

    def __init__(self, recording, stim_times_ms, noise_levels, raw_recording=None, **options):
        _check_recording(recording)
        if raw_recording is not None:
            _check_recording(raw_recording, "raw_recording")
        opts = stim_params("StimArtifactRemovedRecording", options, allowed=REMOVAL_OPTIONS).removal_options()
        fs = recording.get_sampling_frequency()
        times = check_stim_times(stim_times_ms, recording.get_num_samples(0), fs)
        sigma = check_noise_levels(noise_levels, recording.get_num_channels())
        params = make_engine_params(fs, **opts)
        BasePreprocessor.__init__(self, recording, dtype="float32")
        raw_segment = None if raw_recording is None else raw_recording._recording_segments[0]
        self.add_recording_segment(
            StimArtifactRemovedSegment(recording._recording_segments[0], raw_segment, times, fs, sigma, params)
        )
        self._kwargs = dict(
            recording=recording, stim_times_ms=times.tolist(), noise_levels=sigma.tolist(),
            raw_recording=raw_recording, **opts,
        )


class StimArtifactRemovedSegment(BasePreprocessorSegment):
    """Segment that cleans the requested frames plus the margins of the events touching them."""

    def __init__(self, parent_segment, raw_segment, stim_times_ms, fs, sigma, params):
        BasePreprocessorSegment.__init__(self, parent_segment)
        self.raw_segment = raw_segment
        self.params = params
        self.sigma = sigma
        self.onsets = np.round(np.asarray(stim_times_ms) * fs / 1000.0).astype(np.int64)
        self.group_onsets, self.gaps = _engine.burst_layout(self.onsets, params)

    def get_traces(self, start_frame, end_frame, channel_indices):
        n = self.get_num_samples()
        start = 0 if start_frame is None else int(start_frame)
        end = n if end_frame is None else int(end_frame)
        cleaned, _ = self.clean_range(start, end, channel_indices)
        return cleaned.T

    def clean_range(self, start, end, channel_indices=None):
        """Cleaned (channels, samples) float32 traces and blanked mask for frames [start, end)."""
        n = self.get_num_samples()
        chans = slice(None) if channel_indices is None else channel_indices
        p = self.params
        region_start = self.onsets - p.pre
        hit = np.flatnonzero((region_start < end) & (region_start + p.span > start))
        if hit.size:
            lo = max(0, min(start, int(self.group_onsets[hit].min()) - p.pre - p.baseline))
            hi = min(n, max(end, int(region_start[hit].max()) + p.span))
        else:
            lo, hi = start, end
        traces = np.asarray(self.parent_recording_segment.get_traces(lo, hi, chans), dtype=np.float32).T
        cleaned = traces.copy()
        mask = np.zeros(traces.shape, dtype=bool)
        if hit.size:
            raw = None
            if self.raw_segment is not None:
                raw = np.asarray(self.raw_segment.get_traces(lo, hi, chans), dtype=np.float32).T
            sigma = self.sigma if channel_indices is None else self.sigma[channel_indices]
            _engine.clean(
                traces, self.onsets[hit] - lo, p, np.ascontiguousarray(sigma), raw=raw, out=cleaned, mask=mask,
                group_onsets=self.group_onsets[hit] - lo, gaps=self.gaps[hit],
            )
        return cleaned[:, start - lo : end - lo], mask[:, start - lo : end - lo]


def preprocess_stim_artifacts(
    recording,
    stim_times_ms,
    output_path=None,
    *,
    params=None,
    raw_recording=None,
    noise_levels=None,
    compute_blanked_fraction=True,
    job_kwargs=None,
    **options,
):
    """Recenter stim times and return a lazily cleaned recording that any sorter can read.

    Parameters
    ----------
    recording : BaseRecording
        Single-segment SpikeInterface recording with the stimulation artifacts.
    stim_times_ms : array-like
        Logged stim times in ms, non-decreasing.
    output_path : str or Path or None, default: None
        If given, the cleaned recording is written there as a SpikeInterface binary folder
        (to a temporary name first, then renamed) and the saved recording is returned.
    params : StimParams or None, default: None
        Recentring and removal options declared beforehand; ``**options`` override them.
    raw_recording : BaseRecording or None, default: None
        Unfiltered version of ``recording`` for saturation detection, if ``recording`` is filtered.
    noise_levels : array-like or None, default: None
        Per-channel noise SD; estimated from the pre-stimulus windows when None.
    compute_blanked_fraction : bool, default: True
        Clean the event neighbourhoods once now to report the blanked fractions.
    job_kwargs : dict or None, default: None
        SpikeInterface job kwargs (``n_jobs``, ``chunk_duration``, ``progress_bar``) for saving.
    **options
        Any option of :class:`~spikelab_stim.params.StimParams`: ``recenter``, ``max_offset_ms``,
        ``peak_mode``, the ``multi_peak_*`` options and the removal options of
        :func:`remove_stim_artifacts` (``method``, ``artifact_window_ms``, ...). Thresholds are in
        the recording's stored units (what ``get_traces()`` returns; the output keeps the parent's
        gains and offsets).

    Returns
    -------
    recording : StimArtifactRemovedRecording or BaseRecording
        Lazy cleaned recording (float32), or the saved one when ``output_path`` is given.
    metadata : dict
        ``stim_times_ms_logged``, ``stim_times_ms_corrected``, ``recenter_offsets_ms``,
        ``recenter_moved_indices``, ``noise_levels``, ``blanked_fraction`` and
        ``blanked_fraction_per_channel`` (None when not computed).
    """
    _check_recording(recording)
    fs = recording.get_sampling_frequency()
    n_samples = recording.get_num_samples(0)
    logged = check_stim_times(stim_times_ms, n_samples, fs)
    stim = stim_params("preprocess_stim_artifacts", options, params=params)
    opts = stim.removal_options()
    engine = make_engine_params(fs, **opts)
    if stim.recenter and logged.size:
        align = make_align_params(fs, stim)
        source = recording if raw_recording is None else raw_recording
        corrected = recenter_with_reader(lambda a, b: _read(source, a, b), n_samples, fs, logged,
                                         stim.max_offset_ms, align)
        report = build_report(logged, corrected, stim.warn_offset_ms, stim.peak_mode)
        moved = report.moved_indices
    else:
        corrected, moved = logged.copy(), np.zeros(0, dtype=int)
    offsets = corrected - logged
    corrected = np.sort(corrected)  # recentring can swap events that were logged close together
    onsets = np.round(corrected * fs / 1000.0).astype(np.int64)
    sigma = check_noise_levels(noise_levels, recording.get_num_channels())
    if sigma is None:
        sigma = _engine.estimate_noise(_gather_from(recording, n_samples), recording.get_num_channels(),
                                       n_samples, onsets, engine)
    cleaned = StimArtifactRemovedRecording(recording, corrected, sigma, raw_recording=raw_recording, **opts)
    metadata = {
        "stim_times_ms_logged": logged,
        "stim_times_ms_corrected": corrected,
        "recenter_offsets_ms": offsets,
        "recenter_moved_indices": moved,
        "noise_levels": sigma,
        "blanked_fraction": None,
        "blanked_fraction_per_channel": None,
    }
    if compute_blanked_fraction:
        per_channel = _blanked_per_channel(cleaned._recording_segments[0], onsets, engine, n_samples)
        metadata["blanked_fraction_per_channel"] = per_channel
        metadata["blanked_fraction"] = float(per_channel.mean())
    log.info("stim_preprocess", n_events=int(logged.size), recenter=stim.recenter, peak_mode=stim.peak_mode,
             multi_peak=stim.multi_peak, blanked_fraction=metadata["blanked_fraction"])
    if output_path is not None:
        cleaned = _save_atomically(cleaned, Path(output_path), job_kwargs or {})
    return cleaned, metadata


def _blanked_per_channel(segment, onsets, p, n_samples):
    """Fraction of samples blanked per channel, cleaning only the event neighbourhoods."""
    if onsets.size == 0:
        return np.zeros(segment.sigma.size)
    starts = np.maximum(0, onsets - p.pre)
    ends = np.minimum(n_samples, onsets - p.pre + p.span)
    # Merge overlapping event regions into disjoint ranges.
    breaks = np.flatnonzero(starts[1:] >= np.maximum.accumulate(ends)[:-1]) + 1
    counts = np.zeros(segment.sigma.size)
    for a, b in zip(np.split(starts, breaks), np.split(ends, breaks)):
        _, mask = segment.clean_range(int(a[0]), int(b.max()))
        counts += mask.sum(axis=1)
    return counts / n_samples


def _save_atomically(recording, folder: Path, job_kwargs):
    """Save ``recording`` as a binary folder under a staging name, renamed into place when whole."""
    if folder.exists():
        raise FileExistsError(f"`output_path` {folder} already exists; choose a new folder or delete it.")
    with atomic_folder(folder) as staging:
        recording.save(folder=staging, format="binary", overwrite=True, **job_kwargs)
    return load(folder)
