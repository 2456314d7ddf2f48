import json

from spikelab_rtsort._paths import DEFAULT_MEA_MODEL_PATH
from spikelab_rtsort.evaluation import score_detections
from spikelab_rtsort.inference import detect_recording


def test_shipped_model_is_small_and_records_its_provenance():
    size = sum(p.stat().st_size for p in DEFAULT_MEA_MODEL_PATH.iterdir())
    assert size < 1_000_000
    training = json.loads((DEFAULT_MEA_MODEL_PATH / "init_dict.json").read_text())["training"]
    assert training["command"].startswith("spikelab rtsort train")
    assert "seed" in training and training["data"]["recordings"]


def test_shipped_model_precision_and_recall_on_held_out_recording(
        shipped_model, held_out_recording, held_out_labels):
    recording, _ = held_out_recording
    logits, _, _ = detect_recording(shipped_model, recording)
    score = score_detections(logits, held_out_labels, shipped_model.stringent_thresh)
    assert score.n_labels > 5000
    assert score.precision >= 0.90, score
    assert score.recall >= 0.90, score
