"""RT-Sort detection with a threshold pre-filter: throughput and F1 against today's (issue 21 item 3).

    python bench/rtsort/prefilter.py [--threads 2]

On the RT-Sort bench's held-out recording (``run.py --quick``: 64 ch x 20 s, 8 units, seed 9001),
the shipped network is run (a) on every channel-chunk, as today, and (b) only on channel-chunks
whose traces reach below -k noise SD (``infer_logits(prefilter_sd=k)``), for a few k and chunk
lengths. Throughput is channel-seconds per second on a 2 s sample tiled to 256 channels (the
same spike density per channel; the real-time factor at 1,020 channels is 1,020 / throughput),
with ``--threads`` torch threads; F1 is the bench's (stringent threshold, 0.4 ms, labels =
channel-spikes >= 4 noise SD) over the whole recording.

Writes ``bench/results/rtsort/prefilter.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "rtsort"
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from bench.rtsort.run import SIZES, _timed
    from spikelab_rtsort._paths import DEFAULT_MEA_MODEL_PATH
    from spikelab_rtsort.evaluation import score_detections
    from spikelab_rtsort.inference import detect_recording, estimate_input_gain, infer_logits, scale_traces
    from spikelab_rtsort.model import load_detection_model
    from spikelab_rtsort.synthetic import channel_labels, generate_mea_recording

    size = SIZES["quick"]
    recording, gt = generate_mea_recording(duration_s=size["duration_s"], num_units=size["num_units"],
                                           seed=size["seed"])
    labels = channel_labels(recording, gt, noise_level=5.0)
    model = load_detection_model(DEFAULT_MEA_MODEL_PATH)
    fs = recording.get_sampling_frequency()
    gain = estimate_input_gain(model, recording)
    sample = scale_traces(recording.get_traces(start_frame=0, end_frame=int(2 * fs)), gain)
    full = np.ascontiguousarray(np.tile(sample, (1, 4)))  # 256 channels: the rate per channel is what counts
    seconds = full.shape[0] / fs
    variants = [("today", None, 2000), ("k=3, 100 ms chunks", 3.0, 2000), ("k=3, 25 ms chunks", 3.0, 500),
                ("k=3.5, 25 ms chunks", 3.5, 500), ("k=4, 25 ms chunks", 4.0, 500)]
    rows = []
    for name, k, chunk in variants:
        t = _timed(lambda k=k, chunk=chunk: infer_logits(model, full, batch_size=64, chunk_frames=chunk,
                                                         prefilter_sd=k), min_seconds=2.0)
        logits, _, _ = detect_recording(model, recording, gain=gain, prefilter_sd=k, chunk_frames=chunk)
        score = score_detections(logits, labels, model.stringent_thresh)
        rows.append({"variant": name, "prefilter_sd": k, "chunk_frames": chunk,
                     "channel_s_per_s": round(full.shape[1] * seconds / t, 1),
                     "real_time_factor_1020ch": round(1020 / (full.shape[1] * seconds / t), 3),
                     "precision": round(score.precision, 4), "recall": round(score.recall, 4),
                     "f1": round(score.f1, 4)})
        print(rows[-1], flush=True)
    today = rows[0]
    for row in rows:
        row["speedup"] = round(row["channel_s_per_s"] / today["channel_s_per_s"], 2)
        row["f1_change"] = round(row["f1"] - today["f1"], 4)
    report = {"threads": args.threads, "load_avg": [round(x, 2) for x in os.getloadavg()],
              "recording": {"channels": 64, **size}, "rows": rows,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prefilter.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# RT-Sort detection with a threshold pre-filter (issue 21 item 3)",
        "",
        f"Held-out recording: 64 ch x {size['duration_s']:g} s, {size['num_units']} units (seed {size['seed']}); "
        f"throughput on 2 s tiled to 256 channels, {args.threads} torch threads; load average "
        f"{report['load_avg'][0]} (**loaded machine**: ratios mean more than absolute rates).",
        "",
        "| variant | channel-s/s | real-time factor at 1,020 ch | speed-up | precision | recall | F1 | F1 change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['channel_s_per_s']} | {r['real_time_factor_1020ch']} | {r['speedup']}x | "
                     f"{r['precision']} | {r['recall']} | {r['f1']} | {r['f1_change']:+.4f} |")
    lines += ["", "Target (issue 21): F1 no more than 0.005 below today's; real-time factor 1.0 or better at "
              "1,020 channels on 2 threads."]
    (RESULTS / "prefilter.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
