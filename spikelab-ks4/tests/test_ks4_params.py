"""How SpikeLab parameters become Kilosort4 settings, probe and device."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikelab.errors import ConfigError, InputError
from spikelab.spike_sorting import check_config
from spikelab_ks4 import KilosortSettingsError
from spikelab_ks4.params import (
    DEFAULT_PARAMS,
    KS4_SETTINGS,
    RUN_ARGUMENTS,
    fit_batch_size,
    resolve_device,
    split_params,
)
from spikelab_ks4.runner import build_probe, prepare_inputs


def test_declared_settings_are_exactly_kilosorts_own_defaults():
    from kilosort.parameters import DEFAULT_SETTINGS
    from kilosort.run_kilosort import RECOGNIZED_SETTINGS

    expected = {k: v for k, v in DEFAULT_SETTINGS.items() if k not in ("n_chan_bin", "fs")}
    assert set(KS4_SETTINGS) == set(expected)
    for name, value in expected.items():
        declared = KS4_SETTINGS[name]
        if isinstance(value, float) and math.isinf(value):
            assert declared is None, name  # not JSON: None means "Kilosort's default"
        else:
            assert declared == value, name
    assert set(KS4_SETTINGS) <= set(RECOGNIZED_SETTINGS)


def test_run_arguments_exist_in_run_kilosort():
    import inspect

    from kilosort import run_kilosort

    assert set(RUN_ARGUMENTS) <= set(inspect.signature(run_kilosort).parameters)


def test_split_maps_overrides_and_leaves_kilosort_defaults_out():
    call = split_params(
        {**DEFAULT_PARAMS, "batch_size": 30000, "nblocks": 0, "Th_universal": 10, "do_CAR": False}
    )
    assert call.settings["batch_size"] == 30000
    assert call.settings["nblocks"] == 0
    assert call.settings["Th_universal"] == 10
    assert "tmax" not in call.settings and "artifact_threshold" not in call.settings
    assert call.run_arguments["do_CAR"] is False
    assert "torch_device" not in call.settings and call.options["torch_device"] == "auto"


def test_unknown_setting_is_rejected_with_close_match():
    with pytest.raises(KilosortSettingsError, match=r"'batchsize'.*Did you mean 'batch_size'") as info:
        split_params({"batchsize": 1000})
    assert info.value.setting == "batchsize"
    assert isinstance(info.value, ConfigError)


@pytest.mark.parametrize("name", ["n_chan_bin", "fs", "results_dir", "filename"])
def test_settings_the_pipeline_owns_are_rejected(name):
    with pytest.raises(KilosortSettingsError, match="cannot be set"):
        split_params({name: 1})


def test_even_nt_is_rejected_before_kilosort_runs():
    with pytest.raises(KilosortSettingsError, match="nt must be odd"):
        split_params({"nt": 60})


def test_flat_overrides_reach_sorter_params():
    from spikelab.spike_sorting.config import KILOSORT4

    config = KILOSORT4.override(batch_size=30000, nblocks=0, nearest_chans=8)
    assert config.sorter.sorter_params == {"batch_size": 30000, "nblocks": 0, "nearest_chans": 8}


@pytest.mark.parametrize(
    ("batch", "samples", "expected"), [(60000, 300000, 60000), (60000, 45000, 22500), (60000, 60000, 30000)]
)
def test_batch_longer_than_recording_is_halved_recording(batch, samples, expected):
    assert fit_batch_size(batch, samples) == expected


def test_too_short_recording_is_refused():
    with pytest.raises(KilosortSettingsError, match="only 1500 samples"):
        fit_batch_size(60000, 1500)


def test_cpu_device_uses_every_allowed_core():
    import os

    import torch

    device = resolve_device("auto")
    if not torch.cuda.is_available():
        assert device.type == "cpu"
        assert torch.get_num_threads() == len(os.sched_getaffinity(0))


def test_bad_device_names_fail_clearly():
    import torch

    with pytest.raises(KilosortSettingsError, match="torch_device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        from spikelab.spike_sorting._exceptions import GpuNotAvailableError

        with pytest.raises(GpuNotAvailableError):
            resolve_device("cuda:0")


def test_probe_follows_channel_locations_and_groups():
    from spikeinterface.core import generate_recording

    recording = generate_recording(num_channels=8, durations=[1.0])
    recording.set_property("group", [0, 0, 0, 0, 1, 1, 1, 1])
    probe = build_probe(recording)
    locations = recording.get_channel_locations()
    np.testing.assert_array_equal(probe["chanMap"], np.arange(8))
    np.testing.assert_allclose(probe["xc"], locations[:, 0])
    np.testing.assert_allclose(probe["yc"], locations[:, 1])
    np.testing.assert_array_equal(probe["kcoords"], [0, 0, 0, 0, 1, 1, 1, 1])
    assert probe["n_chan"] == 8


def test_prepare_inputs_reads_the_binary_in_place(ground_truth):
    folder, _ = ground_truth
    inputs = prepare_inputs(folder, split_params({"nblocks": 0}))
    assert inputs.binary_file == folder / "traces_cached_seg0.raw"
    assert inputs.data_dtype == "float32"
    assert inputs.settings["n_chan_bin"] == 32 and inputs.settings["fs"] == 30000.0
    assert inputs.settings["batch_size"] == 60000 and inputs.num_samples == 300000


def test_prepare_inputs_refuses_dtypes_kilosort_cannot_read(tmp_path):
    from spikeinterface.core import generate_recording

    folder = tmp_path / "f64"
    generate_recording(num_channels=4, durations=[1.0]).astype("float64").save(folder=folder, format="binary")
    with pytest.raises(InputError, match="float64"):
        prepare_inputs(folder, split_params({}))


def test_environment_check_names_unknown_parameters_and_missing_gpu():
    from spikelab.errors import UnknownParameterError
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab.testing.fake_nvml import FakeNvml

    backend = get_plugin_manager().sorter("kilosort4")
    assert backend.check_environment(SortingPipelineConfig().override(sorter="kilosort4")) == []
    with pytest.raises(UnknownParameterError, match="Did you mean 'Th_learned'"):  # when built
        check_config(SortingPipelineConfig().override(sorter="kilosort4", sorter_params={"Th_learnd": 7}))
    config = SortingPipelineConfig().override(sorter="kilosort4")
    gpu_config = SortingPipelineConfig().override(sorter="kilosort4", torch_device="cuda")
    assert backend.needs_gpu(gpu_config) and not backend.needs_gpu(config)
    with FakeNvml(library_found=False).installed():
        assert any("no NVIDIA GPU" in p for p in backend.check_environment(gpu_config))


def test_declared_parameters_are_listed_checked_and_documented(capsys):
    """Issue 19: each backend declares its parameters (type, default, unit, doc) once."""
    import re

    from spikelab.cli.main import main
    from spikelab.errors import ConfigError
    from spikelab.spike_sorting.config import SortingPipelineConfig
    from spikelab_ks4.parameters import Kilosort4Params

    assert main(["plugins", "--params", "kilosort4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"batch_size\s+int\s+60000\s+Samples per batch.*\[samples\]", out)
    assert re.search(r"tmax\s+float or None\s+None", out)
    assert "batch_size : int, default: 60000" in Kilosort4Params.__doc__  # what autodoc renders
    with pytest.raises(ConfigError, match=r"batch_size must be > 0, got 0 @ \$\.sorter\.sorter_params\.batch_size"):
        check_config(SortingPipelineConfig().override(sorter="kilosort4", batch_size=0))
    with pytest.raises(ConfigError, match=r"drift_smoothing: expected a list of numbers"):
        check_config(SortingPipelineConfig().override(sorter="kilosort4", drift_smoothing="smooth"))


def _grid_recording(folder, fs=20000.0, side=8, pitch=17.5):
    """A saved binary recording of noise on a Maxwell-like square grid (``side`` x ``side``)."""
    from probeinterface import generate_multi_columns_probe
    from spikeinterface.core import NumpyRecording

    traces = np.random.default_rng(0).normal(0, 5, (int(fs), side * side)).astype("float32")
    recording = NumpyRecording([traces], sampling_frequency=fs)
    probe = generate_multi_columns_probe(num_columns=side, num_contact_per_column=side, xpitch=pitch, ypitch=pitch)
    probe.set_device_channel_indices(np.arange(side * side))
    recording.set_probe(probe, in_place=True)
    recording.save(folder=folder, format="binary")
    return folder


def test_a_20khz_grid_gets_waveform_settings_scaled_to_its_rate(tmp_path):
    inputs = prepare_inputs(_grid_recording(tmp_path / "grid"), split_params({}))
    settings = inputs.settings
    assert settings["fs"] == 20000.0
    # 2 ms windows with the trough at 0.67 ms, as Kilosort's 61 and 20 samples are at 30 kHz
    assert (settings["nt"], settings["nt0min"]) == (41, 13)
    # the geometry settings stay Kilosort's (bench/results/ks4/sweep.md: they were not the cause)
    assert settings["dminx"] == 32 and not {"dmin", "x_centers"} & set(settings)


def test_a_30khz_linear_probe_keeps_kilosorts_defaults(ground_truth):
    folder, _ = ground_truth
    settings = prepare_inputs(folder, split_params({})).settings
    assert settings["nt"] == 61
    assert not {"nt0min", "dmin", "x_centers"} & set(settings)
    assert settings["dminx"] == 32


def test_the_users_own_values_win_over_derived_ones(tmp_path):
    folder = _grid_recording(tmp_path / "grid")
    settings = prepare_inputs(folder, split_params({"nt": 61}), user_set={"nt"}).settings
    assert settings["nt"] == 61 and settings["nt0min"] == 13
    plain = prepare_inputs(folder, split_params({"derive_settings": False})).settings
    assert plain["nt"] == 61 and "nt0min" not in plain
