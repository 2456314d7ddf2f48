"""Run spikelab 0.1.2's ``remove_stim_artifacts`` on a synthetic recording (peer venv).

Invoked by ``run.py`` with the peer interpreter: the older package's import name
``spikelab`` collides with ours, so it lives in its own virtualenv. The synthetic data
module is loaded by file path (it needs only numpy), so both sides see identical data.

Usage: python peer_runner.py SYNTHETIC_PY JSON_CASE OUT_JSON
"""

import importlib.util
import json
import sys
import time


def main():
    synthetic_path, case_json, out_path = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("stim_synthetic", synthetic_path)
    synthetic = importlib.util.module_from_spec(spec)
    sys.modules["stim_synthetic"] = synthetic
    spec.loader.exec_module(synthetic)
    case = json.loads(case_json)
    data = synthetic.make_stim_recording(**case["data"])
    from spikelab.spike_sorting.stim_sorting import remove_stim_artifacts

    t0 = time.perf_counter()
    cleaned, blanked = remove_stim_artifacts(
        data.traces, data.stim_times_ms, data.fs_Hz, method="polynomial", **case.get("peer_kwargs", {})
    )
    elapsed = time.perf_counter() - t0
    result = {"seconds": elapsed, "score": synthetic.score_cleaning(data, cleaned, blanked)}
    with open(out_path + ".tmp", "w") as fh:
        json.dump(result, fh)
    import os

    os.replace(out_path + ".tmp", out_path)


if __name__ == "__main__":
    main()
