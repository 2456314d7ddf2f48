"""Time and score one artifact-removal implementation on one synthetic recording.

Run by ``run.py`` in a fresh interpreter per measurement:

- ``--impl ours``: ``spikelab_stim.remove_stim_artifacts`` (this repository, /work/venv);
- ``--impl peer``: ``spikelab.spike_sorting.stim_sorting.remove_stim_artifacts`` from the
  published ``spikelab==0.1.2``, in its own virtualenv (its import name ``spikelab``
  collides with ours).

Both use the ``polynomial`` method with default options and the true stim times, on data
from ``spikelab_stim/synthetic.py``, which is loaded by file path (it needs only numpy) so
both sides see identical recordings. Only the ``remove_stim_artifacts`` call is timed.

    python runner.py --impl ours|peer --synthetic PATH --case JSON --out OUT.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import time


def load_synthetic(path):
    spec = importlib.util.spec_from_file_location("stim_synthetic", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["stim_synthetic"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["ours", "peer"], required=True)
    parser.add_argument("--synthetic", required=True)
    parser.add_argument("--case", required=True, help="JSON: {'data': {...make_stim_recording kwargs}, 'score': bool}")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    case = json.loads(args.case)
    synthetic = load_synthetic(args.synthetic)
    data = synthetic.make_stim_recording(**case["data"], keep_clean=case.get("score", True))
    if args.impl == "ours":
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
        from spikelab_stim import remove_stim_artifacts
    else:
        import warnings

        warnings.simplefilter("ignore")
        from spikelab.spike_sorting.stim_sorting import remove_stim_artifacts

    start = time.perf_counter()
    extra = case.get("ours_kwargs", {}) if args.impl == "ours" else {}
    cleaned, blanked = remove_stim_artifacts(data.traces, data.stim_times_ms, data.fs_Hz, method="polynomial", **extra)
    seconds = time.perf_counter() - start
    result = {
        "impl": args.impl,
        "seconds": seconds,
        "n_channels": int(data.traces.shape[0]),
        "n_samples": int(data.traces.shape[1]),
        "n_pulses": int(data.stim_times_ms.size),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "kwargs": extra,
    }
    if case.get("score", True):
        result["score"] = synthetic.score_cleaning(data, cleaned, blanked)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
