"""``build_spikedata``: a sorting plus its filtered recording to a curation-ready SpikeData."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from spikelab.errors import InputError
from spikelab.spike_sorting.waveforms import _cache
from spikelab.spike_sorting.waveforms._extract import (
    SAMPLE_BLOCK_S,
    accumulate,
    noise_levels,
    sample_spikes,
    unit_summaries,
)

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording, BaseSorting

    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.waveforms")

#: Cap on the raw snippets kept in ``SpikeData.raw_data`` (the per-unit count shrinks to fit).
SNIPPET_BUDGET_BYTES = 256 * 2**20
#: Snippets kept per unit at most (they feed ``compute_waveform_metrics`` and plots, not curation).
MAX_SNIPPETS_PER_UNIT = 100


def build_spikedata(
    recording: BaseRecording,
    sorting: BaseSorting,
    config: SortingPipelineConfig,
    folder: str | Path,
    *,
    rec_chunks_ms: list[tuple[float, float]] | None = None,
    rec_chunk_names: list[str] | None = None,
    progress_bar: bool = True,
) -> SpikeData:
    """Extract waveforms chunk by chunk and build the SpikeData curation needs.

    Parameters
    ----------
    recording : BaseRecording
        The recording the sorter saw (traces in µV, or scaled by its gains). One not
        annotated ``is_filtered`` is band-passed first (``config.recording.freq_min`` to
        ``freq_max``, lazily), as sorters such as Kilosort4 receive raw traces.
    sorting : BaseSorting
        The sorter's output, one segment, frames in ``recording``'s time base.
    config : SortingPipelineConfig
        ``config.waveform`` (window, spikes per unit, chunk length), ``config.execution``
        (``random_seed``, ``reextract_waveforms``).
    folder : str or Path
        Cache folder: ``spikedata.pkl`` is reused when its marker's key
        (sorting, recording, parameters) matches, and written atomically otherwise.
    rec_chunks_ms : list of (float, float), optional
        File boundaries of a concatenated recording; with more than one, every unit also gets
        ``epoch_templates`` and the metadata ``rec_chunks_ms``.
    rec_chunk_names : list of str, optional
        Names of those files (``metadata["rec_chunk_names"]``).
    progress_bar : bool, default: True
        Show a tqdm bar over chunks.

    Returns
    -------
    SpikeData
        Trains in ms; per unit ``unit_id``, ``channel`` (primary, index into the channels),
        ``channel_id``, ``x``/``y`` (µm, the primary channel), ``template`` (channels x
        samples, µV), ``avg_waveform``, ``amplitude``, ``snr``, ``std_norm``,
        ``n_waveform_spikes``, ``epoch_templates`` (several chunks); metadata ``fs_Hz``,
        ``channel_locations``, ``channel_ids``, ``ms_before``, ``ms_after``, ``noise_levels_uv``,
        ``raw_data_filtered``, ``raw_data_snippets``; ``raw_data``/``raw_time`` hold the traces around a sample of each
        unit's spikes (all channels).
    """
    folder = Path(folder)
    wf = config.waveform
    seed = config.execution.random_seed
    recording, band = _ensure_filtered(recording, config)  # before the key: the band is part of it
    key = _cache.cache_key(recording, sorting, wf, seed, rec_chunks_ms, SNIPPET_BUDGET_BYTES)
    if not config.execution.reextract_waveforms:
        cached = _cache.load_cached(folder, key)
        if cached is not None:
            log.info("waveforms_cached", folder=str(folder), units=cached.N)
            return cached
    started = time.perf_counter()
    sd = _build(recording, sorting, wf, seed, rec_chunks_ms, rec_chunk_names, progress_bar)
    sd.metadata["waveform_bandpass_hz"] = band
    _cache.store(folder, key, sd)
    log.info("waveforms_extracted", folder=str(folder), units=sd.N, channels=recording.get_num_channels(),
             seconds=round(time.perf_counter() - started, 3))
    return sd


def _build(
    recording: BaseRecording,
    sorting: BaseSorting,
    wf: Any,
    seed: int,
    rec_chunks_ms: list[tuple[float, float]] | None,
    rec_chunk_names: list[str] | None,
    progress_bar: bool,
) -> SpikeData:
    from spikelab.spikedata import SpikeData

    _check_inputs(recording, sorting)
    fs = float(recording.get_sampling_frequency())
    n_samples = recording.get_num_samples()
    n_channels = recording.get_num_channels()
    nbefore, nafter = int(round(wf.ms_before * fs / 1000)), int(round(wf.ms_after * fs / 1000))
    width = nbefore + nafter
    unit_ids = list(sorting.get_unit_ids())
    n_units = len(unit_ids)
    vector = sorting.to_spike_vector()
    frames, unit_index = vector["sample_index"].astype(np.int64), vector["unit_index"].astype(np.int64)
    inside = (frames >= 0) & (frames < n_samples)
    if not inside.all():  # some sorters report a spike at the very edge; SpikeData refuses those
        log.warning("spikes_outside_recording_dropped", count=int((~inside).sum()), samples=n_samples)
        frames, unit_index = frames[inside], unit_index[inside]
    epoch_bounds = _epoch_bounds(rec_chunks_ms, fs, n_samples)
    n_epochs = len(epoch_bounds) - 1
    per_unit_bytes = max(n_units, 1) * width * n_channels * 4
    n_snippets = int(min(MAX_SNIPPETS_PER_UNIT, wf.max_waveforms_per_unit, SNIPPET_BUDGET_BYTES // per_unit_bytes))
    sampled = sample_spikes(frames, unit_index, n_units, epoch_bounds, n_samples, nbefore, nafter,
                            wf.max_waveforms_per_unit, n_snippets, seed, block_samples=int(round(SAMPLE_BLOCK_S * fs)))
    in_uv = bool(recording.has_scaleable_traces())
    chunk_size = max(int(wf.chunk_duration_s * fs), width)
    stats = accumulate(recording, sampled, n_units, n_units * n_epochs, nbefore, width, chunk_size, in_uv, progress_bar)
    noise = noise_levels(recording, in_uv, seed=seed)
    summaries = unit_summaries(stats, n_units, n_epochs, nbefore)
    locations = np.asarray(recording.get_channel_locations(), dtype=float)[:, :2]
    channel_ids = list(recording.get_channel_ids())
    attributes = [
        _unit_attributes(uid, s, noise, locations, channel_ids) for uid, s in zip(unit_ids, summaries)
    ]
    order = np.argsort(unit_index, kind="stable")
    splits = np.searchsorted(unit_index[order], np.arange(1, n_units))
    trains = [part * 1000.0 / fs for part in np.split(frames[order], splits)] if n_units else []
    metadata: dict[str, Any] = {
        "fs_Hz": fs, "channel_locations": locations, "channel_ids": [_plain(c) for c in channel_ids],
        "ms_before": nbefore * 1000.0 / fs, "ms_after": nafter * 1000.0 / fs, "noise_levels_uv": noise,
        "raw_data_filtered": True, "max_waveforms_per_unit": wf.max_waveforms_per_unit,
        # raw_data holds windows around spikes, not continuous traces: a noise estimate taken
        # from it is biased upwards; noise_levels_uv comes from random stretches of the recording
        "raw_data_snippets": True,
    }
    if rec_chunks_ms is not None and len(rec_chunks_ms) > 1:
        metadata["rec_chunks_ms"] = [tuple(map(float, c)) for c in rec_chunks_ms]
        if rec_chunk_names is not None:
            metadata["rec_chunk_names"] = list(rec_chunk_names)
    electrodes = recording.get_property("electrode")
    if electrodes is not None:
        metadata["electrodes"] = np.asarray(electrodes)
    snippet_time = stats.snippet_frames * 1000.0 / fs
    return SpikeData(
        trains, length=n_samples * 1000.0 / fs, neuron_attributes=attributes, metadata=metadata,
        raw_data=stats.snippet_data if stats.snippet_data.size else None,
        raw_time=snippet_time if stats.snippet_data.size else None,
    )


def _unit_attributes(unit_id: Any, summary: dict[str, Any], noise: np.ndarray, locations: np.ndarray,
                     channel_ids: list[Any]) -> dict[str, Any]:
    template = summary["template"]
    if summary["count"] == 0:
        log.warning("unit_without_waveforms", unit_id=_plain(unit_id))
        # no position: NaN keeps it out of duplicate merging instead of failing it
        return {"unit_id": _plain(unit_id), "x": float("nan"), "y": float("nan"), "template": template,
                "avg_waveform": template[0].copy(),
                "snr": 0.0, "std_norm": float("inf"), "amplitude": 0.0, "n_waveform_spikes": 0}
    channel = summary["channel"]
    amplitude = summary["amplitude"]
    snr = amplitude / noise[channel] if noise[channel] > 0 else (float("inf") if amplitude > 0 else 0.0)
    attributes = {
        "unit_id": _plain(unit_id), "channel": channel, "channel_id": _plain(channel_ids[channel]),
        "x": float(locations[channel, 0]), "y": float(locations[channel, 1]),
        "template": template, "avg_waveform": template[channel].copy(), "amplitude": amplitude,
        "peak_sign": "neg" if template[channel, summary["peak"]] < 0 else "pos",
        "snr": float(snr), "std_norm": summary["spread"] / amplitude if amplitude > 0 else float("inf"),
        "n_waveform_spikes": summary["count"],
    }
    if summary["epoch_templates"] is not None:
        attributes["epoch_templates"] = summary["epoch_templates"]
    return attributes


def _ensure_filtered(recording: BaseRecording, config: SortingPipelineConfig) -> tuple[BaseRecording, Any]:
    """Band-pass (lazily, float32, zero phase: :mod:`._bandpass`) a recording not annotated as filtered.

    Backends that filter internally (Kilosort4) sort the raw traces, whose DC offset (about
    3 mV on Maxwell arrays) would otherwise swamp every template.
    """
    if recording.is_filtered():
        return recording, None
    from spikelab.spike_sorting.waveforms._bandpass import zero_phase_bandpass

    band = (config.recording.freq_min, min(config.recording.freq_max, 0.45 * recording.get_sampling_frequency()))
    log.info("waveforms_bandpass", freq_min=band[0], freq_max=band[1])
    return zero_phase_bandpass(recording, band[0], band[1]), list(band)


def _epoch_bounds(rec_chunks_ms: list[tuple[float, float]] | None, fs: float, n_samples: int) -> np.ndarray:
    if not rec_chunks_ms or len(rec_chunks_ms) < 2:
        return np.array([0, n_samples], dtype=np.int64)
    starts = [int(round(start * fs / 1000.0)) for start, _ in rec_chunks_ms]
    return np.array(starts + [n_samples], dtype=np.int64)


def _check_inputs(recording: BaseRecording, sorting: BaseSorting) -> None:
    if recording.get_num_segments() != 1 or sorting.get_num_segments() != 1:
        raise InputError("build_spikedata needs a single-segment recording and sorting.")
    if abs(recording.get_sampling_frequency() - sorting.get_sampling_frequency()) > 1e-6:
        raise InputError(f"The sorting is at {sorting.get_sampling_frequency()} Hz but the recording at "
                         f"{recording.get_sampling_frequency()} Hz; pass the recording that was sorted.")
    if recording.get_channel_locations() is None:  # pragma: no cover - SpikeInterface raises first
        raise InputError("The recording has no channel locations; attach a probe.")


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars (ids end up in JSON reports)."""
    return value.item() if isinstance(value, np.generic) else value
