"""Kilosort4's parameters, declared: type, default, unit and meaning of each.

Three kinds live in one flat ``sorter_params`` dict (``kind`` in each field's metadata):

* ``setting``: Kilosort4 settings, passed in ``run_kilosort(settings=...)``. ``None`` means
  "Kilosort's own default" and is left out (``tmax`` and ``artifact_threshold`` default to
  infinity, which is not JSON).
* ``run``: keyword arguments of ``run_kilosort``.
* ``spikelab``: SpikeLab's own options.

The values are written out here because importing kilosort pulls in torch, which no
``spikelab`` command should pay for; a test checks them against the installed kilosort.
"""

from __future__ import annotations

from typing import Any

from spikelab.plugin import knob, knobs, non_negative, positive


def _setting(default: Any, doc: str, unit: str | None = None, validator: Any = None) -> Any:
    return knob(default, doc, unit=unit, validator=validator, metadata={"kind": "setting"})


def _run(default: Any, doc: str) -> Any:
    return knob(default, doc, metadata={"kind": "run"})


def _option(default: Any, doc: str, unit: str | None = None) -> Any:
    return knob(default, doc, unit=unit, metadata={"kind": "spikelab"})


@knobs
class Kilosort4Params:
    """Kilosort4 4.1.x parameters as SpikeLab passes them (``sort_recording(batch_size=...)``)."""

    batch_size: int = _setting(
        60000, "Samples per batch; lower it after GPU out-of-memory errors.", "samples", positive
    )
    nblocks: int = _setting(1, "Blocks for drift correction (0: none, 1: rigid, more: non-rigid).", None, non_negative)
    Th_universal: float = _setting(9.0, "Detection threshold for the universal templates.", "whitened SD", positive)
    Th_learned: float = _setting(8.0, "Detection threshold for the learned templates.", "whitened SD", positive)
    tmin: float = _setting(0.0, "Start of the data Kilosort sorts.", "s", non_negative)
    tmax: float | None = _setting(None, "End of the data Kilosort sorts (None: the end).", "s", positive)
    nt: int = _setting(61, "Waveform length and filter padding; must be odd.", "samples", positive)
    shift: float | None = _setting(None, "Constant added to the data before anything else (None: none).")
    scale: float | None = _setting(None, "Factor applied to the data after shift (None: none).")
    batch_downsampling: int = _setting(1, "Use one batch in every N for sorting.", None, positive)
    artifact_threshold: float | None = _setting(
        None, "Zero a batch holding an absolute value above this (None: never).", None, positive
    )
    nskip: int = _setting(25, "Batch stride when estimating the whitening matrix.", None, positive)
    whitening_range: int = _setting(32, "Neighbouring channels used to whiten each channel.", None, positive)
    highpass_cutoff: float = _setting(300.0, "Corner of Kilosort's own high-pass filter.", "Hz", positive)
    binning_depth: float = _setting(5.0, "Vertical bin of the drift-estimation histogram.", "µm", positive)
    sig_interp: float = _setting(20.0, "Spatial smoothness scale of the drift interpolation.", "µm", positive)
    drift_smoothing: list[float] = _setting(
        [0.5, 0.5, 0.5], "Gaussian smoothing of the drift estimate: correlation, time, depth."
    )
    nt0min: int | None = _setting(None, "Sample where waveforms are aligned (None: 20 * nt / 61).", "samples")
    dmin: float | None = _setting(None, "Vertical spacing of template centres (None: automatic).", "µm", positive)
    dminx: float = _setting(32.0, "Horizontal spacing of template centres.", "µm", positive)
    min_template_size: float = _setting(10.0, "Smallest spatial envelope of the universal templates.", "µm", positive)
    template_sizes: int = _setting(5, "Number of universal template sizes.", None, positive)
    nearest_chans: int = _setting(10, "Channels searched for local maxima at detection.", None, positive)
    nearest_templates: int = _setting(100, "Template positions searched for local maxima.", None, positive)
    max_channel_distance: float | None = _setting(
        32.0, "Drop templates farther than this from their nearest channel.", "µm", positive
    )
    max_peels: int = _setting(100, "Matching-pursuit passes over each batch.", None, positive)
    templates_from_data: bool = _setting(True, "Estimate the universal spike shapes from the data.")
    n_templates: int = _setting(6, "Single-channel templates for the universal templates.", None, positive)
    n_pcs: int = _setting(6, "Single-channel principal components per spike.", None, positive)
    Th_single_ch: float = _setting(6.0, "Threshold for the single-channel crossings.", "whitened SD", positive)
    acg_threshold: float = _setting(
        0.2, "Refractory violations (vs baseline) a 'good' unit may have.", None, non_negative
    )
    ccg_threshold: float = _setting(0.25, "Refractory violations (vs baseline) for merges/splits.", None, non_negative)
    cluster_neighbors: int = _setting(10, "Nearest spikes in the clustering graph.", None, positive)
    cluster_downsampling: int = _setting(20, "One landmark spike in every N during clustering.", None, positive)
    max_cluster_subset: int | None = _setting(
        25000, "Most spikes searched for neighbours when clustering.", None, positive
    )
    x_centers: int | None = _setting(None, "Horizontal template-group centres (None: automatic).", None, positive)
    cluster_init_seed: int = _setting(5, "Seed of the k-means++ clustering initialisation.", None, positive)
    duplicate_spike_ms: float = _setting(
        0.25, "Spikes of one cluster closer than this are dropped (0: keep).", "ms", non_negative
    )
    position_limit: float = _setting(100.0, "Farthest channel used to locate a spike.", "µm", positive)
    do_CAR: bool = _run(True, "Common average referencing before sorting.")
    invert_sign: bool = _run(False, "Invert the data's sign (for positive-going spikes).")
    save_extra_vars: bool = _run(False, "Save Kilosort's extra variables (tF, Wall, ...).")
    save_preprocessed_copy: bool = _run(False, "Save Kilosort's whitened copy of the data (as large as it).")
    clear_cache: bool = _run(False, "Empty torch's CUDA cache between steps (slower, less GPU memory).")
    bad_channels: list[int] | None = _run(None, "Channel indices Kilosort leaves out.")
    torch_device: str = _option("auto", "'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'.")
    keep_good_only: bool = _option(False, "Keep only the units Kilosort labels 'good'.")
    docker_client_factory: str = _option("docker.from_env", "Docker variant: dotted path of the client maker.")
    docker_stop_timeout_s: float = _option(10.0, "Docker variant: time a container gets to stop.", "s")
    derive_settings: bool = _option(
        True,
        "Scale nt and nt0min (samples) to the recording's rate, keeping their 30 kHz durations; "
        "a value you set wins. False: Kilosort4's defaults as they are.",
    )


def defaults_of(kind: str) -> dict[str, Any]:
    """``{name: default}`` of the parameters of one ``kind`` (``setting``, ``run``, ``spikelab``)."""
    import attrs

    instance = Kilosort4Params()
    return {
        field.name: getattr(instance, field.name)
        for field in attrs.fields(Kilosort4Params)
        if field.metadata.get("kind") == kind
    }
