"""The repository's tests opt in to SpikeLab's test kit (fake sorter, fixtures).

The kit is no longer a ``pytest11`` entry point loaded into every pytest session wherever
spikelab-core is installed; a project that wants it writes the line below in its root conftest.
An environment installed before that change still has the entry point: then it is loaded
already, and naming it again would register it twice.
"""

from __future__ import annotations

import importlib.metadata

_KIT = "spikelab.testing.pytest_plugin"

if not any(ep.value == _KIT for ep in importlib.metadata.entry_points(group="pytest11")):
    pytest_plugins = [_KIT]
