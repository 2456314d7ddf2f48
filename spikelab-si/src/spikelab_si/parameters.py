"""SpikeInterface's internal sorters' parameters, declared: type, default, unit and meaning.

Each class mirrors ``spikeinterface.sorters.get_default_sorter_params(name)`` of SpikeInterface
0.105 (a test checks them against the installed one), plus SpikeLab's own ``chunk_duration``:
the length of the chunks SpikeInterface's parallel jobs process, which the pipeline halves after
an out-of-memory failure. The number of workers is the pipeline's ``n_jobs``
(``config.execution.n_jobs``).

SpikeInterface's ``freq_min``, ``freq_max``, ``ms_before`` and ``ms_after`` are declared as
``sorter_freq_min`` ... here: the plain names are the pipeline's own knobs (its band-pass and
waveform window), which flat overrides reach first. ``sorter_params={"freq_min": ...}`` still
works (an alias). The values are written out here so that listing them
(``spikelab plugins --params spykingcircus2``) does not import SpikeInterface's sorters.
"""

from __future__ import annotations

from typing import Any

import attrs

from spikelab.plugin import knob, knobs, non_negative, one_of, positive

#: SpikeLab's OOM knob: seconds of recording per parallel chunk, and its smallest useful value.
CHUNK_DURATION_S = 1.0
CHUNK_DURATION_FLOOR_S = 0.05


def _chunk() -> Any:
    return knob(
        CHUNK_DURATION_S,
        "Recording per chunk of SpikeInterface's parallel jobs; halved after out-of-memory errors.",
        unit="s",
        validator=positive,
        metadata={"kind": "spikelab"},
    )


_SIGN = one_of("neg", "pos", "both")


@knobs
class SpykingCircus2Params:
    """spykingcircus2 (SpikeInterface 0.105) as SpikeLab passes it (``sort_recording(seed=1)``)."""

    general: dict[str, Any] = knob(
        {"ms_before": 0.5, "ms_after": 1.5, "radius_um": 100.0}, "Waveform window and neighbourhood radius."
    )
    filtering: dict[str, Any] = knob(
        {"freq_min": 150, "freq_max": 7000, "ftype": "bessel", "filter_order": 2},
        "Band-pass filter settings.",
    )
    whitening: dict[str, Any] = knob({"mode": "local", "regularize": False}, "Whitening settings.")
    detection: dict[str, Any] = knob(
        {
            "method": "matched_filtering",
            "method_kwargs": {"peak_sign": "neg", "detect_threshold": 5},
            "pipeline_kwargs": {},
        },
        "Peak detection method and its arguments (detect_threshold in MAD).",
    )
    selection: dict[str, Any] = knob(
        {
            "method": "uniform",
            "method_kwargs": {
                "n_peaks_per_channel": 5000,
                "min_n_peaks": 100000,
                "select_per_channel": False,
            },
        },
        "How peaks are subsampled for clustering.",
    )
    apply_motion_correction: bool = knob(True, "Estimate and correct drift (needs a probe with depth).")
    motion_correction: dict[str, Any] = knob({"preset": "dredge_fast"}, "Motion-correction preset.")
    merging: dict[str, Any] = knob({"max_distance_um": 50}, "Template merging settings.")
    clustering: dict[str, Any] = knob(
        {"method": "iterative-hdbscan", "method_kwargs": {}}, "Clustering method."
    )
    cleaning: dict[str, Any] = knob(
        {"min_snr": 5, "max_jitter_ms": 0.2, "sparsify_threshold": 1, "mean_sd_ratio_threshold": 3},
        "Which clusters are kept as templates.",
    )
    min_firing_rate: float = knob(0.1, "Units firing less are dropped.", unit="Hz", validator=non_negative)
    matching: dict[str, Any] = knob(
        {"method": "circus-omp", "method_kwargs": {}, "pipeline_kwargs": {}}, "Template matching."
    )
    apply_preprocessing: bool = knob(True, "Filter and reference the recording first.")
    apply_whitening: bool = knob(True, "Whiten the recording.")
    cache_preprocessing: dict[str, Any] = knob(
        {"mode": "memory", "memory_limit": 0.5}, "Where the preprocessed traces are cached."
    )
    chunk_preprocessing: dict[str, Any] = knob(
        {"memory_limit": None}, "Memory limit of chunked preprocessing."
    )
    multi_units_only: bool = knob(False, "Stop after detection: every peak is one multi-unit.")
    seed: int = knob(42, "Random seed.")
    deterministic_peaks_detection: bool = knob(False, "Detect peaks deterministically (slower).")
    debug: bool = knob(False, "Keep intermediate files.")
    chunk_duration: float = _chunk()


def _si_based(**overrides: Any) -> dict[str, Any]:
    """Fields shared by tridesclous2 and lupin (their defaults differ; ``overrides`` has lupin's)."""
    defaults: dict[str, Any] = {
        "clustering_ms_before": 0.5,
        "clustering_ms_after": 1.5,
        "detection_radius_um": 150.0,
        "n_pca_features": 6,
        "template_sparsify_threshold": 1.5,
        "template_min_snr_ptp": 3.5,
        "freq_max": 6000.0,
    }
    defaults.update(overrides)
    return defaults


def _si_fields(defaults: dict[str, Any]) -> dict[str, Any]:
    return {
        "apply_preprocessing": knob(True, "Filter and reference the recording first."),
        "preprocessing_dict": knob(None, "Custom preprocessing (None: the sorter's own)."),
        "apply_motion_correction": knob(False, "Estimate and correct drift."),
        "motion_correction_preset": knob("dredge_fast", "Motion-correction preset."),
        "clustering_ms_before": knob(
            defaults["clustering_ms_before"],
            "Window before the peak for clustering.",
            unit="ms",
            validator=positive,
        ),
        "clustering_ms_after": knob(
            defaults["clustering_ms_after"],
            "Window after the peak for clustering.",
            unit="ms",
            validator=positive,
        ),
        "detection_radius_um": knob(
            defaults["detection_radius_um"],
            "Neighbourhood of a peak at detection.",
            unit="µm",
            validator=positive,
        ),
        "features_radius_um": knob(120.0, "Neighbourhood used for features.", unit="µm", validator=positive),
        "split_radius_um": knob(60.0, "Neighbourhood used to split clusters.", unit="µm", validator=positive),
        "template_radius_um": knob(100.0, "Sparsity radius of templates.", unit="µm", validator=positive),
        "merge_similarity_lag_ms": knob(
            0.5, "Lag allowed when comparing templates to merge.", unit="ms", validator=non_negative
        ),
        "sorter_freq_min": knob(150.0, "Band-pass low corner.", unit="Hz", validator=positive),
        "sorter_freq_max": knob(
            defaults["freq_max"], "Band-pass high corner.", unit="Hz", validator=positive
        ),
        "cache_preprocessing_mode": knob("auto", "Where the preprocessed traces are cached."),
        "peak_sign": knob("neg", "Sign of the peaks detected.", validator=_SIGN),
        "detect_threshold": knob(5.0, "Detection threshold.", unit="MAD", validator=positive),
        "n_peaks_per_channel": knob(5000, "Peaks kept per channel for clustering.", validator=positive),
        "n_svd_components_per_channel": knob(5, "SVD components per channel.", validator=positive),
        "n_pca_features": knob(
            defaults["n_pca_features"], "PCA features for clustering.", validator=positive
        ),
        "clustering_recursive_depth": knob(3, "Depth of the recursive split.", validator=positive),
        "sorter_ms_before": knob(1.0, "Template window before the peak.", unit="ms", validator=positive),
        "sorter_ms_after": knob(2.5, "Template window after the peak.", unit="ms", validator=positive),
        "template_sparsify_threshold": knob(
            defaults["template_sparsify_threshold"], "Template sparsity threshold.", validator=non_negative
        ),
        "template_min_snr_ptp": knob(
            defaults["template_min_snr_ptp"], "Templates below this SNR are dropped.", validator=non_negative
        ),
        "template_max_jitter_ms": knob(
            0.2, "Jitter allowed when cleaning templates.", unit="ms", validator=non_negative
        ),
        "min_firing_rate": knob(0.1, "Units firing less are dropped.", unit="Hz", validator=non_negative),
        "gather_mode": knob(
            "memory", "Where matched spikes are gathered.", validator=one_of("memory", "npy")
        ),
        "seed": knob(None, "Random seed (None: random)."),
        "save_array": knob(True, "Save the sorter's intermediate arrays."),
        "debug": knob(False, "Keep intermediate files."),
        "chunk_duration": _chunk(),
    }


_SI_TYPES: dict[str, Any] = {
    "apply_preprocessing": bool,
    "preprocessing_dict": dict[str, Any] | None,
    "apply_motion_correction": bool,
    "motion_correction_preset": str,
    "clustering_ms_before": float,
    "clustering_ms_after": float,
    "detection_radius_um": float,
    "features_radius_um": float,
    "split_radius_um": float,
    "template_radius_um": float,
    "merge_similarity_lag_ms": float,
    "sorter_freq_min": float,
    "sorter_freq_max": float,
    "cache_preprocessing_mode": str,
    "peak_sign": str,
    "detect_threshold": float,
    "n_peaks_per_channel": int,
    "n_svd_components_per_channel": int,
    "n_pca_features": int,
    "clustering_recursive_depth": int,
    "sorter_ms_before": float,
    "sorter_ms_after": float,
    "template_sparsify_threshold": float,
    "template_min_snr_ptp": float,
    "template_max_jitter_ms": float,
    "min_firing_rate": float,
    "gather_mode": str,
    "seed": int | None,
    "save_array": bool,
    "debug": bool,
    "chunk_duration": float,
}


def _knobs_class(name: str, doc: str, fields: dict[str, Any], types: dict[str, Any]) -> type:
    namespace = {"__doc__": doc, "__annotations__": dict(types), **fields}
    return knobs(type(name, (), namespace))


Tridesclous2Params = _knobs_class(
    "Tridesclous2Params",
    "tridesclous2 (SpikeInterface 0.105) as SpikeLab passes it (``sort_recording(detect_threshold=6)``).",
    _si_fields(_si_based()),
    _SI_TYPES,
)

_LUPIN_EXTRA_TYPES = {"whitening_radius_um": float, "template_matching_engine": str}
LupinParams = _knobs_class(
    "LupinParams",
    "lupin (SpikeInterface 0.105) as SpikeLab passes it.",
    {
        **_si_fields(
            _si_based(
                clustering_ms_before=0.3,
                clustering_ms_after=1.3,
                detection_radius_um=50.0,
                n_pca_features=4,
                template_sparsify_threshold=1.0,
                template_min_snr_ptp=4.0,
                freq_max=7000.0,
            )
        ),
        "whitening_radius_um": knob(
            100.0, "Neighbourhood of the local whitening.", unit="µm", validator=positive
        ),
        "template_matching_engine": knob("wobble", "Template matching engine."),
    },
    {**_SI_TYPES, **_LUPIN_EXTRA_TYPES},
)


@knobs
class Mountainsort5Params:
    """mountainsort5 0.5 (through SpikeInterface) as SpikeLab passes it."""

    scheme: str = knob(
        "2", "Sorting scheme: '1', '2' (default) or '3' (long recordings).", validator=one_of("1", "2", "3")
    )
    detect_threshold: float = knob(5.5, "Detection threshold.", unit="whitened SD", validator=positive)
    detect_sign: int = knob(-1, "Sign of the peaks detected (-1, 1, 0: both).", validator=one_of(-1, 0, 1))
    detect_time_radius_msec: float = knob(
        0.5, "Peaks closer than this count once.", unit="ms", validator=positive
    )
    snippet_T1: int = knob(20, "Snippet samples before the peak.", unit="samples", validator=positive)
    snippet_T2: int = knob(20, "Snippet samples after the peak.", unit="samples", validator=positive)
    npca_per_channel: int = knob(3, "PCA components per channel.", validator=positive)
    npca_per_subdivision: int = knob(10, "PCA components per subdivision.", validator=positive)
    snippet_mask_radius: float = knob(250, "Snippet channel radius.", unit="µm", validator=positive)
    scheme1_detect_channel_radius: float = knob(
        150, "Scheme 1 detection radius.", unit="µm", validator=positive
    )
    scheme2_phase1_detect_channel_radius: float = knob(
        200, "Scheme 2 phase-1 detection radius.", unit="µm", validator=positive
    )
    scheme2_detect_channel_radius: float = knob(
        50, "Scheme 2 detection radius.", unit="µm", validator=positive
    )
    scheme2_max_num_snippets_per_training_batch: int = knob(
        200, "Snippets per training batch.", validator=positive
    )
    scheme2_training_duration_sec: float = knob(
        300, "Recording used for training.", unit="s", validator=positive
    )
    scheme2_training_recording_sampling_mode: str = knob(
        "uniform", "How training data is sampled.", validator=one_of("initial", "uniform")
    )
    scheme3_block_duration_sec: float = knob(1800, "Block length of scheme 3.", unit="s", validator=positive)
    sorter_freq_min: float = knob(300, "Band-pass low corner.", unit="Hz", validator=positive)
    sorter_freq_max: float = knob(6000, "Band-pass high corner.", unit="Hz", validator=positive)
    filter: bool = knob(True, "Band-pass filter first.")
    whiten: bool = knob(True, "Whiten first.")
    whitening_seed: int | None = knob(None, "Seed of the whitening (None: random).")
    delete_temporary_recording: bool = knob(True, "Delete the preprocessed copy afterwards.")
    chunk_duration: float = _chunk()


#: Parameters SpikeLab sets itself, with the reason (per sorter, the same for all four).
RESERVED: dict[str, str] = {
    "job_kwargs": "set n_jobs (the pipeline's workers) and chunk_duration (seconds) instead",
    "n_jobs": "n_jobs is the pipeline's execution.n_jobs",
    "progress_bar": "the pipeline's progress_bar setting applies",
}


#: SpikeLab's name -> SpikeInterface's, for the names the pipeline's own knobs already use.
RENAMED: dict[str, str] = {
    f"sorter_{name}": name for name in ("freq_min", "freq_max", "ms_before", "ms_after")
}
#: The other way round: SpikeInterface's names accepted in ``sorter_params``.
ALIASES: dict[str, str] = {name: spikelab for spikelab, name in RENAMED.items()}


def defaults_of(params_type: type) -> dict[str, Any]:
    """``{name: default}`` of a parameters class."""
    return attrs.asdict(params_type())


def sorter_kwargs(params_type: type, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """SpikeInterface's sorter parameters from SpikeLab's, and the chunk duration in seconds."""
    merged = {**defaults_of(params_type), **params}
    chunk = float(merged.pop("chunk_duration"))
    return {RENAMED.get(name, name): value for name, value in merged.items()}, chunk
