"""Run one sort_recording in a separate process (for lock and kill-and-resume tests).

Usage: python _child_sort.py RECORDING INTER RESULTS key=value ...
"""

import json
import sys

from spikelab.plugins import get_plugin_manager  # noqa: E402
from spikelab.testing import fake_backend  # noqa: E402

if "fake" not in get_plugin_manager().sorters():
    get_plugin_manager().register(fake_backend, name="spikelab.testing.fake_backend")

from spikelab.spike_sorting import sort_recording  # noqa: E402

recording, inter, results = sys.argv[1:4]
kwargs = {k: json.loads(v) for k, v in (arg.split("=", 1) for arg in sys.argv[4:])}
sds = sort_recording([recording], intermediate_folders=[inter], results_folders=[results], **kwargs)
print(json.dumps([sd.N for sd in sds]))
