"""Configuration: flat overrides, validation naming the knob, strict JSON round-trip, presets."""

from __future__ import annotations

import json

import pytest

from spikelab.errors import ConfigError, UnknownParameterError
from spikelab.spike_sorting.config import (
    FLAT_MAP,
    SortingPipelineConfig,
    get_preset,
)


def test_override_routes_each_flat_name_to_its_sub_config():
    config = SortingPipelineConfig().override(
        fr_min=0.1, snr_min=6.0, n_jobs=16, total_memory="32G", kilosort_path="/opt/Kilosort2",
        stream_id="well001", ms_before=1.5, dpi=200,
    )
    assert config.curation.fr_min == 0.1
    assert config.curation.snr_min == 6.0
    assert config.execution.n_jobs == 16
    assert config.execution.total_memory == "32G"
    assert config.sorter.sorter_path == "/opt/Kilosort2"
    assert config.recording.stream_id == "well001"
    assert config.waveform.ms_before == 1.5
    assert config.figures.dpi == 200


def test_override_returns_a_new_config_and_leaves_the_original_alone():
    base = SortingPipelineConfig()
    changed = base.override(fr_min=0.3)
    assert base.curation.fr_min == 0.05
    assert changed.curation.fr_min == 0.3
    with pytest.raises(AttributeError):
        base.curation.fr_min = 1.0  # frozen


def test_unknown_name_lists_close_matches():
    from spikelab.spike_sorting import check_config

    with pytest.raises(UnknownParameterError) as info:
        check_config(SortingPipelineConfig().override(snr_mni=3))
    assert "snr_min" in str(info.value)
    assert isinstance(info.value, TypeError)  # what the older SpikeLab raised


def test_bad_value_names_the_knob_and_group():
    with pytest.raises(ConfigError, match=r"host_ram_abort_pct .*\(0, 100\].* @ \$\.execution"):
        SortingPipelineConfig().override(host_ram_abort_pct=150)
    with pytest.raises(ConfigError, match="snr_min must be >= 0"):
        SortingPipelineConfig().override(snr_min=-1)
    with pytest.raises(ConfigError, match="freq_min .* must be below freq_max"):
        SortingPipelineConfig().override(freq_min=7000)
    with pytest.raises(ConfigError, match="finite"):
        SortingPipelineConfig().override(fr_min=float("nan"))


def test_sorter_params_merge_rather_than_replace():
    config = SortingPipelineConfig().override(sorter="fake", sorter_params={"batch_size": 1000})
    config = config.override(sorter_params={"detect_threshold": 4.0})
    assert config.sorter.sorter_params == {"batch_size": 1000, "detect_threshold": 4.0}


def test_json_round_trip_is_exact():
    config = SortingPipelineConfig().override(fr_min=0.2, sorter_params={"batch_size": 30000}, canary_first_n_s=30.0)
    text = config.to_json()
    assert json.loads(text)["schema_version"] == 1
    assert SortingPipelineConfig.from_json(text) == config


def test_from_dict_rejects_extra_keys_with_their_path():
    data = SortingPipelineConfig().to_dict()
    data["execution"]["n_jbos"] = 3
    with pytest.raises(ConfigError, match=r"n_jbos.*@ \$\.execution"):
        SortingPipelineConfig.from_dict(data)


def test_from_dict_reports_the_path_of_a_bad_value():
    data = SortingPipelineConfig().to_dict()
    data["execution"]["n_jobs"] = "eight"
    data["curation"]["fr_min"] = True
    with pytest.raises(ConfigError) as info:
        SortingPipelineConfig.from_dict(data)
    message = str(info.value)
    assert "$.execution.n_jobs" in message
    assert "$.curation.fr_min" in message


def test_every_knob_is_documented():
    import attrs

    for _name, (group, field) in FLAT_MAP.items():
        cls = type(getattr(SortingPipelineConfig(), group))
        attribute = attrs.fields_dict(cls)[field]
        assert attribute.metadata.get("doc"), f"{group}.{field} has no doc"


def test_fake_backend_params_are_flat_overrides():
    config = SortingPipelineConfig().override(sorter="fake", fake_behaviour="hang", batch_size=1000)
    assert config.sorter.sorter_name == "fake"
    assert config.sorter.sorter_params == {"fake_behaviour": "hang", "batch_size": 1000}


def test_installed_backend_preset_resolves_lazily():
    config = get_preset("FAKE")
    assert config.sorter.sorter_name == "fake"


def test_preset_of_uninstalled_backend_names_the_pip_install(monkeypatch):
    from spikelab.plugins import SpikeLabPluginManager, _provided, manager

    monkeypatch.setattr(_provided, "installed_provides", dict)  # as if no backend were installed
    monkeypatch.setattr(manager, "_GLOBAL", SpikeLabPluginManager(autoload=False))
    with pytest.raises(ImportError, match="pip install spikelab-ks2"):
        from spikelab.spike_sorting.config import KILOSORT2  # noqa: F401
    with pytest.raises(ImportError, match="pip install spikelab-ks2"):
        from spikelab.spike_sorting._classifier import classify_ks2_failure  # noqa: F401
