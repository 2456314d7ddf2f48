"""recording_report.json and sorting_report.md say what happened, for successes and failures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikelab.errors import InputError
from spikelab.spike_sorting._exceptions import HostMemoryWatchdogError
from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.spike_sorting.report import (
    SCHEMA_VERSION,
    regenerate_report,
    write_recording_report,
    write_sorting_report,
)
from spikelab.spike_sorting.results import RecordingResult


def _result(folder, **kwargs):
    return RecordingResult(rec_name="tiny", rec_path="/data/tiny.raw.h5", results_folder=str(folder),
                           stage_times_s={"load": 0.2, "sort": 30.0, "waveforms": 2.5, "curation": 0.3}, **kwargs)


def _write_both(folder, sorted_tiny, **result_kwargs):
    config, sd, curated, results, history = sorted_tiny
    result = _result(folder, n_units=sd.N, n_curated_units=curated.N, **result_kwargs)
    curated.save(folder / "sorted_spikedata_curated.pkl")
    result.spikedata_path = str(folder / "sorted_spikedata_curated.pkl")
    md = write_sorting_report(folder, result=result, config=config, sd_raw=sd, sd_curated=curated,
                              curation_results=results, versions={"kilosort4": "4.1.7"})
    js = write_recording_report(result, folder, config=config, curation=history, sd=curated)
    return md, js


def _is_png(path):
    import matplotlib.image

    image = matplotlib.image.imread(path)
    return image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_success_report_json(tmp_path, sorted_tiny):
    _, sd, curated, results, _ = sorted_tiny
    _, js = _write_both(tmp_path, sorted_tiny)
    doc = json.loads(js.read_text())
    assert doc["schema"] == "spikelab.recording_report" and doc["schema_version"] == SCHEMA_VERSION
    assert doc["status"] == "success" and doc["sorter"] == "kilosort4"
    assert {"setting": "snr_min", "default": 5.0, "used": 12.0} in doc["config_changes"]
    assert doc["versions"]["kilosort4"] == "4.1.7" and "spikeinterface" in doc["versions"]
    by_criterion = {c["criterion"]: c for c in doc["curation"]["criteria"]}
    assert by_criterion["snr"]["threshold"] == 12.0
    assert by_criterion["snr"]["n_failed"] == int((~results["snr"]["passed"]).sum())
    assert doc["curation"]["n_units"] == sd.N and doc["curation"]["n_kept"] == curated.N
    units = {u["unit_id"]: u for u in doc["units"]}
    assert len(units) == sd.N
    kept_ids = set(curated.unit_ids.tolist())
    for uid, unit in units.items():
        assert unit["kept"] == (uid in kept_ids)
        assert ("snr" in unit["failed"]) == (unit["snr"] < 12.0)
        assert unit["channel"] is not None and unit["amplitude"] > 0  # removed units keep their facts
    assert set(doc["figures"]) == {"sorting_report_quality.png", "sorting_report_footprints.png"}
    assert doc["quality"]["snr"]["n"] == sd.N


def test_success_report_markdown_and_figures(tmp_path, sorted_tiny):
    _, sd, curated, _, _ = sorted_tiny
    md, _ = _write_both(tmp_path, sorted_tiny)
    text = md.read_text()
    for heading in ("# Sorting report: tiny", "## Overview", "## Curation outcome", "## Unit quality distributions",
                    "## Unit footprints", "## Units", "## Pipeline timing", "## Configuration", "## Versions"):
        assert heading in text
    assert f"Curation: {sd.N} -> {curated.N} units" in text
    assert "| snr | snr_min | 12 |" in text
    assert "| sort | 30 |" in text and "| snr_min | 5 | 12 |" in text
    assert "## Failure" not in text
    for name in ("sorting_report_quality.png", "sorting_report_footprints.png"):
        assert f"]({name})" in text and _is_png(tmp_path / name)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_failure_report(tmp_path):
    error = HostMemoryWatchdogError("Host RAM reached 93 % (abort at 92 %).", sorter="kilosort4", stage="sort",
                                    log_path=str(tmp_path / "kilosort4.log"))
    result = _result(tmp_path).fail(error)
    (tmp_path / "watchdog_events.jsonl").write_text(
        json.dumps({"event": "host_ram_warn", "pct": 86.0}) + "\n" + json.dumps({"event": "host_ram_abort"}) + "\n")
    js = write_recording_report(result, tmp_path, config=SortingPipelineConfig())
    doc = json.loads(js.read_text())
    assert doc["status"] == "oom_host_ram"
    assert doc["error_class"] == "HostMemoryWatchdogError"
    assert doc["error_evidence"]["stage"] == "sort"
    assert doc["watchdog"]["counts"] == {"host_ram_warn": 1, "host_ram_abort": 1}
    text = regenerate_report(tmp_path).read_text()
    assert "## Failure" in text and "HostMemoryWatchdogError" in text and "oom_host_ram" in text
    assert "| host_ram_abort | 1 |" in text


def test_regenerate_rebuilds_markdown_and_figures_from_the_folder(tmp_path, sorted_tiny):
    md, _ = _write_both(tmp_path, sorted_tiny)
    original = md.read_text()
    for name in ("sorting_report.md", "sorting_report_quality.png", "sorting_report_footprints.png"):
        (tmp_path / name).unlink()
    regenerated = regenerate_report(tmp_path).read_text()
    assert _is_png(tmp_path / "sorting_report_footprints.png") and _is_png(tmp_path / "sorting_report_quality.png")
    strip = lambda text: [line for line in text.splitlines() if "generated" not in line and "| python" not in line]  # noqa: E731
    assert strip(regenerated) == strip(original)


def test_no_figures_when_disabled(tmp_path, sorted_tiny):
    config, sd, curated, results, _ = sorted_tiny
    md = write_sorting_report(tmp_path, result=_result(tmp_path), config=config.override(create_figures=False),
                              sd_raw=sd, sd_curated=curated, curation_results=results, versions={})
    assert not list(tmp_path.glob("*.png")) and "![" not in md.read_text()


def test_regenerate_refuses_folders_without_a_report(tmp_path):
    with pytest.raises(InputError, match="recording_report.json"):
        regenerate_report(tmp_path)
    (tmp_path / "recording_report.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(InputError, match="Upgrade"):
        regenerate_report(tmp_path)


def test_json_has_no_nan_or_numpy(tmp_path, sorted_tiny):
    config, sd, curated, results, history = sorted_tiny
    attrs = [dict(a) for a in sd.neuron_attributes]
    attrs[0]["std_norm"] = np.inf
    raw = sd._replace(neuron_attributes=attrs)
    result = _result(tmp_path)
    write_sorting_report(tmp_path, result=result, config=config, sd_raw=raw, sd_curated=curated,
                         curation_results=results, versions={})
    js = write_recording_report(result, tmp_path, config=config, curation=history, sd=curated)
    text = js.read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text)
