import json

from spikelab_rtsort.cli import main
from spikelab_rtsort.model import load_detection_model


def test_train_command_writes_a_loadable_model_with_provenance(tmp_path, capsys):
    folder = tmp_path / "tiny"
    code = main(["train", str(folder), "--seed", "3", "--n-train-recordings", "1",
                 "--n-val-recordings", "1", "--duration-s", "4", "--num-units", "6", "--hidden", "4",
                 "--samples-per-epoch", "2000", "--val-samples", "1000", "--max-epochs", "2"])
    assert code == 0
    assert "stringent=" in capsys.readouterr().out
    model = load_detection_model(folder)
    init = json.loads((folder / "init_dict.json").read_text())
    training = init["training"]
    assert training["seed"] == 3
    assert "spikelab rtsort train" in training["command"] and "--seed 3" in training["command"]
    assert len(training["data"]["recordings"]) == 2  # one train + one validation recording
    assert 0 < model.loose_thresh <= model.stringent_thresh < 1
    # the stringent threshold is the best-F1 point of the recorded validation curve
    f1 = {c["threshold"]: 2 * c["precision"] * c["recall"] / max(c["precision"] + c["recall"],
                                                                  1e-9)
          for c in training["curve"]}
    assert f1[round(model.stringent_thresh, 3)] == max(f1.values())
