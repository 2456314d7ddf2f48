"""Biophysically realistic ground-truth recordings made with MEArec, cached in ``bench/data``.

    python bench/mearec/make.py --list
    python bench/mearec/make.py mearec-mea mearec-probe     # generate (or find) these

MEArec simulates BBP cell models with NEURON and LFPy (extracellular templates), then builds a
recording from them with spike trains, bursting, drift and correlated noise. It runs in its own
virtualenv, ``bench/data/mearec-venv`` (MEArec 1.11, NEURON 9, LFPy), made on first use with
``python -m venv`` and ``pip install MEArec neuron LFPy``; ``_generate.py`` runs there and exports
plain arrays, which this script (run in SpikeLab's environment) turns into:

* ``mearec-mea``: a Maxwell-like dense MEA (10 x 10 contacts at 17.5 µm, 20 kHz), written as a
  legacy Maxwell ``.raw.h5`` with the test kit's writer (``spikelab.testing.maxwell``), uint16 at
  Maxwell's 6.29 µV per step, so SpikeLab's sorts go through SpikeLab's own Maxwell reader;
* ``mearec-probe``: a Neuropixels-like probe (64 contacts, 4 staggered columns, 30 kHz), saved as a
  SpikeInterface binary folder with its probe.

Each has fixed seeds and is cached under ``bench/data/<name>-<hash of its parameters>/`` with
``gt/`` (the true sorting), ``params.json`` and ``stats.json``, in the layout of
``bench/groundtruth.py``; the templates are cached separately (``bench/data/mearec/``) and shared by
every recording on the same probe. Template generation is the slow part, on a shared 2-core machine
about 24 minutes for the MEA's 13 cell models x 6 positions and 17 minutes for the probe's 13 x 4 (load
average 7-13); a recording takes a few minutes. The venv's first install takes about 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
MEAREC_DIR = DATA / "mearec"
VENV = DATA / "mearec-venv"
REQUIREMENTS = ["MEArec==1.11.*", "neuron==9.*", "LFPy"]

_MEA_PROBE = {"electrode_name": "Maxwell-10x10", "description": "Maxwell-like grid, 17.5 um pitch",
              "sortlist": None, "pitch": 17.5, "dim": 10, "size": 4.5, "plane": "yz", "shape": "square",
              "type": "mea"}
_NP_PROBE = {"electrode_name": "Neuropixels-64", "description": "64 contacts, 4 staggered columns",
             "sortlist": None, "pitch": [40.0, 16.0], "dim": [16, 4], "stagger": 20, "size": 6.0,
             "plane": "yz", "shape": "square", "type": "mea"}
# Drifting templates (11 positions each, nearly along the probe's z axis, MEArec's preferred
# drift direction within 15 degrees): slow drift needs them.
_TEMPLATES = {"n": 6, "seed": 0, "drifting": True, "drift_steps": 11, "min_drift": 20, "max_drift": 60,
              "drift_zlim": [20, 60], "drift_xlim": [-3, 3], "drift_ylim": [-3, 3], "min_amp": 30}


def _recording(fs: float, duration_s: float, noise_uV: float, drift_um_per_min: float, seed: int,
               n_exc: int = 12, n_inh: int = 4) -> dict:
    return {
        "spiketrains": {"n_exc": n_exc, "n_inh": n_inh, "duration": duration_s, "f_exc": 5, "f_inh": 15},
        "templates": {"min_amp": 40, "max_amp": 300, "min_dist": 20},
        "recordings": {"fs": fs, "noise_level": noise_uV, "noise_mode": "distance-correlated",
                       "bursting": True, "n_bursting": 4, "shape_mod": True, "filter": True,
                       "drifting": True, "drift_mode_speed": "slow", "drift_mode_probe": "rigid",
                       "slow_drift_velocity": drift_um_per_min, "slow_drift_waveform": "sine"},
        "seeds": {"spiketrains": seed, "templates": seed + 1, "convolution": seed + 2, "noise": seed + 3},
    }


PRESETS: dict[str, dict] = {
    "mearec-mea": {"layout": "maxwell", "probe": _MEA_PROBE, "templates": _TEMPLATES,
                   "recordings": _recording(20000.0, 60.0, 8.0, 10.0, seed=11)},
    # 8 excitatory + 8 inhibitory cells, not 12 + 4: only 4 of MEArec's 13 BBP models are pyramidal
    # (excitatory), so 4 positions per model give 16 excitatory templates, of which 12 have a trough
    # of 40-300 µV on this sparser probe and two sit 10 µm apart; MEArec could not place 12 of them
    # 20 µm apart ("Templates could not be selected"). 6 positions per model, as on the MEA, would
    # have cost another ~25 minutes of template generation on the shared 2-core machine.
    "mearec-probe": {"layout": "probe", "probe": _NP_PROBE, "templates": {**_TEMPLATES, "n": 4},
                     "recordings": _recording(30000.0, 60.0, 10.0, 20.0, seed=21, n_exc=8, n_inh=8)},
}


def venv_python() -> Path:
    """The MEArec virtualenv's interpreter, creating the venv on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        venv.create(VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    return python


def _export(raw: Path, target: Path, layout: str) -> None:
    """Write the MEArec arrays as a Maxwell file or a binary folder, and the true sorting."""
    import numpy as np
    import probeinterface
    from spikeinterface.core import NumpyRecording, NumpySorting

    from spikelab.testing.maxwell import DEFAULT_LSB_V, MID_SCALE, write_legacy

    info = json.loads((raw / "info.json").read_text())
    fs = info["fs"]
    traces = np.load(raw / "traces.npy", mmap_mode="r")
    positions = np.load(raw / "positions.npy")
    spikes = np.load(raw / "spikes.npz")
    units = {i: np.rint(spikes[f"arr_{i}"] * fs).astype("int64") for i in range(len(spikes.files))}
    NumpySorting.from_unit_dict(units, fs).save(folder=target / "gt", format="numpy_folder")
    if layout == "maxwell":
        mapping = np.zeros(len(positions), dtype=[("channel", "<i4"), ("electrode", "<i4"), ("x", "<f8"), ("y", "<f8")])
        mapping["channel"] = np.arange(len(positions))
        mapping["electrode"] = np.arange(len(positions))
        mapping["x"], mapping["y"] = positions[:, 0], positions[:, 1]
        codes = np.clip(np.rint(np.asarray(traces).T / (DEFAULT_LSB_V * 1e6)) + MID_SCALE, 0, 1023).astype(np.uint16)
        write_legacy(target / "recording.raw.h5", traces=codes, mapping=mapping)
        return
    recording = NumpyRecording(np.asarray(traces), fs)
    probe = probeinterface.Probe(ndim=2)
    probe.set_contacts(positions, shapes="square", shape_params={"width": 12.0})
    probe.set_device_channel_indices(np.arange(len(positions)))
    recording.set_probe(probe)  # in place since SpikeInterface 0.105 (returns None)
    recording.set_channel_gains(1.0)
    recording.set_channel_offsets(0.0)
    recording.save(folder=target / "recording", format="binary", n_jobs=1)


def _stats(recording, gt) -> dict:
    """``groundtruth._stats`` on the band-passed traces in µV (a Maxwell file sits at mid-scale)."""
    import groundtruth
    from spikeinterface.preprocessing import bandpass_filter, scale_to_uV

    return groundtruth._stats(bandpass_filter(scale_to_uV(recording), freq_min=300.0, freq_max=6000.0), gt)


def summary(params: dict, recording) -> dict:
    """The preset in the accuracy report's terms (channels, duration, units), plus a description."""
    trains, rec = params["recordings"]["spiketrains"], params["recordings"]["recordings"]
    num_units = trains["n_exc"] + trains["n_inh"]
    return {
        "layout": params["layout"], "num_channels": recording.get_num_channels(),
        "duration_s": trains["duration"], "sampling_frequency": rec["fs"], "num_units": num_units,
        "description": (
            f"MEArec, {params['probe']['description']} ({params['probe']['electrode_name']}, "
            f"{'Maxwell .raw.h5' if params['layout'] == 'maxwell' else 'binary'}), {recording.get_num_channels()} ch x "
            f"{trains['duration']:g} s at {rec['fs'] / 1000:g} kHz, {num_units} BBP cells ({trains['n_exc']} exc at "
            f"{trains['f_exc']} Hz, {trains['n_inh']} inh at {trains['f_inh']} Hz, {rec['n_bursting']} bursting), "
            f"{rec['noise_mode']} noise {rec['noise_level']} µV, slow drift {rec['slow_drift_velocity']} µm/min, "
            f"seed {params['recordings']['seeds']['spiketrains']}"),
        "mearec": params,
    }


def load(name: str, data_dir: Path = DATA):
    """Return ``(recording, gt_sorting, info)`` for a MEArec preset, generating it on first use.

    The recording of ``mearec-mea`` is the Maxwell file opened with SpikeLab's reader
    (``info["path"]`` is the file, for ``sort_recording``); the others are binary folders in µV.
    """
    sys.path.insert(0, str(HERE.parent))
    import groundtruth
    import spikeinterface as si

    from spikelab.spike_sorting.io.maxwell import read_maxwell_recording

    params = PRESETS[name]
    target = groundtruth.folder(name, params, data_dir)
    cached = (target / "stats.json").exists()
    if not cached:
        tmp = data_dir / f".tmp-{target.name}"
        spec = {**{k: params[k] for k in ("probe", "templates", "recordings")}, "data_dir": str(MEAREC_DIR)}
        # MEArec's finished arrays of an earlier try (same spec) are reused: only the export failed.
        done = (tmp / "raw" / "info.json").exists() and json.loads((tmp / "spec.json").read_text()) == spec
        if not done:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            MEAREC_DIR.mkdir(parents=True, exist_ok=True)
            (tmp / "spec.json").write_text(json.dumps(spec, indent=1))
            subprocess.run([str(venv_python()), str(HERE / "_generate.py"), str(tmp / "spec.json"),
                            str(tmp / "raw")], check=True, cwd=MEAREC_DIR)  # MEArec writes a scratch file in its cwd
        shutil.rmtree(tmp / "gt", ignore_errors=True)
        shutil.rmtree(tmp / "recording", ignore_errors=True)
        _export(tmp / "raw", tmp, params["layout"])
        (tmp / "params.json").write_text(json.dumps(params, indent=1, sort_keys=True))
        (tmp / "info.json").write_text((tmp / "raw" / "info.json").read_text())
        shutil.rmtree(tmp / "raw")  # the float32 copy; the recording is kept in its final form
        recording = (read_maxwell_recording(tmp / "recording.raw.h5") if params["layout"] == "maxwell"
                     else si.load(tmp / "recording"))
        (tmp / "stats.json").write_text(json.dumps(_stats(recording, si.load(tmp / "gt")), indent=1))
        shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
    path = target / "recording.raw.h5"
    recording = read_maxwell_recording(path) if path.exists() else si.load(target / "recording")
    info = {"name": name, "params": summary(params, recording), "folder": str(target), "cached": cached,
            "stats": json.loads((target / "stats.json").read_text()),
            "path": str(path) if path.exists() else None}
    return recording, si.load(target / "gt"), info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"presets to generate (known: {sorted(PRESETS)})")
    parser.add_argument("--list", action="store_true", help="print the presets and their cache folders")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    import groundtruth

    if args.list or not args.names:
        for name, params in PRESETS.items():
            print(f"{name:14s} {params['probe']['electrode_name']}, {params['recordings']['recordings']['fs']:.0f} Hz, "
                  f"{params['recordings']['spiketrains']['duration']:.0f} s -> {groundtruth.folder(name, params)}")
        return 0
    for name in args.names:
        _, _, info = load(name)
        print(f"{name}: {info['folder']} ({'cached' if info['cached'] else 'generated'}) {info['stats']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
