"""SpikeLab's test kit as a pytest plugin: registers the fake sorter and fixtures.

Opt in from a root ``conftest.py``: ``pytest_plugins = ["spikelab.testing.pytest_plugin"]``.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    import os

    from spikelab.logconfig import configure_logging
    from spikelab.plugins import get_plugin_manager
    from spikelab.plugins.manager import ENV_TEST_PLUGINS
    from spikelab.testing import fake_backend

    configure_logging()  # the test session is an application; importing spikelab does not

    # Child processes (sorter children, Dask workers) inherit this and register the fake too.
    os.environ[ENV_TEST_PLUGINS] = "1"
    manager = get_plugin_manager()
    if "spikelab.testing.fake_backend" not in {info.name for info in manager.plugin_info()}:
        manager.register(fake_backend, name="spikelab.testing.fake_backend")


@pytest.fixture(autouse=True)
def _structlog_config_restored():
    """Each test starts with the session's logging: ``spikelab.cli.main.main(["--quiet", ...])``
    called in-process configures logging for the process, as the command should, and would
    otherwise filter the events that later tests read (they then saw no events at all)."""
    import structlog

    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="session")
def tiny_ground_truth():
    """``(recording, sorting)`` from :func:`spikelab.testing.tiny_recording` with seed 0."""
    from spikelab.testing.recordings import tiny_recording

    return tiny_recording(seed=0)


@pytest.fixture
def fresh_plugin_manager():
    """A new, empty-but-for-built-ins plugin manager (no entry points)."""
    from spikelab.plugins import SpikeLabPluginManager

    return SpikeLabPluginManager(autoload=False)
