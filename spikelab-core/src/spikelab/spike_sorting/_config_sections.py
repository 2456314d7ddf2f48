"""Sections of the pipeline configuration that describe the data and its curation.

:class:`RecordingConfig`, :class:`SorterConfig`, :class:`WaveformConfig`, :class:`CurationConfig`
and :class:`FigureConfig`, composed by :class:`~spikelab.spike_sorting.config.SortingPipelineConfig`
and imported from :mod:`spikelab.spike_sorting.config`.
"""

from __future__ import annotations

from typing import Any

from spikelab.errors import ConfigError
from spikelab.spike_sorting._knobs import in_range, knob, knobs, non_negative, not_empty, positive


@knobs
class RecordingConfig:
    """How recordings are opened and cut before sorting."""

    stream_id: str | None = knob(None, "Stream to read from a multi-stream file (e.g. 'well000').")
    rec_name: str | None = knob(None, "Maxwell recording name when wells hold several ('rec0000').")
    hdf5_plugin_path: str | None = knob(
        None, "Folder holding HDF5 compression filters; exported as HDF5_PLUGIN_PATH."
    )
    first_n_mins: float | None = knob(None, "Sort only the first N minutes.", validator=positive)
    start_time_s: float | None = knob(None, "Start of the window to sort (s).", validator=non_negative)
    end_time_s: float | None = knob(None, "End of the window to sort (s).", validator=positive)
    freq_min: float = knob(300.0, "High-pass corner of the band-pass filter (Hz).", validator=positive)
    freq_max: float = knob(6000.0, "Low-pass corner of the band-pass filter (Hz).", validator=positive)
    gain_to_uv: float | None = knob(None, "Override the file's gain to µV.", validator=positive)
    offset_to_uv: float | None = knob(None, "Override the file's offset to µV.")

    def __attrs_post_init__(self) -> None:
        if self.freq_min >= self.freq_max:
            raise ConfigError(
                f"freq_min ({self.freq_min}) must be below freq_max ({self.freq_max})."
            )
        if (
            self.start_time_s is not None
            and self.end_time_s is not None
            and self.end_time_s <= self.start_time_s
        ):
            raise ConfigError(
                f"end_time_s ({self.end_time_s}) must be after start_time_s ({self.start_time_s})."
            )


@knobs
class SorterConfig:
    """Which backend sorts, and its own parameters."""

    sorter_name: str = knob(
        "kilosort4", "Backend name: 'kilosort4', 'kilosort2', 'rt_sort', ...", validator=not_empty
    )
    sorter_path: str | None = knob(None, "Sorter source folder (Kilosort2: the repository path).")
    sorter_params: dict[str, Any] = knob(
        factory=dict, doc="Backend parameters, merged over the backend's defaults."
    )
    use_docker: bool = knob(False, "Run the backend in its Docker image.")
    docker_image: str | None = knob(None, "Docker image to use instead of the backend's default.")


@knobs
class WaveformConfig:
    """Waveform extraction after sorting (feeds SNR, std_norm, merging and footprints)."""

    ms_before: float = knob(
        1.0, "Window before the spike peak (ms).", unit="ms", validator=in_range(0, 50, low_open=True)
    )
    ms_after: float = knob(
        2.0, "Window after the spike peak (ms).", unit="ms", validator=in_range(0, 50, low_open=True)
    )
    max_waveforms_per_unit: int = knob(
        300, "Spikes sampled per unit for templates and metrics.", validator=positive
    )
    chunk_duration_s: float = knob(
        1.0, "Chunk length streamed through memory (s); bounds peak memory.", validator=positive
    )
    template_min_amplitude_uv: float = knob(
        5.0, "Channels whose template peak-to-peak is below this are left out of footprints (µV).",
        validator=non_negative,
    )


@knobs
class CurationConfig:
    """Which quality criteria the pipeline applies (None disables a criterion)."""

    curate: bool = knob(True, "Apply curation at all.")
    spikes_min: int | None = knob(50, "Minimum spike count per unit.", validator=non_negative)
    fr_min: float | None = knob(0.05, "Minimum firing rate (Hz).", validator=non_negative)
    isi_viol_max: float | None = knob(
        1.0, "Maximum ISI violations, in percent of spikes (1.0 means 1 %).", validator=non_negative
    )
    isi_threshold_ms: float = knob(1.5, "Refractory period for ISI violations (ms).", validator=positive)
    snr_min: float | None = knob(5.0, "Minimum SNR.", validator=non_negative)
    std_norm_max: float | None = knob(
        1.0, "Maximum normalised waveform standard deviation.", validator=non_negative
    )
    merge_duplicates: bool = knob(False, "Merge duplicate units on nearby electrodes first.")
    merge_dist_um: float = knob(24.8, "Maximum distance between duplicates (µm).", validator=positive)
    merge_cosine_threshold: float = knob(
        0.5, "Minimum waveform cosine similarity to merge.", validator=non_negative
    )
    merge_max_isi_increase: float = knob(
        0.04, "Reject a merge that raises the ISI violation fraction by more.", validator=non_negative
    )
    plugin_criteria: dict[str, Any] = knob(
        factory=dict,
        doc="Thresholds (and options) of curation metrics that plugins register, by their curate() "
        "keyword ({'max_isi_cv': 0.5}); such a keyword is also accepted as a flat name.",
    )


@knobs
class FigureConfig:
    """Figures written beside the report."""

    create_figures: bool = knob(True, "Write footprint and quality-distribution PNGs.")
    dpi: int = knob(110, "Figure resolution.", validator=positive)
    max_units_in_footprint_figure: int = knob(
        36, "Units drawn in the footprint overview.", validator=positive
    )
