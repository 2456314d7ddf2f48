"""``spikelab demo``: a generated Maxwell-format recording with known units, sorted end to end.

:func:`write_demo_recording` writes a ``.raw.h5`` (legacy MaxOne layout, or the multi-well
layout) from SpikeInterface's ground-truth generator; :func:`run_demo` writes one on a
Maxwell-like dense grid (by default the benchmark's ``mea-quick`` recording), sorts it with
``sorter="auto"`` (the choice ``sort_recording`` and ``spikelab sort`` make, from the measured
table :mod:`spikelab.spike_sorting.sorter_choice` reads; the test kit's ``fake`` threshold sorter
stands in only when no measured sorter is installed), scores the sorting against the ground truth
before and after curation, and writes that score into the recording's report.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import numpy as np

#: The demo's recording is the benchmark's ``mea-quick`` (``bench/groundtruth.py``): one of the
#: two data sets ``sorter="auto"`` cites for dense grids (beside the MEArec ``mearec-mea``), so
#: the printed reason and the demo's own score can be compared. An 8 x 8 grid at 17.5 µm, 20 kHz,
#: 20 s, 16 units at 20 Hz, 6 µV of noise, seed 7.
DEMO_RECORDING: dict[str, Any] = {"duration_s": 20.0, "num_channels": 64, "num_units": 16, "firing_rate_hz": 20.0,
                                  "noise_level_uv": 6.0, "seed": 7}
#: Length of the demo's recording (s).
DEMO_DURATION_S = DEMO_RECORDING["duration_s"]
#: A true unit is found well when one sorted unit matches its spikes with accuracy >= this.
WELL_DETECTED = 0.8
#: Property of the true sorting: each unit's largest trough on any channel (µV).
PEAK_PROPERTY = "peak_uv"
#: A true unit is "clear" when its trough is at least this many times the noise.
CLEAR_SNR = 5.0


def _mapping_for(recording: Any, electrode_offset: int = 1000) -> np.ndarray:
    import numpy as np

    from spikelab.testing.maxwell import maxwell_mapping

    mapping = maxwell_mapping(recording.get_num_channels(), electrode_offset=electrode_offset)
    locations = np.asarray(recording.get_channel_locations(), dtype=float)
    mapping["x"] = locations[:, 0] - locations[:, 0].min()
    mapping["y"] = locations[:, 1] - locations[:, 1].min()
    return mapping


def _to_adc(recording: Any, lsb_v: float, chunk_s: float = 10.0) -> np.ndarray:
    """The recording as Maxwell ADC counts, ``(channels, samples)`` uint16, converted chunk by chunk."""
    import numpy as np

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
    layout: str = "probe",
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
    layout : {"probe", "grid"}, default: "probe"
        ``"probe"``: :func:`~spikelab.testing.recordings.tiny_recording`'s two-column probe;
        ``"grid"``: :func:`~spikelab.testing.recordings.grid_recording`'s Maxwell-like dense grid
        (17.5 µm pitch).

    Returns
    -------
    path : Path
    ground_truth : BaseSorting or dict
        The true sorting (``{well: sorting}`` for a multi-well file).
    """
    import numpy as np

    from spikelab.testing import maxwell
    from spikelab.testing.recordings import grid_recording, tiny_recording

    if layout not in ("probe", "grid"):
        raise ValueError(f"layout must be 'probe' or 'grid', got {layout!r}")
    generate = grid_recording if layout == "grid" else tiny_recording
    lsb_v = maxwell.DEFAULT_LSB_V
    path = Path(path)
    if wells is None:
        recording, truth = generate(
            seed, duration_s=duration_s, num_channels=num_channels, num_units=num_units,
            noise_level_uv=noise_level_uv, firing_rate_hz=firing_rate_hz,
        )
        maxwell.write_legacy(path, traces=_to_adc(recording, lsb_v), mapping=_mapping_for(recording), lsb_v=lsb_v)
        truth.set_property(PEAK_PROPERTY, -np.asarray(recording.templates).min(axis=(1, 2)))
        return path, truth
    import h5py

    traces, truths, mappings = {}, {}, {}
    for index, well in enumerate(wells):
        recording, truths[well] = generate(
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


def _fake_sorter() -> str:
    """Register the test kit's threshold sorter with the process's plugins; returns its name."""
    from spikelab.plugins import get_plugin_manager

    manager = get_plugin_manager()
    if "fake" not in manager.sorters():
        from spikelab.testing import fake_backend

        manager.register(fake_backend, name="spikelab.testing.fake_backend")
    return "fake"


def choose_sorter(path: str | Path, sorter: str | None = None, **kwargs: Any) -> tuple[str, str, bool]:
    """``(backend, why, auto)`` for the demo's recording at ``path``.

    ``sorter`` when given (and not ``"auto"``); else what ``sorter="auto"`` chooses for the file,
    which is what ``sort_recording`` would choose (``auto`` is then True). When no measured sorter
    is installed, the test kit's ``fake`` threshold sorter stands in and ``why`` carries auto's
    message, which names what to install. ``kwargs`` are the run's flat keywords.
    """
    from spikelab.errors import ConfigError
    from spikelab.spike_sorting.sorter_choice import AUTO, choose_for_inputs

    if sorter and sorter != AUTO:
        return sorter, "you chose it (--sorter)", False
    try:
        choice = choose_for_inputs([Path(path)], dict(kwargs))
    except ConfigError as exc:
        return _fake_sorter(), f"sorter='auto' could not choose: {exc} The test kit's stand-in sorts instead.", False
    return choice.sorter, f"sorter='auto' chose it, as sort_recording would: {choice.reason}", True


def score_sorting(truth: Any, sorting: Any) -> dict[str, Any]:
    """Ground-truth score of one sorting, as ``bench/accuracy`` scores it.

    Returns ``well_detected`` (true units one sorted unit matches with accuracy >= 0.8, by
    SpikeInterface's ``compare_sorter_to_ground_truth``), ``n_units``, ``real_units`` (sorted
    units that are neither false positives nor duplicates of a matched one), ``unit_precision``
    (``real_units / n_units``), ``accuracy_mean`` (over every true unit, 0 for one not found),
    ``per_unit_accuracy`` (in the truth's unit order) and the spike ``precision`` and ``recall``
    of the units found well (averaged over those units only).
    """
    import numpy as np
    import spikeinterface.comparison as sc

    comparison = sc.compare_sorter_to_ground_truth(truth, sorting, exhaustive_gt=True)
    by_unit = comparison.get_performance().reindex(truth.get_unit_ids())
    per_unit = np.nan_to_num(by_unit["accuracy"].to_numpy(dtype=float))
    n_units = len(sorting.get_unit_ids())
    real = n_units - (len(comparison.get_bad_units()) if n_units else 0)
    well = per_unit >= WELL_DETECTED
    return {
        "well_detected": int(comparison.count_well_detected_units(well_detected_score=WELL_DETECTED)),
        "n_units": n_units,
        "real_units": real,
        "unit_precision": real / n_units if n_units else float("nan"),
        "accuracy_mean": float(per_unit.mean()),
        "per_unit_accuracy": per_unit,
        # over the units found well only: averaged over every true unit, a unit not found adds a 0,
        # which reads as "38 % of the sorted spikes are not real" when it is not
        **{key: float(by_unit[key].to_numpy(dtype=float)[well].mean()) if well.any() else float("nan")
           for key in ("precision", "recall")},
    }


@attrs.frozen(kw_only=True)
class DemoOutcome:
    """What :func:`run_demo` found; ``raw`` and ``curated`` are :func:`score_sorting` results."""

    sorter: str
    sorter_reason: str
    auto: bool
    recording: Path
    layout: str
    benchmark: str | None
    results_folder: Path
    n_true_units: int
    noise_uv: float
    n_clear_units: int
    clear_well_detected: int
    raw: dict[str, Any]
    curated: dict[str, Any]
    report_path: Path | None
    wall_time_s: float

    @property
    def well_detected(self) -> int:
        """True units found well after curation (what the user keeps)."""
        return int(self.curated["well_detected"])


def _layout(num_channels: int, sampling_frequency: float) -> str:
    from spikelab.testing.recordings import grid_shape

    rows, columns = grid_shape(num_channels)
    return f"{rows} x {columns} grid at 17.5 µm, {sampling_frequency / 1000:g} kHz"


def run_demo(
    folder: str | Path,
    *,
    sorter: str | None = None,
    duration_s: float = DEMO_RECORDING["duration_s"],
    num_channels: int = DEMO_RECORDING["num_channels"],
    num_units: int = DEMO_RECORDING["num_units"],
    firing_rate_hz: float = DEMO_RECORDING["firing_rate_hz"],
    noise_level_uv: float = DEMO_RECORDING["noise_level_uv"],
    seed: int = DEMO_RECORDING["seed"],
    on_choice: Callable[[str, str], None] | None = None,
    **overrides: Any,
) -> DemoOutcome:
    """Generate a Maxwell-like grid recording in ``folder``, sort it, and score it on the ground truth.

    The recording is :func:`~spikelab.testing.recordings.grid_recording` written as a Maxwell
    ``.raw.h5`` (ADC counts); with the defaults it is the benchmark's ``mea-quick``. The sorter is
    :func:`choose_sorter`'s (``sorter="auto"`` unless ``sorter`` names one); ``on_choice(sorter,
    why)`` is called before the sort starts. The sorting is scored before and after SpikeLab's
    default curation (:func:`score_sorting`), and the score goes into ``recording_report.json``
    (``ground_truth``) and the Markdown and HTML reports.
    """
    import numpy as np
    import structlog

    if not structlog.is_configured():  # the demo is an application: it sets up logging
        from spikelab.logconfig import configure_logging

        configure_logging()
    from spikelab.spike_sorting import run_recordings
    from spikelab.spike_sorting.stages.curation import RAW_NAME
    from spikelab.spikedata import SpikeData

    start = time.perf_counter()
    folder = Path(folder)
    path, truth = write_demo_recording(
        folder / "demo.raw.h5", duration_s=duration_s, num_channels=num_channels, num_units=num_units,
        seed=seed, firing_rate_hz=firing_rate_hz, noise_level_uv=noise_level_uv, layout="grid",
    )
    chosen, reason, auto = choose_sorter(path, sorter, **overrides)
    if on_choice is not None:
        on_choice(chosen, reason)
    kwargs = {"save_raw_pkl": True, **overrides}
    if chosen == "kilosort4":
        kwargs.setdefault("nblocks", 0)  # seconds of generated data have no drift to correct
    result = run_recordings(
        [path], sorter="auto" if auto else chosen, intermediate_folders=[folder / "intermediate"],
        results_folders=[folder / "results"], **kwargs,
    )[0]
    if result.error is not None:
        raise result.error
    fs = truth.get_sampling_frequency()
    raw = score_sorting(truth, SpikeData.load(folder / "results" / RAW_NAME).to_spikeinterface(fs_Hz=fs))
    curated = score_sorting(truth, result.spike_data[0].to_spikeinterface(fs_Hz=fs))
    clear = np.asarray(truth.get_property(PEAK_PROPERTY)) >= CLEAR_SNR * noise_level_uv
    given = {"duration_s": duration_s, "num_channels": num_channels, "num_units": num_units,
             "firing_rate_hz": firing_rate_hz, "noise_level_uv": noise_level_uv, "seed": seed}
    outcome = DemoOutcome(
        sorter=chosen,
        sorter_reason=reason,
        auto=auto,
        recording=path,
        layout=_layout(num_channels, fs),
        benchmark="mea-quick" if given == DEMO_RECORDING else None,
        results_folder=folder / "results",
        n_true_units=len(truth.get_unit_ids()),
        noise_uv=noise_level_uv,
        n_clear_units=int(clear.sum()),
        clear_well_detected=int((curated["per_unit_accuracy"][clear] >= WELL_DETECTED).sum()),
        raw=raw,
        curated=curated,
        report_path=Path(result.report_path) if result.report_path else None,
        wall_time_s=round(time.perf_counter() - start, 1),
    )
    _write_into_report(outcome)
    return outcome


def ground_truth_summary(outcome: DemoOutcome) -> str:
    """One sentence for the report: the score after curation, and before it."""
    raw, cur, n = outcome.raw, outcome.curated, outcome.n_true_units
    return (f"{cur['well_detected']} of {n} true units found well after curation ({raw['well_detected']} "
            f"before); {cur['real_units']} of the {cur['n_units']} kept units are real (unit precision "
            f"{cur['unit_precision']:.2f}; {raw['unit_precision']:.2f} before curation). Found well: one sorted "
            f"unit matches the true unit's spikes with accuracy >= {WELL_DETECTED} (SpikeInterface's "
            "ground-truth comparison).")


def _write_into_report(outcome: DemoOutcome) -> None:
    """Add the ground-truth score to ``recording_report.json`` and render the reports again."""
    import json

    import numpy as np

    from spikelab.spike_sorting.cache import atomic_write_text
    from spikelab.spike_sorting.report import regenerate_report

    json_path = outcome.results_folder / "recording_report.json"
    if not json_path.is_file():
        return
    doc = json.loads(json_path.read_text())
    doc["ground_truth"] = {
        "summary": ground_truth_summary(outcome),
        "n_true_units": outcome.n_true_units,
        "benchmark_recording": outcome.benchmark,
        **{f"{stage}_{key}": (None if not np.isfinite(value) else round(float(value), 4))
           if isinstance(value, float) else value
           for stage, score in (("raw", outcome.raw), ("curated", outcome.curated))
           for key, value in score.items() if key != "per_unit_accuracy"},
    }
    atomic_write_text(json_path, json.dumps(doc, indent=2))
    regenerate_report(outcome.results_folder)


def _found_well_line(outcome: DemoOutcome) -> str:
    cur = outcome.curated
    if not cur["well_detected"]:
        return "            No true unit was found well, so there is no spike precision or recall to give."
    return (
        f"            The {cur['well_detected']} found well: precision {cur['precision']:.2f} (share of their "
        f"sorted spikes that are real), recall {cur['recall']:.2f} (share of their true spikes found)"
    )


def describe(outcome: DemoOutcome, stream: Any = None) -> None:
    """Print a demo outcome for people (the CLI's output)."""
    out = stream or sys.stdout
    note = ""
    if outcome.sorter == "fake":
        note = (
            "\nNote: the test kit's 'fake' threshold sorter was used (one unit per channel), so this "
            "accuracy says nothing about spike sorting. Install a measured sorter: pip install spikelab-si"
        )
    n_true, raw, cur = outcome.n_true_units, outcome.raw, outcome.curated
    faint = n_true - outcome.n_clear_units
    bench = f"; the benchmark's {outcome.benchmark} recording" if outcome.benchmark else ""
    lines = [
        f"Recording : {outcome.recording} ({outcome.layout}{bench}; {n_true} true units, "
        f"noise {outcome.noise_uv:g} µV)",
        f"Sorter    : {outcome.sorter}, because {outcome.sorter_reason}",
        f"Units     : {raw['n_units']} found, {cur['n_units']} kept by curation",
        f"Found well: {cur['well_detected']} of the {n_true} true units after curation ({raw['well_detected']} "
        "before). A true unit counts as found well when one sorted unit has its spikes with at most 20 % "
        "errors (missed plus extra spikes; SpikeInterface's ground-truth comparison, accuracy >= 0.8).",
    ]
    if faint:
        lines.append(
            f"            {faint} true unit(s) are faint (trough under {CLEAR_SNR:g}x the noise, "
            f"{CLEAR_SNR * outcome.noise_uv:g} µV) and hard for any sorter; of the "
            f"{outcome.n_clear_units} clear ones, {outcome.clear_well_detected} were found well."
        )
    lines += [
        f"Precision : {cur['real_units']} of the {cur['n_units']} kept units are real, unit precision "
        f"{cur['unit_precision']:.2f} ({raw['unit_precision']:.2f} before curation; a unit is not real when it "
        "matches no true unit or duplicates one already matched)",
        _found_well_line(outcome),
        f"Accuracy  : {cur['accuracy_mean']:.2f} on average over all {n_true} true units (a unit not found "
        "counts as 0)",
        f"Report    : {outcome.report_path or outcome.results_folder}",
        f"Time      : {outcome.wall_time_s} s{note}",
    ]
    print("\n".join(lines), file=out)
