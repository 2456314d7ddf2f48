"""SpikeInterface folders: a sorting folder, and a SortingAnalyzer when the recording is known."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from spikelab.export._common import atomic_folder, curation_history, dump_json

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording

    from spikelab.spikedata import SpikeData

log = structlog.get_logger("spikelab.export")


def export_to_spikeinterface(
    sd: SpikeData,
    folder: str | Path,
    recording: BaseRecording | None = None,
    *,
    overwrite: bool = False,
    n_jobs: int = 1,
) -> Path:
    """Write ``folder/sorting`` (``spikeinterface.load`` opens it) and, with a recording,
    ``folder/analyzer`` (a SortingAnalyzer with templates, noise levels and quality metrics).

    Unit properties carry SpikeLab's scalar per-unit attributes (position, channel, SNR...);
    the curation history is written beside them as ``spikelab_curation_history.json``.
    """
    import spikeinterface.core as sc

    sorting = sd.to_spikeinterface()
    folder = Path(folder)
    with atomic_folder(folder, overwrite=overwrite) as staging:
        sorting.save(folder=staging / "sorting", format="numpy_folder")
        if recording is not None:
            analyzer = sc.create_sorting_analyzer(
                sorting, recording, format="binary_folder", folder=staging / "analyzer", sparse=True, seed=0
            )
            analyzer.compute(["random_spikes", "templates", "noise_levels"], n_jobs=n_jobs, progress_bar=False)
            analyzer.compute("quality_metrics", metric_names=["firing_rate", "isi_violation", "snr"])
        history = curation_history(sd)
        if history is not None:
            dump_json(staging / "spikelab_curation_history.json", history)
    log.info("exported", format="spikeinterface", folder=str(folder), units=sd.N)
    return folder
