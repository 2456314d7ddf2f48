"""Parameters, the NT rules and OOM knob, and the files written for Kilosort2 (read back as MATLAB would)."""

from __future__ import annotations

import ks2_fake_matlab
import numpy as np
import pytest
import scipy.io

from spikelab.errors import ConfigError
from spikelab.plugins import get_plugin_manager
from spikelab_ks2.params import DEFAULT_PARAMS, build_ops, resolve_nt, wave_length
from spikelab_ks2.script import (
    config_text,
    main_text,
    matlab_command,
    matlab_literal,
    write_channel_map,
    write_ops_mat,
)


def _ops(**params):
    merged = dict(DEFAULT_PARAMS, **params)
    return build_ops(
        merged, num_channels=4, sampling_frequency=20000.0, binary_path="/data/rec.dat", output_folder="/out"
    )


def test_nt_defaults_rounds_and_floors():
    assert resolve_nt({"NT": None, "ntbuff": 64}) == 64 * 1024 + 64
    assert resolve_nt({"NT": 5000, "ntbuff": 64}) == 4992
    assert resolve_nt({"NT": 1024, "ntbuff": 64}) == 1024
    with pytest.raises(ConfigError, match="NT=1000 is below Kilosort2's minimum batch of 1024"):
        resolve_nt({"NT": 1000, "ntbuff": 64})
    with pytest.raises(ConfigError, match="whole number"):
        resolve_nt({"NT": "big", "ntbuff": 64})


def test_oom_knob_halves_nt_on_multiples_of_32_down_to_1024():
    knob = get_plugin_manager().sorter("kilosort2").oom_knob
    params, seen = {}, []
    while (value := knob.reduced(params)) is not None:
        seen.append(value)
        params["NT"] = value
    assert seen == [32800, 16384, 8192, 4096, 2048, 1024]
    assert all(v % 32 == 0 for v in seen)


def test_wave_length_is_odd_and_capped():
    assert wave_length({"wave_length": 60}) == 61
    assert wave_length({"wave_length": 101}) == 81


def test_ops_follow_kilosort2_names():
    ops = _ops(detect_threshold=5, projection_threshold=[8, 3], car=False, scaleproc=None)
    assert ops["spkTh"] == -5.0 and ops["Th"] == [8.0, 3.0] and ops["CAR"] == 0.0
    assert ops["fproc"] == "/out/temp_wh.dat" and ops["chanMap"] == "/out/chanMap.mat"
    assert ops["GPU"] == 1.0 and ops["scaleproc"] == 200.0 and ops["nt0"] == 61.0
    assert all(not isinstance(v, int) for v in ops.values()), "MATLAB reads every ops number as a double"


def test_config_round_trips_through_a_matlab_reader(tmp_path):
    ops = _ops()
    ops["fbinary"] = "/data/it's here/rec.dat"
    path = tmp_path / "kilosort2_config.m"
    path.write_text(config_text(ops))
    parsed = ks2_fake_matlab.parse_config(path)
    assert parsed["fbinary"] == "/data/it's here/rec.dat"
    assert parsed["NT"] == ops["NT"] and parsed["momentum"] == ops["momentum"]
    assert parsed["trange"] == [0.0, float("inf")]
    assert path.read_text().startswith("function ops = kilosort2_config()")


def test_matlab_literals():
    assert matlab_literal("a'b") == "'a''b'"
    assert matlab_literal([1, 2.5]) == "[1 2.5]"
    assert matlab_literal(float("inf")) == "Inf"
    assert matlab_literal(True) == "1"
    with pytest.raises(TypeError):
        matlab_literal({"a": 1})


def test_main_script_uses_the_error_convention(tmp_path):
    text = main_text(str(tmp_path), "/opt/Kilosort2", "/opt/npy-matlab")
    for step in ("preprocessDataSub", "clusterSingleBatches", "learnAndSolve8b", "set_cutoff", "rezToPhy"):
        assert f"{step}(" in text
    assert "repmat('-', 1, 40)" in text and "exit(1)" in text and "exit(0)" in text
    assert "addpath(genpath('/opt/npy-matlab'))" in text


def test_matlab_command_lines(tmp_path):
    script = tmp_path / "kilosort2_main.m"
    assert matlab_command("matlab", script) == ["matlab", "-batch", f"run('{script}')"]
    old = matlab_command("/usr/local/MATLAB/R2018b/bin/matlab", script, "r")
    assert old[1:4] == ["-nodisplay", "-nosplash", "-r"]
    with pytest.raises(ValueError, match="matlab_mode"):
        matlab_command("matlab", script, "desktop")


def test_channel_map_and_ops_mat(tmp_path):
    locations = np.column_stack([np.zeros(4), np.arange(4) * 20.0])
    write_channel_map(tmp_path, locations, 20000.0)
    chanmap = scipy.io.loadmat(str(tmp_path / "chanMap.mat"))
    assert chanmap["chanMap"].ravel().tolist() == [1, 2, 3, 4]
    assert chanmap["chanMap0ind"].ravel().tolist() == [0, 1, 2, 3]
    assert chanmap["connected"].all() and chanmap["ycoords"].ravel().tolist() == [0, 20, 40, 60]
    assert float(chanmap["fs"].ravel()[0]) == 20000.0
    with pytest.raises(ValueError, match="2D channel locations"):
        write_channel_map(tmp_path, np.zeros((4, 3)), 20000.0)

    write_ops_mat(tmp_path, _ops())
    ops = scipy.io.loadmat(str(tmp_path / "ops.mat"), simplify_cells=True)["ops"]
    assert ops["NT"] == 65600 and list(ops["Th"]) == [10, 4] and ops["fbinary"] == "/data/rec.dat"


def test_kilosort_high_pass_is_fshigh_and_spikeinterface_freq_min_still_works():
    from spikelab.spike_sorting.config import SortingPipelineConfig

    config = SortingPipelineConfig().override(sorter="kilosort2", fshigh=300, freq_min=250)
    assert config.recording.freq_min == 250, "flat freq_min is the pipeline's band-pass"
    backend = get_plugin_manager().sorter("kilosort2")
    assert _ops(**backend.resolve_params(config))["fshigh"] == 300.0
    legacy = SortingPipelineConfig().override(sorter="kilosort2", kilosort_params={"freq_min": 120})
    assert _ops(**backend.resolve_params(legacy))["fshigh"] == 120.0
