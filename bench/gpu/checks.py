"""GPU checks of SpikeLab on one CUDA machine, one part per call (``bench/gpu/run.sh`` runs them all).

    python bench/gpu/checks.py PART --out DIR --work DIR [--cpu]

Parts, each independent (a failed part records its error and the next one runs):

* ``env``: torch, CUDA device, NVML and package versions.
* ``gen``: a SpikeInterface ground-truth recording (64 ch x 120 s at 30 kHz, 32 units) saved
  as binary, with its sorting, for the Kilosort4 parts.
* ``ks4``: Kilosort4 on CUDA through ``sort_recording`` and directly (``kilosort.run_kilosort``):
  sort time, their ratio, accuracy against ground truth, peak GPU memory of the direct run.
* ``rtsort``: the RT-Sort detection network on CUDA (throughput at 64 and 1,020 channels, F1 on
  a held-out generated recording, logits against the CPU's), streaming latency with 5 ms chunks,
  and ``sort_recording(sorter="rt_sort", rt_sort_device="cuda")``.
* ``watchdog``: the NVML watchdog against the real GPU: idle readings, then GPU memory filled by
  this process to the warning and abort levels, then a Kilosort4 sort stopped by the watchdog.
* ``oom``: the OOM retry against a real CUDA out-of-memory error: GPU memory filled so that
  Kilosort4 with an oversized ``batch_size`` fails, and ``sort_recording`` retries with halved
  batches until it fits.
* ``summary``: ``summary.md`` from ``results.json`` and a short table on stdout.

Every part merges its findings into ``DIR/results.json``. ``--cpu`` is a dry run on a machine
without CUDA: small sizes, the fake NVML in place of the driver, nothing forced out of memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

GiB = 2**30
SIZES = {
    "gpu": {"durations": [120.0], "num_channels": 64, "num_units": 32, "firing_rate": 15.0, "nblocks": 1},
    "cpu": {"durations": [6.0], "num_channels": 16, "num_units": 8, "firing_rate": 50.0, "nblocks": 0},
}


def merge(out: Path, part: str, data: dict) -> None:
    """Merge ``data`` under ``part`` into ``out/results.json``."""
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[part] = data
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def device_name(cpu: bool) -> str:
    return "cpu" if cpu else "cuda"


def load_ground_truth(work: Path):
    import spikeinterface as si

    return si.load(work / "recording"), si.load(work / "gt")


# --- parts -----------------------------------------------------------------------------------


def part_env(args) -> dict:
    import importlib.metadata as md

    import torch

    info = {"python": sys.version.split()[0], "torch": torch.__version__,
            "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_total_gib=round(props.total_memory / GiB, 1),
                    capability=f"{props.major}.{props.minor}", torch_cuda=torch.version.cuda)
    versions = {}
    for name in ("numpy", "scipy", "numba", "kilosort", "spikeinterface", "probeinterface", "neo",
                 "faiss-cpu", "h5py", "nvidia-ml-py", "spikelab-core", "spikelab-ks4", "spikelab-rtsort"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    info["versions"] = versions
    from spikelab.spike_sorting.guards.gpu import load_nvml

    nvml = load_nvml()
    info["nvml"] = None if nvml is None else {
        "driver": nvml.nvmlSystemGetDriverVersion(), "devices": nvml.nvmlDeviceGetCount()}
    from spikelab.plugins import get_plugin_manager

    info["sorters"] = sorted(get_plugin_manager().sorters())
    return info


def part_gen(args) -> dict:
    from bench.ks4.run import make_recording

    size = SIZES["cpu" if args.cpu else "gpu"]
    began = time.perf_counter()
    recording, gt = make_recording(size, args.work)
    gt.save(folder=args.work / "gt", format="numpy_folder", overwrite=True)
    return {**size, "sampling_frequency": recording.get_sampling_frequency(),
            "gt_spikes": int(sum(len(gt.get_unit_spike_train(u)) for u in gt.unit_ids)),
            "seconds": round(time.perf_counter() - began, 1)}


class DeviceSampler:
    """Peak GPU memory NVML reports in use beyond what was in use at the start (0.2 s samples)."""

    def __init__(self):
        from spikelab.spike_sorting.guards.gpu import load_nvml

        self.nvml = load_nvml()
        self.peak_delta_gib = None
        self._stop = None

    def _used(self) -> int:
        return self.nvml.nvmlDeviceGetMemoryInfo(self.nvml.nvmlDeviceGetHandleByIndex(0)).used

    def __enter__(self):
        import threading

        if self.nvml is None:
            return self
        base, self._stop = self._used(), threading.Event()
        self.peak_delta_gib = 0.0

        def loop():
            while not self._stop.wait(0.2):
                self.peak_delta_gib = max(self.peak_delta_gib, round((self._used() - base) / GiB, 3))

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._stop is not None:
            self._stop.set()
            self._thread.join()


def part_ks4(args) -> dict:
    import torch

    from bench.ks4.run import run_direct, run_spikelab

    recording, gt = load_ground_truth(args.work)
    size = SIZES["cpu" if args.cpu else "gpu"]
    out: dict = {"device": device_name(args.cpu)}
    sampler = DeviceSampler()
    try:
        with sampler:
            spikelab = run_spikelab(recording, gt, args.work / "spikelab", size["nblocks"])
        spikelab["device_used_delta_peak_gib"] = sampler.peak_delta_gib
        record = args.work / "spikelab" / "inter"
        run_json = next(record.rglob("spikelab_run.json"), None)
        if run_json is not None:
            spikelab["ks4_run"] = {k: v for k, v in json.loads(run_json.read_text()).items()
                                   if k in ("device", "elapsed_s", "versions")}
        out["sort_recording"] = spikelab
    except Exception as exc:
        out["sort_recording"] = {"error": f"{type(exc).__name__}: {exc}"[:1500]}
    merge(args.out, "ks4", {**out, "part_error": "interrupted after sort_recording"})
    began = time.perf_counter()
    import kilosort  # noqa: F401

    out["import_kilosort_s"] = round(time.perf_counter() - began, 2)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    direct = run_direct(recording, gt, args.work, size["nblocks"], device_name(args.cpu))
    if torch.cuda.is_available():
        direct["max_memory_allocated_gib"] = round(torch.cuda.max_memory_allocated() / GiB, 3)
        direct["max_memory_reserved_gib"] = round(torch.cuda.max_memory_reserved() / GiB, 3)
    out["direct"] = direct
    if "sort_s" in out["sort_recording"]:
        out["sort_stage_over_direct"] = round(out["sort_recording"]["sort_s"] / direct["sort_s"], 3)
        out["sort_stage_over_direct_plus_import"] = round(
            out["sort_recording"]["sort_s"] / (direct["sort_s"] + out["import_kilosort_s"]), 3)
        out["accuracy_gap"] = round(out["sort_recording"]["accuracy_mean"] - direct["accuracy_mean"], 4)
    return out


def _timed(fn, cuda: bool, min_seconds: float = 1.0) -> float:
    import torch

    fn()  # warm-up (cuDNN autotuning, allocator)
    times, began = [], time.perf_counter()
    while not times or time.perf_counter() - began < min_seconds:
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def part_rtsort(args) -> dict:
    """RT-Sort on the device, section by section; each section's result is saved as it finishes."""
    from spikelab_rtsort._paths import DEFAULT_MEA_MODEL_PATH
    from spikelab_rtsort.inference import estimate_input_gain, scale_traces
    from spikelab_rtsort.model import load_detection_model
    from spikelab_rtsort.synthetic import generate_mea_recording

    device = device_name(args.cpu)
    duration = 6.0 if args.cpu else 40.0
    recording, gt = generate_mea_recording(duration_s=duration, num_units=8 if args.cpu else 10, seed=9002)
    fs = recording.get_sampling_frequency()
    model = load_detection_model(DEFAULT_MEA_MODEL_PATH, device=device)
    sample = recording.get_traces(start_frame=0, end_frame=int((0.5 if args.cpu else 2.0) * fs))
    scaled = scale_traces(sample, estimate_input_gain(model, recording))
    full = np.ascontiguousarray(np.tile(scaled, (1, 16))[:, :1020])
    ctx = dict(args=args, device=device, recording=recording, gt=gt, fs=fs, model=model, scaled=scaled, full=full)
    out: dict = {"device": device, "recording": {"channels": recording.get_num_channels(),
                                                 "seconds": duration, "units": 8 if args.cpu else 10}}
    for name, section in (("throughput", _rt_throughput), ("vs_cpu", _rt_vs_cpu), ("detection", _rt_detection),
                          ("sorting_and_streaming", _rt_sorting), ("streaming_network_1020ch", _rt_stream_1020),
                          ("sort_recording", _rt_pipeline_section)):
        began = time.perf_counter()
        try:
            out[name] = section(**ctx)
        except Exception:
            out[name] = {"error": traceback.format_exc()[-1500:]}
        out[name]["section_s"] = round(time.perf_counter() - began, 1)
        merge(args.out, "rtsort", {**out, "part_error": f"interrupted after {name}"})
    return out


def _rt_throughput(args, device, model, scaled, full, fs, **_) -> dict:
    from spikelab_rtsort.inference import infer_logits

    seconds = scaled.shape[0] / fs
    out = {}
    for label, data, batch in (("64ch_batch64", scaled, 64), ("64ch_batch640", scaled, 640),
                               ("1020ch_batch64", full, 64), ("1020ch_batch2048", full, 2048),
                               ("1020ch_batch10240", full, 10240)):
        if args.cpu and batch > 64:
            continue
        t = _timed(lambda d=data, b=batch: infer_logits(model, d, batch_size=b), device == "cuda")
        out[label] = {
            "channel_s_per_s": round(data.shape[1] * seconds / t, 1),
            "real_time_factor": round(t / seconds, 4),
        }
    return out


def _rt_vs_cpu(model, scaled, fs, **_) -> dict:
    from spikelab_rtsort._paths import DEFAULT_MEA_MODEL_PATH
    from spikelab_rtsort.inference import infer_logits
    from spikelab_rtsort.model import load_detection_model

    piece = scaled[: int(0.5 * fs)]
    cpu_model = load_detection_model(DEFAULT_MEA_MODEL_PATH, device="cpu")
    return {"logits_max_abs_diff": float(np.max(np.abs(infer_logits(model, piece) - infer_logits(cpu_model, piece))))}


def _rt_detection(model, recording, gt, **_) -> dict:
    from spikelab_rtsort.evaluation import score_detections
    from spikelab_rtsort.inference import detect_recording
    from spikelab_rtsort.synthetic import channel_labels

    labels = channel_labels(recording, gt, noise_level=5.0)
    began = time.perf_counter()
    logits, _, _ = detect_recording(model, recording)
    seconds = time.perf_counter() - began
    score = score_detections(logits, labels, model.stringent_thresh)
    return {"precision": round(score.precision, 4), "recall": round(score.recall, 4), "f1": round(score.f1, 4),
            "labels": score.n_labels, "detect_recording_s": round(seconds, 2)}


def _rt_sorting(model, recording, gt, **_) -> dict:
    from bench.rtsort.run import accuracy, streaming
    from spikelab_rtsort.rtsort import RTSort

    half = recording.get_num_frames() // 2
    first, second = recording.frame_slice(0, half), recording.frame_slice(half, 2 * half)
    out: dict = {}
    began = time.perf_counter()
    rts = RTSort.detect_sequences(first, model)
    out["sequence_detection_s"] = round(time.perf_counter() - began, 2)
    began = time.perf_counter()
    out["offline_accuracy"] = accuracy(gt.frame_slice(half, 2 * half), rts.sort_offline(second))
    out["offline_sort_s"] = round(time.perf_counter() - began, 2)
    out["streaming_64ch"], _ = streaming(rts, second)
    return out


def _rt_stream_1020(model, full, fs, **_) -> dict:
    """The network alone streamed over a whole array: 1,020 channels, 5 ms chunks."""
    from spikelab_rtsort.inference import StreamingInference

    stream = StreamingInference(model)
    chunk = int(0.005 * fs)
    per_chunk = []
    for start in range(0, full.shape[0] - chunk + 1, chunk):
        t0 = time.perf_counter()
        stream.push(full[start:start + chunk])
        per_chunk.append(1000 * (time.perf_counter() - t0))
    per_chunk = per_chunk[5:]
    return {"chunk_ms": 5.0, "chunks": len(per_chunk), "compute_ms_median": round(float(np.median(per_chunk)), 3),
            "compute_ms_p95": round(float(np.percentile(per_chunk, 95)), 3)}


def _rt_pipeline_section(recording, gt, args, device, **_) -> dict:
    return _rtsort_pipeline(recording, gt, args, device)


def _rtsort_pipeline(recording, gt, args, device: str) -> dict:
    from bench.rtsort.run import accuracy
    from spikelab.spike_sorting import run_recordings

    began = time.perf_counter()
    try:
        results = run_recordings([recording], sorter="rt_sort", rt_sort_device=device, curate=False,
                                 create_figures=False, intermediate_folders=[args.work / "rts_inter"],
                                 results_folders=[args.work / "rts_results"], recompute_sorting=True)
        if results[0].error is not None:
            raise results[0].error
        spike_data = results[0].spike_data
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:1500]}
    sorting = spike_data[0].to_spikeinterface(fs_Hz=recording.get_sampling_frequency())
    return {"wall_s": round(time.perf_counter() - began, 2), "stage_times_s": results[0].stage_times_s,
            "status": results[0].status, **accuracy(gt, sorting)}


class Ballast:
    """GPU memory held by this process (a real allocation), or a fake GPU's reading on the CPU."""

    def __init__(self, cpu: bool):
        self.cpu = cpu
        self.blocks: list = []
        self.fake = None

    def fill_to(self, nvml, used_fraction: float) -> float:
        """Allocate until NVML reports ``used_fraction`` of the device in use; return the reading."""
        handle = nvml.nvmlDeviceGetHandleByIndex(0)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        if self.cpu:
            self.fake.used_gb = used_fraction * memory.total / GiB
            return used_fraction
        import torch

        for _ in range(200):  # re-read after each block: the first one also creates our CUDA context
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            need = int(used_fraction * memory.total) - memory.used
            if need < 16 * 2**20:
                break
            self.blocks.append(torch.empty(min(need, 8 * GiB), dtype=torch.uint8, device="cuda"))
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        return memory.used / memory.total

    def leave_free(self, nvml, free_bytes: int) -> float:
        memory = nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(0))
        return self.fill_to(nvml, 1.0 - free_bytes / memory.total)

    def release(self) -> None:
        self.blocks.clear()
        if not self.cpu:
            import torch

            torch.cuda.empty_cache()


def _nvml(args):
    """The real NVML, or on ``--cpu`` a fake 80 GiB GPU installed in its place."""
    from spikelab.spike_sorting.guards.gpu import load_nvml

    if not args.cpu:
        return load_nvml(), None
    from spikelab.testing.fake_nvml import FakeGpu, FakeNvml

    gpu = FakeGpu(total_gb=80.0, used_gb=1.0, temperature_c=40.0)
    fake = FakeNvml([gpu])
    context = fake.installed()
    context.__enter__()
    return load_nvml(), gpu


def _sort_ks4(args, **overrides) -> dict:
    from spikelab.spike_sorting import run_recordings

    recording, gt = load_ground_truth(args.work)
    results: list = []
    began = time.perf_counter()
    out: dict = {}
    try:
        results = run_recordings([recording], sorter="kilosort4", curate=False, create_figures=False,
                                 intermediate_folders=[args.work / "k_inter"],
                                 results_folders=[args.work / "k_results"], recompute_sorting=True, **overrides)
        if results[0].error is not None:
            raise results[0].error
        spike_data = results[0].spike_data
        from bench.ks4.run import score

        out.update(score(gt, spike_data[0].to_spikeinterface(fs_Hz=recording.get_sampling_frequency())))
    except Exception as exc:
        results = results or list(getattr(exc, "results", None) or [])
        out["raised"] = f"{type(exc).__name__}: {exc}"[:800]
    out["wall_s"] = round(time.perf_counter() - began, 2)
    if results:
        result = results[0]
        out.update(status=result.status, error_class=result.error_class,
                   error_message=(result.error_message or "")[:800], retries_used=result.retries_used,
                   attempts=[{"batch_size": a.params.get("batch_size"), "status": a.status,
                              "error_class": a.error_class, "wall_time_s": a.wall_time_s,
                              "error_message": (a.error_message or "")[:300]} for a in result.attempts])
        events = next(Path(result.intermediate_folder or args.work).rglob("watchdog_events.jsonl"), None)
        if events is not None:
            out["events_tail"] = events.read_text()[-1500:]
    return out


def part_watchdog(args) -> dict:
    from spikelab.spike_sorting.guards.events import EventLog
    from spikelab.spike_sorting.guards.gpu import GpuWatchdog

    nvml, fake = _nvml(args)
    if nvml is None:
        return {"error": "NVML not usable here"}
    ballast = Ballast(args.cpu)
    ballast.fake = fake
    events = EventLog(None, sorter="kilosort4")
    watchdog = GpuWatchdog(nvml, poll_interval_s=0.2, events=events, sorter="kilosort4")
    watchdog.start(os.getpid())
    out: dict = {"real_nvml": not args.cpu}
    time.sleep(1.0)
    out["idle"] = {"tripped": repr(watchdog.tripped()), "peak_pct": round(watchdog.peak_pct, 2),
                   "peak_temp_c": watchdog.peak_temp_c}
    out["warn_level"] = {"used_fraction": round(ballast.fill_to(nvml, 0.90), 4)}
    time.sleep(1.0)
    out["warn_level"].update(tripped=repr(watchdog.tripped()),
                             warnings=[e.get("message") for e in events.events][-2:])
    out["abort_level"] = {"used_fraction": round(ballast.fill_to(nvml, 0.97), 4)}
    time.sleep(1.0)
    error = watchdog.tripped()
    out["abort_level"].update(tripped=type(error).__name__ if error else None,
                              message=str(error)[:600] if error else None,
                              details=getattr(watchdog, "trip_details", None),
                              peak_pct=round(watchdog.peak_pct, 2), n_checks=watchdog.n_checks)
    watchdog.stop()
    if not args.cpu:
        # The same fill while a real Kilosort4 sort runs: the pipeline's watchdog must stop it.
        out["sort_stopped_by_watchdog"] = _sort_ks4(args, oom_retry_max=0, gpu_poll_interval_s=0.5)
    ballast.release()
    return out


def _oom_lines(folder: Path) -> list[str]:
    """The sorter's own out-of-memory lines (torch's message) left in its logs."""
    found = []
    for log in sorted(folder.rglob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "out of memory" in line.lower() and line.strip() not in found:
                found.append(line.strip()[:600])
    return found[:4]


def part_oom(args) -> dict:
    import spikeinterface as si

    nvml, fake = _nvml(args)
    results = json.loads((args.out / "results.json").read_text()) if (args.out / "results.json").exists() else {}
    ks4 = results.get("ks4", {})
    reserved = (ks4.get("direct", {}) or {}).get("max_memory_reserved_gib") or 2.0
    child = (ks4.get("sort_recording", {}) or {}).get("device_used_delta_peak_gib")
    child = child or (float(os.environ["OOM_CHILD_GIB"]) if os.environ.get("OOM_CHILD_GIB") else None)
    frames = si.load(args.work / "recording").get_num_frames()
    first_batch = frames // 2  # two batches exactly (halvings keep dividing the recording)
    # Room for what the sorter process took at the default batch (60000) in the ks4 part, measured
    # by NVML, plus a little: a batch 30x larger cannot fit, and halving it (1.8M -> 28k samples in
    # six retries) comes back under the default's need. Without that measurement, a guess.
    free = int(((child + 0.3) if child else (reserved + 2.0)) * GiB)
    out: dict = {"direct_run_peak_reserved_gib": reserved, "sorter_process_peak_gib_at_60000": child,
                 "left_free_gib": round(free / GiB, 2), "first_batch_size": first_batch}
    ballast = Ballast(args.cpu)
    ballast.fake = fake
    if nvml is not None:
        out["used_fraction_after_fill"] = round(ballast.leave_free(nvml, free), 4)
    try:
        out["sort"] = _sort_ks4(args, batch_size=first_batch, oom_retry_max=6, gpu_watchdog=False)
    finally:
        ballast.release()
    out["torch_oom_lines"] = _oom_lines(args.work / "k_inter")
    attempts = out["sort"].get("attempts", [])
    out["real_oom_seen"] = any(a["error_class"] == "GPUOutOfMemoryError" for a in attempts)
    out["retried_to_success"] = bool(attempts) and attempts[-1]["status"] == "success" and len(attempts) > 1
    return out


def part_summary(args) -> dict:
    results = json.loads((args.out / "results.json").read_text())
    lines = ["# SpikeLab GPU checks", ""]
    env = results.get("env", {})
    lines.append(f"Device: {env.get('gpu', 'none')} ({env.get('gpu_total_gib')} GiB), torch {env.get('torch')}, "
                 f"driver {(env.get('nvml') or {}).get('driver')}, {env.get('cpu_count')} CPUs.")
    lines += ["", "| part | status | key numbers |", "|---|---|---|"]
    for part in ("env", "gen", "ks4", "rtsort", "watchdog", "oom"):
        entry = results.get(part)
        if entry is None:
            lines.append(f"| {part} | not run (timed out or skipped) | |")
            continue
        status = "FAILED" if "part_error" in entry else "ok"
        lines.append(f"| {part} | {status} | {_key_numbers(part, entry)} |")
    text = "\n".join(lines) + "\n"
    (args.out / "summary.md").write_text(text)
    print(text)
    return {"written": str(args.out / "summary.md")}


def _key_numbers(part: str, entry: dict) -> str:
    if "part_error" in entry:
        return entry["part_error"].splitlines()[-1][:200]
    try:
        if part == "ks4":
            s, d = entry["sort_recording"], entry["direct"]
            return (f"sort_recording sort stage {s.get('sort_s', 0):.1f} s (whole call {s.get('wall_s', 0):.1f} s), "
                    f"direct {d['sort_s']:.1f} s, ratio {entry.get('sort_stage_over_direct')}; well detected "
                    f"{s.get('well_detected')} vs {d['well_detected']}, accuracy {s.get('accuracy_mean')} vs "
                    f"{d['accuracy_mean']}; direct peak {d.get('max_memory_reserved_gib')} GiB")
        if part == "rtsort":
            t = {k: v for k, v in entry.get("throughput", {}).items() if isinstance(v, dict)}
            best = max(t.items(), key=lambda kv: kv[1]["channel_s_per_s"] if kv[0].startswith("1020") else 0)
            stream = entry.get("sorting_and_streaming", {}).get("streaming_64ch", {})
            pipe = entry.get("sort_recording", {})
            return (f"1,020 ch {best[0]}: {best[1]['channel_s_per_s']} ch-s/s (RTF {best[1]['real_time_factor']}); "
                    f"F1 {entry.get('detection', {}).get('f1')}; stream 64 ch median latency "
                    f"{stream.get('latency_ms_median')} ms; network 1,020 ch per 5 ms chunk "
                    f"{entry.get('streaming_network_1020ch', {}).get('compute_ms_median')} ms; sort_recording "
                    f"{pipe.get('status') or pipe.get('error', '')[:80]} {pipe.get('wall_s')} s")
        if part == "watchdog":
            stop = entry.get("sort_stopped_by_watchdog", {})
            return (f"idle peak {entry['idle']['peak_pct']}% {entry['idle']['peak_temp_c']} C; abort at "
                    f"{entry['abort_level']['used_fraction']}: {entry['abort_level']['tripped']}; sort: "
                    f"{stop.get('status')} {stop.get('error_class')}")
        if part == "oom":
            tries = [(a["batch_size"], a["error_class"] or a["status"]) for a in entry["sort"].get("attempts", [])]
            return (
                f"attempts {tries}; real OOM {entry['real_oom_seen']}; retried to success {entry['retried_to_success']}"
            )
        if part == "gen":
            return f"{entry['num_channels']} ch x {entry['durations'][0]:g} s, {entry['gt_spikes']} GT spikes"
        if part == "env":
            return f"cuda {entry.get('cuda_available')}, sorters {entry.get('sorters')}"
    except Exception as exc:  # a partial entry still gets a row
        return f"(partial: {type(exc).__name__}: {exc})"
    return ""


PARTS = {"env": part_env, "gen": part_gen, "ks4": part_ks4, "rtsort": part_rtsort,
         "watchdog": part_watchdog, "oom": part_oom, "summary": part_summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=sorted(PARTS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--cpu", action="store_true", help="dry run without CUDA (small, fake NVML)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    try:
        data = PARTS[args.part](args)
        code = 0
    except Exception:
        data = {"part_error": traceback.format_exc()[-3000:]}
        code = 1
        print(data["part_error"], file=sys.stderr)
    data["part_seconds"] = round(time.perf_counter() - began, 1)
    if args.part != "summary":
        merge(args.out, args.part, data)
    return code


if __name__ == "__main__":
    sys.exit(main())
