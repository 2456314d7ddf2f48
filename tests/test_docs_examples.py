"""Every python example of docs/ runs, page by page, in one namespace per page.

The examples run in a folder holding the files they name (generated Maxwell recordings). A block
preceded by an rst comment ``.. ci: skip (reason)`` is not run; the reason is shown in the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
SKIP = re.compile(r"^\.\. ci: skip \((.+)\)\s*$")


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip_reason)`` for every ``.. code-block:: python`` of ``page``."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, reason = [], None
    for number, line in enumerate(lines):
        match = SKIP.match(line.strip())
        if match:
            reason = match.group(1)
            continue
        if line.strip() != ".. code-block:: python":
            continue
        body, index = [], number + 1
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith("   ")):
            body.append(lines[index][3:])
            index += 1
        found.append((number + 1, "\n".join(body).strip("\n") + "\n", reason))
        reason = None
    return found


PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts and blocks(p))


def test_docs_have_examples_to_run():
    assert {p.name for p in PAGES} >= {"sorting.rst", "curation.rst", "stimulation.rst", "failures.rst", "batches.rst"}


@pytest.fixture(scope="module")
def docs_folder(tmp_path_factory):
    from spikelab.demo import write_demo_recording

    folder = tmp_path_factory.mktemp("docs")
    size = {"num_channels": 16, "num_units": 8, "firing_rate_hz": 50.0, "duration_s": 10.0}
    write_demo_recording(folder / "session1.raw.h5", seed=0, **size)
    write_demo_recording(folder / "session2.raw.h5", seed=5, **size)
    write_demo_recording(folder / "multiwell.raw.h5", seed=1, wells=("well000", "well001"), **size)
    for index in (1, 2):
        write_demo_recording(folder / "day1" / f"part{index}.raw.h5", seed=10 + index, **{**size, "duration_s": 5.0})
    return folder


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page, docs_folder, monkeypatch):
    from spikelab.plugins import get_plugin_manager

    text = page.read_text()
    for sorter, dist in (("kilosort4", "spikelab-ks4"), ("rt_sort", "spikelab-rtsort")):
        if f'sorter="{sorter}"' in text and sorter not in get_plugin_manager().sorters():
            pytest.skip(f"{page.name} sorts with {sorter}: pip install {dist}")
    if "spikelab_stim" in text or "stim_sorting" in text:
        pytest.importorskip("spikelab_stim", reason="pip install spikelab-stim")
    monkeypatch.chdir(docs_folder)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    ran = 0
    for line, code, reason in blocks(page):
        if reason is not None:
            continue
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{page.name} line {line} failed: {type(exc).__name__}: {exc}") from exc
        ran += 1
    assert ran > 0
