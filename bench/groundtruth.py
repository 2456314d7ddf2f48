"""Ground-truth recordings for the benchmarks, generated with fixed seeds and cached on disk.

Two layouts, both built with SpikeInterface's ``generate_ground_truth_recording``:

* ``probe``: SpikeInterface's default two-column probe (20 µm pitch, 30 kHz, noise 5, template
  amplitudes 100-500): the data the Kilosort4 feasibility numbers were measured on.
* ``mea``: a Maxwell-like high-density array: a square grid at 17.5 µm pitch, 20 kHz, small
  contacts, Gaussian noise of 6 µV and templates whose trough on the best electrode is roughly
  30-200 µV (cells sit on the array, 5-30 µm above it).

Each dataset is a named preset (short, CI-sized variants and long ones with minutes of data and
hundreds of channels) and is cached under ``bench/data/<name>-<hash of its parameters>/``
(``recording/`` binary float32 in µV, ``gt/`` numpy folder, ``params.json``, ``stats.json``). A
changed preset gets a new folder; an interrupted generation leaves only a ``.tmp-*`` folder.

    python bench/groundtruth.py --list
    python bench/groundtruth.py probe-quick mea-quick     # generate (or find) these
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"

_PROBE = {"layout": "probe", "sampling_frequency": 30000.0, "noise_uV": 5.0, "refractory_period_ms": 4.0}
_MEA = {"layout": "mea", "sampling_frequency": 20000.0, "noise_uV": 6.0, "refractory_period_ms": 4.0,
        "pitch_um": 17.5, "alpha": [60.0, 300.0], "z_um": [5.0, 30.0]}

PRESETS: dict[str, dict] = {
    # CI-sized. probe-quick is the smallest recording Kilosort4 still sorts well on a CPU.
    "probe-quick": {**_PROBE, "num_channels": 32, "duration_s": 10.0, "num_units": 16, "firing_rate": 50.0, "seed": 42},
    "mea-quick": {**_MEA, "num_channels": 64, "duration_s": 20.0, "num_units": 16, "firing_rate": 20.0, "seed": 7},
    # Full run: the scaling ladder and the long variants.
    "probe-32x60": {**_PROBE, "num_channels": 32, "duration_s": 60.0, "num_units": 16, "firing_rate": 15.0, "seed": 42},
    "probe-64x120": {
        **_PROBE,
        "num_channels": 64,
        "duration_s": 120.0,
        "num_units": 32,
        "firing_rate": 15.0,
        "seed": 42,
    },
    "probe-long": {
        **_PROBE,
        "num_channels": 128,
        "duration_s": 300.0,
        "num_units": 64,
        "firing_rate": 10.0,
        "seed": 42,
    },
    "mea-64x120": {**_MEA, "num_channels": 64, "duration_s": 120.0, "num_units": 24, "firing_rate": 8.0, "seed": 7},
    "mea-long": {**_MEA, "num_channels": 256, "duration_s": 300.0, "num_units": 96, "firing_rate": 5.0, "seed": 7},
}


def key(params: dict) -> str:
    """Short stable hash of a preset's parameters (the cache key)."""
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]


def folder(name: str, params: dict | None = None, data_dir: Path = DATA) -> Path:
    params = PRESETS[name] if params is None else params
    return data_dir / f"{name}-{key(params)}"


def _generate(params: dict):
    from spikeinterface.core import generate_ground_truth_recording

    common = {
        "durations": [params["duration_s"]],
        "sampling_frequency": params["sampling_frequency"],
        "num_units": params["num_units"],
        "seed": params["seed"],
        "generate_sorting_kwargs": {"firing_rates": params["firing_rate"],
                                    "refractory_period_ms": params["refractory_period_ms"]},
        "noise_kwargs": {"noise_levels": params["noise_uV"], "strategy": "on_the_fly"},
    }
    if params["layout"] == "probe":
        return generate_ground_truth_recording(num_channels=params["num_channels"], **common)
    side = int(round(np.sqrt(params["num_channels"])))
    if side * side != params["num_channels"]:
        raise ValueError(
            f"mea layout needs a square channel count, got {params['num_channels']}; use e.g. 64, 256, 1024."
        )
    from spikelab.testing.recordings import grid_recording  # the demo's recording comes from it too

    return grid_recording(
        params["seed"], duration_s=params["duration_s"], num_channels=params["num_channels"],
        num_units=params["num_units"], sampling_frequency=params["sampling_frequency"],
        firing_rate_hz=params["firing_rate"], noise_level_uv=params["noise_uV"], pitch_um=params["pitch_um"],
        alpha=tuple(params["alpha"]), z_um=tuple(params["z_um"]),
    )


def _stats(recording, gt) -> dict:
    """Achieved trough amplitudes on each unit's best channel (µV) and spike counts."""
    from spikeinterface.core import create_sorting_analyzer

    analyzer = create_sorting_analyzer(gt, recording, format="memory", sparse=False)
    analyzer.compute({"random_spikes": {"max_spikes_per_unit": 100, "seed": 0}, "templates": {}})
    templates = analyzer.get_extension("templates").get_data()
    trough = -templates.min(axis=(1, 2))
    counts = np.array(list(gt.count_num_spikes_per_unit().values()))
    return {
        "trough_uV_min_median_max": [round(float(v), 1) for v in (trough.min(), np.median(trough), trough.max())],
        "gt_spikes": int(counts.sum()),
        "spikes_per_unit_min": int(counts.min()),
    }


def load(name: str, data_dir: Path = DATA, params: dict | None = None):
    """Return ``(recording, gt_sorting, info)`` for a preset, generating it on first use.

    Parameters
    ----------
    name : str
        A key of ``PRESETS`` (or any label when ``params`` is given).
    data_dir : Path, default: bench/data
    params : dict | None, default: None
        Parameters in the presets' format; default ``PRESETS[name]``.

    Returns
    -------
    recording : spikeinterface.BaseRecording
        Binary float32 recording in µV (gain 1), with its probe.
    gt_sorting : spikeinterface.BaseSorting
    info : dict
        ``name``, ``params``, ``folder``, ``stats`` and whether it came from the cache.
    """
    import spikeinterface as si

    if params is None:
        if name not in PRESETS:
            raise KeyError(f"unknown ground-truth preset {name!r}; known: {sorted(PRESETS)}")
        params = PRESETS[name]
    target = folder(name, params, data_dir)
    cached = (target / "stats.json").exists()
    if not cached:
        tmp = data_dir / f".tmp-{target.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        recording, gt = _generate(params)
        recording.set_channel_gains(1.0)
        recording.set_channel_offsets(0.0)
        recording.save(folder=tmp / "recording", format="binary", n_jobs=1, progress_bar=True)
        gt.save(folder=tmp / "gt", format="numpy_folder")
        (tmp / "params.json").write_text(json.dumps(params, indent=1, sort_keys=True))
        stats = _stats(si.load(tmp / "recording"), si.load(tmp / "gt"))
        (tmp / "stats.json").write_text(json.dumps(stats, indent=1))
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
    recording, gt = si.load(target / "recording"), si.load(target / "gt")
    stats = json.loads((target / "stats.json").read_text())
    return recording, gt, {"name": name, "params": params, "folder": str(target), "stats": stats, "cached": cached}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"presets to generate (known: {sorted(PRESETS)})")
    parser.add_argument("--list", action="store_true", help="print the presets and their cache folders")
    args = parser.parse_args(argv)
    if args.list or not args.names:
        for name, params in PRESETS.items():
            print(f"{name:14s} {params['num_channels']:4d} ch x {params['duration_s']:6.0f} s, "
                  f"{params['num_units']:3d} units -> {folder(name)}")
        return 0
    for name in args.names:
        _, _, info = load(name)
        print(f"{name}: {info['folder']} ({'cached' if info['cached'] else 'generated'}) {info['stats']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
