"""SpikeLab's test kit: a tiny ground-truth recording, a fake sorter that fails on demand with
real-looking log lines, a fake NVML, and the conformance suite every backend package runs.

It is also a pytest plugin that registers the ``fake`` sorter into the process-wide plugin
manager. A test suite opts in from its top ``conftest.py``::

    from spikelab.testing import kit_plugins

    pytest_plugins = kit_plugins()
"""

from __future__ import annotations

from spikelab.testing.recordings import tiny_recording

PYTEST_PLUGIN = "spikelab.testing.pytest_plugin"


def kit_plugins() -> list[str]:
    """What a ``conftest.py`` assigns to ``pytest_plugins`` to use the test kit.

    Returns
    -------
    list of str
        ``["spikelab.testing.pytest_plugin"]``, or ``[]`` in an environment installed when the kit
        was still a ``pytest11`` entry point (pytest has loaded it already; naming it again
        would register it twice).
    """
    import importlib.metadata

    installed = any(ep.value == PYTEST_PLUGIN for ep in importlib.metadata.entry_points(group="pytest11"))
    return [] if installed else [PYTEST_PLUGIN]


__all__ = ["PYTEST_PLUGIN", "kit_plugins", "tiny_recording"]
