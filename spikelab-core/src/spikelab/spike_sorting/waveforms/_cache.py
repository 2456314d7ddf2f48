"""The waveform cache: a SpikeData pickle reused only when its key (the spikes, the recording and
every extraction parameter) and its content still match (the pipeline's one marker, see
:mod:`spikelab.spike_sorting.cache`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import structlog

from spikelab.spike_sorting.cache import MARKER, invalid_reason, mark_valid

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording, BaseSorting

    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.waveforms")

#: Bumped when the extraction changes what it computes, so old caches are not reused.
EXTRACTION_VERSION = 5
SPIKEDATA_FILE = "spikedata.pkl"


def cache_key(recording: BaseRecording, sorting: BaseSorting, waveform_config: Any, seed: int,
              rec_chunks_ms: Any, snippet_budget: int) -> str:
    """SHA-256 of the spikes, the recording's identity and every parameter of the extraction."""
    digest = hashlib.sha256()
    vector = sorting.to_spike_vector()
    digest.update(np.ascontiguousarray(vector["sample_index"]).tobytes())
    digest.update(np.ascontiguousarray(vector["unit_index"]).tobytes())
    digest.update(repr([str(u) for u in sorting.get_unit_ids()]).encode())
    digest.update(_recording_fingerprint(recording).encode())
    params = {
        "waveform": attrs.asdict(waveform_config), "seed": seed, "rec_chunks_ms": rec_chunks_ms,
        "snippet_budget": snippet_budget, "version": EXTRACTION_VERSION,
    }
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _recording_fingerprint(recording: BaseRecording) -> str:
    """The recording's provenance (its SpikeInterface dict) plus shape, rate and a few samples."""
    try:
        provenance = json.dumps(recording.to_dict(recursive=True), sort_keys=True, default=str)
    except Exception:  # noqa: BLE001 - in-memory objects may not serialise; samples below still identify them
        provenance = type(recording).__name__
    n = recording.get_num_samples()
    probe_frames = sorted({0, n // 2, max(n - 64, 0)})
    samples = [
        np.asarray(recording.get_traces(start_frame=f, end_frame=min(f + 64, n))).tobytes() for f in probe_frames
    ]
    head = hashlib.sha256(b"".join(samples)).hexdigest()
    facts = (recording.get_sampling_frequency(), n, [str(c) for c in recording.get_channel_ids()],
             np.asarray(recording.get_channel_locations()).round(3).tolist())
    return f"{provenance}|{facts}|{head}"


def load_cached(folder: Path, key: str) -> SpikeData | None:
    """The cached SpikeData when ``folder`` holds one made with this key and unaltered, else None."""
    from spikelab.spikedata.io import load

    reason = invalid_reason(folder, key)
    if reason is not None:
        if folder.exists():
            log.info("cache_rebuilt", stage="waveforms", folder=str(folder), reason=reason)
        return None
    try:
        return load(folder / SPIKEDATA_FILE)
    except Exception as exc:  # noqa: BLE001 - a damaged cache is recomputed, not fatal
        log.warning("cache_rebuilt", stage="waveforms", folder=str(folder), reason=f"unreadable: {exc!r}")
        return None


def store(folder: Path, key: str, sd: SpikeData) -> None:
    """Write the SpikeData, then the marker (both atomically): a killed run leaves no valid-looking cache."""
    from spikelab.spikedata.io import save

    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).unlink(missing_ok=True)
    save(sd, folder / SPIKEDATA_FILE)
    mark_valid(folder, key, extraction_version=EXTRACTION_VERSION)
