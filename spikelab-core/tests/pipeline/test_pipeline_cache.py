"""Caching: reuse only when inputs and parameters match; recompute flags; chained invalidation."""

from __future__ import annotations

import os

from pipeline_helpers import inline_kwargs

from spikelab.spike_sorting import cache, run_recordings
from spikelab.spike_sorting.folders import Manifest


def _run(path, tmp_path, **kwargs):
    results = run_recordings(
        [path], **inline_kwargs(**kwargs), intermediate_folders=[tmp_path / "inter"],
        results_folders=[tmp_path / "results"],
    )
    return results[0].spike_data, results[0]


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
    assert cache.is_valid(
        tmp_path / "inter" / "sorter_output", cache.read_marker(tmp_path / "inter" / "sorter_output")["key"]
    )


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


def _truncate(path, keep_fraction):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def test_a_truncated_binary_recording_is_rebuilt_not_reused(small_file, tmp_path):
    """Finding 3: a truncated ``traces_cached_seg0.raw`` shortened the recording, silently."""
    path, _ = small_file
    first, r1 = _run(path, tmp_path)
    traces = tmp_path / "inter" / "recording" / "traces_cached_seg0.raw"
    _truncate(traces, 0.4)
    second, r2 = _run(path, tmp_path)
    assert r2.cached_stages == []
    assert second[0].length == first[0].length
    assert [len(t) for t in second[0].train] == [len(t) for t in first[0].train]
    assert traces.stat().st_size > 0 and cache.is_valid(traces.parent, cache.read_marker(traces.parent)["key"])


def test_a_truncated_sorter_output_is_rebuilt_and_the_reason_logged(small_file, tmp_path):
    """Finding 3: a truncated ``spike_times.npy`` was reused."""
    from structlog.testing import capture_logs

    path, _ = small_file
    first, _ = _run(path, tmp_path)
    _truncate(tmp_path / "inter" / "sorter_output" / "spike_times.npy", 0.5)
    with capture_logs() as logs:
        second, result = _run(path, tmp_path)
    assert result.cached_stages == ["preprocess"]
    assert [len(t) for t in second[0].train] == [len(t) for t in first[0].train]
    rebuilt = [e for e in logs if e["event"] == "cache_rebuilt"]
    assert rebuilt and rebuilt[0]["stage"] == "sort" and "spike_times.npy" in rebuilt[0]["reason"]


def test_a_sorter_without_output_is_not_cached(small_file, tmp_path, monkeypatch):
    """Finding 4: the output was marked valid before it was read, so the failure repeated."""
    from spikelab.spike_sorting._exceptions import SorterOutputError
    from spikelab.testing import fake_backend

    path, _ = small_file
    monkeypatch.setattr(fake_backend, "_run_ok", lambda job: fake_backend._say("done (wrote nothing)"))
    _, result = _run(path, tmp_path, raise_on_failure=False)
    assert result.status == "failed" and isinstance(result.error, SorterOutputError)
    assert not cache.read_marker(tmp_path / "inter" / "sorter_output")
    monkeypatch.undo()
    sds, result = _run(path, tmp_path)
    assert result.ok and "sort" not in result.cached_stages and result.n_units > 0
