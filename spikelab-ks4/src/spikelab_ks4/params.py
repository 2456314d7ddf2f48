"""How Kilosort4's parameters (declared in :mod:`spikelab_ks4.parameters`) map onto ``run_kilosort``.

Three kinds of parameter live in one flat ``sorter_params`` dict: Kilosort4 *settings*
(``batch_size``, ...), ``run_kilosort`` *arguments* (``do_CAR``, ...) and SpikeLab's own options
(``torch_device``, ...). ``None`` for a setting means "Kilosort's own default" and is left out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from spikelab.errors import did_you_mean
from spikelab_ks4.errors import KilosortSettingsError
from spikelab_ks4.parameters import defaults_of

#: Kilosort4 4.1.x settings and their defaults (``kilosort.parameters.DEFAULT_SETTINGS``), except
#: ``n_chan_bin`` and ``fs`` (taken from the recording). ``None``: Kilosort's default.
KS4_SETTINGS: dict[str, Any] = defaults_of("setting")

#: ``run_kilosort`` keyword arguments a user may set, with their defaults.
RUN_ARGUMENTS: dict[str, Any] = defaults_of("run")

#: SpikeLab's own options.
SPIKELAB_OPTIONS: dict[str, Any] = defaults_of("spikelab")

DEFAULT_PARAMS: dict[str, Any] = {**KS4_SETTINGS, **RUN_ARGUMENTS, **SPIKELAB_OPTIONS}

#: Settings the runner fills in itself; a user value would contradict the recording.
RESERVED: dict[str, str] = {
    "n_chan_bin": "the number of channels comes from the recording",
    "fs": "the sampling rate comes from the recording",
    "filename": "the pipeline passes the recording's binary file",
    "data_dir": "the pipeline passes the recording's binary file",
    "results_dir": "results go to the sorter folder",
    "probe_name": "the probe comes from the recording's channel locations",
    "probe_path": "the probe comes from the recording's channel locations",
    "device": "use torch_device ('auto', 'cpu', 'cuda' or 'cuda:N')",
    "data_dtype": "the dtype comes from the recording",
}

DEFAULT_IMAGE = "spikeinterface/kilosort4-base"
BATCH_SIZE_FLOOR = 7500
MIN_BATCH_SAMPLES = 1000


@attrs.frozen
class KilosortCall:
    """What one ``run_kilosort`` call gets from SpikeLab's parameters.

    Parameters
    ----------
    settings : dict
        Kilosort4 settings without ``n_chan_bin`` and ``fs`` (added by the runner).
    run_arguments : dict
        Keyword arguments of ``run_kilosort``.
    options : dict
        SpikeLab's own options.
    """

    settings: dict[str, Any]
    run_arguments: dict[str, Any]
    options: dict[str, Any]


def unknown_param_problems(params: Mapping[str, Any]) -> list[str]:
    """One message per parameter Kilosort4 would reject, naming close matches and the fix."""
    problems = []
    known = list(DEFAULT_PARAMS)
    for name in params:
        if name in DEFAULT_PARAMS:
            continue
        if name in RESERVED:
            problems.append(f"Kilosort4 parameter {name!r} cannot be set: {RESERVED[name]}.")
            continue
        hint = did_you_mean(name, known)
        problems.append(
            f"Unknown Kilosort4 parameter {name!r}.{hint} Valid names are Kilosort4's settings "
            "(kilosort.parameters.DEFAULT_SETTINGS) and spikelab_ks4.params.DEFAULT_PARAMS."
        )
    return problems


def split_params(params: Mapping[str, Any]) -> KilosortCall:
    """Sort a flat parameter dict into Kilosort settings, run arguments and SpikeLab options.

    Raises
    ------
    KilosortSettingsError
        For a name Kilosort4 does not know (with close matches) or one the pipeline sets itself.
    """
    problems = unknown_param_problems(params)
    if problems:
        bad = [name for name in params if name not in DEFAULT_PARAMS]
        raise KilosortSettingsError(" ".join(problems), sorter="kilosort4", setting=bad[0])
    merged = {**DEFAULT_PARAMS, **params}
    settings = {k: merged[k] for k in KS4_SETTINGS if merged[k] is not None}
    if settings["nt"] % 2 == 0:
        raise KilosortSettingsError(
            f"Kilosort4's nt must be odd, got {settings['nt']} (its default is 61).",
            sorter="kilosort4",
            setting="nt",
        )
    return KilosortCall(
        settings=settings,
        run_arguments={k: merged[k] for k in RUN_ARGUMENTS},
        options={k: merged[k] for k in SPIKELAB_OPTIONS},
    )


def fit_batch_size(batch_size: int, num_samples: int) -> int:
    """The batch size to use for a recording of ``num_samples`` samples.

    Kilosort4 needs at least two batches (its whitening skips the last one): with a single batch
    it fails in ``linalg.svd`` on non-finite values. A batch as long as the recording or longer is
    shrunk to half the recording.

    Raises
    ------
    KilosortSettingsError
        When the recording is too short to make two batches of ``MIN_BATCH_SAMPLES``.
    """
    if batch_size < num_samples:
        return batch_size
    fitted = num_samples // 2
    if fitted < MIN_BATCH_SAMPLES:
        raise KilosortSettingsError(
            f"The recording has only {num_samples} samples; Kilosort4 needs at least "
            f"{2 * MIN_BATCH_SAMPLES} (two batches). Sort a longer recording or window.",
            sorter="kilosort4",
            setting="batch_size",
        )
    return fitted


def resolve_device(torch_device: str):
    """The ``torch.device`` to sort on; on the CPU, torch may use every core allowed to us.

    Parameters
    ----------
    torch_device : str
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """
    import torch

    name = str(torch_device).lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            from spikelab.spike_sorting._exceptions import GpuNotAvailableError

            raise GpuNotAvailableError(
                f"torch_device={torch_device!r} asks for a GPU, but torch sees none "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}). "
                "Use torch_device='auto' or 'cpu', or install a CUDA build of torch.",
                sorter="kilosort4",
                device=torch_device,
            )
        return torch.device(name)
    if name != "cpu":
        raise KilosortSettingsError(
            f"torch_device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {torch_device!r}.",
            sorter="kilosort4",
            setting="torch_device",
        )
    torch.set_num_threads(allowed_cpu_count())
    return torch.device("cpu")


def allowed_cpu_count() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


#: Kilosort4's defaults assume 30 kHz: ``nt`` = 61 samples (2 ms) with the trough at sample 20.
REFERENCE_FS = 30000.0


def derived_settings(fs: float) -> dict[str, int]:
    """Kilosort4 settings derived from the recording's sampling rate ``fs`` (Hz).

    ``nt`` (waveform length) and ``nt0min`` (trough position) are counted in samples; away from
    30 kHz they are scaled to keep Kilosort's 2 ms window with the trough at 0.67 ms (at 20 kHz:
    41 and 13 instead of 3 ms and 1 ms). Empty at 30 kHz.

    The geometry settings (``dmin``, ``dminx``, ``x_centers``) are left to Kilosort:
    ``bench/ks4/sweep.py`` found the demo's losses come from too few spikes per clustering group,
    not from them (``bench/results/ks4/sweep.md``).
    """
    if fs == REFERENCE_FS:
        return {}
    nt = int(round(61 * fs / REFERENCE_FS))
    nt += 1 - nt % 2  # Kilosort4 needs an odd nt
    return {"nt": nt, "nt0min": int(round(20 * fs / REFERENCE_FS))}
