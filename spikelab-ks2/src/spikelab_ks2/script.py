"""The files Kilosort2 reads: channel map, ``ops`` (as a MATLAB function or a .mat) and the main script.

The main script runs Kilosort2 v2.0's pipeline (``preprocessDataSub`` -> ``clusterSingleBatches``
-> ``learnAndSolve8b`` -> merges, splits, cutoff -> ``rezToPhy``) inside ``try``/``catch``: on an
error it prints a line of 40 dashes followed by MATLAB's error report and exits with status 1,
the same convention as SpikeInterface's ``kilosort2_master.m``, so the failure classifier reads
the same text whichever way Kilosort2 ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spikelab.atomic import atomic_open, write_text

CONFIG_NAME = "kilosort2_config.m"
MAIN_NAME = "kilosort2_main.m"
CHANMAP_NAME = "chanMap.mat"
OPS_MAT_NAME = "ops.mat"
#: Printed before MATLAB's error report when the run fails.
ERROR_SEPARATOR = "-" * 40
#: Printed by the main script before Kilosort2 starts (the classifier reads the channel count).
CHANNELS_LINE = "Recording has {n} channels"


def matlab_literal(value: Any) -> str:
    """``value`` as MATLAB source: numbers, ``Inf``, row vectors, char arrays (quotes doubled)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
        if math.isnan(value):
            return "NaN"
        return repr(value) if value != int(value) else str(int(value))
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + " ".join(matlab_literal(item) for item in value) + "]"
    raise TypeError(f"Cannot write {value!r} ({type(value).__name__}) as a MATLAB value.")


def _write_text_atomic(path: Path, text: str) -> Path:
    return write_text(path, text)


def write_channel_map(folder: Path, locations: np.ndarray, sampling_frequency: float) -> Path:
    """Write ``chanMap.mat`` (1-based ``chanMap``, all channels connected, one shank).

    Parameters
    ----------
    folder : Path
        The sorter folder.
    locations : np.ndarray
        ``(num_channels, 2)`` channel positions in µm.
    sampling_frequency : float
        Sampling rate in Hz.
    """
    import scipy.io

    locations = np.asarray(locations, dtype=float)
    if locations.ndim != 2 or locations.shape[1] != 2:
        raise ValueError(
            f"Kilosort2 needs 2D channel locations, got an array of shape {locations.shape}; "
            "attach a 2D probe to the recording (probeinterface) before sorting."
        )
    n = locations.shape[0]
    content = {
        "Nchannels": float(n),
        "connected": np.ones((n, 1), dtype=bool),
        "chanMap0ind": np.arange(n, dtype=float).reshape(-1, 1),
        "chanMap": np.arange(1, n + 1, dtype=float).reshape(-1, 1),
        "xcoords": locations[:, 0].reshape(-1, 1),
        "ycoords": locations[:, 1].reshape(-1, 1),
        "kcoords": np.ones((n, 1), dtype=float),
        "fs": float(sampling_frequency),
    }
    path = folder / CHANMAP_NAME
    with atomic_open(path) as handle:
        scipy.io.savemat(handle, content)
    return path


def write_ops_mat(folder: Path, ops: Mapping[str, Any]) -> Path:
    """Write ``ops.mat`` (a struct ``ops``), which the compiled Kilosort2 in the Docker image loads."""
    import scipy.io

    struct = {key: (np.asarray(value, dtype=float) if isinstance(value, list) else value) for key, value in ops.items()}
    path = folder / OPS_MAT_NAME
    with atomic_open(path) as handle:
        scipy.io.savemat(handle, {"ops": struct})
    return path


def config_text(ops: Mapping[str, Any], header: str = "") -> str:
    """A MATLAB function ``ops = kilosort2_config()`` setting every field of ``ops``."""
    lines = [
        "function ops = kilosort2_config()",
        "% Kilosort2 options written by spikelab-ks2 from the pipeline configuration.",
    ]
    if header:
        lines += [f"% {line}" for line in header.splitlines()]
    width = max(len(key) for key in ops)
    for key, value in ops.items():
        lines.append(f"ops.{key.ljust(width)} = {matlab_literal(value)};")
    lines.append("end")
    return "\n".join(lines) + "\n"


def main_text(output_folder: str, kilosort_path: str, npy_matlab_path: str | None = None) -> str:
    """The main MATLAB script: Kilosort2 v2.0's pipeline with the error convention above."""
    extra_path = (
        f"    addpath(genpath({matlab_literal(npy_matlab_path)}));\n" if npy_matlab_path else ""
    )
    return f"""% Kilosort2 run written by spikelab-ks2. Options: kilosort2_config.m in this folder.
% On failure it prints a line of dashes, then MATLAB's error report, and exits with status 1.
spikelabOutput = {matlab_literal(output_folder)};
spikelabKilosort = {matlab_literal(kilosort_path)};
try
    set(groot, 'defaultFigureVisible', 'off');
    addpath(genpath(spikelabKilosort));
{extra_path}    addpath(spikelabOutput);
    ops = kilosort2_config();
    fprintf('Kilosort2 from %s\\n', spikelabKilosort);
    fprintf('{CHANNELS_LINE.format(n="%d")}\\n', ops.NchanTOT);
    rez = preprocessDataSub(ops);
    rez = clusterSingleBatches(rez);
    rez = learnAndSolve8b(rez);
    rez = find_merges(rez, 1);
    rez = splitAllClusters(rez, 1);
    rez = splitAllClusters(rez, 0);
    rez = set_cutoff(rez);
    fprintf('found %d good units \\n', sum(rez.good > 0));
    fprintf('Saving results to Phy  \\n');
    rezToPhy(rez, spikelabOutput);
catch spikelabError
    fprintf('%s\\n', repmat('-', 1, {len(ERROR_SEPARATOR)}));
    fprintf('%s\\n', getReport(spikelabError, 'extended', 'hyperlinks', 'off'));
    exit(1);
end
exit(0);
"""


def write_matlab_files(
    folder: Path,
    ops: Mapping[str, Any],
    *,
    kilosort_path: str,
    npy_matlab_path: str | None = None,
    header: str = "",
) -> tuple[Path, Path]:
    """Write ``kilosort2_config.m`` and ``kilosort2_main.m`` into ``folder``; returns their paths."""
    config = _write_text_atomic(folder / CONFIG_NAME, config_text(ops, header))
    main = _write_text_atomic(folder / MAIN_NAME, main_text(str(folder), kilosort_path, npy_matlab_path))
    return config, main


def matlab_command(executable: str, main_script: Path, mode: str = "batch") -> list[str]:
    """The MATLAB command line that runs ``main_script``.

    Parameters
    ----------
    executable : str
        ``matlab`` or its full path.
    main_script : Path
        The generated main script.
    mode : {"batch", "r"}, default: "batch"
        ``-batch`` (R2019a and later: no desktop, errors give a non-zero exit) or the older
        ``-nodisplay -nosplash -r``, wrapped so that MATLAB always exits.
    """
    statement = f"run({matlab_literal(str(main_script))})"
    if mode == "batch":
        return [executable, "-batch", statement]
    if mode == "r":
        wrapped = f"try, {statement}; catch spikelabErr, disp(getReport(spikelabErr)); exit(1); end; exit(0);"
        return [executable, "-nodisplay", "-nosplash", "-r", wrapped]
    raise ValueError(f"matlab_mode must be 'batch' or 'r', got {mode!r}.")
