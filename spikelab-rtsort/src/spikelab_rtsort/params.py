"""Tunable parameters of propagation detection, merging and assignment (RT-Sort defaults)."""

from __future__ import annotations

from typing import Any

import attrs

from spikelab.plugin import knob, knobs, one_of, positive


@attrs.frozen
class RTSortParams:
    """Parameters of sequence detection and spike assignment.

    Thresholds given as ``None`` are taken from the detection model (its validation-chosen
    stringent and loose thresholds). Latencies are in frames, radii in um, times in ms.

    Defaults are the published MEA ones except three, chosen on ground-truth MEA-like recordings
    (64 electrodes at 17.5 um, units without axonal propagation):

    * ``min_elecs_for_seq_noise_n = 300`` (the later SpikeLab default; braindance used 50): a
      large unit near a small array lights 50+ electrodes at the loose threshold and was
      discarded as "sequence noise".
    * ``max_root_amp_median_std_sequences = 2.5`` (the published Neuropixels value; MEA used
      infinity): without propagation the latency test cannot tell neighbouring units apart,
      and without this gate merging fused units whose roots are 1-3 electrodes apart.
    * ``min_root_amp_ratio_spikes = 0.5`` (not in the reference; 0 disables it): a candidate
      spike is only assigned when its root amplitude is at least this fraction of the largest
      amplitude within ``outer_radius``, the preliminary sequences' largest-electrode rule
      relaxed for noise. Without it a sequence rooted on the flank of a large unit collects that
      unit's spikes as well as its own.

    Two settings choose how the detection network is run on a CPU (each measured against
    today's F1 in ``bench/results/rtsort/realtime.md``):

    * ``prefilter_sd = 3.0``: the network is run only on 5 ms channel-chunks whose traces reach
      below -3 noise SD (None runs it everywhere).
    * ``int8_inference = True``: an int8 copy of the network calibrated on the recording
      (:mod:`spikelab_rtsort.quantized`); ignored on a GPU.

    One sets what sequence detection holds in memory (measured in
    ``bench/results/rtsort/memory.md``):

    * ``float16_window = True``: the detection window's logits and scaled traces are held as
      float16, as the published code stores them on disk; half the memory of float32, so twice
      the window fits (the network and every statistic still compute in float32).
    """

    stringent_thresh: float | None = None
    loose_thresh: float | None = None
    ms_before: float = 0.5
    ms_after: float = 0.5
    pre_median_ms: float = 50.0
    inner_radius: float = 50.0
    outer_radius: float = 100.0
    min_elecs_for_array_noise_n: int = 100
    min_elecs_for_array_noise_f: float = 0.1
    min_elecs_for_seq_noise_n: int = 300
    min_elecs_for_seq_noise_f: float = 0.05
    min_activity_root_cocs: int = 2
    min_activity_hz: float = 0.05
    max_n_components_latency: int = 4
    min_coc_n: int = 10
    min_coc_p: float = 10.0
    min_extend_comp_p: float = 50.0
    elec_patience: int = 6
    split_coc_clusters_amps: bool = True
    min_amp_dist_p: float = 0.1
    max_n_components_amp: int = 4
    min_loose_elec_prob: float = 0.03
    min_inner_loose_detections: int = 3
    min_loose_detections_n: int = 4
    min_loose_detections_r_spikes: float = 1 / 3
    min_loose_detections_r_sequences: float = 1 / 3
    max_latency_diff_spikes: float = 3.5
    max_latency_diff_sequences: float = 3.5
    clip_latency_diff_factor: float = 2.0
    max_amp_median_diff_spikes: float = 0.65
    max_amp_median_diff_sequences: float = 0.65
    clip_amp_median_diff_factor: float = 2.0
    max_root_amp_median_std_spikes: float = 2.5
    max_root_amp_median_std_sequences: float = 2.5
    min_root_amp_ratio_spikes: float = 0.5
    repeated_detection_overlap_time: float = 0.2
    min_seq_spikes_n: int = 10
    min_seq_spikes_hz: float = 0.05
    relocate_root_min_amp: float = 0.8
    relocate_root_max_latency: float = -2.0
    gmm_random_state: int = 1150
    prefilter_sd: float | None = 3.0
    int8_inference: bool = True
    float16_window: bool = True

    def override(self, **changes) -> RTSortParams:
        """Copy with some fields changed; unknown names raise ``TypeError`` naming them."""
        unknown = sorted(set(changes) - {f.name for f in attrs.fields(RTSortParams)})
        if unknown:
            raise TypeError(f"Unknown RT-Sort parameter(s): {', '.join(unknown)}.")
        return attrs.evolve(self, **changes)


#: Overrides the RT-Sort authors used for Neuropixels probes (30 kHz model).
NEUROPIXELS_OVERRIDES = dict(
    stringent_thresh=0.175, loose_thresh=0.075, max_latency_diff_spikes=2.5,
    max_latency_diff_sequences=2.5, max_amp_median_diff_spikes=0.45,
    max_amp_median_diff_sequences=0.45, max_root_amp_median_std_sequences=2.5,
    min_amp_dist_p=0.1,
)


def _rt_sort_params(instance, attribute, value) -> None:
    """Each ``rt_sort_params`` entry must be an :class:`RTSortParams` field of the right type."""
    from spikelab.plugin import ConfigError, KnobValueError, did_you_mean

    fields = attrs.fields_dict(RTSortParams)
    for name, item in value.items():
        if name not in fields:
            raise KnobValueError(
                f"rt_sort_params has no {name!r}.{did_you_mean(name, fields)} Known: see RTSortParams.",
                attribute.name,
            )
        try:
            RTSortParams().override(**{name: item})
        except (TypeError, ValueError, ConfigError) as exc:  # pragma: no cover - attrs types are hints
            raise KnobValueError(f"rt_sort_params[{name!r}]: {exc}", attribute.name) from None


@knobs
class RTSortBackendParams:
    """The ``rt_sort`` backend's parameters (``sort_recording(sorter="rt_sort", ...)``)."""

    rt_sort_model_path: str | None = knob(
        None, "Detection model folder (init_dict.json + state_dict.pt); None: the shipped one for rt_sort_probe."
    )
    rt_sort_probe: str = knob(
        "mea", "Probe family of the defaults and shipped model.", validator=one_of("mea", "neuropixels")
    )
    rt_sort_device: str = knob("cpu", "Torch device of the detection model: 'cpu', 'cuda' or 'cuda:N'.")
    rt_sort_detection_window_s: float | None = knob(
        None,
        "Seconds of recording used to detect sequences (None: all of it, or as much as fits in half the free memory; "
        "detection holds ~5 bytes per channel and frame with float16_window, ~9 without). 30 keeps a whole "
        "1,020-electrode array under 4 GB, but a unit needs 10 spikes in the window to be found: 30 s loses units "
        "firing under ~0.34 Hz.",
        unit="s", validator=positive,
    )
    rt_sort_batch_size: int = knob(
        64, "Recording windows the model reads at once; lower it after GPU out-of-memory errors.", validator=positive
    )
    rt_sort_bandpass: bool = knob(True, "Band-pass the recording (freq_min to freq_max) before detection.")
    rt_sort_params: dict[str, Any] = knob(
        factory=dict, doc="Overrides of RTSortParams (sequence detection and assignment).", validator=_rt_sort_params
    )
