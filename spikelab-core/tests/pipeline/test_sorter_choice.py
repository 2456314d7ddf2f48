"""``sorter="auto"`` (issue 20 item 5): array type, sampling rate, GPU and installed backends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spikelab.errors import ConfigError
from spikelab.spike_sorting.sorter_choice import array_kind, choose_sorter, load_table
from spikelab.testing.fake_nvml import FakeGpu, FakeNvml

REPO = Path(__file__).resolve().parents[3]


def _initialised_nvml():
    nvml = FakeNvml([FakeGpu()])
    nvml.nvmlInit()  # the probe returns NVML initialised, as guards.gpu.load_nvml does
    return nvml


NO_GPU = {"load_nvml": lambda: None}
ONE_GPU = {"load_nvml": _initialised_nvml}


def _neuropixels_1():
    return np.c_[np.tile([43, 11, 59, 27], 96), np.repeat(np.arange(192) * 20, 2)]


def _neuropixels_2_four_shanks():
    return np.array([(s * 250 + x, r * 15) for s in range(4) for r in range(48) for x in (0, 32)])


def _grid(side=8, pitch=17.5):
    return np.stack(np.meshgrid(np.arange(side) * pitch, np.arange(side) * pitch), -1).reshape(-1, 2)


@pytest.mark.parametrize(("locations", "kind"), [
    (_neuropixels_1(), "probe"), (_neuropixels_2_four_shanks(), "probe"), (_grid(), "grid"),
    (_grid(10, 15.0) + [[0, 0]], "grid"), (np.c_[np.zeros(32), np.arange(32) * 20.0], "probe"),
])
def test_array_kind_from_positions_not_format(locations, kind):
    assert array_kind(locations) == kind
    rotated = locations @ np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    assert array_kind(rotated) == kind  # a probe drawn at an angle is still a probe


def _recording(locations, fs=20000.0):
    from spikeinterface.core import generate_recording

    recording = generate_recording(num_channels=len(locations), sampling_frequency=fs, durations=[0.1])
    recording.set_dummy_probe_from_locations(np.asarray(locations, dtype=float))
    return recording


def _row(array, source, ranking, **extra):
    return {"array": array, "source": source, "recording": f"{source} data",
            "ranking": [{"sorter": s, "package": f"pkg-{s}", "well_detected": w} for s, w in ranking], **extra}


TABLE = [
    _row("grid", "grid_gpu.json", [("fake", "14/16")], gpu="yes"),
    _row("grid", "grid_cpu.json", [("no_such_sorter", "15/16"), ("fake", "13/16")], gpu="no"),
    _row("probe", "probe_20k.json", [("fake", "12/16")], max_hz=25000),
    _row("probe", "probe_30k.json", [("fake", "11/16")], min_hz=25000),
]


def test_grid_and_probe_take_their_own_rows():
    grid = choose_sorter(_recording(_grid()), table=TABLE, **ONE_GPU)
    probe = choose_sorter(_recording(_neuropixels_1()[:64]), table=TABLE, **ONE_GPU)
    assert (grid.sorter, grid.array, probe.array) == ("fake", "grid", "probe")
    assert "grid_gpu.json" in grid.reason and "probe_20k.json" in probe.reason
    assert "dense 2-D grid at 20 kHz with an NVIDIA GPU" in grid.reason


def test_sampling_rate_picks_the_band():
    choice = choose_sorter(_recording(_neuropixels_1()[:64], fs=30000.0), table=TABLE, **NO_GPU)
    assert "probe_30k.json" in choice.reason and "11/16" in choice.reason and "at 30 kHz" in choice.reason


def test_gpu_present_or_absent_picks_the_row_and_names_a_better_sorter_not_installed():
    with_gpu = choose_sorter(_recording(_grid()), table=TABLE, **ONE_GPU)
    without = choose_sorter(_recording(_grid()), table=TABLE, **NO_GPU)
    assert "grid_gpu.json" in with_gpu.reason and not with_gpu.skipped
    assert "grid_cpu.json" in without.reason and "without an NVIDIA GPU" in without.reason
    assert without.skipped == ("no_such_sorter (15/16) is not installed: `pip install pkg-no_such_sorter`",)
    assert without.skipped[0] in without.reason


def test_nothing_installed_or_nothing_measured_is_a_config_error_with_the_fix():
    table = [_row("grid", "g.json", [("no_such_sorter", "15/16"), ("other_missing", "9/16")])]
    with pytest.raises(ConfigError, match="pip install pkg-no_such_sorter.*pip install pkg-other_missing"):
        choose_sorter(_recording(_grid()), table=table, **NO_GPU)
    with pytest.raises(ConfigError, match="no measured choice for a linear/multi-shank probe"):
        choose_sorter(_recording(_neuropixels_1()[:64]), table=table, **NO_GPU)


def test_sort_recording_auto_sorts_with_the_choice_and_reports_it(tmp_path, monkeypatch, tiny_ground_truth):
    from spikelab.spike_sorting import run_recordings

    table = tmp_path / "choices.toml"
    table.write_text('[[choice]]\narray = "probe"\nsource = "mine.json"\n'
                     'ranking = [{ sorter = "fake", well_detected = "5/6" }]\n')
    monkeypatch.setenv("SPIKELAB_SORTER_CHOICES", str(table))
    recording, _ = tiny_ground_truth
    results = run_recordings([recording], sorter="auto", n_jobs=1, prevent_system_sleep=False,
                             intermediate_folders=[tmp_path / "i"], results_folders=[tmp_path / "r"])
    assert results[0].ok and results[0].sorter_choice.startswith("sorter='auto' chose fake: best measured")
    assert json.loads((tmp_path / "r" / "recording_report.json").read_text())["sorter"] == "fake"


def _cited_runs(source: str, recording: str, entries: list[dict]) -> list[int]:
    """Check each entry's numbers against ``recording``'s runs in ``source``; its units well detected."""
    path = REPO / source
    assert path.is_file(), source
    data = json.loads(path.read_text())
    dataset = recording.split()[0]
    scores = []
    for entry in entries:
        runs = [r for r in data["runs"] if r["sorter"] == entry["sorter"] and r["dataset"] == dataset
                and r.get("via") == entry["via"] and r.get("ok")]
        assert runs, (dataset, entry)
        after, n = runs[0]["after"], entry["well_detected"].split("/")[1]
        assert entry["well_detected"] == f"{after['well_detected']}/{n}", (dataset, entry)
        assert entry["unit_precision"] == after["unit_precision"], (dataset, entry)
        assert entry["cpu_s"] == round(runs[0]["cpu_s"]), (dataset, entry)
        scores.append(after["well_detected"])
    return scores


def test_shipped_table_cites_existing_results_with_their_numbers_best_first():
    """Each row's numbers are those of its source file(s), ranked by units well detected on the
    first recording it cites, then on the second (``also``)."""
    for row in load_table():
        scores = _cited_runs(row["source"], row["recording"], row["ranking"])
        if "also" in row:
            also = [{"sorter": e["sorter"], **e["also"]} for e in row["ranking"]]
            scores = list(zip(scores, _cited_runs(row["also"]["source"], row["also"]["recording"], also)))
        assert scores == sorted(scores, reverse=True), row["source"]


def test_a_second_recording_is_cited_beside_the_first():
    row = _row("grid", "realistic.json", [("fake", "5/16")])
    row["also"] = {"source": "generated.json", "recording": "generated data"}
    row["ranking"][0]["also"] = {"well_detected": "13/16", "via": "spikelab"}
    choice = choose_sorter(_recording(_grid()), table=[row], **NO_GPU)
    assert ("5/16 ground-truth units well detected after curation on realistic.json data (realistic.json) "
            "and 13/16 on generated data (generated.json)") in choice.reason


def test_a_second_recording_without_its_source_is_a_config_error(tmp_path):
    table = tmp_path / "choices.toml"
    table.write_text('[[choice]]\narray = "grid"\nsource = "a.json"\nalso = { recording = "b" }\n'
                     'ranking = [{ sorter = "fake", well_detected = "5/6" }]\n')
    with pytest.raises(ConfigError, match="`also` names a second recording and needs its source"):
        load_table(table)


def test_multistream_auto_chooses_once_and_reports_it_for_every_well(tmp_path, monkeypatch):
    from pipeline_helpers import inline_kwargs

    from spikelab.demo import write_demo_recording
    from spikelab.spike_sorting import sort_multistream

    table = tmp_path / "choices.toml"
    table.write_text('[[choice]]\narray = "probe"\nsource = "wells.json"\n'
                     'ranking = [{ sorter = "fake", well_detected = "3/3" }]\n')
    monkeypatch.setenv("SPIKELAB_SORTER_CHOICES", str(table))
    path, _ = write_demo_recording(tmp_path / "multiwell.raw.h5", duration_s=3.0, num_channels=8,
                                   num_units=3, seed=7, wells=("well000", "well001"))
    out = sort_multistream(path, ["well000", "well001"], **inline_kwargs(curate=False, sorter="auto"))
    assert all(len(sds) == 1 for sds in out.values())
    reports = [json.loads(p.read_text()) for p in path.parent.glob("**/recording_report.json")]
    assert len(reports) == 2 and all("wells.json" in r["sorter_choice"] for r in reports)
