"""Provenance: written only by the lock holder; a cached rerun adds to the history (finding 7)."""

from __future__ import annotations

import json

from pipeline_helpers import inline_kwargs

from spikelab.spike_sorting import lock, run_recordings


def _sort(path, tmp_path, **kwargs):
    return run_recordings([path], **inline_kwargs(**kwargs), intermediate_folders=[tmp_path / "inter"],
                          results_folders=[tmp_path / "results"])[0]


def test_the_losing_concurrent_sort_leaves_the_winners_folders_alone(small_file, tmp_path):
    path, _ = small_file
    _sort(path, tmp_path)
    results = tmp_path / "results"
    before = {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()}
    held = lock.acquire(tmp_path / "inter")  # the winner, still sorting
    try:
        loser = _sort(path, tmp_path, fr_min=0.5, raise_on_failure=False)
    finally:
        lock.release(held)
    assert loser.status == "concurrent_sort"
    after = {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()}
    assert after == before
    assert json.loads((results / "config_used.json").read_text())["curation"]["fr_min"] != 0.5


def test_a_cached_rerun_keeps_the_record_of_the_real_sort(small_file, tmp_path):
    path, _ = small_file
    first = _sort(path, tmp_path)
    second = _sort(path, tmp_path, fr_min=0.01)  # curation-only change: the sort is reused
    assert "sort" in second.cached_stages
    results = tmp_path / "results"
    history = [json.loads(line) for line in (results / "run_history.jsonl").read_text().splitlines()]
    assert [h["wall_time_s"] for h in history] == [first.wall_time_s, second.wall_time_s]
    report = json.loads((results / "recording_report.json").read_text())
    assert report["sorted_by"]["wall_time_s"] == first.wall_time_s
    assert report["sorted_by"]["cached_stages"] == []
    assert len(report["run_history"]) == 2
    markdown = (results / "sorting_report.md").read_text()
    assert "Sort reused from the run of" in markdown and history[0]["finished_at"] in markdown
