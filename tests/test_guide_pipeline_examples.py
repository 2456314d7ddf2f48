"""The guide's pipeline examples, extracted from spike_sorting_guide.rst and run verbatim.

The guide's code blocks are stored flattened (one line each, followed by prose). Each block is
paired here with its code laid out on lines; :func:`test_every_guide_block_is_accounted_for`
proves that each layout is the guide's text verbatim (same characters once whitespace is
collapsed), and that every python block of the guide is run either here or by the named test of
the package that owns it. The examples then run in guide order, in one namespace, in a folder
holding ``session1.raw.h5`` and ``multiwell.raw.h5`` generated as Maxwell files, with the real
Kilosort4 backend on the CPU.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The guide we build to lives in shared/spec beside the checkout; a copy travels with the
#: repository so a clean checkout alone still checks every example against it.
SHARED_GUIDE = ROOT.parent / "shared" / "spec" / "spike_sorting_guide.rst"
GUIDE_COPY = ROOT / "tests" / "data" / "spike_sorting_guide.rst"
GUIDE = SHARED_GUIDE if SHARED_GUIDE.is_file() else GUIDE_COPY

#: Guide blocks this file runs, in guide order, laid out on lines.
BLOCKS: dict[str, str] = {
    "basic": '''
from spikelab.spike_sorting import sort_recording

results = sort_recording(
    recording_files=["session1.raw.h5"],
    sorter="kilosort4",
)
sd = results[0]
print(sd.N, "units")
print(sd.length / 1000, "seconds")
''',
    "preset": '''
from spikelab.spike_sorting.config import KILOSORT4

results = sort_recording(
    recording_files=["session1.raw.h5"],
    config=KILOSORT4,
)
''',
    "override": '''
config = KILOSORT4.override(
    fr_min=0.1,  # stricter minimum firing rate (Hz)
    snr_min=6.0,  # stricter SNR threshold
    n_jobs=16,
    total_memory="32G",
)
results = sort_recording(["session1.raw.h5"], config=config)
''',
    "kwargs_kilosort2": '''
results = sort_recording(
    recording_files=["session1.raw.h5"],
    sorter="kilosort2",
    kilosort_path="/opt/Kilosort2",
    fr_min=0.1,
    n_jobs=8,
)
''',
    "multistream": '''
from spikelab.spike_sorting import sort_multistream

stream_results = sort_multistream(
    recording="multiwell.raw.h5",
    stream_ids=["well000", "well001"],
    sorter="kilosort4",
)
for stream_id, sds in stream_results.items():
    print(f"{stream_id}: {sds[0].N} units")
''',
    "recompute": '''
results = sort_recording(
    recording_files=["session1.raw.h5"],
    sorter="kilosort4",
    recompute_recording=False,  # reuse existing binary
    recompute_sorting=True,  # force re-sort
    reextract_waveforms=True,  # force waveform re-extraction
)
''',
    "canary": '''
from spikelab.spike_sorting.config import KILOSORT4

config = KILOSORT4.override(canary_first_n_s=30.0)
results = sort_recording(["session1.raw.h5"], config=config)
''',
    "split_epochs": '''
epoch_sds = sd.split_epochs()
for i, epoch_sd in enumerate(epoch_sds):
    print(f"Epoch {i}: {epoch_sd.N} units, {epoch_sd.length:.0f} ms")
''',
    "failures": '''
from spikelab.spike_sorting._classifier import (
    classify_ks2_failure,
    classify_ks4_failure,
    classify_rt_sort_failure,
)
from spikelab.spike_sorting._exceptions import (
    BiologicalSortFailure,
    EnvironmentSortFailure,
    ResourceSortFailure,
)

# Pick the classifier matching your sorter
classify = classify_ks4_failure  # or classify_ks2_failure, classify_rt_sort_failure

try:
    results = sort_recording(["session1.raw.h5"], sorter="kilosort4")
except Exception as exc:
    classified = classify(output_folder, exc)
    if classified is not None:
        if isinstance(classified, BiologicalSortFailure):
            print(f"Skipping (biology): {classified}")
        elif isinstance(classified, EnvironmentSortFailure):
            raise  # stop the batch
        elif isinstance(classified, ResourceSortFailure):
            print(f"Retry with smaller batch: {classified}")
    else:
        raise  # unrecognised failure
''',
}

#: Guide blocks run verbatim by the tests of the package that owns them.
OWNED_ELSEWHERE = (
    ROOT / "spikelab-core" / "tests" / "spikedata" / "test_guide_curation.py",
    *sorted((ROOT / "spikelab-stim" / "tests").glob("test_*guide*.py")),
)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def guide_blocks() -> list[str]:
    """Every python code block of the guide, flattened (code followed by prose)."""
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    return [_flat(lines[i + 1]) for i, line in enumerate(lines[:-1]) if line.strip() == ".. code-block:: python"]


def test_the_guide_copy_is_the_shared_guide():
    if not SHARED_GUIDE.is_file():
        pytest.skip(f"{SHARED_GUIDE} is not beside this checkout; the copy is all there is")
    assert GUIDE_COPY.read_text(encoding="utf-8") == SHARED_GUIDE.read_text(encoding="utf-8"), (
        f"{GUIDE_COPY} is stale: copy {SHARED_GUIDE} over it")


def test_every_guide_block_is_accounted_for():
    elsewhere = " ".join(_flat(path.read_text()) for path in OWNED_ELSEWHERE if path.is_file())
    blocks = guide_blocks()
    assert len(blocks) >= 14
    mine = {name: _flat(code) for name, code in BLOCKS.items()}
    unmatched = []
    for block in blocks:
        matches = [name for name, code in mine.items() if block.startswith(code)]
        if len(matches) == 1:
            continue
        if block[:60] in elsewhere:
            continue
        unmatched.append(block[:100])
    assert not unmatched, f"guide blocks run by no test: {unmatched}"
    for name, code in mine.items():
        assert any(block.startswith(code) for block in blocks), f"{name} is not the guide's text"


@pytest.fixture(scope="module")
def guide_folder(tmp_path_factory):
    """A folder named as in the guide: session1.raw.h5, multiwell.raw.h5 (generated Maxwell files)."""
    from spikelab.demo import write_demo_recording

    folder = tmp_path_factory.mktemp("guide")
    rate = {"num_channels": 16, "num_units": 8, "firing_rate_hz": 50.0, "duration_s": 10.0}
    write_demo_recording(folder / "session1.raw.h5", seed=0, **rate)
    write_demo_recording(folder / "multiwell.raw.h5", seed=1, wells=("well000", "well001"), **rate)
    for index in (1, 2):  # a directory of sessions, for the concatenation example
        write_demo_recording(folder / "day1" / f"part{index}.raw.h5", seed=10 + index, **{**rate, "duration_s": 4.0})
    return folder


def _run(name: str, namespace: dict) -> None:
    exec(compile(BLOCKS[name], f"<guide:{name}>", "exec"), namespace)


@pytest.mark.slow
@pytest.mark.timeout(2400)  # five Kilosort4 sorts on the CPU
def test_pipeline_examples_run_verbatim(guide_folder, monkeypatch, capsys):
    from spikelab.plugins import get_plugin_manager

    sorters = get_plugin_manager().sorters()
    if "kilosort4" not in sorters:
        pytest.skip("the guide's examples use sorter='kilosort4': pip install spikelab-ks4")
    monkeypatch.chdir(guide_folder)
    namespace: dict = {}
    _run("basic", namespace)
    assert namespace["sd"].length == pytest.approx(10000.0)
    assert (guide_folder / "sorted_kilosort4" / "session1" / "sorting_report.md").is_file()
    _run("preset", namespace)
    _run("override", namespace)
    assert namespace["results"][0].N <= namespace["sd"].N  # stricter curation keeps no more units
    _run("multistream", namespace)
    printed = capsys.readouterr().out
    assert "well000:" in printed and "well001:" in printed
    _run("recompute", namespace)
    _run("canary", namespace)  # 10 s recording, 30 s window: the canary is skipped
    # "Sorting Concatenated Recordings": sd from a saved, not yet split, concatenated sort.
    from spikelab import SpikeData
    from spikelab.spike_sorting import sort_recording

    sort_recording(["day1"], sorter="fake", curate=False)  # set-up, not a guide example
    namespace["sd"] = SpikeData.load(guide_folder / "sorted_fake" / "day1" / "sorted_spikedata_curated.pkl")
    _run("split_epochs", namespace)
    printed = capsys.readouterr().out
    assert "Epoch 0:" in printed and "Epoch 1:" in printed and "4000 ms" in printed
    if "rt_sort" not in sorters or "kilosort2" not in sorters:
        pytest.skip(
            "the failure-handling example imports all three classifiers: install spikelab-ks2 and spikelab-rtsort"
        )
    _run("failures", namespace)


def test_kilosort2_kwargs_example():
    if not Path("/opt/Kilosort2").is_dir():
        pytest.skip(
            "needs MATLAB and a Kilosort2 clone at /opt/Kilosort2 (absent here); the same call with "
            "a fake MATLAB is spikelab-ks2/tests/test_ks2_pipeline.py::test_sort_recording_with_kilosort_path"
        )
    _run("kwargs_kilosort2", {"sort_recording": __import__("spikelab.spike_sorting", fromlist=["x"]).sort_recording})
