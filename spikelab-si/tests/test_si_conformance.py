"""Core's backend conformance suite, run against each SpikeInterface sorter this package registers.

The tiny end-to-end sort of the suite is left to ``test_si_end_to_end`` (one spykingcircus2 sort
on a smaller recording, checked against its ground truth): four sorts of the suite's recording
would take minutes on a loaded 2-core machine.
"""

from __future__ import annotations

import pytest
from si_helpers import BROKEN_POOL, INVALID_PARAMS, NUMPY_OOM, noise_log

from spikelab.testing.conformance import BackendConformance
from spikelab_si.plugin import SORTERS

COMMON = {NUMPY_OOM: "oom_memoryerror", BROKEN_POOL: "oom_memoryerror", INVALID_PARAMS: "environment"}


class TestSpykingCircus2Conformance(BackendConformance):
    backend_name = "spykingcircus2"
    failure_samples = {noise_log("spykingcircus2"): "not_sortable", **COMMON}


class TestTridesclous2Conformance(BackendConformance):
    backend_name = "tridesclous2"
    failure_samples = {noise_log("tridesclous2"): "not_sortable", **COMMON}


@pytest.mark.skipif("lupin" not in SORTERS, reason="the installed SpikeInterface has no lupin")
class TestLupinConformance(BackendConformance):
    backend_name = "lupin"
    failure_samples = {
        "detect_peaks(): 0 peaks found\nselect_peaks(): 0 peaks kept for clustering\n": "not_sortable",
        **COMMON,
    }


class TestMountainsort5Conformance(BackendConformance):
    backend_name = "mountainsort5"
    failure_samples = dict(COMMON)
