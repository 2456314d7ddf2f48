"""The fault and bad-input catalogue (issue 17), one test per case of ``bench/reliability/cases.toml``.

Each case asserts that nothing the user owns was touched, that no success is silently wrong
(it must match a clean run), that the expected named error (or outcome) happened, and, where
the input allows, that the error came before the pipeline began long work. The same cases
make the table of ``bench/reliability/run.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "reliability"
sys.path.insert(0, str(BENCH))

import catalogue  # noqa: E402

CASES = catalogue.load_cases()


def test_the_catalogue_holds_at_least_60_cases():
    assert len(CASES) >= 60


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    catalogue.ensure_fake_sorter()
    return catalogue.References(tmp_path_factory.mktemp("reliability"))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, references, tmp_path):
    row = catalogue.run_case(case, tmp_path / "case", references)
    assert not row["data_lost"], row["problems"]
    assert not row["silent_wrong"], row["problems"]
    assert row["passed"], f"{row['outcome']}: {row['message']}\n" + "\n".join(row["problems"])
