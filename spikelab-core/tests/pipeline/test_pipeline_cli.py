"""``spikelab sort``, ``spikelab report`` and ``spikelab demo``."""

from __future__ import annotations

import json

from pipeline_helpers import write_silent_file

from spikelab.cli.main import main
from spikelab.cli.sort_command import parse_assignments

FAST = ["--set", "isolation=inline", "--set", "n_jobs=1", "--set", "progress_bar=false",
        "--set", "prevent_system_sleep=false"]


def test_set_values_are_typed():
    assert parse_assignments(["fr_min=0.1", "curate=false", "kilosort_path=/opt/ks", "n_jobs=8"]) == {
        "fr_min": 0.1, "curate": False, "kilosort_path": "/opt/ks", "n_jobs": 8,
    }


def test_sort_prints_one_line_per_recording_and_exits_by_outcome(small_file, tmp_path, capsys):
    path, _ = small_file
    silent = write_silent_file(tmp_path / "data" / "silent.raw.h5")
    code = main(["sort", str(path), "--sorter", "fake", *FAST, "--set", "fr_min=0.1"])
    out = capsys.readouterr().out
    assert code == 0 and "small" in out and "success" in out
    code = main(["sort", str(silent), str(path), "--preset", "FAKE", *FAST])
    out = capsys.readouterr().out
    assert code == 1
    assert "not_sortable" in out and "InsufficientActivityError" in out and "success" in out


def test_unknown_knob_is_a_clear_error(small_file, capsys):
    path, _ = small_file
    assert main(["sort", str(path), "--sorter", "fake", "--set", "fr_mni=0.1"]) == 2
    assert "fr_min" in capsys.readouterr().err


def test_report_rebuilds_the_markdown(small_file, tmp_path, capsys):
    path, _ = small_file
    main(["sort", str(path), "--sorter", "fake", *FAST, "--results", str(tmp_path / "res")])
    capsys.readouterr()
    (tmp_path / "res" / "sorting_report.md").unlink()
    (tmp_path / "res" / "sorting_report.html").unlink()
    assert main(["report", str(tmp_path / "res")]) == 0
    assert (tmp_path / "res" / "sorting_report.md").is_file()
    assert str(tmp_path / "res" / "sorting_report.html") in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 2  # a user error: exit code 2, like argparse
    assert "recording_report.json" in capsys.readouterr().err


DEMO_SMALL = ["--duration", "4", "--channels", "16", "--units", "6", "--rate", "20"]


def _line(out, prefix):
    return next(line for line in out.splitlines() if line.startswith(prefix))


def _choices(tmp_path, monkeypatch, ranking):
    table = tmp_path / "choices.toml"
    table.write_text('[[choice]]\narray = "grid"\nsource = "bench/results/mine.json"\n'
                     f'recording = "mine (a small grid)"\nranking = [{ranking}]\n')
    monkeypatch.setenv("SPIKELAB_SORTER_CHOICES", str(table))


def test_demo_reports_units_and_accuracy(tmp_path, capsys):
    code = main(["demo", "--folder", str(tmp_path / "demo"), "--sorter", "fake", *DEMO_SMALL])
    out = capsys.readouterr().out
    assert code == 0
    assert "Accuracy" in out and "fake" in out and "Note: the test kit's 'fake' threshold sorter" in out
    assert (tmp_path / "demo" / "results" / "recording_report.json").is_file()


def test_demo_says_which_sorter_why_and_what_its_accuracy_means(tmp_path, capsys):
    code = main(["demo", "--folder", str(tmp_path / "demo"), *DEMO_SMALL, "--sorter", "fake"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Sorter    : fake, because you chose it (--sorter)" in out
    assert "4 x 4 grid at 17.5 µm, 20 kHz" in _line(out, "Recording :")
    found = _line(out, "Found well:")
    assert "of the 6 true units after curation" in found and "at most 20 % errors" in found
    # the average over all true units counts a unit not found as 0; precision is never quoted
    # over those zeros as if it were the share of real sorted spikes
    accuracy = _line(out, "Accuracy  :")
    assert "over all 6 true units (a unit not found counts as 0)" in accuracy
    assert "share of sorted spikes that are real" not in out


def test_demo_sorts_with_auto_says_why_and_writes_its_score_into_the_report(tmp_path, monkeypatch, capsys):
    _choices(tmp_path, monkeypatch, '{ sorter = "fake", well_detected = "5/6" }')
    code = main(["demo", "--folder", str(tmp_path / "demo"), *DEMO_SMALL])
    out = capsys.readouterr().out
    assert code == 0
    # the same choice sort_recording makes, with the table's measurement, before the sort and after it
    why = ("fake, because sorter='auto' chose it, as sort_recording would: best measured for a dense 2-D grid at "
           "20 kHz without an NVIDIA GPU: 5/6 ground-truth units well detected after curation on mine")
    assert f"spikelab demo: sorting with {why}" in out and f"Sorter    : {why}" in out
    assert "bench/results/mine.json" in _line(out, "Sorter    :")
    found = _line(out, "Found well:")
    well, before = (int(found.split()[2]), int(found.split("(")[1].split()[0]))
    assert 0 <= well <= before <= 6
    precision = _line(out, "Precision :")
    kept = int(_line(out, "Units     :").split(",")[1].split()[0])
    assert f"of the {kept} kept units are real, unit precision" in precision
    results = tmp_path / "demo" / "results"
    report = json.loads((results / "recording_report.json").read_text())
    assert report["sorter"] == "fake" and "bench/results/mine.json" in report["sorter_choice"]
    truth = report["ground_truth"]
    assert (truth["curated_well_detected"], truth["raw_well_detected"], truth["n_true_units"]) == (well, before, 6)
    assert truth["curated_n_units"] == kept and 0 <= truth["curated_unit_precision"] <= 1
    markdown = (results / "sorting_report.md").read_text()
    assert "| Why this sorter | sorter='auto' chose fake: best measured" in markdown
    assert f"| Accuracy against ground truth | {well} of 6 true units found well after curation" in markdown
    assert f"{well} of 6 true units found well after curation" in (results / "sorting_report.html").read_text()


def test_demo_without_a_measured_sorter_installed_says_what_to_install(tmp_path, monkeypatch, capsys):
    _choices(tmp_path, monkeypatch, '{ sorter = "no_such_sorter", package = "spikelab-nothing", '
                                    'well_detected = "6/6" }')
    code = main(["demo", "--folder", str(tmp_path / "demo"), *DEMO_SMALL])
    out = capsys.readouterr().out
    assert code == 0
    sorter = _line(out, "Sorter    :")
    assert sorter.startswith("Sorter    : fake, because sorter='auto' could not choose")
    assert "`pip install spikelab-nothing`" in sorter
    assert "says nothing about spike sorting" in out


def test_demo_counts_faint_true_units_apart(tmp_path):
    from spikelab.demo import run_demo

    outcome = run_demo(tmp_path / "demo", sorter="fake", duration_s=4.0, num_channels=16, num_units=6,
                       firing_rate_hz=20.0, noise_level_uv=30.0)
    assert outcome.n_true_units == 6 and outcome.noise_uv == 30.0
    assert 0 < outcome.n_clear_units < 6  # at 30 µV of noise some generated units are faint, some clear
    assert outcome.clear_well_detected <= min(outcome.well_detected, outcome.n_clear_units)
    assert outcome.benchmark is None  # not the benchmark's recording, so no claim that it is
