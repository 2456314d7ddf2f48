"""Waveform extraction peak memory: the same recording at 1 minute and at 30 minutes.

``build_spikedata`` streams the chunks that hold sampled spikes, so its peak memory should not
grow with the recording's length (only the spike trains do, 16 bytes a spike). Each length is
measured in its own interpreter: the recording is generated lazily (SpikeInterface's on-the-fly
noise plus injected templates, band-pass filtered lazily as the pipeline does), so nothing but
the extraction itself can raise the peak. Reported: peak RSS of the process, RSS just before
extraction, their difference, wall time, and what holding the traces in memory would take.

    python bench/waveforms/run.py            # 64 channels, 60 units: 1 min vs 30 min
    python bench/waveforms/run.py --quick    # 32 channels, 30 units: 1 min vs 10 min
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parents[1] / "results" / "waveforms"
FS = 20000.0


def worker(duration_min: float, n_channels: int, n_units: int, folder: str) -> dict:
    """Extract waveforms once and report memory (runs in a fresh interpreter)."""
    import spikeinterface.preprocessing as spre
    from spikeinterface.core import generate_ground_truth_recording

    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.spike_sorting.waveforms import build_spikedata

    recording, sorting = generate_ground_truth_recording(
        durations=[duration_min * 60.0], sampling_frequency=FS, num_channels=n_channels, num_units=n_units,
        seed=0, generate_sorting_kwargs={"firing_rates": 5.0, "refractory_period_ms": 4.0},
        noise_kwargs={"noise_levels": 5.0, "strategy": "on_the_fly"},
    )
    filtered = spre.bandpass_filter(recording, freq_min=300.0, freq_max=6000.0)
    n_spikes = int(sorting.to_spike_vector().size)
    config = SortingPipelineConfig().override(reextract_waveforms=True)
    before = psutil.Process().memory_info().rss
    cpu_before = psutil.Process().cpu_times()
    start = time.perf_counter()
    sd = build_spikedata(filtered, sorting, config, Path(folder), progress_bar=False)
    seconds = time.perf_counter() - start
    cpu_after = psutil.Process().cpu_times()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    return {
        "duration_min": duration_min,
        "channels": n_channels,
        "units": sd.N,
        "spikes": n_spikes,
        "rss_before_mib": before / 2**20,
        "peak_rss_mib": peak / 2**20,
        "extraction_peak_delta_mib": (peak - before) / 2**20,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "traces_in_memory_mib": duration_min * 60 * FS * n_channels * 4 / 2**20,
        "snippet_mib": sd.raw_data.nbytes / 2**20,
    }


def measure(duration_min: float, n_channels: int, n_units: int, folder: Path) -> dict:
    command = [sys.executable, __file__, "--worker", str(duration_min), str(n_channels), str(n_units), str(folder)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        duration, channels, units, folder = args.worker
        print(json.dumps(worker(float(duration), int(channels), int(units), folder)))
        return 0
    channels, units, lengths = (32, 30, (1.0, 10.0)) if args.quick else (64, 60, (1.0, 30.0))
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in lengths:
            print(f"waveforms: {minutes:g} min, {channels} channels, {units} units", flush=True)
            rows.append(measure(minutes, channels, units, Path(tmp) / f"wf_{minutes:g}"))
    short, long = rows
    ratio = long["extraction_peak_delta_mib"] / max(short["extraction_peak_delta_mib"], 1e-9)
    summary = {
        "machine": f"{platform.platform()}, {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "quick": args.quick, "rows": rows, "peak_delta_ratio_long_over_short": ratio,
        "peak_rss_ratio_long_over_short": long["peak_rss_mib"] / short["peak_rss_mib"],
        "length_ratio": long["duration_min"] / short["duration_min"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "waveforms_quick" if args.quick else "waveforms"  # a quick run does not overwrite the full one
    (RESULTS / f"{stem}.json").write_text(json.dumps(summary, indent=2))
    (RESULTS / f"{stem}.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


def markdown(summary: dict) -> str:
    lines = [
        "## Waveform extraction memory vs recording length",
        "",
        f"{summary['machine']}; {'quick' if summary['quick'] else 'full'} run. Each length in a fresh "
        "interpreter; lazily generated recording, lazily band-pass filtered; default WaveformConfig "
        "(300 spikes/unit, 1 s chunks). Wall time depends on machine load; CPU time includes generating "
        "and filtering the traces.",
        "",
        "| length (min) | channels | units | spikes | RSS before (MiB) | peak RSS (MiB) "
        "| extraction peak - before (MiB) "
        "| traces if held in memory (MiB) | raw snippets kept (MiB) | wall (s) | CPU (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        lines.append(
            f"| {r['duration_min']:g} | {r['channels']} | {r['units']} | {r['spikes']} | {r['rss_before_mib']:.0f} "
            f"| {r['peak_rss_mib']:.0f} | {r['extraction_peak_delta_mib']:.0f} | {r['traces_in_memory_mib']:.0f} "
            f"| {r['snippet_mib']:.1f} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} |"
        )
    lines += [
        "",
        f"Recording {summary['length_ratio']:.0f}x longer: peak RSS x{summary['peak_rss_ratio_long_over_short']:.2f}, "
        f"extraction's own peak x{summary['peak_delta_ratio_long_over_short']:.2f} (target: independent of length). "
        "What still grows is the spike trains themselves (every spike is kept in the SpikeData), a few "
        "tens of bytes per spike.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
