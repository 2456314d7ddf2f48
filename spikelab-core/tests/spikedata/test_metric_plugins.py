"""Curation metrics come from the plugin hook; a plugin's metric is accepted by curate()."""

from __future__ import annotations

import numpy as np
import pluggy
import pytest

from spikelab import SpikeData, hookimpl
from spikelab.plugins import get_plugin_manager, hookspecs
from spikelab.spikedata import CurationMetric, SpikeDataError, UnknownCriterionError, builtin_metrics


def _cv(sd, options):
    return np.array([np.std(np.diff(t)) / np.mean(np.diff(t)) if t.size > 2 else np.inf for t in sd.train])


class BurstinessPlugin:
    """A third-party plugin adding an ISI coefficient-of-variation criterion."""

    @hookimpl
    def spikelab_register_metrics(self, register):
        register(CurationMetric(name="isi_cv", param="max_isi_cv", compute=_cv, passes="max", order=60,
                                doc="coefficient of variation of the ISIs"))


@pytest.fixture
def burstiness_plugin():
    manager = get_plugin_manager()
    manager.register(BurstinessPlugin(), name="test-burstiness")
    yield
    manager.unregister("test-burstiness")


def test_builtin_metrics_register_through_a_fresh_manager():
    pm = pluggy.PluginManager("spikelab")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin_metrics)
    found = []
    pm.hook.spikelab_register_metrics(register=found.append)
    assert {m.param: m.name for m in found} == {
        "min_spikes": "spike_count", "min_rate_hz": "firing_rate", "isi_max": "isi_violation",
        "min_snr": "snr", "max_std_norm": "std_norm",
    }


def test_curate_accepts_a_plugin_metric_by_name(burstiness_plugin):
    regular = np.arange(1.0, 1000.0, 10.0)
    bursty = np.sort(np.concatenate([regular[::10] + d for d in (0.0, 2.0, 4.0)]))
    sd = SpikeData([regular, bursty], length=1000.0)
    kept, results = sd.curate(min_spikes=10, max_isi_cv=0.5)
    assert list(results) == ["spike_count", "isi_cv"]
    assert results["isi_cv"]["passed"].tolist() == [True, False]
    assert kept.N == 1


def test_unknown_names_are_still_rejected_with_plugin_names_listed(burstiness_plugin):
    with pytest.raises(UnknownCriterionError, match="max_isi_cv"):
        SpikeData([[1.0]]).curate(max_isi_cvv=1.0)


def test_curation_metric_validates_its_rule():
    with pytest.raises(SpikeDataError, match="passes"):
        CurationMetric(name="x", param="min_x", compute=_cv, passes="above")
