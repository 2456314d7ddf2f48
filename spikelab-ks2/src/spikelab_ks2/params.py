"""Kilosort2's parameters: the defaults, their checks, and the ``ops`` struct built from them.

The names and defaults follow SpikeInterface's Kilosort2 wrapper, so a SpikeInterface user's
``sorter_params`` work unchanged, except ``freq_min``: SpikeLab's flat ``freq_min`` is the
pipeline's band-pass, so Kilosort2's high-pass is ``fshigh`` (its ``ops`` name; a ``freq_min``
inside ``kilosort_params={...}`` still sets it). The ``ops`` fields are the ones Kilosort2 v2.0 reads
(``preprocessDataSub``, ``get_good_channels``, ``learnTemplates`` ...).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spikelab.errors import ConfigError
from spikelab.plugin import knob, knobs, non_negative, one_of, positive

NAME = "kilosort2"
LOG_NAME = "kilosort2.log"
#: Kilosort2's batch length when ``NT`` is left unset (64 * 1024 samples plus the buffer).
NT_DEFAULT = 64 * 1024 + 64
#: Smallest batch worth running (and the OOM retry floor).
NT_FLOOR = 1024
#: Kilosort2's CUDA kernels need the batch length to be a multiple of this.
NT_MULTIPLE = 32
#: Environment variables that may name the Kilosort2 source folder (SpikeInterface, older SpikeLab).
PATH_ENV_VARS = ("KILOSORT2_PATH", "KILOSORT_PATH")
DEFAULT_DOCKER_IMAGE = "spikeinterface/kilosort2-compiled-base:latest"
#: The MATLAB-compiled Kilosort2 entry point inside the image.
COMPILED_ENTRY = "ks2_compiled"

DEFAULT_PARAMS: dict[str, Any] = {
    # Kilosort2 itself (SpikeInterface's names and defaults)
    "detect_threshold": 6,
    "projection_threshold": [10, 4],
    "preclust_threshold": 8,
    "whiteningRange": 32,
    "momentum": [20.0, 400.0],
    "car": True,
    "minFR": 0.1,
    "minfr_goodchannels": 0.1,
    "fshigh": 150,
    "sigmaMask": 30,
    "lam": 10.0,
    "nPCs": 3,
    "ntbuff": 64,
    "nfilt_factor": 4,
    "NT": None,
    "AUCsplit": 0.9,
    "wave_length": 61,
    "scaleproc": None,
    "keep_good_only": False,
    "delete_temp_wh": True,
    # how it is run
    "matlab_command": "matlab",
    "matlab_mode": "batch",
    "npy_matlab_path": None,
    "docker_client_factory": "docker.from_env",
    "docker_gpu_device_ids": None,
    "docker_pull": True,
    "docker_chown_output": True,
}

PARAM_DESCRIPTIONS: dict[str, str] = {
    "detect_threshold": "Spike detection threshold in noise standard deviations (ops.spkTh = -value).",
    "projection_threshold": "Template projection thresholds [learning, final] (ops.Th).",
    "preclust_threshold": "Threshold crossings for pre-clustering in PCA space (ops.ThPre).",
    "whiteningRange": "Channels used to whiten each channel.",
    "momentum": "Samples averaged over, annealed from the first to the second value.",
    "car": "Common average referencing (ops.CAR).",
    "minFR": "Clusters firing below this rate (Hz) for too long are removed.",
    "minfr_goodchannels": "Channels with fewer threshold crossings per second are dropped (0 keeps all).",
    "fshigh": "High-pass corner of Kilosort2's own filter (Hz). SpikeInterface calls it freq_min, which in "
    "SpikeLab is the pipeline's band-pass; a freq_min inside kilosort_params={...} is still honoured.",
    "sigmaMask": "Spatial constant (µm) for the residual variance of a spike.",
    "lam": "Weight of the amplitude penalty.",
    "nPCs": "PCA dimensions per channel.",
    "ntbuff": "Buffer samples on each side of a batch.",
    "nfilt_factor": "Maximum clusters per good channel.",
    "NT": "Batch length in samples (None: 64*1024 + ntbuff); rounded down to a multiple of 32, at least 1024. "
    "Lower it after GPU out-of-memory errors.",
    "AUCsplit": "Isolation needed to split a cluster at the end (max 1).",
    "wave_length": "Template length in samples (odd, at most 81; ops.nt0).",
    "scaleproc": "int16 scaling of the whitened data (None: 200).",
    "keep_good_only": "Return only the units Kilosort2 labels 'good'.",
    "delete_temp_wh": "Delete Kilosort2's whitened copy (temp_wh.dat, as large as the recording) "
    "after a successful sort.",
    "matlab_command": "MATLAB executable (name on PATH or full path).",
    "matlab_mode": "'batch' (matlab -batch, R2019a and later) or 'r' (matlab -nodisplay -nosplash -r, older MATLAB).",
    "npy_matlab_path": "Folder of npy-matlab (writeNPY.m), when it is not inside kilosort_path.",
    "docker_client_factory": "Dotted path of a callable returning a Docker client ('docker.from_env').",
    "docker_gpu_device_ids": "GPU ids given to the container (e.g. [0] or ['0']); None gives all GPUs.",
    "docker_pull": "Pull the image when it is not present locally.",
    "docker_chown_output": "Give the container's output files to the host user afterwards (POSIX hosts).",
}


def _k(name: str, validator: Any = None, unit: str | None = None) -> Any:
    return knob(DEFAULT_PARAMS[name], PARAM_DESCRIPTIONS[name], unit=unit, validator=validator)


@knobs
class Kilosort2Params:
    """Kilosort2's parameters (SpikeInterface's names) and how SpikeLab runs it."""

    detect_threshold: float = _k("detect_threshold", positive, "noise SD")
    projection_threshold: list[float] = _k("projection_threshold")
    preclust_threshold: float = _k("preclust_threshold", positive)
    whiteningRange: int = _k("whiteningRange", positive)
    momentum: list[float] = _k("momentum")
    car: bool = _k("car")
    minFR: float = _k("minFR", non_negative, "Hz")
    minfr_goodchannels: float = _k("minfr_goodchannels", non_negative, "Hz")
    fshigh: float = _k("fshigh", positive, "Hz")
    sigmaMask: float = _k("sigmaMask", positive, "µm")
    lam: float = _k("lam", non_negative)
    nPCs: int = _k("nPCs", positive)
    ntbuff: int = _k("ntbuff", positive, "samples")
    nfilt_factor: int = _k("nfilt_factor", positive)
    NT: int | None = _k("NT", positive, "samples")
    AUCsplit: float = _k("AUCsplit", positive)
    wave_length: int = _k("wave_length", positive, "samples")
    scaleproc: float | None = _k("scaleproc", positive)
    keep_good_only: bool = _k("keep_good_only")
    delete_temp_wh: bool = _k("delete_temp_wh")
    matlab_command: str = _k("matlab_command")
    matlab_mode: str = _k("matlab_mode", one_of("batch", "r"))
    npy_matlab_path: str | None = _k("npy_matlab_path")
    docker_client_factory: str = _k("docker_client_factory")
    docker_gpu_device_ids: list[str | int] | None = _k("docker_gpu_device_ids")
    docker_pull: bool = _k("docker_pull")
    docker_chown_output: bool = _k("docker_chown_output")


def resolve_nt(params: Mapping[str, Any]) -> int:
    """The batch length Kilosort2 will use.

    Parameters
    ----------
    params : dict
        The backend parameters (``NT`` and ``ntbuff``).

    Returns
    -------
    int
        ``64 * 1024 + ntbuff`` when ``NT`` is None, otherwise ``NT`` rounded down to a multiple of 32.

    Raises
    ------
    ConfigError
        When the result is below 1024 samples or not a number.
    """
    ntbuff = int(params.get("ntbuff", 64))
    raw = params.get("NT")
    if raw is None:
        return 64 * 1024 + ntbuff
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise ConfigError(f"NT must be a whole number of samples (or None), got {raw!r}.")
    nt = int(raw) // NT_MULTIPLE * NT_MULTIPLE
    if nt < NT_FLOOR:
        raise ConfigError(
            f"NT={raw!r} is below Kilosort2's minimum batch of {NT_FLOOR} samples (after rounding "
            f"down to a multiple of {NT_MULTIPLE}); use NT >= {NT_FLOOR} or leave it None."
        )
    return nt


def param_problems(params: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``params``, one actionable sentence per problem (empty when fine)."""
    problems: list[str] = []
    try:
        resolve_nt(params)
    except ConfigError as exc:
        problems.append(str(exc))
    threshold = params.get("projection_threshold")
    if not isinstance(threshold, (list, tuple)) or len(threshold) != 2:
        problems.append(f"projection_threshold must be two numbers [learning, final], got {threshold!r}.")
    momentum = params.get("momentum")
    if not isinstance(momentum, (list, tuple)) or len(momentum) != 2:
        problems.append(f"momentum must be two numbers [start, end], got {momentum!r}.")
    if params.get("matlab_mode") not in ("batch", "r"):
        problems.append(f"matlab_mode must be 'batch' or 'r', got {params.get('matlab_mode')!r}.")
    if params.get("skip_kilosort_preprocessing"):
        problems.append("skip_kilosort_preprocessing is not supported by spikelab-ks2; remove it.")
    return problems


def wave_length(params: Mapping[str, Any]) -> int:
    """``wave_length`` made odd and capped at 81 samples (Kilosort2's GPU shared-memory limit)."""
    value = int(params.get("wave_length", 61))
    if value % 2 == 0:
        value += 1
    return min(value, 81)


def build_ops(
    params: Mapping[str, Any],
    *,
    num_channels: int,
    sampling_frequency: float,
    binary_path: str,
    output_folder: str,
) -> dict[str, Any]:
    """The Kilosort2 ``ops`` struct, as a dict of field name to value.

    Parameters
    ----------
    params : dict
        Backend parameters (defaults merged with the user's).
    num_channels : int
        Channels in the int16 binary (``ops.NchanTOT``).
    sampling_frequency : float
        Sampling rate in Hz (``ops.fs``).
    binary_path : str
        The int16 binary as MATLAB will see it (a container path for Docker runs).
    output_folder : str
        The sorter folder as MATLAB will see it (``temp_wh.dat`` and ``chanMap.mat`` live there).

    Returns
    -------
    dict
        Numbers are floats (Kilosort2 reads every ops field as a double).
    """
    sep = "/" if "/" in output_folder or "\\" not in output_folder else "\\"
    ops: dict[str, Any] = {
        "NchanTOT": num_channels,
        "Nchan": num_channels,
        "datatype": "dat",
        "fbinary": binary_path,
        "fproc": output_folder.rstrip("/\\") + sep + "temp_wh.dat",
        "root": output_folder,
        "chanMap": output_folder.rstrip("/\\") + sep + "chanMap.mat",
        "trange": [0.0, math.inf],
        "fs": float(sampling_frequency),
        "CAR": 1.0 if params["car"] else 0.0,
        "fshigh": params["freq_min"] if "freq_min" in params else params["fshigh"],
        "minfr_goodchannels": params["minfr_goodchannels"],
        "Th": [float(v) for v in params["projection_threshold"]],
        "lam": params["lam"],
        "AUCsplit": params["AUCsplit"],
        "minFR": params["minFR"],
        "momentum": [float(v) for v in params["momentum"]],
        "sigmaMask": params["sigmaMask"],
        "ThPre": params["preclust_threshold"],
        "spkTh": -float(params["detect_threshold"]),
        "reorder": 1,
        "nskip": 25,
        "GPU": 1,
        "nfilt_factor": params["nfilt_factor"],
        "ntbuff": params["ntbuff"],
        "NT": resolve_nt(params),
        "whiteningRange": params["whiteningRange"],
        "nSkipCov": 25,
        "nPCs": params["nPCs"],
        "useRAM": 0,
        "nt0": wave_length(params),
        "scaleproc": 200.0 if params.get("scaleproc") is None else params["scaleproc"],
    }
    return {
        key: float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        for key, value in ops.items()
    }


def kilosort_source_path(sorter_path: str | None) -> Path | None:
    """The Kilosort2 source folder: ``kilosort_path`` if given, else ``KILOSORT2_PATH``/``KILOSORT_PATH``."""
    if sorter_path:
        return Path(str(sorter_path).strip('"')).expanduser()
    for name in PATH_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return Path(value.strip('"')).expanduser()
    return None
