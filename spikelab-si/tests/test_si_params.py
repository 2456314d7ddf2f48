"""Declared parameters: they match the installed SpikeInterface, and bad values name the knob."""

from __future__ import annotations

import pytest

from spikelab.errors import ConfigError, UnknownParameterError
from spikelab.plugins import get_plugin_manager
from spikelab.spike_sorting import check_config
from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab_si.parameters import RENAMED, defaults_of
from spikelab_si.plugin import SORTERS

SPIKELAB_ONLY = {"chunk_duration"}
#: SpikeInterface's mountainsort5 parameters that SpikeLab sets itself (workers, chunks, bars).
MS5_FROM_PIPELINE = {
    "n_jobs",
    "chunk_duration",
    "progress_bar",
    "pool_engine",
    "mp_context",
    "max_threads_per_worker",
}


@pytest.mark.parametrize("sorter", sorted(SORTERS))
def test_declared_defaults_match_installed_spikeinterface(sorter):
    from spikeinterface.sorters import get_default_sorter_params

    spikeinterface_defaults = get_default_sorter_params(sorter)
    declared = {RENAMED.get(k, k): v for k, v in defaults_of(SORTERS[sorter].params_type).items()}
    expected = {k: v for k, v in spikeinterface_defaults.items() if k != "job_kwargs"}
    if sorter == "mountainsort5":
        expected = {k: v for k, v in expected.items() if k not in MS5_FROM_PIPELINE}
    assert {k: v for k, v in declared.items() if k not in SPIKELAB_ONLY} == expected


def test_unknown_parameter_names_the_knob_and_close_matches():
    with pytest.raises(UnknownParameterError) as raised:
        check_config(SortingPipelineConfig().override(sorter="tridesclous2", detect_treshold=6.0))
    message = str(raised.value)
    assert "detect_treshold" in message and "detect_threshold" in message
    with pytest.raises(UnknownParameterError, match=r"@ \$\.sorter\.sorter_params\.detect_treshold"):
        check_config(SortingPipelineConfig().override(sorter="tridesclous2", sorter_params={"detect_treshold": 6.0}))


@pytest.mark.parametrize(
    ("sorter", "override", "knob"),
    [
        ("tridesclous2", {"detect_threshold": "high"}, "detect_threshold"),
        ("tridesclous2", {"peak_sign": "up"}, "peak_sign"),
        ("spykingcircus2", {"chunk_duration": -1.0}, "chunk_duration"),
        ("spykingcircus2", {"apply_motion_correction": "no"}, "apply_motion_correction"),
    ],
)
def test_bad_value_names_the_knob(sorter, override, knob):
    with pytest.raises(ConfigError) as raised:
        check_config(SortingPipelineConfig().override(sorter=sorter, **override))
    assert knob in str(raised.value)


def test_job_kwargs_is_reserved_with_the_reason():
    with pytest.raises(UnknownParameterError, match="chunk_duration"):
        config = SortingPipelineConfig().override(sorter="spykingcircus2", sorter_params={"job_kwargs": {"n_jobs": 4}})
        check_config(config)


def test_presets_select_their_sorter():
    manager = get_plugin_manager()
    for sorter in SORTERS:
        preset = manager.sorter(sorter).presets[sorter.upper()]
        assert preset().sorter.sorter_name == sorter


def test_presets_are_found_by_name_like_the_built_in_ones():
    from spikelab.spike_sorting import config
    from spikelab.spike_sorting.config import SPYKINGCIRCUS2, get_preset

    assert SPYKINGCIRCUS2.sorter.sorter_name == "spykingcircus2"
    assert get_preset("TRIDESCLOUS2").sorter.sorter_name == "tridesclous2"
    assert config.MOUNTAINSORT5.sorter.sorter_name == "mountainsort5"


def test_runner_passes_workers_and_chunks_as_spikeinterface_expects(tmp_path):
    from spikelab.plugin import SortJob
    from spikelab_si.runner import spikeinterface_kwargs

    def job(sorter, **params):
        config = SortingPipelineConfig().override(sorter=sorter, n_jobs=2, **params)
        return SortJob(
            recording_folder=tmp_path,
            sorter_folder=tmp_path,
            log_path=tmp_path / "x.log",
            params=get_plugin_manager().sorter(sorter).resolve_params(config),
            config=config,
        )

    circus = spikeinterface_kwargs(job("spykingcircus2", chunk_duration=0.25))
    assert circus["job_kwargs"]["n_jobs"] == 2 and circus["job_kwargs"]["chunk_duration"] == "0.25s"
    assert "chunk_duration" not in circus
    mountain = spikeinterface_kwargs(job("mountainsort5"))
    assert mountain["n_jobs"] == 2 and mountain["chunk_duration"] == "1s" and "job_kwargs" not in mountain


def test_sorter_band_is_reachable_beside_the_pipeline_band():
    """``freq_min`` flat is the pipeline's band; the sorter's own is ``sorter_freq_min`` (or
    ``freq_min`` inside ``sorter_params``), and reaches SpikeInterface as ``freq_min``."""
    from spikelab_si.parameters import sorter_kwargs

    config = SortingPipelineConfig().override(sorter="tridesclous2", freq_min=250.0, sorter_freq_min=100.0)
    assert config.recording.freq_min == 250.0
    assert config.sorter.sorter_params["sorter_freq_min"] == 100.0
    aliased = SortingPipelineConfig().override(sorter="tridesclous2", sorter_params={"freq_max": 5000.0})
    kwargs, _ = sorter_kwargs(SORTERS["tridesclous2"].params_type, aliased.sorter.sorter_params)
    assert kwargs["freq_max"] == 5000.0 and kwargs["freq_min"] == 150.0 and "sorter_freq_max" not in kwargs


@pytest.mark.parametrize("sorter", sorted(SORTERS))
def test_preflight_finds_the_installed_sorters(sorter):
    """Everything is installed here (mountainsort5 through the test extra): nothing to report."""
    if sorter == "mountainsort5":
        pytest.importorskip("mountainsort5", reason="install spikelab-si[test]")
    config = SortingPipelineConfig().override(sorter=sorter)
    assert SORTERS[sorter].check_environment(config) == []


def test_preflight_names_the_install_command_when_mountainsort5_is_missing(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mountainsort5" else real_find_spec(name, *a),
    )
    problems = SORTERS["mountainsort5"].check_environment(
        SortingPipelineConfig().override(sorter="mountainsort5")
    )
    assert problems == [
        "mountainsort5 needs the 'mountainsort5' package: `pip install 'spikelab-si[mountainsort5]'`."
    ]
