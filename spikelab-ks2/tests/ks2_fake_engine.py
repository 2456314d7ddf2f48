"""A stand-in for Kilosort2 itself, shared by the fake ``matlab`` executable and the fake Docker client.

It reads what the real Kilosort2 reads (the ``ops`` fields, ``chanMap.mat``, the int16 binary),
prints Kilosort2 v2.0's own progress and failure lines (format strings from its sources, error
text from users' reports), and on success writes the phy files ``rezToPhy`` writes, with the
ground-truth spike times of the generated recording (``SPIKELAB_FAKE_KS2_GT``, an .npz with
``samples`` and ``labels``) and templates averaged from the binary it read.

Failure variants (``SPIKELAB_FAKE_KS2_MODE``): ok, gpu_oom, host_oom, disk, mex, no_good_channels,
few_spikes, cuda_fault, silent_exit (exit 0, no output), unknown_error (an error no classifier
knows: rezToPhy's "Reference to non-existent field 'Wphy'", #384), hang (sleeps while optimizing). ``SPIKELAB_FAKE_KS2_OOM_ABOVE_NT``
limits gpu_oom to batches larger than that NT (so an OOM retry can succeed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

MODES = (
    "ok", "gpu_oom", "host_oom", "disk", "mex", "no_good_channels", "few_spikes", "cuda_fault",
    "silent_exit", "unknown_error", "hang",
)
DASHES = "-" * 40


class FakeKilosortError(Exception):
    """MATLAB's error report text for a failed run."""


def _count_crossings(data: np.ndarray, fs: float, fshigh: float, spk_th: float, nt0: int) -> int:
    from scipy.signal import butter, sosfiltfilt

    sos = butter(3, fshigh / fs * 2, btype="high", output="sos")
    filtered = sosfiltfilt(sos, data.astype(np.float64), axis=0)
    filtered -= np.median(filtered, axis=1, keepdims=True)
    filtered /= filtered.std(axis=0) + 1e-12
    below = filtered < spk_th
    minima = (filtered <= np.roll(filtered, 1, axis=0)) & (filtered <= np.roll(filtered, -1, axis=0))
    hits = below & minima
    hits[:nt0] = False
    hits[-nt0:] = False
    return int(hits.sum())


def _write_npy_col(path: Path, values: np.ndarray, dtype: str) -> None:
    np.save(path, np.asarray(values, dtype=dtype).reshape(-1, 1))


def _write_tsv(path: Path, header: str, rows: list[str]) -> None:
    path.write_bytes(("\r\n".join([header] + rows) + "\r\n").encode())


def write_phy(ops: dict, output: Path, data: np.ndarray, chanmap: dict, samples: np.ndarray, labels: np.ndarray) -> int:
    """The phy files Kilosort2's ``rezToPhy`` writes; returns the number of 'good' units."""
    nt0 = int(ops["nt0"])
    nt0min = int(math.ceil(20 * nt0 / 61))
    n_samples, n_channels = data.shape
    keep = (samples >= nt0min) & (samples < n_samples - (nt0 - nt0min))
    samples, labels = samples[keep], labels[keep]
    order = np.argsort(samples, kind="stable")
    samples, labels = samples[order], labels[order]
    unit_ids = np.unique(labels)
    templates = np.zeros((len(unit_ids), nt0, n_channels), dtype=np.float32)
    amplitudes = np.zeros(len(samples))
    for index, unit in enumerate(unit_ids):
        times = samples[labels == unit][:200]
        windows = np.stack([data[t - nt0min : t - nt0min + nt0] for t in times]).astype(np.float32)
        templates[index] = windows.mean(axis=0)
        amplitudes[labels == unit] = float(np.ptp(templates[index], axis=0).max())
    cluster = np.searchsorted(unit_ids, labels)
    _write_npy_col(output / "spike_times.npy", samples, "uint64")
    _write_npy_col(output / "spike_templates.npy", cluster, "uint32")
    _write_npy_col(output / "spike_clusters.npy", cluster, "int32")
    _write_npy_col(output / "amplitudes.npy", amplitudes, "float64")
    np.save(output / "templates.npy", templates)
    np.save(output / "templates_ind.npy", np.tile(np.arange(n_channels, dtype=np.float64), (len(unit_ids), 1)))
    _write_npy_col(output / "channel_map.npy", np.ravel(chanmap["chanMap0ind"]), "int32")
    positions = np.column_stack([np.ravel(chanmap["xcoords"]), np.ravel(chanmap["ycoords"])])
    np.save(output / "channel_positions.npy", positions.astype(np.float64))
    np.save(output / "similar_templates.npy", np.eye(len(unit_ids), dtype=np.float32))
    np.save(output / "whitening_mat.npy", np.eye(n_channels))
    np.save(output / "whitening_mat_inv.npy", np.eye(n_channels))
    counts = np.bincount(cluster, minlength=len(unit_ids))
    good = [bool(c >= 20) and i != len(unit_ids) - 1 for i, c in enumerate(counts)]  # last one 'mua'
    _write_tsv(
        output / "cluster_KSLabel.tsv",
        "cluster_id\tKSLabel",
        [f"{i}\t{'good' if g else 'mua'}" for i, g in enumerate(good)],
    )
    (output / "cluster_group.tsv").write_bytes((output / "cluster_KSLabel.tsv").read_bytes())  # rezToPhy copies it
    _write_tsv(
        output / "cluster_ContamPct.tsv", "cluster_id\tContamPct", [f"{i}\t{2.5:.1f}" for i in range(len(unit_ids))]
    )
    _write_tsv(
        output / "cluster_Amplitude.tsv",
        "cluster_id\tAmplitude",
        [f"{i}\t{float(np.ptp(t)):.1f}" for i, t in enumerate(templates)],
    )
    name = Path(str(ops["fbinary"])).name
    (output / "params.py").write_text(
        f"dat_path = '{name}'\nn_channels_dat = {int(ops['NchanTOT'])}\ndtype = 'int16'\noffset = 0\n"
        f"sample_rate = {ops['fs']:.0f}.\nhp_filtered = False"
    )
    return sum(good)


def run(
    ops: dict, output: Path, binary: Path, chanmap_path: Path, say: Callable[[str], None], kilosort_path: str = ""
) -> None:
    """Replay one Kilosort2 run; raises FakeKilosortError with MATLAB's report on a failure."""
    import scipy.io

    mode = os.environ.get("SPIKELAB_FAKE_KS2_MODE", "ok")
    assert mode in MODES, mode
    for field in ("NT", "ntbuff", "NchanTOT", "fs", "spkTh", "fshigh", "nt0", "fproc", "Th", "minfr_goodchannels"):
        if field not in ops:
            raise FakeKilosortError(f"Reference to non-existent field '{field}'.")
    nt, ntbuff, nchan = int(ops["NT"]), int(ops["ntbuff"]), int(ops["NchanTOT"])
    assert nt % 32 == 0 and nt >= 1024, f"NT={nt} is not a multiple of 32 >= 1024"
    assert -12 < float(ops["spkTh"]) < 0 and len(np.ravel(ops["Th"])) == 2
    if mode == "mex":
        say("Time   0s. Determining good channels.. ")
        raise FakeKilosortError(
            f"Invalid MEX-file '{kilosort_path}/CUDA/mexThSpkPC.mexa64':\n{kilosort_path}/CUDA/mexThSpkPC.mexa64: "
            "failed to map segment from shared object"
        )
    chanmap = scipy.io.loadmat(str(chanmap_path))
    assert int(np.ravel(chanmap["Nchannels"])[0]) == nchan, "chanMap.mat and ops.NchanTOT disagree"
    size = binary.stat().st_size
    assert size % (2 * nchan) == 0, "binary size is not a whole number of int16 frames"
    data = np.memmap(binary, dtype=np.int16, mode="r").reshape(-1, nchan)
    fs = float(ops["fs"])
    n_batches = math.ceil(data.shape[0] / (nt - ntbuff))
    seconds = data.shape[0] / fs

    say("Time   0s. Determining good channels.. ")
    if mode == "no_good_channels":
        say(f"found 0 threshold crossings in {seconds:2.2f} seconds of data ")
        say(f"found {nchan} bad channels ")
        say("Time   0s. Computing whitening matrix.. ")
        say("Getting channel whitening matrix... ")
        raise FakeKilosortError(
            "Index exceeds the number of array elements (0).\n\nError in get_whitening_matrix (line 28)"
        )
    crossings = (
        312
        if mode == "few_spikes"
        else _count_crossings(data, fs, float(ops["fshigh"]), float(ops["spkTh"]), int(ops["nt0"]))
    )
    say(f"found {crossings} threshold crossings in {seconds:2.2f} seconds of data ")
    say("found 0 bad channels ")
    say("Time   0s. Computing whitening matrix.. ")
    say("Getting channel whitening matrix... ")
    say("Channel-whitening matrix computed. ")
    say("Time   1s. Loading raw data and applying filters... ")
    if mode == "disk":
        raise FakeKilosortError(f"Error writing batch 1 to {ops['fproc']}. Check available disk space.")
    (output / Path(str(ops["fproc"])).name).write_bytes(b"\0" * 64)  # the whitened copy (temp_wh.dat)
    say(f"Time   2s. Finished preprocessing {n_batches} batches. ")
    say("random seed for clusterSingleBatches: 1")
    say("Obtained 7 PC waveforms in 0.17 seconds ")
    if mode == "few_spikes":
        say("Batch 1 has fewer than Nfilt spikes.")
        say("Warning: data batch #1 only had 3 spikes ")
    say(f"time 0.16, pre clustered 1 / {n_batches} batches ")
    say(f"time 0.01, compared 1 / {n_batches} batches ")
    say(f"time 0.35, Re-ordered {n_batches} batches. ")
    say("Time   3s. Optimizing templates ...")
    if mode == "few_spikes":
        say(f"0.12 sec, 1 / {n_batches} batches, 2 units, nspks: 3.0000, mu: 10.0000, nst0: 3, merges: 0.0000, 0.0000 ")
        raise FakeKilosortError(
            "Error using gpuArray/nan\nAn unexpected error occurred trying to launch a kernel. The CUDA error was:\n"
            "invalid configuration argument\n\nError in learnTemplates (line 119)"
        )
    oom_above = os.environ.get("SPIKELAB_FAKE_KS2_OOM_ABOVE_NT")
    say(
        f"0.42 sec, 1 / {n_batches} batches, 24 units, nspks: 1843.2210, mu: 14.8789, nst0: 188, merges: 0.0000, 0.0000 "
    )
    if mode == "gpu_oom" and (oom_above is None or nt > int(oom_above)):
        raise FakeKilosortError(
            "Error using  * \nOut of memory on device. To view more detail about available memory on the GPU, use "
            "'gpuDevice()'. If the problem persists, reset the GPU by calling 'gpuDevice(1)'.\n\n"
            "Error in learnTemplates (line 168)"
        )
    if mode == "host_oom":
        raise FakeKilosortError("Out of memory. Type HELP MEMORY for your options.\n\nError in trackAndSort (line 185)")
    if mode == "cuda_fault":
        raise FakeKilosortError(
            "An unexpected error occurred during CUDA execution. The CUDA error was:\nCUDA_ERROR_ILLEGAL_ADDRESS\n\n"
            "Error in learnTemplates (line 187)"
        )
    if mode == "hang":
        import time

        time.sleep(600)
    say("Finished learning templates ")
    if mode == "silent_exit":
        return
    gt = np.load(os.environ["SPIKELAB_FAKE_KS2_GT"])
    say(f"Number of spikes before applying cutoff: {len(gt['samples'])}")
    say("Finished compressing time-varying templates ")
    say("initialized spike counts")
    say(
        f"Finished splitting. Found 0 splits, checked {len(np.unique(gt['labels']))}/{len(np.unique(gt['labels']))} clusters, nccg 0 "
    )
    if mode == "unknown_error":
        say(f"found {len(np.unique(gt['labels']))} good units ")
        say("Saving results to Phy  ")
        raise FakeKilosortError("Reference to non-existent field 'Wphy'.\n\nError in rezToPhy (line 82)")
    good = write_phy(ops, output, np.asarray(data), chanmap, gt["samples"].astype(np.int64), gt["labels"])
    say(f"found {good} good units ")
    say("Saving results to Phy  ")
