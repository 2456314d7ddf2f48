"""Fixtures of the waveform tests (helpers in ``_wf_known``)."""

from __future__ import annotations

import pytest
from _wf_known import make_known


@pytest.fixture(scope="module")
def known():
    """``(recording, sorting, waveforms)`` with two units of known templates in 5 µV noise."""
    return make_known()
