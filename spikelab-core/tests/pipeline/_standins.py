"""Smallest honest stand-ins for interfaces owned by other work streams that have not landed.

Installed by ``conftest.py`` only when the real module cannot be imported; each follows the
agreed interface (docs/notes pipeline_interfaces) and does real, if simple, work.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np


def build_spikedata(recording, sorting, config, folder, *, rec_chunks_ms=None, progress_bar=True):
    import spikeinterface.preprocessing as spre

    from spikelab.spikedata import SpikeData

    sd = SpikeData.from_spikeinterface(sorting, recording)
    fs = recording.get_sampling_frequency()
    if recording.get_dtype().kind == "u":
        recording = spre.unsigned_to_signed(recording)
    filtered = spre.bandpass_filter(recording, freq_min=300.0, freq_max=min(6000.0, 0.45 * fs))
    before, after = int(config.waveform.ms_before * fs / 1000), int(config.waveform.ms_after * fs / 1000)
    n = recording.get_num_samples()
    from spikeinterface.core import get_noise_levels

    noise = get_noise_levels(filtered, return_in_uV=filtered.has_scaleable_traces(), random_slices_kwargs={"seed": 0})
    for attrs_, train in zip(sd.neuron_attributes, sd.train):
        samples = (np.asarray(train) * fs / 1000).astype(int)
        samples = samples[(samples > before) & (samples < n - after)][: config.waveform.max_waveforms_per_unit]
        snippets = np.stack([
            filtered.get_traces(start_frame=s - before, end_frame=s + after, return_in_uV=filtered.has_scaleable_traces())
            for s in samples
        ]) if len(samples) else np.zeros((1, before + after, recording.get_num_channels()))
        template = snippets.mean(axis=0).T
        channel = int(np.argmax(np.ptp(template, axis=1)))
        amplitude = float(np.abs(template[channel]).max())
        attrs_.update(channel=channel, template=template, avg_waveform=template[channel],
                      snr=amplitude / max(float(noise[channel]), 1e-9),
                      std_norm=float(snippets[:, before, channel].std() / max(amplitude, 1e-9)))
        loc = sd.metadata.get("channel_locations")
        if loc is not None:
            attrs_.update(x=float(loc[channel][0]), y=float(loc[channel][1]))
    sd.metadata["ms_before"] = config.waveform.ms_before
    if rec_chunks_ms is not None:
        sd.metadata["rec_chunks_ms"] = list(rec_chunks_ms)
    Path(folder).mkdir(parents=True, exist_ok=True)
    return sd


def write_recording_report(result, results_folder, *, config, curation=None, sd=None):
    path = Path(results_folder) / "recording_report.json"
    path.write_text(json.dumps({"schema_version": 1, **result.to_dict()}, default=str))
    return path


def write_sorting_report(results_folder, *, result, config, sd_raw, sd_curated, curation_results, versions):
    path = Path(results_folder) / "sorting_report.md"
    path.write_text(f"# Sorting report: {result.rec_name}\n\n{sd_curated.N} units\n")
    return path


def regenerate_report(results_folder):
    return Path(results_folder) / "sorting_report.md"


def install_missing() -> list[str]:
    """Register a stand-in for each interface module that is not importable; return their names."""
    installed = []
    for name, functions in (
        ("spikelab.spike_sorting.waveforms", {"build_spikedata": build_spikedata}),
        ("spikelab.spike_sorting.report", {
            "write_recording_report": write_recording_report,
            "write_sorting_report": write_sorting_report,
            "regenerate_report": regenerate_report,
        }),
    ):
        try:
            module = __import__(name, fromlist=list(functions))
            if all(hasattr(module, f) for f in functions):
                continue
        except ImportError:
            pass
        module = types.ModuleType(name)
        module.__dict__.update(functions)
        sys.modules[name] = module
        installed.append(name)
    return installed
