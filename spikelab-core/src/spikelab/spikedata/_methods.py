"""Curation and plotting methods of :class:`~spikelab.SpikeData` (thin wrappers).

Each method calls the function of the same name in :mod:`spikelab.spikedata.curation`,
:mod:`spikelab.spikedata.waveforms`, :mod:`spikelab.spikedata.merge` or
:mod:`spikelab.spikedata.plot_utils`; their docstrings hold the definitions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.spikedata.spikedata import SpikeData

    Result = tuple[SpikeData, dict[str, np.ndarray]]


class CurationMethods:
    """Mixin giving SpikeData the guide's curation methods."""

    def curate_by_min_spikes(self, min_spikes: int = 30) -> Result:
        """Keep units with at least ``min_spikes`` spikes; see :func:`.curation.curate_by_min_spikes`."""
        from spikelab.spikedata.curation import curate_by_min_spikes

        return curate_by_min_spikes(self, min_spikes=min_spikes)

    def curate_by_firing_rate(self, min_rate_hz: float = 0.05) -> Result:
        """Keep units firing at least ``min_rate_hz``; see :func:`.curation.curate_by_firing_rate`."""
        from spikelab.spikedata.curation import curate_by_firing_rate

        return curate_by_firing_rate(self, min_rate_hz=min_rate_hz)

    def curate_by_isi_violations(
        self, max_violation: float = 1.0, threshold_ms: float = 1.5, min_isi_ms: float = 0.0, method: str = "percent"
    ) -> Result:
        """Keep units with few refractory violations (percent by default: 1.0 means 1 %).

        See :func:`.curation.curate_by_isi_violations`.
        """
        from spikelab.spikedata.curation import curate_by_isi_violations

        return curate_by_isi_violations(
            self, max_violation=max_violation, threshold_ms=threshold_ms, min_isi_ms=min_isi_ms, method=method
        )

    def curate_by_snr(self, min_snr: float = 5.0, **waveform_kwargs: Any) -> Result:
        """Keep units with SNR >= ``min_snr``; see :func:`.curation.curate_by_snr`."""
        from spikelab.spikedata.curation import curate_by_snr

        return curate_by_snr(self, min_snr=min_snr, **waveform_kwargs)

    def curate_by_std_norm(self, max_std_norm: float = 1.0, **waveform_kwargs: Any) -> Result:
        """Keep units with consistent waveforms; see :func:`.curation.curate_by_std_norm`."""
        from spikelab.spikedata.curation import curate_by_std_norm

        return curate_by_std_norm(self, max_std_norm=max_std_norm, **waveform_kwargs)

    def compute_waveform_metrics(self, **kwargs: Any) -> Result:
        """Templates, SNR and std_norm from ``raw_data``; see :func:`.waveforms.compute_waveform_metrics`.

        Returns a new SpikeData (this one is left unchanged) and ``{"snr": ..., "std_norm": ...}``.
        """
        from spikelab.spikedata.waveforms import compute_waveform_metrics

        return compute_waveform_metrics(self, **kwargs)

    def curate(
        self, *, plugins: SpikeLabPluginManager | None = None, **criteria: Any
    ) -> tuple[SpikeData, dict[str, dict[str, np.ndarray]]]:
        """Apply every non-None criterion in one call (``plugins``: whose metrics, default the
        manager in use); see :func:`.curation.curate`."""
        from spikelab.spikedata.curation import curate

        return curate(self, plugins=plugins, **criteria)

    def curate_by_merge_duplicates(self, **kwargs: Any) -> Result:
        """Merge duplicate units; see :func:`.merge.curate_by_merge_duplicates`."""
        from spikelab.spikedata.merge import curate_by_merge_duplicates

        return curate_by_merge_duplicates(self, **kwargs)

    @staticmethod
    def build_curation_history(
        sd_original: SpikeData,
        sd_curated: SpikeData,
        results: dict[str, dict[str, np.ndarray]],
        parameters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """JSON-serialisable record of a curation; see :func:`.curation.build_curation_history`."""
        from spikelab.spikedata.curation import build_curation_history

        return build_curation_history(sd_original, sd_curated, results, parameters=parameters)

    def plot_unit_footprints(self, unit_ids: Any = None, *, min_amplitude_uv: float = 5.0, **kwargs: Any) -> Figure:
        """Plot each unit's spatial footprint; see :func:`.plot_utils.plot_sd_footprints`."""
        from spikelab.spikedata.plot_utils import plot_sd_footprints

        return plot_sd_footprints(self, unit_ids, min_amplitude_uv=min_amplitude_uv, **kwargs)

    def export(self, to: str, path: Any, **kwargs: Any) -> Any:
        """Export to ``"phy"``, ``"nwb"`` or ``"spikeinterface"``; see :func:`spikelab.export.export`."""
        from spikelab.export import export

        return export(self, to, path, **kwargs)
