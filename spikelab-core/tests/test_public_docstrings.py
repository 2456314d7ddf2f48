"""numpydoc validation of the public API's docstrings (issue 19: lint that enforces the rules).

Every public function users or plugin authors call documents each parameter and what it
returns, in numpydoc's format, so the API reference is complete.
"""

from __future__ import annotations

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

PUBLIC = [
    "spikelab.spike_sorting.api.sort_recording",
    "spikelab.spike_sorting.multistream.sort_multistream",
    "spikelab.spike_sorting.api.build_config",
    "spikelab.spike_sorting.batch.driver.sort_batch",
    "spikelab.spike_sorting.config.get_preset",
    "spikelab.spike_sorting.config.SortingPipelineConfig.override",
    "spikelab.spike_sorting.config.SortingPipelineConfig.from_kwargs",
    "spikelab.spike_sorting.config.SortingPipelineConfig.to_dict",
    "spikelab.spike_sorting.config.SortingPipelineConfig.from_dict",
    "spikelab.spike_sorting.config.SortingPipelineConfig.to_json",
    "spikelab.spike_sorting.config.SortingPipelineConfig.from_json",
    "spikelab.spike_sorting.config.SortingPipelineConfig.flat_items",
    "spikelab.spike_sorting._knobs.knob",
    "spikelab.spike_sorting._knobs.knobs",
    "spikelab.spike_sorting._knobs.convert",
    "spikelab.spike_sorting._knobs.knob_rows",
    "spikelab.spike_sorting.backend.SorterBackend.check_params",
    "spikelab.spike_sorting.backend.SorterBackend.resolve_params",
    "spikelab.errors.did_you_mean",
]

#: No docstring, a parameter undocumented or unknown, no summary, no Returns section.
CHECKED = {"GL08", "PR01", "PR02", "SS01", "RT01"}


@pytest.mark.parametrize("name", PUBLIC)
def test_public_docstring_is_complete(name):
    problems = [f"{code}: {text}" for code, text in numpydoc_validate.validate(name)["errors"] if code in CHECKED]
    assert problems == []
