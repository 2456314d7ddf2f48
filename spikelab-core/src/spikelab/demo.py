"""``spikelab demo``: a generated Maxwell-format recording with known units, sorted end to end.

:func:`write_demo_recording` writes a ``.raw.h5`` (legacy MaxOne layout, or the multi-well
layout) from SpikeInterface's ground-truth generator; :func:`run_demo` sorts it with the best
installed CPU backend (Kilosort4, else RT-Sort, else the test kit's ``fake`` threshold sorter),
compares the result with the ground truth and writes the report.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

#: Backends tried in order; the first one installed is used.
PREFERRED_BACKENDS: tuple[str, ...] = ("kilosort4", "rt_sort", "fake")
#: Why each is preferred, for the demo's output.
BACKEND_REASONS: dict[str, str] = {
    "kilosort4": "it runs on any CPU (or a GPU) and needs no model trained for the array",
    "rt_sort": "Kilosort4 is not installed; RT-Sort ships a model for 20 kHz Maxwell arrays",
    "fake": "no real sorter is installed",
}
#: Length of the demo's recording: long enough for Kilosort4 to split its spike groups.
DEMO_DURATION_S = 30.0
#: Property of the true sorting: each unit's largest trough on any channel (µV).
PEAK_PROPERTY = "peak_uv"
#: A true unit is "clear" when its trough is at least this many times the noise.
CLEAR_SNR = 5.0


def _mapping_for(recording: Any, electrode_offset: int = 1000) -> np.ndarray:
    from spikelab.testing.maxwell import maxwell_mapping

    mapping = maxwell_mapping(recording.get_num_channels(), electrode_offset=electrode_offset)
    locations = np.asarray(recording.get_channel_locations(), dtype=float)
    mapping["x"] = locations[:, 0] - locations[:, 0].min()
    mapping["y"] = locations[:, 1] - locations[:, 1].min()
    return mapping


def _to_adc(recording: Any, lsb_v: float, chunk_s: float = 10.0) -> np.ndarray:
    """The recording as Maxwell ADC counts, ``(channels, samples)`` uint16, converted chunk by chunk."""
    from spikelab.testing.maxwell import MID_SCALE

    n = recording.get_num_samples()
    step = max(1, int(chunk_s * recording.get_sampling_frequency()))
    adc = np.empty((recording.get_num_channels(), n), dtype=np.uint16)
    for start in range(0, n, step):
        traces_uv = recording.get_traces(start_frame=start, end_frame=min(n, start + step), return_in_uV=True)
        counts = np.rint(traces_uv.astype(np.float64) / (lsb_v * 1e6)) + MID_SCALE
        adc[:, start : start + len(counts)] = np.clip(counts, 0, 2**16 - 1).astype(np.uint16).T
    return adc


def write_demo_recording(
    path: str | Path,
    *,
    duration_s: float = 30.0,
    num_channels: int = 32,
    num_units: int = 10,
    seed: int = 0,
    wells: Sequence[str] | None = None,
    noise_level_uv: float = 6.0,
    firing_rate_hz: float = 6.0,
) -> tuple[Path, Any]:
    """Write a Maxwell ``.raw.h5`` holding generated spiking activity.

    Parameters
    ----------
    path : str or Path
        The file to write.
    duration_s, num_channels, num_units : float, int, int
        Size of the recording (per well).
    seed : int, default: 0
        Seed of the generator (well ``k`` uses ``seed + k``).
    wells : sequence of str, optional
        Write the multi-well (MaxTwo) layout with these streams; default: the legacy single-well
        layout.
    noise_level_uv, firing_rate_hz : float
        Background noise and mean rate of each unit.

    Returns
    -------
    path : Path
    ground_truth : BaseSorting or dict
        The true sorting (``{well: sorting}`` for a multi-well file).
    """
    from spikelab.testing import maxwell
    from spikelab.testing.recordings import tiny_recording

    lsb_v = maxwell.DEFAULT_LSB_V
    path = Path(path)
    if wells is None:
        recording, truth = tiny_recording(
            seed, duration_s=duration_s, num_channels=num_channels, num_units=num_units,
            noise_level_uv=noise_level_uv, firing_rate_hz=firing_rate_hz,
        )
        maxwell.write_legacy(path, traces=_to_adc(recording, lsb_v), mapping=_mapping_for(recording), lsb_v=lsb_v)
        truth.set_property(PEAK_PROPERTY, -np.asarray(recording.templates).min(axis=(1, 2)))
        return path, truth
    import h5py

    traces, truths, mappings = {}, {}, {}
    for index, well in enumerate(wells):
        recording, truths[well] = tiny_recording(
            seed + index, duration_s=duration_s, num_channels=num_channels, num_units=num_units,
            noise_level_uv=noise_level_uv, firing_rate_hz=firing_rate_hz,
        )
        traces[(well, "rec0000")] = _to_adc(recording, lsb_v)
        mappings[well] = _mapping_for(recording, electrode_offset=1000 + 100 * index)
    maxwell.write_new(
        path, wells=tuple(wells), num_channels=num_channels,
        num_samples=next(iter(traces.values())).shape[1], traces=traces, lsb_v=lsb_v,
    )
    with h5py.File(path, "r+") as f:  # the generator's true electrode positions, not a default grid
        for well, mapping in mappings.items():
            f[f"wells/{well}/rec0000/settings/mapping"][...] = mapping
    return path, truths


def best_cpu_backend() -> str:
    """The first installed backend of :data:`PREFERRED_BACKENDS` that can run on a CPU."""
    from spikelab.plugins import get_plugin_manager

    manager = get_plugin_manager()
    installed = manager.sorters()
    if "fake" not in installed:
        from spikelab.testing import fake_backend

        manager.register(fake_backend, name="spikelab.testing.fake_backend")
        installed = manager.sorters()
    for name in PREFERRED_BACKENDS:
        if name in installed:
            return name
    return "fake"  # pragma: no cover - registered above


def choose_sorter(sorter: str | None = None) -> tuple[str, str]:
    """``(backend, why)``: ``sorter`` when given, else :func:`best_cpu_backend` with its reason."""
    if sorter:
        return sorter, "you chose it (--sorter)"
    chosen = best_cpu_backend()
    order = " > ".join(PREFERRED_BACKENDS)
    return chosen, f"the first installed of {order}: {BACKEND_REASONS[chosen]}; --sorter picks another"


@attrs.frozen(kw_only=True)
class DemoOutcome:
    """What :func:`run_demo` found."""

    sorter: str
    sorter_reason: str
    recording: Path
    results_folder: Path
    n_true_units: int
    n_units: int
    n_curated_units: int
    well_detected: int
    n_clear_units: int
    clear_well_detected: int
    noise_uv: float
    accuracy: dict[str, float]
    found_well_quality: dict[str, float]
    report_path: Path | None
    wall_time_s: float


def run_demo(
    folder: str | Path,
    *,
    sorter: str | None = None,
    duration_s: float = DEMO_DURATION_S,
    num_channels: int = 32,
    num_units: int = 16,
    firing_rate_hz: float = 50.0,
    noise_level_uv: float = 6.0,
    seed: int = 0,
    sorter_reason: str | None = None,
    **overrides: Any,
) -> DemoOutcome:
    """Generate a recording in ``folder``, sort it, and compare with the ground truth.

    Accuracy is SpikeInterface's ``compare_sorter_to_ground_truth`` on the sorter's units
    before curation (curation removes units on purpose); ``well_detected`` counts true units
    found with accuracy >= 0.8. The defaults are 32 channels x 30 s with 16 units at 50 Hz:
    Kilosort4 leaves every group of nearby spikes with fewer than 1000 spikes as a single unit,
    and at 10 s (500 spikes a unit) every group on this probe stays under that, so it found 8
    units (``bench/results/ks4/sweep.md``). Drift correction is off (``nblocks=0``: 30 s of
    generated data has no drift).
    """
    import structlog

    if not structlog.is_configured():  # the demo is an application: it sets up logging
        from spikelab.logconfig import configure_logging

        configure_logging()
    import spikeinterface.comparison as sc

    from spikelab.spike_sorting import run_recordings
    from spikelab.spike_sorting.stages.curation import RAW_NAME
    from spikelab.spikedata import SpikeData

    start = time.perf_counter()
    folder = Path(folder)
    sorter, reason = choose_sorter(sorter) if sorter_reason is None else (sorter, sorter_reason)
    path, truth = write_demo_recording(
        folder / "demo.raw.h5", duration_s=duration_s, num_channels=num_channels, num_units=num_units,
        seed=seed, firing_rate_hz=firing_rate_hz, noise_level_uv=noise_level_uv,
    )
    kwargs = {"save_raw_pkl": True, **overrides}
    if sorter == "kilosort4":
        kwargs.setdefault("nblocks", 0)
    result = run_recordings(
        [path], sorter=sorter, intermediate_folders=[folder / "intermediate"],
        results_folders=[folder / "results"], **kwargs,
    )[0]
    if result.error is not None:
        raise result.error
    curated = result.spike_data
    raw = SpikeData.load(folder / "results" / RAW_NAME)
    fs = truth.get_sampling_frequency()
    comparison = sc.compare_sorter_to_ground_truth(truth, raw.to_spikeinterface(fs_Hz=fs), exhaustive_gt=True)
    performance = comparison.get_performance(method="pooled_with_average")
    accuracy = {key: float(performance[key]) for key in ("accuracy", "precision", "recall")}
    by_unit = comparison.get_performance().reindex(truth.get_unit_ids())
    per_unit = by_unit["accuracy"].to_numpy(dtype=float)
    # precision and recall of the units found well: averaged over every true unit they are 0 for
    # each unit not found, which reads as "38 % of the sorted spikes are not real" when it is not
    well = per_unit >= 0.8
    found_well_quality = {key: float(by_unit[key].to_numpy(dtype=float)[well].mean()) if well.any() else float("nan")
                          for key in ("precision", "recall")}
    clear = np.asarray(truth.get_property(PEAK_PROPERTY)) >= CLEAR_SNR * noise_level_uv
    return DemoOutcome(
        sorter=sorter,
        sorter_reason=reason,
        n_clear_units=int(clear.sum()),
        clear_well_detected=int((per_unit[clear] >= 0.8).sum()),
        noise_uv=noise_level_uv,
        recording=path,
        results_folder=folder / "results",
        n_true_units=len(truth.get_unit_ids()),
        n_units=raw.N,
        n_curated_units=curated[0].N,
        well_detected=int(comparison.count_well_detected_units(well_detected_score=0.8)),
        accuracy=accuracy,
        found_well_quality=found_well_quality,
        report_path=Path(result.report_path) if result.report_path else None,
        wall_time_s=round(time.perf_counter() - start, 1),
    )


def _found_well_line(outcome: DemoOutcome) -> str:
    quality = outcome.found_well_quality
    if not outcome.well_detected:
        return "            No true unit was found well, so there is no precision or recall to give."
    return (
        f"            The {outcome.well_detected} found well: precision {quality['precision']:.2f} (share of their "
        f"sorted spikes that are real), recall {quality['recall']:.2f} (share of their true spikes found)"
    )


def describe(outcome: DemoOutcome, stream: Any = None) -> None:
    """Print a demo outcome for people (the CLI's output)."""
    out = stream or sys.stdout
    note = ""
    if outcome.sorter == "fake":
        note = (
            "\nNote: no real sorter is installed, so the test kit's 'fake' threshold sorter was used "
            "(one unit per channel). Install one for a real sort: pip install spikelab-ks4"
        )
    n_true, acc = outcome.n_true_units, outcome.accuracy
    faint = n_true - outcome.n_clear_units
    lines = [
        f"Recording : {outcome.recording} ({n_true} true units, noise {outcome.noise_uv:g} µV)",
        f"Sorter    : {outcome.sorter}, because {outcome.sorter_reason}",
        f"Units     : {outcome.n_units} found, {outcome.n_curated_units} kept by curation",
        f"Found well: {outcome.well_detected} of the {n_true} true units. A true unit counts as found well when "
        "one sorted unit has its spikes with at most 20 % errors (missed plus extra spikes; "
        "SpikeInterface's ground-truth comparison, accuracy >= 0.8).",
    ]
    if faint:
        lines.append(
            f"            {faint} true unit(s) are faint (trough under {CLEAR_SNR:g}x the noise, "
            f"{CLEAR_SNR * outcome.noise_uv:g} µV) and hard for any sorter; of the "
            f"{outcome.n_clear_units} clear ones, {outcome.clear_well_detected} were found well."
        )
    lines += [
        f"Accuracy  : {acc['accuracy']:.2f} on average over all {n_true} true units (a unit not found counts as 0)",
        _found_well_line(outcome),
        f"Report    : {outcome.report_path or outcome.results_folder}",
        f"Time      : {outcome.wall_time_s} s{note}",
    ]
    print("\n".join(lines), file=out)
