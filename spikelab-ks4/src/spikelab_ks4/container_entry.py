"""Entry script run *inside* the Kilosort4 container: ``python container_entry.py JOB.json``.

It is copied into the sorter folder (mounted read-write) and needs only what the image has:
numpy, torch and kilosort (no SpikeLab). The job file holds container paths, the settings, the
probe, the dtype and the device; Kilosort's INFO lines go to stderr, which Docker captures and
SpikeLab streams into ``kilosort4.log``.
"""

import json
import os
import sys


def main(job_file: str) -> int:
    import numpy as np
    import torch
    from kilosort import run_kilosort

    with open(job_file) as handle:
        job = json.load(handle)
    device_name = job["device"]
    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    if device_name == "cpu":
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    probe = {
        "chanMap": np.asarray(job["probe"]["chanMap"], dtype=np.int32),
        "xc": np.asarray(job["probe"]["xc"], dtype=np.float32),
        "yc": np.asarray(job["probe"]["yc"], dtype=np.float32),
        "kcoords": np.asarray(job["probe"]["kcoords"], dtype=np.float32),
        "n_chan": int(job["probe"]["n_chan"]),
    }
    print(f"spikelab_ks4 container: device={device_name} torch={torch.__version__}", flush=True)
    run_kilosort(
        settings=job["settings"],
        probe=probe,
        filename=job["filename"],
        data_dtype=job["data_dtype"],
        results_dir=job["results_dir"],
        device=torch.device(device_name),
        **job["run_arguments"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
