"""One converter for every way in: keywords, override, JSON, CLI --set and presets agree.

Issue 17 item 8 (values reached deep code unchecked), issue 19 (one typed configuration path),
issue 22 items 2, 3 and 10 (one-line CLI errors naming the knob, one vocabulary, "did you mean").
"""

from __future__ import annotations

import json
import re
import types
import typing

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikelab.errors import ConfigError, UnknownParameterError, UnknownPresetError
from spikelab.spike_sorting import check_config, sort_recording
from spikelab.spike_sorting.config import (
    BatchConfig,
    CurationConfig,
    ExecutionConfig,
    FigureConfig,
    RecordingConfig,
    SorterConfig,
    SortingPipelineConfig,
    WaveformConfig,
    get_preset,
)

# Each bad value of issue 17 item 8, the knob its error must name, and what it must say is accepted.
BAD_VALUES = [
    ({"n_jobs": "many"}, r"\$\.execution\.n_jobs", "integer"),
    ({"n_jobs": 0}, r"\$\.execution\.n_jobs", "-1"),
    ({"total_memory": "lots"}, r"\$\.execution\.total_memory", "16G"),
    ({"fr_min": "abc"}, r"\$\.curation\.fr_min", "number"),
    ({"curate": "no"}, r"\$\.curation\.curate", "true or false"),
    ({"progress_bar": "no"}, r"\$\.execution\.progress_bar", "true or false"),
    ({"batch_size": "big"}, r"\$\.sorter\.sorter_params\.batch_size", "integer"),
    ({"max_waveforms_per_unit": 0.5}, r"\$\.waveform\.max_waveforms_per_unit", "integer"),
    ({"ms_before": 5000}, r"\$\.waveform\.ms_before", r"\(0, 50\]"),
    ({"sorter": ""}, r"\$\.sorter\.sorter_name", "empty"),
    ({"snr_min": "banana"}, r"\$\.curation\.snr_min", "number"),
]


@pytest.mark.parametrize(("flat", "path", "accepted"), BAD_VALUES)
def test_every_route_rejects_a_bad_value_with_its_path(flat, path, accepted):
    """Keywords/override, from_dict (JSON) and a fake-sorter config give the same message, by the
    time a run is built from them (check_config: a backend's parameters are checked there)."""
    with pytest.raises(ConfigError, match=path) as by_keyword:
        check_config(SortingPipelineConfig().override(**flat))
    assert re.search(accepted, str(by_keyword.value))
    name, value = next(iter(flat.items()))
    data = SortingPipelineConfig().to_dict()
    if name == "batch_size":
        data["sorter"]["sorter_params"] = {name: value}
    else:
        from spikelab.spike_sorting.config import FLAT_MAP

        group, field = FLAT_MAP[name]
        data[group][field] = value
    with pytest.raises(ConfigError) as by_json:
        check_config(SortingPipelineConfig.from_json(json.dumps(data)))
    assert str(by_json.value) == str(by_keyword.value)


def test_a_misspelled_backend_parameter_is_an_error_not_silently_ignored():
    with pytest.raises(UnknownParameterError, match=r"'batchsize'.*Did you mean 'batch_size'\?"):
        check_config(SortingPipelineConfig().override(sorter_params={"batchsize": 1000}))
    with pytest.raises(UnknownParameterError, match="cannot be set: the sampling rate comes from"):
        check_config(SortingPipelineConfig().override(sorter_params={"fs": 30000}))
    with pytest.raises(UnknownParameterError, match=r"'batchsize'.*Did you mean 'batch_size'\?"):
        sort_recording(["never-opened.raw.h5"], sorter="kilosort4", batchsize=1000)  # refused before any file is read


def test_construction_and_evolve_are_strict_too():
    with pytest.raises(ConfigError, match="n_jobs: expected an integer, got '8'"):
        ExecutionConfig(n_jobs="8")
    with pytest.raises(ConfigError, match="curate: expected true or false"):
        attrs.evolve(CurationConfig(), curate="no")


def test_numbers_paths_and_numpy_scalars_are_normalised():
    import pathlib

    import numpy as np

    config = SortingPipelineConfig().override(
        n_jobs=np.int64(4), fr_min=1, kilosort_path=pathlib.Path("/opt/ks"), curate=np.bool_(False)
    )
    assert config.execution.n_jobs == 4 and type(config.execution.n_jobs) is int
    assert config.curation.fr_min == 1.0 and type(config.curation.fr_min) is float
    assert config.sorter.sorter_path == "/opt/ks"
    assert config.curation.curate is False


def test_curate_spellings_set_the_same_knobs():
    """The report and SpikeData.curate() say min_snr; the config says snr_min: both work."""
    config = SortingPipelineConfig().override(
        min_snr=3.0, min_spikes=20, min_rate_hz=0.2, isi_max=2.0, max_std_norm=0.8
    )
    assert config.curation.snr_min == 3.0
    assert config.curation.spikes_min == 20
    assert config.curation.fr_min == 0.2
    assert config.curation.isi_viol_max == 2.0
    assert config.curation.std_norm_max == 0.8
    assert "min_snr" not in config.flat_items()  # one vocabulary is printed


def test_spikedata_curate_accepts_the_config_spellings():
    import numpy as np

    from spikelab.spikedata import SpikeData

    sd = SpikeData([np.arange(100.0), np.arange(3.0)], length=100.0)
    by_config_name, _ = sd.curate(spikes_min=10)
    by_curate_name, _ = sd.curate(min_spikes=10)
    assert by_config_name.N == by_curate_name.N == 1


def test_did_you_mean_never_repeats_a_name():
    from spikelab.errors import did_you_mean
    from spikelab.spike_sorting._exceptions import UnknownSorterError

    message = str(UnknownSorterError.for_name("kilosort5", ["kilosort4", "kilosort2", "fake"]))
    named = message.split("Did you mean ")[1].split("?")[0].split(", ")
    assert len(named) == len(set(named)) >= 1
    assert did_you_mean("snr_mni", ["snr_min", "snr_min", "n_jobs"]) == " Did you mean 'snr_min'?"


def test_unknown_preset_is_a_config_error_with_suggestions():
    with pytest.raises(UnknownPresetError, match="Did you mean 'FAKE'") as info:
        get_preset("FAKEE")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ConfigError)


def test_presets_pass_the_converter():
    config = get_preset("FAKE")
    assert SortingPipelineConfig.from_json(config.to_json()) == config


# -- property: any valid config survives JSON unchanged ----------------------------------------
_GROUPS = (RecordingConfig, SorterConfig, WaveformConfig, CurationConfig, FigureConfig, ExecutionConfig, BatchConfig)
_NUMBER = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)


def _strategy(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return st.none() | _strategy(inner)
    return {
        bool: st.booleans(),
        int: st.integers(min_value=-1, max_value=10_000),
        float: _NUMBER | st.integers(min_value=0, max_value=1000),
        str: st.text(min_size=1, max_size=12),
    }.get(annotation, st.nothing())


def _group(cls):
    fields = [f for f in attrs.fields(cls) if f.name != "sorter_params"]
    kwargs = {f.name: st.one_of(st.just(f.default), _strategy(f.metadata["type"])) for f in fields}

    def build(values):
        try:
            return cls(**values)
        except ConfigError:
            return cls()  # a combination the knobs reject; the default is still a valid config

    return st.fixed_dictionaries(kwargs).map(build)


_PARAMS = st.fixed_dictionaries(
    {}, optional={"batch_size": st.integers(1000, 100_000), "detect_threshold": _NUMBER,
                  "fake_behaviour": st.sampled_from(["ok", "hang"])}
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups=st.tuples(*(_group(cls) for cls in _GROUPS)), params=_PARAMS)
def test_any_config_survives_json_unchanged(groups, params):
    recording, sorter, *rest = groups
    sorter = attrs.evolve(sorter, sorter_name="fake", sorter_params=params)
    config = SortingPipelineConfig(**dict(zip(
        ("recording", "sorter", "waveform", "curation", "figures", "execution", "batch"),
        (recording, sorter, *rest),
    )))
    again = SortingPipelineConfig.from_json(config.to_json())
    assert again == config
    assert again.to_json() == config.to_json()


def test_sorter_name_builds_only_the_backend_default_preset(monkeypatch):
    """build_config called every preset factory (Docker ones included) to guess the default."""
    import attrs

    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting.api import build_config

    manager = get_plugin_manager()
    fake = manager.sorter("fake")
    built = []

    def docker_preset():
        built.append("FAKE_DOCKER")
        raise AssertionError("the Docker preset must not be built")

    def default():
        built.append("FAKE")
        return SortingPipelineConfig().override(sorter="fake", fr_min=0.5)

    patched = attrs.evolve(fake, presets={"FAKE_DOCKER": docker_preset, "FAKE": default})
    monkeypatch.setattr(type(manager), "sorter", lambda self, name: patched)
    config = build_config("fake", None, {"snr_min": 2.0}, get_plugin_manager())
    assert built == ["FAKE"]
    assert config.curation.fr_min == 0.5 and config.curation.snr_min == 2.0
