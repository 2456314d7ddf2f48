"""RT-Sort: detection throughput and F1, streaming latency, sorting accuracy (vs Kilosort4).

    python bench/rtsort/run.py --quick     # 64 ch x 20 s, 8 units (a few minutes)
    python bench/rtsort/run.py             # 64 ch x 60 s, 10 units, Kilosort4 too

Measures, on SpikeInterface-generated MEA-like ground truth (8 x 8 grid, 17.5 um, 20 kHz) that the
shipped model never saw:

* Detection throughput in channel-seconds of recording per second of compute (torch on the CPU,
  ``--threads`` threads): the shipped network run chunked (how this package runs it), and a
  reference-size network (4 layers, 50 filters, kernel 21, the published RT-Sort size) run the
  straightforward way (10 ms windows with 6 ms stride, all channels per batch) and chunked.
* Detection precision / recall / F1 of the shipped model at its stringent threshold (0.4 ms
  tolerance, per channel; labels = channel-spikes with template trough >= 4 noise SD). With
  ``--reference-model FOLDER`` (a reference-size net trained by ``spikelab rtsort train --hidden 50
  --kernel-size 21 --dilations 1 1 1 1``) its F1 is measured the same way.
* Streaming: sequences detected on the first half, the second half fed in 5 ms chunks to
  ``RTSort.process``; real-time factor and spike latency (trough -> assignment).
* Sorting: RT-Sort offline on the second half vs ground truth (``compare_sorter_to_ground_truth``,
  0.4 ms); with ``--with-ks4`` (default in full mode) Kilosort4 on the same half.

Writes ``bench/results/rtsort/rtsort_<quick|full>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "results" / "rtsort"
SIZES = {"quick": dict(duration_s=20.0, num_units=8, seed=9001),
         "full": dict(duration_s=60.0, num_units=10, seed=9002)}


def _timed(fn, min_seconds=2.0):
    """Median seconds of ``fn()`` over repeats lasting at least ``min_seconds`` in total."""
    times, began = [], time.perf_counter()
    while not times or time.perf_counter() - began < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def throughput(shipped, scaled, fs):
    import torch

    from spikelab_rtsort.inference import infer_logits
    from spikelab_rtsort.model import DetectionModel, DetectionNet

    n_frames, n_channels = scaled.shape
    seconds = n_frames / fs
    reference = DetectionModel(DetectionNet(50, 21, (1, 1, 1, 1)),
                               dict(sample_size=200, buffer_front_sample=40, buffer_end_sample=40))
    out = {}
    out["shipped_chunked"] = n_channels * seconds / _timed(
        lambda: infer_logits(shipped, scaled, batch_size=64))
    out["reference_chunked"] = n_channels * seconds / _timed(
        lambda: infer_logits(reference, scaled, batch_size=64))
    # Straightforward reference: 200-frame windows, stride 120, all channels in one batch.
    window_s = 1.0
    part = scaled[: int(window_s * fs)]
    starts = range(0, part.shape[0] - 200 + 1, 120)

    def windows():
        with torch.inference_mode():
            for s in starts:
                x = torch.from_numpy(np.ascontiguousarray(part[s:s + 200].T)[:, None, :])
                reference.net(x)

    out["reference_windows"] = n_channels * window_s / _timed(windows)
    return {k: round(v, 1) for k, v in out.items()}


def detection_f1(model, recording, labels):
    from spikelab_rtsort.evaluation import score_detections
    from spikelab_rtsort.inference import detect_recording

    logits, _, _ = detect_recording(model, recording)
    score = score_detections(logits, labels, model.stringent_thresh)
    return dict(threshold=model.stringent_thresh, precision=round(score.precision, 4),
                recall=round(score.recall, 4), f1=round(score.f1, 4), labels=score.n_labels)


def streaming(rts, recording):
    traces = recording.get_traces()
    fs = recording.get_sampling_frequency()
    rts.reset()
    spikes, per_chunk, cpu_chunk, cpu_latency = [], [], [], []
    began, cpu_began = time.perf_counter(), time.process_time()
    for start in range(0, traces.shape[0], 100):
        t0, c0 = time.perf_counter(), time.process_time()
        new = rts.process(traces[start:start + 100])
        wall_ms = 1000 * (time.perf_counter() - t0)
        cpu_ms = 1000 * (time.process_time() - c0)
        per_chunk.append(wall_ms / 1000)
        cpu_chunk.append(cpu_ms)
        # latency had this process had its core to itself: data wait + CPU time of the call
        cpu_latency += [s.latency_ms - wall_ms + cpu_ms for s in new]
        spikes += new
    wall = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    lat = np.array([s.latency_ms for s in spikes])
    return dict(chunk_ms=100 / fs * 1000, data_s=traces.shape[0] / fs, wall_s=round(wall, 2),
                real_time_factor=round(wall / (traces.shape[0] / fs), 3),
                chunk_compute_ms_median=round(1000 * float(np.median(per_chunk)), 3),
                chunk_compute_ms_p95=round(1000 * float(np.percentile(per_chunk, 95)), 3),
                spikes=len(spikes), latency_ms_median=round(float(np.median(lat)), 3),
                latency_ms_p95=round(float(np.percentile(lat, 95)), 3),
                cpu_real_time_factor=round(cpu / (traces.shape[0] / fs), 3),
                chunk_cpu_ms_median=round(float(np.median(cpu_chunk)), 3),
                cpu_latency_ms_median=round(float(np.median(cpu_latency)), 3),
                cpu_latency_ms_p95=round(float(np.percentile(cpu_latency, 95)), 3)), spikes


def accuracy(gt, sorting):
    from spikeinterface.comparison import compare_sorter_to_ground_truth

    perf = compare_sorter_to_ground_truth(gt, sorting, delta_time=0.4).get_performance()
    acc = perf["accuracy"].astype(float)
    return dict(units_found=int(sorting.get_num_units()), gt_units=int(len(acc)),
                well_detected=int((acc > 0.8).sum()), mean_accuracy=round(float(acc.mean()), 4))


def kilosort4(recording, gt):
    import spikeinterface.sorters as ss

    with tempfile.TemporaryDirectory() as tmp:
        saved = recording.save(folder=Path(tmp) / "rec", verbose=False)
        began = time.perf_counter()
        sorting = ss.run_sorter("kilosort4", saved, folder=Path(tmp) / "ks4", verbose=False,
                                remove_existing_folder=True, nblocks=0)
        seconds = time.perf_counter() - began
        result = accuracy(gt, sorting)
    result["seconds"] = round(seconds, 1)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference-model", type=Path, default=None)
    parser.add_argument("--with-ks4", action="store_true")
    parser.add_argument("--tag", default="", help="suffix of the output file names")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    import torch

    torch.set_num_threads(args.threads)
    from spikelab_rtsort._paths import DEFAULT_MEA_MODEL_PATH
    from spikelab_rtsort.inference import estimate_input_gain, scale_traces
    from spikelab_rtsort.model import load_detection_model
    from spikelab_rtsort.rtsort import RTSort
    from spikelab_rtsort.synthetic import channel_labels, generate_mea_recording

    size = SIZES[mode]
    recording, gt = generate_mea_recording(duration_s=size["duration_s"],
                                           num_units=size["num_units"], seed=size["seed"])
    labels = channel_labels(recording, gt, noise_level=5.0)
    fs = recording.get_sampling_frequency()
    model = load_detection_model(DEFAULT_MEA_MODEL_PATH)
    result = dict(mode=mode, machine=f"{platform.platform()}, {os.cpu_count()} CPUs",
                  torch_threads=args.threads, recording=dict(channels=64, **size))
    result["load_average_start"] = os.getloadavg()
    sample = recording.get_traces(start_frame=0, end_frame=int(5 * fs))
    scaled = scale_traces(sample, estimate_input_gain(model, recording))
    result["throughput_channel_s_per_s"] = throughput(model, scaled, fs)
    t = result["throughput_channel_s_per_s"]
    result["speedup_vs_reference_windows"] = round(t["shipped_chunked"] / t["reference_windows"], 2)
    result["detection_shipped"] = detection_f1(model, recording, labels)
    if args.reference_model:
        result["detection_reference"] = detection_f1(load_detection_model(args.reference_model),
                                                     recording, labels)
    half = recording.get_num_frames() // 2
    first, second = recording.frame_slice(0, half), recording.frame_slice(half, 2 * half)
    gt_second = gt.frame_slice(half, 2 * half)
    began = time.perf_counter()
    rts = RTSort.detect_sequences(first, model)
    result["sequence_detection_s"] = round(time.perf_counter() - began, 1)
    began = time.perf_counter()
    offline = rts.sort_offline(second)
    result["offline_sort_s"] = round(time.perf_counter() - began, 1)
    result["rt_sort_accuracy"] = accuracy(gt_second, offline)
    # Streaming runs on one torch thread: the chunks are tiny and the second core is left to the
    # acquisition (and on a shared machine, threads only wait on each other).
    torch.set_num_threads(1)
    result["streaming"], _ = streaming(rts, second)
    result["streaming"]["torch_threads"] = 1
    if args.with_ks4 or mode == "full":
        try:
            result["kilosort4_accuracy"] = kilosort4(second, gt_second)
        except Exception as exc:  # report, do not hide, a Kilosort4 failure
            result["kilosort4_accuracy"] = dict(error=f"{type(exc).__name__}: {exc}"[:300])
    result["load_average_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"rtsort_{mode}{'_' + args.tag if args.tag else ''}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(r) -> str:
    t, d, s = r["throughput_channel_s_per_s"], r["detection_shipped"], r["streaming"]
    lines = [
        f"## RT-Sort ({r['mode']}: 64 ch x {r['recording']['duration_s']:.0f} s, "
        f"{r['recording']['num_units']} units, {r['torch_threads']} torch threads)",
        "",
        f"Machine: {r['machine']}; load average at start {r['load_average_start'][0]:.1f}, "
        f"end {r['load_average_end'][0]:.1f} (other jobs share the cores).",
        "",
        "| Detection network | channel-s / s |",
        "|---|---|",
        f"| shipped (16 filters, dilated, chunked) | {t['shipped_chunked']} |",
        f"| reference size (4 x 50 filters, k=21), 10 ms windows | {t['reference_windows']} |",
        f"| reference size, chunked | {t['reference_chunked']} |",
        "",
        f"Speed-up of the shipped net over the straightforward reference: "
        f"**{r['speedup_vs_reference_windows']}x**.",
        "",
        f"Detection (shipped, threshold {d['threshold']:.3f}): precision {d['precision']}, "
        f"recall {d['recall']}, F1 {d['f1']} over {d['labels']} channel-spikes.",
    ]
    if "detection_reference" in r:
        ref = r["detection_reference"]
        lines.append(f"Detection (reference size): precision {ref['precision']}, "
                     f"recall {ref['recall']}, F1 {ref['f1']}.")
    a = r["rt_sort_accuracy"]
    lines += [
        "",
        f"Streaming (5 ms chunks, {s.get('torch_threads', r['torch_threads'])} torch thread): "
        f"real-time factor {s['real_time_factor']} "
        f"(compute / data time), latency trough -> assignment median {s['latency_ms_median']} ms, "
        f"p95 {s['latency_ms_p95']} ms over {s['spikes']} spikes; chunk compute median "
        f"{s['chunk_compute_ms_median']} ms (wall clock, shared cores).",
        "",
        f"Same run in CPU time of this process (what it costs with a core to itself): real-time "
        f"factor {s['cpu_real_time_factor']}, chunk median {s['chunk_cpu_ms_median']} ms, latency "
        f"median {s['cpu_latency_ms_median']} ms, p95 {s['cpu_latency_ms_p95']} ms.",
        "",
        "| Sorter (second half of the recording) | units | GT units with accuracy > 0.8 | "
        "mean accuracy |",
        "|---|---|---|---|",
        f"| RT-Sort (sequences from the first half) | {a['units_found']} | "
        f"{a['well_detected']} / {a['gt_units']} | {a['mean_accuracy']} |",
    ]
    k = r.get("kilosort4_accuracy")
    if k and "error" not in k:
        lines.append(f"| Kilosort4 (CPU, nblocks=0) | {k['units_found']} | "
                     f"{k['well_detected']} / {k['gt_units']} | {k['mean_accuracy']} |")
    elif k:
        lines.append(f"| Kilosort4 | failed: {k['error']} | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
