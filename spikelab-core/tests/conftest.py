"""Core's tests use SpikeLab's test kit (the fake sorter, fixtures): an explicit opt-in."""

from __future__ import annotations

from spikelab.testing import kit_plugins

pytest_plugins = kit_plugins()
