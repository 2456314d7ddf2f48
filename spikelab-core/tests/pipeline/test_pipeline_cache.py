"""Caching: reuse only when inputs and parameters match; recompute flags; chained invalidation."""

from __future__ import annotations

import os

from pipeline_helpers import inline_kwargs

from spikelab.spike_sorting import cache, sort_recording
from spikelab.spike_sorting.folders import Manifest


def _run(path, tmp_path, **kwargs):
    results = []
    sds = sort_recording(
        [path], **inline_kwargs(**kwargs), intermediate_folders=[tmp_path / "inter"],
        results_folders=[tmp_path / "results"], out_results=results,
    )
    return sds, results[0]


def test_second_run_reuses_everything_and_gives_the_same_units(small_file, tmp_path):
    path, _ = small_file
    first, r1 = _run(path, tmp_path)
    second, r2 = _run(path, tmp_path)
    assert r1.cached_stages == []
    assert r2.cached_stages == ["preprocess", "sort", "waveforms"]
    assert first[0].N == second[0].N
    for a, b in zip(first[0].train, second[0].train):
        assert list(a) == list(b)


def test_flags_and_changes_rebuild_exactly_what_depends_on_them(small_file, tmp_path):
    path, _ = small_file
    _run(path, tmp_path)
    # The guide's example: reuse the binary, force the sort and the waveforms.
    _, result = _run(path, tmp_path, recompute_recording=False, recompute_sorting=True, reextract_waveforms=True)
    assert result.cached_stages == ["preprocess"]
    _, result = _run(path, tmp_path, reextract_waveforms=True)
    assert result.cached_stages == ["preprocess", "sort"]
    # A different sorter parameter invalidates the sort and everything after it.
    _, result = _run(path, tmp_path, detect_threshold=6.0)
    assert result.cached_stages == ["preprocess"]
    # A different waveform window invalidates only the waveforms.
    _, result = _run(path, tmp_path, detect_threshold=6.0, ms_before=1.5)
    assert result.cached_stages == ["preprocess", "sort"]
    # A changed input file invalidates everything.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    _, result = _run(path, tmp_path, detect_threshold=6.0, ms_before=1.5)
    assert result.cached_stages == []
    # recompute_recording rebuilds everything downstream of the binary too.
    _, result = _run(path, tmp_path, detect_threshold=6.0, ms_before=1.5, recompute_recording=True)
    assert result.cached_stages == []


def test_an_incomplete_cache_folder_is_rebuilt(small_file, tmp_path):
    path, _ = small_file
    _run(path, tmp_path)
    # As if a run had been killed after writing the sorter output but before its marker.
    (tmp_path / "inter" / "sorter_output" / cache.MARKER).unlink()
    _, result = _run(path, tmp_path)
    assert result.cached_stages == ["preprocess"]
    assert cache.is_valid(tmp_path / "inter" / "sorter_output", cache.read_marker(tmp_path / "inter" / "sorter_output")["key"])


def test_markers_are_keyed_and_atomic(tmp_path):
    manifest = Manifest.open(tmp_path)
    folder = manifest.claim(tmp_path / "x")
    folder.mkdir()
    assert not cache.is_valid(folder, "k1")
    cache.mark_valid(folder, "k1")
    assert cache.is_valid(folder, "k1") and not cache.is_valid(folder, "k2")
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    cache.reset(folder, manifest)
    assert not cache.is_valid(folder, "k1") and folder.is_dir()
    assert cache.make_key({"a": 1, "b": 2}) == cache.make_key({"b": 2, "a": 1})
