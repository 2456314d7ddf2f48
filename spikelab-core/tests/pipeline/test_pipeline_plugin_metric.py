"""A curation metric a plugin registers is set through the config and applied by the pipeline's
curation stage (issue 19 item 10: it used to reach only ``SpikeData.curate``)."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import inline_kwargs

from spikelab import hookimpl
from spikelab.errors import UnknownParameterError
from spikelab.spike_sorting import check_config, sort_recording
from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.spikedata import CurationMetric


class FirstUnitsOnly:
    """A metric plugin: a unit's index, kept when at most ``max_unit_index``."""

    @hookimpl
    def spikelab_register_metrics(self, register):
        register(
            CurationMetric(
                name="unit_index", param="max_unit_index", passes="max",
                compute=lambda sd, options: np.arange(sd.N, dtype=float), doc="position of the unit",
            )
        )


@pytest.fixture
def metric_plugin(monkeypatch):
    """A fresh process-wide manager with the test kit's fake sorter and the metric plugin."""
    from spikelab.plugins import SpikeLabPluginManager, manager
    from spikelab.testing import fake_backend

    fresh = SpikeLabPluginManager()
    fresh.register(fake_backend, name="spikelab.testing.fake_backend")
    fresh.register(FirstUnitsOnly(), name="test-first-units")
    monkeypatch.setattr(manager, "_GLOBAL", fresh)
    return fresh


def test_plugin_metric_threshold_set_by_flat_name_is_applied_by_sort_recording(metric_plugin, maxwell_file):
    path, _ = maxwell_file
    builtin_off = dict(spikes_min=None, fr_min=None, isi_viol_max=None, snr_min=None, std_norm_max=None)
    every_unit = sort_recording([path], **inline_kwargs(**builtin_off))[0]
    assert every_unit.N > 3, "the planted recording yields several units"
    first_three = sort_recording([path], **inline_kwargs(**builtin_off, max_unit_index=2))[0]
    assert first_three.N == 3
    history = first_three.metadata["curation_history"]
    assert "unit_index" in str(history)


def test_plugin_criteria_round_trip_json_and_unknown_names_are_refused(metric_plugin):
    config = check_config(SortingPipelineConfig().override(max_unit_index=2))
    assert config.curation.plugin_criteria == {"max_unit_index": 2}
    assert SortingPipelineConfig.from_json(config.to_json()) == config
    with pytest.raises(UnknownParameterError, match=r"max_unit_index.*@ \$\.curation\.plugin_criteria\.max_unit_idx"):
        check_config(SortingPipelineConfig.from_dict({"curation": {"plugin_criteria": {"max_unit_idx": 1}}}))
