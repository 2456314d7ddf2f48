"""The conformance suite every backend package runs.

Subclass :class:`BackendConformance` in the backend's tests and set ``backend_name``::

    from spikelab.testing.conformance import BackendConformance

    class TestKilosort4Conformance(BackendConformance):
        backend_name = "kilosort4"
        failure_samples = {"oom_gpu": "torch.OutOfMemoryError: CUDA out of memory. ..."}

Set ``can_run_here = True`` to also sort a tiny recording end to end (skip it where the backend
needs hardware this machine lacks).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import ClassVar

import pytest

from spikelab.spike_sorting import _exceptions as ex


class BackendConformance:
    """Checks that hold for every sorter backend plugin."""

    backend_name: ClassVar[str] = ""
    #: Log text -> expected status, fed through the backend's classifier.
    failure_samples: ClassVar[dict[str, str]] = {}
    #: Whether a tiny end-to-end sort can run on this machine.
    can_run_here: ClassVar[bool] = False
    #: Flat overrides for the end-to-end sort (e.g. smaller batches).
    run_overrides: ClassVar[dict] = {}

    @pytest.fixture
    def plugins(self):
        """The manager the checks run against (override to check a backend in your own)."""
        from spikelab.plugins import get_plugin_manager

        return get_plugin_manager()

    @pytest.fixture
    def backend(self, plugins):
        return plugins.sorter(self.backend_name)

    def test_registered_through_entry_point_or_plugin(self, backend):
        assert backend.name == self.backend_name
        assert backend.distribution and backend.version

    def test_default_params_are_json_serialisable(self, backend):
        json.dumps(backend.default_params)

    def test_presets_build_configs_for_this_backend(self, backend):
        from spikelab.spike_sorting.config import SortingPipelineConfig

        for name, factory in backend.presets.items():
            config = factory()
            assert isinstance(config, SortingPipelineConfig), name
            assert config.sorter.sorter_name == backend.name, name
            assert SortingPipelineConfig.from_dict(config.to_dict()) == config, name

    def test_param_names_are_flat_overrides(self, backend):
        from spikelab.spike_sorting.config import SortingPipelineConfig

        config = SortingPipelineConfig().override(sorter=backend.name)
        for name in backend.param_names:
            value = backend.default_params.get(name)
            if value is None and backend.oom_knob and name == backend.oom_knob.name:
                value = backend.oom_knob.default
            updated = config.override(**{name: value})
            assert updated.sorter.sorter_params[name] == value

    def test_oom_knob_shrinks_to_floor_then_stops(self, backend):
        knob = backend.oom_knob
        if knob is None:
            pytest.skip("backend declares no OOM knob")
        params = {knob.name: knob.default}
        seen = [knob.default]
        while (value := knob.reduced(params)) is not None:
            assert knob.floor <= value < params[knob.name]
            params[knob.name] = value
            seen.append(value)
            assert len(seen) < 64
        assert len(seen) >= 2, "the default should allow at least one reduction"

    def test_classifier_ignores_unrelated_errors(self, backend, tmp_path: Path):
        if backend.classifier is None:
            pytest.skip("backend has no classifier")
        assert backend.classifier(tmp_path, KeyError("unrelated")) is None

    def test_classifier_recognises_known_failures(self, plugins, backend, tmp_path: Path):
        if not self.failure_samples:
            pytest.skip("no failure samples declared")
        for text, status in self.failure_samples.items():
            (tmp_path / backend.log_name).write_text(text)
            classified = plugins.classify_failure(
                backend.name, tmp_path, RuntimeError("sorter failed"), text
            )
            assert classified is not None, text
            assert classified.status == status, text
            clone = pickle.loads(pickle.dumps(classified))
            assert clone.evidence() == classified.evidence()

    def test_check_environment_returns_actionable_list(self, backend):
        from spikelab.spike_sorting.config import SortingPipelineConfig

        problems = backend.check_environment(SortingPipelineConfig().override(sorter=backend.name))
        assert isinstance(problems, list)
        assert all(isinstance(p, str) and p for p in problems)

    def test_sorts_tiny_recording_end_to_end(self, backend, tmp_path: Path):
        if not self.can_run_here:
            pytest.skip(f"{self.backend_name} cannot run on this machine")
        from spikelab.spike_sorting import sort_recording
        from spikelab.testing.recordings import tiny_recording

        recording, _ = tiny_recording(seed=3)
        results = sort_recording(
            [recording],
            sorter=self.backend_name,
            intermediate_folders=[tmp_path / "inter"],
            results_folders=[tmp_path / "results"],
            **self.run_overrides,
        )
        assert len(results) == 1
        assert results[0].N >= 0


__all__ = ["BackendConformance", "ex"]
