"""An application's own plugin manager is the only registry a sort uses (issue 19 finding 6:
the reader, the watchdogs, the config's checks, the curation and the classifier each used to
reach for the process-wide manager, so an application with its own got a mix of registries)."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import fast_kwargs

from spikelab import hookimpl
from spikelab.errors import UnknownParameterError
from spikelab.spike_sorting import check_config, sort_recording
from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.spikedata import CurationMetric, SpikeData

BUILTIN_OFF = dict(spikes_min=None, fr_min=None, isi_viol_max=None, snr_min=None, std_norm_max=None)


class FirstUnitsOnly:
    """A metric only the application's manager knows: a unit's index, kept when small enough."""

    @hookimpl
    def spikelab_register_metrics(self, register):
        register(
            CurationMetric(
                name="unit_index", param="max_unit_index", passes="max",
                compute=lambda sd, options: np.arange(sd.N, dtype=float), doc="position of the unit",
            )
        )


@pytest.fixture
def own_manager():
    """Built-ins, the test kit's fake sorter and one metric; no entry points."""
    from spikelab.plugins import SpikeLabPluginManager
    from spikelab.testing import fake_backend

    manager = SpikeLabPluginManager(autoload=False)
    manager.register(fake_backend, name="spikelab.testing.fake_backend")
    manager.register(FirstUnitsOnly(), name="app-first-units")
    return manager


@pytest.fixture
def global_manager_forbidden(monkeypatch):
    """Any look at the process-wide manager fails the test."""
    import spikelab.plugins
    from spikelab.plugins import manager

    def forbidden():
        raise AssertionError("the process-wide plugin manager was consulted")

    monkeypatch.setattr(manager, "get_plugin_manager", forbidden)
    monkeypatch.setattr(spikelab.plugins, "get_plugin_manager", forbidden)


def test_sort_recording_uses_only_the_manager_it_is_given(own_manager, global_manager_forbidden, maxwell_file):
    path, _ = maxwell_file
    # the child-process sorter is a fresh process with its own registry: run the sort in this one
    kwargs = fast_kwargs(isolation="inline", **BUILTIN_OFF)
    every_unit = sort_recording([path], plugins=own_manager, **kwargs)[0]
    assert every_unit.N > 3, "the planted recording yields several units"
    first_three = sort_recording([path], plugins=own_manager, max_unit_index=2, **kwargs)[0]
    assert first_three.N == 3  # the metric only this manager registers was applied
    assert "unit_index" in str(first_three.metadata["curation_history"])
    report = (path.parent / "sorted_fake" / "session1" / "sorting_report.md").read_text()
    assert "max_unit_index" in report  # the report names the metric's knob from the same manager


def test_spikedata_curate_uses_only_the_manager_it_is_given(own_manager, global_manager_forbidden):
    sd = SpikeData([np.array([1.0, 2.0, 3.0]) * (i + 1) for i in range(5)], length=100.0)
    curated, results = sd.curate(plugins=own_manager, max_unit_index=1)
    assert curated.N == 2 and results["unit_index"]["passed"].tolist() == [True, True, False, False, False]


def test_a_metric_of_the_applications_manager_is_unknown_to_the_process_wide_one(own_manager):
    from spikelab.plugins import get_plugin_manager

    assert "max_unit_index" not in get_plugin_manager().curation_metrics()
    config = SortingPipelineConfig().override(max_unit_index=2)
    assert check_config(config, own_manager).curation.plugin_criteria == {"max_unit_index": 2}
    with pytest.raises(UnknownParameterError, match="max_unit_index"):
        check_config(config)  # the process-wide manager
