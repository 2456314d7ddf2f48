"""Fixtures that install throw-away distributions for discovery tests.

A distribution here is real as far as ``importlib.metadata`` is concerned: a ``.dist-info``
folder with METADATA and entry_points.txt on ``sys.path``, next to the plugin's module.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def install_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    created: list[str] = []
    from spikelab.plugins import manager

    previous_manager = manager._GLOBAL

    def install(dist_name: str, version: str, entry_points: dict[str, str], modules: dict[str, str],
                provides: dict[str, str] | None = None):
        info = site / f"{dist_name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
        lines = ["[spikelab]"] + [f"{name} = {target}" for name, target in entry_points.items()]
        if provides:
            lines += ["", "[spikelab.provides]"] + [f"{name} = {target}" for name, target in provides.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            created.append(module)
        return site

    yield install
    from spikelab.plugins import manager

    manager._GLOBAL = previous_manager
    for module in created:
        sys.modules.pop(module, None)


@pytest.fixture
def fresh_global_manager(monkeypatch: pytest.MonkeyPatch):
    """Make the process-wide manager rediscover entry points, as a new process after
    ``pip install`` would (the test kit's fake sorter is registered again)."""
    from spikelab.plugins import SpikeLabPluginManager, manager
    from spikelab.testing import fake_backend

    fresh = SpikeLabPluginManager()
    fresh.register(fake_backend, name="spikelab.testing.fake_backend")
    monkeypatch.setattr(manager, "_GLOBAL", fresh)
    return fresh
