"""``sorting_report.html`` and the batch ``index.html``, loaded in a real (headless) Chromium."""

from __future__ import annotations

import re

import numpy as np
from browser_helpers import load_page

from spikelab.spike_sorting.batch.report import BatchReport, Entry
from spikelab.spike_sorting.report import regenerate_report, write_recording_report, write_sorting_report
from spikelab.spike_sorting.results import RecordingResult

_CARD = re.compile(r'<div class="unit (?P<cls>kept|removed)" data-unit-id="(?P<id>[^"]+)" data-kept="\w+"'
                   r'(?: style="(?P<style>[^"]*)")?>(?P<body>.*?)</div></div>', re.S)


def _write(folder, sorted_tiny):
    config, sd, curated, results, history = sorted_tiny
    result = RecordingResult(rec_name="tiny", rec_path="/data/tiny.raw.h5", results_folder=str(folder),
                             n_units=sd.N, n_curated_units=curated.N)
    sd.save(folder / "sorted_spikedata.pkl")
    write_sorting_report(folder, result=result, config=config, sd_raw=sd, sd_curated=curated,
                         curation_results=results)
    write_recording_report(result, folder, config=config, curation=history, sd=curated)
    return folder / "sorting_report.html"


def _cards(dom):
    return {m["id"]: m for m in _CARD.finditer(dom)}


def test_every_unit_is_drawn_in_a_browser_without_console_errors(tmp_path, sorted_tiny):
    _, sd, curated, _, _ = sorted_tiny
    page = load_page(_write(tmp_path, sorted_tiny), screenshot=tmp_path / "shot.png")
    assert page.console == []
    assert f'data-rendered-units="{sd.N}"' in page.dom
    cards = _cards(page.dom)
    kept = {str(u) for u in curated.unit_ids.tolist()}
    assert set(cards) == {str(u) for u in sd.unit_ids.tolist()}
    assert {uid for uid, card in cards.items() if card["cls"] == "kept"} == kept
    for card in cards.values():
        titles = re.findall(r'text-anchor="middle" class="lbl">([^<]+)</text>', card["body"])
        assert titles[:1] == ["footprint"] and {"waveform (peak channel)", "ISI histogram", "autocorrelogram",
                                                  "amplitude over time"} <= set(titles)
        assert card["body"].count("<polyline") >= 2  # the footprint's channels and the waveform
        assert "<circle" in card["body"] and "<rect" in card["body"]  # amplitudes and histogram bars
    assert "<td>snr_min</td>" in page.dom  # the curation table
    import matplotlib.image

    image = matplotlib.image.imread(tmp_path / "shot.png")
    assert image.shape[1] == 1280 and np.std(image[..., :3]) > 0.05  # drawn, not a blank page


def test_filters_show_only_removed_or_kept_units(tmp_path, sorted_tiny):
    _, sd, curated, _, _ = sorted_tiny
    path = _write(tmp_path, sorted_tiny)
    for which, visible in (("removed", "removed"), ("kept", "kept")):
        page = load_page(path, fragment=f"#{which}")
        cards = _cards(page.dom).values()
        shown = {c["cls"] for c in cards if "display: none" not in (c["style"] or "")}
        assert shown == {visible}, which
        assert f'class="filter active" data-filter="{which}"' in page.dom
    assert 0 < curated.N < sd.N  # both filters had something to show


def test_page_is_self_contained(tmp_path, sorted_tiny):
    text = _write(tmp_path, sorted_tiny).read_text()
    assert not re.search(r'(src|href)="(https?:)?//', text) and "url(" not in text
    assert text.count('src="data:image/png;base64,') == 2  # quality and footprint figures inlined


def test_spikelab_report_rebuilds_the_page(tmp_path, sorted_tiny):
    path = _write(tmp_path, sorted_tiny)
    path.unlink()
    regenerate_report(tmp_path)
    page = load_page(path)
    assert page.console == [] and f'data-rendered-units="{sorted_tiny[1].N}"' in page.dom
    assert "amplitude over time" in page.dom


def test_batch_index_links_every_recording(tmp_path, sorted_tiny):
    good = tmp_path / "rec1"
    good.mkdir()
    _write(good, sorted_tiny)
    report = BatchReport(folder=tmp_path, sorter="kilosort4", entries=[
        Entry(name="rec1", source="rec1.raw.h5", results_folder=str(good), status="success", n_units=4),
        Entry(name="rec2", source="rec2.raw.h5", results_folder=str(tmp_path / "rec2"), status="gpu_oom",
              error="GpuOutOfMemoryError"),
    ])
    report.write()
    page = load_page(tmp_path / "index.html")
    assert page.console == []
    assert '<a href="rec1/sorting_report.html">rec1</a>' in page.dom
    assert "rec2" in page.dom and "gpu_oom" in page.dom and "GpuOutOfMemoryError" in page.dom
