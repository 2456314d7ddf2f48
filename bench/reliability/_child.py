"""Run one ``sort_recording`` in its own process, optionally SIGKILLing itself after a stage.

Usage: python _child.py KILL_AFTER RECORDING INTER RESULTS key=json ...
(``KILL_AFTER`` is a stage name, or ``-`` to run to the end.)
"""

import contextlib
import importlib
import json
import os
import pkgutil
import signal
import sys

from spikelab.plugins import get_plugin_manager
from spikelab.testing import fake_backend

if "fake" not in get_plugin_manager().sorters():
    get_plugin_manager().register(fake_backend, name="spikelab.testing.fake_backend")

import spikelab.spike_sorting.stages as stages  # noqa: E402
from spikelab.spike_sorting import sort_recording  # noqa: E402

kill_after, recording, inter, results = sys.argv[1:5]
kwargs = {k: json.loads(v) for k, v in (arg.split("=", 1) for arg in sys.argv[5:])}
original = stages.stage


@contextlib.contextmanager
def _stage(name, *args, **kw):
    with original(name, *args, **kw) as fields:
        yield fields
    if name == kill_after:
        print(f"killing after {name}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


for info in pkgutil.iter_modules(stages.__path__):
    module = importlib.import_module(f"{stages.__name__}.{info.name}")
    if getattr(module, "stage", None) is original:
        module.stage = _stage

sds = sort_recording([recording], intermediate_folders=[inter], results_folders=[results], **kwargs)
print(json.dumps([sd.N for sd in sds]), flush=True)
