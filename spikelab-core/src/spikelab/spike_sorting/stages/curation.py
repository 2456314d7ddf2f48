"""Stage ``curation``: apply ``config.curation`` and save the SpikeData files (atomically)."""

from __future__ import annotations

from typing import Any

from spikelab.spike_sorting import cache
from spikelab.spike_sorting.stages import RecordingRun, stage

CURATED_NAME = "sorted_spikedata_curated.pkl"
RAW_NAME = "sorted_spikedata.pkl"
HISTORY_NAME = "curation_history.json"


def criteria(config) -> dict[str, Any]:
    """``SpikeData.curate`` keywords from ``config.curation`` (None disables a criterion),
    plugin metrics' thresholds included."""
    c = config.curation
    return {
        **c.plugin_criteria,
        "min_spikes": c.spikes_min,
        "min_rate_hz": c.fr_min,
        "isi_max": c.isi_viol_max,
        "isi_threshold_ms": c.isi_threshold_ms,
        "min_snr": c.snr_min,
        "max_std_norm": c.std_norm_max,
    }


def run(run: RecordingRun) -> None:
    """Curate ``run.sd_raw`` into ``run.sd_curated`` and write the results files."""
    config = run.config
    sd = run.sd_raw
    results: dict[str, Any] = {}
    with stage("curation", run.result) as fields:
        if config.curation.curate:
            if config.curation.merge_duplicates and sd.N > 1:
                sd, merged = sd.curate_by_merge_duplicates(
                    dist_um=config.curation.merge_dist_um,
                    cosine_threshold=config.curation.merge_cosine_threshold,
                    max_isi_increase=config.curation.merge_max_isi_increase,
                )
                results["merge_duplicates"] = merged
            curated, chosen = sd.curate(plugins=run.manager, **criteria(config))
            results.update(chosen)
        else:
            curated = sd
        history = type(sd).build_curation_history(
            sd_original=run.sd_raw, sd_curated=curated, results=results, parameters=criteria(config)
        )
        curated.metadata["curation_history"] = history  # every export carries it
        run.results.mkdir(parents=True, exist_ok=True)
        cache.atomic_write_json(run.results / HISTORY_NAME, history)
        curated.save(run.results / CURATED_NAME)
        if config.execution.save_raw_pkl:
            run.sd_raw.save(run.results / RAW_NAME)
        run.sd_curated = curated
        run.curation_results = results
        run.curation_history = history
        run.result.n_curated_units = curated.N
        run.result.spikedata_path = str(run.results / CURATED_NAME)
        fields.update(units=run.sd_raw.N, kept=curated.N, criteria=list(results))
