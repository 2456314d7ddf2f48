"""Curation metrics: SpikeLab vs SpikeInterface's ``compute_quality_metrics``, in one run.

Same sorting, same recording, same metrics (firing rate, ISI violations, SNR). SpikeInterface
goes the usual way: ``create_sorting_analyzer`` (defaults, sparse) -> ``random_spikes``,
``templates``, ``noise_levels`` -> ``compute_quality_metrics``. SpikeLab builds a SpikeData from
the sorting and recording and calls ``sd.curate(min_rate_hz=0.1, isi_max=1.0, min_snr=5.0)``.
Both single process (SpikeInterface's default ``n_jobs=1``; SpikeLab uses one core).

Two scenarios:

- ``preprocessed``: the recording is already band-passed (what the sorting pipeline hands to
  curation); neither side filters.
- ``raw``: an unfiltered recording; SpikeInterface runs on ``bandpass_filter(recording)``, and
  SpikeLab band-passes ``raw_data`` itself (300-6000 Hz, the default).

    python bench/curation/run.py            # 1,000 units x 10 min, 64 channels
    python bench/curation/run.py --quick    # 100 units x 1 min, 32 channels
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import psutil

RESULTS = Path(__file__).resolve().parents[1] / "results" / "curation"
FS = 20000.0
PITCH_UM = 17.5


def make_data(n_units: int, duration_s: float, n_channels: int, seed: int):
    """Noise plus injected spikes, (samples, channels) float32, and the matching NumpySorting."""
    import spikeinterface.core as sc

    rng = np.random.default_rng(seed)
    n_samples = int(duration_s * FS)
    locations = np.array([[(c % 8) * PITCH_UM, (c // 8) * PITCH_UM] for c in range(n_channels)])
    traces = rng.standard_normal((n_samples, n_channels), dtype=np.float32)
    traces *= 5.0
    width = int(3e-3 * FS)
    t_ms = np.arange(width) / FS * 1000 - 1.0
    units = {}
    for u in range(n_units):
        rate = float(np.clip(rng.lognormal(np.log(3.0), 0.8), 0.2, 20.0))
        # Refractory period longer than the waveform, so one unit's injections never overlap.
        isi = rng.exponential(FS / rate, int(rate * duration_s * 1.5) + 10) + width + 1
        samples = np.cumsum(isi).astype(np.int64) + 40
        samples = samples[samples < n_samples - width - 40]
        centre = locations[rng.integers(n_channels)] + rng.uniform(-8, 8, 2)
        distance = np.linalg.norm(locations - centre, axis=1)
        near = np.flatnonzero(distance < 50.0)
        amplitude = rng.uniform(30.0, 150.0)
        waveform = -amplitude * np.exp(-((t_ms / 0.15) ** 2)) + 0.3 * amplitude * np.exp(-(((t_ms - 0.5) / 0.3) ** 2))
        local = np.outer(waveform, np.exp(-distance[near] / 25.0)).astype(np.float32)
        rows = (samples[:, None] - width // 3 + np.arange(width)).ravel()
        traces[rows[:, None], near[None, :]] += np.tile(local, (samples.size, 1))
        if u % 20 == 0 and samples.size > 10:  # a few refractory violations (sorting only)
            samples = np.sort(np.concatenate([samples, samples[:5] + int(1e-3 * FS)]))
        units[u] = samples
    sorting = sc.NumpySorting.from_unit_dict([units], sampling_frequency=FS)
    recording = sc.NumpyRecording(traces, FS)
    recording.set_channel_locations(locations)
    return recording, sorting


def time_spikeinterface(recording, sorting):
    import spikeinterface.core as sc
    from spikeinterface.metrics.quality import compute_quality_metrics

    start = time.perf_counter()
    analyzer = sc.create_sorting_analyzer(sorting, recording, format="memory")
    analyzer.compute(["random_spikes", "templates", "noise_levels"])
    table = compute_quality_metrics(analyzer, metric_names=["firing_rate", "isi_violation", "snr"])
    return time.perf_counter() - start, table.loc[list(sorting.get_unit_ids())]


def time_spikelab(recording, sorting, filtered: bool):
    from spikelab import SpikeData

    start = time.perf_counter()
    sd = SpikeData.from_spikeinterface(sorting, recording, attach_raw_data=True)
    sd.metadata["raw_data_filtered"] = filtered
    _, results = sd.curate(min_rate_hz=0.1, isi_max=1.0, min_snr=5.0)
    elapsed = time.perf_counter() - start
    from spikelab.spikedata.metrics import isi_violation_counts

    return elapsed, results, isi_violation_counts(sd)


def compare(si_table, results, counts) -> dict[str, float]:
    si_fr = si_table["firing_rate"].to_numpy()
    si_snr = si_table["snr"].to_numpy()
    snr_rel = np.abs(results["snr"]["metric"] - si_snr) / si_snr
    worst = np.argsort(snr_rel)[::-1][:5]
    return {
        "snr_worst_units": [
            {"unit": int(u), "spikelab": float(results["snr"]["metric"][u]), "spikeinterface": float(si_snr[u])}
            for u in worst
        ],
        "firing_rate_max_rel_diff": float(np.max(np.abs(results["firing_rate"]["metric"] - si_fr) / si_fr)),
        "isi_violation_counts_equal": bool(np.array_equal(counts, si_table["isi_violations_count"].to_numpy())),
        "snr_max_rel_diff": float(np.max(snr_rel)),
        "snr_median_rel_diff": float(np.median(snr_rel)),
        "snr_units_over_10pct": int(np.sum(snr_rel > 0.10)),
        # Near the noise floor the peak of a mean waveform is mostly chance; the curation
        # threshold (min_snr=5) is where agreement matters.
        "snr_max_rel_diff_at_snr_5_or_more": float(np.max(snr_rel[si_snr >= 5.0], initial=0.0)),
    }


def run_scenario(name: str, recording, sorting) -> dict:
    import spikeinterface.preprocessing as spre

    si_recording = spre.bandpass_filter(recording, freq_min=300.0, freq_max=6000.0) if name == "raw" else recording
    print(f"[{name}] SpikeInterface ...", flush=True)
    si_s, si_table = time_spikeinterface(si_recording, sorting)
    print(f"[{name}] SpikeInterface {si_s:.1f} s; SpikeLab ...", flush=True)
    sl_s, results, counts = time_spikelab(recording, sorting, filtered=(name == "preprocessed"))
    print(f"[{name}] SpikeLab {sl_s:.1f} s; ratio {si_s / sl_s:.1f}x", flush=True)
    return {"spikeinterface_s": si_s, "spikelab_s": sl_s, "speedup": si_s / sl_s, **compare(si_table, results, counts)}


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 units x 1 min x 32 channels.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_units, duration_s, n_channels = (100, 60.0, 32) if args.quick else (1000, 600.0, 64)
    warnings.filterwarnings("ignore")
    import spikeinterface

    t0 = time.perf_counter()
    recording, sorting = make_data(n_units, duration_s, n_channels, args.seed)
    print(f"data: {n_units} units, {duration_s:.0f} s, {n_channels} channels, "
          f"{sorting.count_total_num_spikes()} spikes ({time.perf_counter() - t0:.0f} s to generate)", flush=True)
    # Warm-up on a tiny input: imports, plugin discovery and numba compilation stay out of the timings.
    tiny_recording, tiny_sorting = make_data(5, 2.0, 8, args.seed + 1)
    for name in ("preprocessed", "raw"):
        run_scenario(name, tiny_recording, tiny_sorting)
    scenarios = {name: run_scenario(name, recording, sorting) for name in ("preprocessed", "raw")}
    import spikelab

    report = {
        "quick": args.quick, "units": n_units, "duration_s": duration_s, "channels": n_channels, "fs_Hz": FS,
        "spikes": int(sorting.count_total_num_spikes()), "seed": args.seed, "scenarios": scenarios,
        "versions": {"spikelab": spikelab.__version__, "spikeinterface": spikeinterface.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "machine": f"{platform.platform()}, {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "target": "spikelab >= 5x faster than spikeinterface (preprocessed scenario)",
    }
    stem = "curation_quick" if args.quick else "curation"  # a quick run never overwrites the full one
    write_atomic(RESULTS / f"{stem}.json", json.dumps(report, indent=2) + "\n")
    lines = [
        f"Curation metrics (firing rate, ISI violations, SNR) for {n_units} units x {duration_s / 60:.0f} min, "
        f"{n_channels} channels at {FS / 1000:.0f} kHz, {report['spikes']} spikes"
        f"{' (quick run)' if args.quick else ''}; one process each. Target: >= 5x in `preprocessed`.",
        "",
        "| scenario | SpikeInterface (s) | SpikeLab (s) | speed-up | firing rate max rel. diff | ISI counts equal "
        "| SNR max / median rel. diff | SNR max rel. diff, units with SNR >= 5 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in scenarios.items():
        lines.append(
            f"| {name} | {s['spikeinterface_s']:.1f} | {s['spikelab_s']:.1f} | {s['speedup']:.1f}x | "
            f"{s['firing_rate_max_rel_diff']:.1e} | {s['isi_violation_counts_equal']} | "
            f"{s['snr_max_rel_diff']:.1%} / {s['snr_median_rel_diff']:.1%} | "
            f"{s['snr_max_rel_diff_at_snr_5_or_more']:.1%} |"
        )
    write_atomic(RESULTS / f"{stem}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
