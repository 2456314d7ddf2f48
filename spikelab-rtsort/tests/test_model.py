import json

import numpy as np
import pytest
import torch

from spikelab_rtsort._errors import ModelLoadingError
from spikelab_rtsort.model import DetectionModel, DetectionNet, load_detection_model


def _tiny_model():
    torch.manual_seed(0)
    net = DetectionNet(hidden=4, kernel_size=11, dilations=(1, 2, 4, 1))
    net.init_weights()
    init = dict(num_channels_in=1, sample_size=200, buffer_front_sample=40, buffer_end_sample=40,
                hidden=4, kernel_size=11, dilations=[1, 2, 4, 1], target_iqr=2.0,
                loc_prob_thresh=30.0, loose_prob_thresh=10.0, samp_freq_hz=20000.0)
    return DetectionModel(net, init)


def test_save_load_roundtrip_gives_identical_outputs(tmp_path):
    model = _tiny_model()
    model.save(tmp_path / "m")
    loaded = load_detection_model(tmp_path / "m")
    x = torch.randn(3, 1, 300)
    with torch.no_grad():
        assert torch.allclose(model.net(x), loaded.net(x))
    assert loaded.stringent_thresh == pytest.approx(0.30)
    assert loaded.loose_thresh == pytest.approx(0.10)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["init_dict.json",
                                                                  "state_dict.pt"]


@pytest.mark.parametrize("missing", ["init_dict.json", "state_dict.pt"])
def test_missing_file_raises_model_loading_error_naming_it(tmp_path, missing):
    _tiny_model().save(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(ModelLoadingError, match=missing.replace(".", r"\.")) as info:
        load_detection_model(tmp_path)
    assert info.value.missing == missing
    assert info.value.model_path == str(tmp_path)


def test_malformed_files_raise_model_loading_error(tmp_path):
    _tiny_model().save(tmp_path)
    (tmp_path / "init_dict.json").write_text("{not json")
    with pytest.raises(ModelLoadingError, match="init_dict.json"):
        load_detection_model(tmp_path)
    _tiny_model().save(tmp_path)
    torch.save({"model.conv.0.weight": torch.zeros(2, 1, 3)}, tmp_path / "state_dict.pt")
    with pytest.raises(ModelLoadingError, match="loading state_dict"):
        load_detection_model(tmp_path)


def test_loads_folder_in_published_rt_sort_layout(tmp_path):
    """Published layout: architecture_params, 'model.' prefix, aliased last_layer, fp16."""
    net = DetectionNet(hidden=50, kernel_size=21, dilations=(1, 1, 1, 1))
    state = {f"model.{k}": v.half() for k, v in net.state_dict().items()}
    state["model.last_layer.weight"] = state["model.conv.6.weight"]
    state["model.last_layer.bias"] = state["model.conv.6.bias"]
    torch.save(state, tmp_path / "state_dict.pt")
    init = {"num_channels_in": 1, "sample_size": 200, "buffer_front_sample": 40,
            "buffer_end_sample": 40, "buffer_front_loc": 0, "buffer_end_loc": 0,
            "loc_prob_thresh": 27.500000596, "input_scale": 0.15887516, "device": "cuda",
            "architecture_params": [4, 50, "relu", 0, 0, 0, 0]}
    (tmp_path / "init_dict.json").write_text(json.dumps(init))
    model = load_detection_model(tmp_path)
    assert model.device == "cpu"
    assert model.receptive_field == 81
    assert model.target_iqr == pytest.approx(12.6 * 0.15887516)
    out = model.net(torch.randn(2, 1, 200))
    assert out.shape == (2, 120) and out.dtype == torch.float32


def test_unknown_architecture_raises(tmp_path):
    (tmp_path / "init_dict.json").write_text(json.dumps(
        {"sample_size": 200, "buffer_front_sample": 40, "buffer_end_sample": 40,
         "architecture_params": [7, 50, "relu", 0, 0, 0, 0]}))
    torch.save({}, tmp_path / "state_dict.pt")
    with pytest.raises(ModelLoadingError, match="Invalid architecture parameter"):
        load_detection_model(tmp_path)


def test_input_gain_maps_median_iqr_to_target():
    model = _tiny_model()
    rng = np.random.default_rng(0)
    traces = rng.normal(0, 7.0, size=(20000, 8)).astype(np.float32)
    gain = model.input_gain(traces)
    q75, q25 = np.percentile(traces * gain, [75, 25], axis=0)
    assert np.median(q75 - q25) == pytest.approx(2.0, rel=1e-3)
    with pytest.raises(ValueError, match="inter-quartile"):
        model.input_gain(np.zeros((100, 4), np.float32))
