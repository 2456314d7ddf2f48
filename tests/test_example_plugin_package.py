"""The plugin guide's example package installs with pip and sorts by name, with core unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "spikelab-example-sorter"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return target


def test_example_sorter_is_listed_and_sorts_by_name(installed_example, tmp_path, monkeypatch):
    from spikelab.plugins import SpikeLabPluginManager, manager
    from spikelab.spike_sorting import sort_recording
    from spikelab.testing import fake_backend, tiny_recording

    monkeypatch.syspath_prepend(str(installed_example))
    monkeypatch.setenv("PYTHONPATH", str(installed_example))
    fresh = SpikeLabPluginManager()  # a new process after `pip install` would discover it
    fresh.register(fake_backend, name="spikelab.testing.fake_backend")
    monkeypatch.setattr(manager, "_GLOBAL", fresh)

    info = {i.name: i for i in fresh.plugin_info()}
    assert info["threshold"].distribution == "spikelab-example-sorter"
    backend = fresh.sorter("threshold")
    assert backend.oom_knob.name == "chunk_samples"

    recording, _ = tiny_recording(seed=2)
    recording.save(folder=tmp_path / "rec", format="binary", verbose=False)
    sds = sort_recording([tmp_path / "rec"], sorter="threshold", threshold=4.5, curate=False, progress_bar=False)
    assert sds[0].N > 0
    assert (tmp_path / "sorted_threshold" / "rec" / "sorting_report.md").is_file()

    from spikelab.spike_sorting.config import get_preset

    assert get_preset("THRESHOLD").sorter.sorter_name == "threshold"


def test_example_imports_only_public_modules_and_gets_built_in_quality_errors(installed_example, monkeypatch, capsys):
    """Issue 19: a backend outside core, importing only public modules, gets the same checks,
    messages and parameter listing as the built-ins."""
    import ast

    from spikelab.errors import ConfigError, UnknownParameterError
    from spikelab.plugins import SpikeLabPluginManager, manager
    from spikelab.spike_sorting import check_config
    from spikelab.spike_sorting.config import SortingPipelineConfig

    source = (EXAMPLE / "src" / "spikelab_example_sorter" / "plugin.py").read_text()
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    spikelab_modules = {name for name in imported if name and name.startswith("spikelab")}
    assert spikelab_modules <= {"spikelab.plugin", "spikelab.spike_sorting.config"}
    assert not any("._" in name or name.split(".")[-1].startswith("_") for name in spikelab_modules)

    monkeypatch.syspath_prepend(str(installed_example))
    monkeypatch.setattr(manager, "_GLOBAL", SpikeLabPluginManager())
    with pytest.raises(UnknownParameterError, match=r"'treshold'.*Did you mean 'threshold'"):
        check_config(SortingPipelineConfig().override(sorter="threshold", treshold=4.0))
    with pytest.raises(ConfigError, match=r"threshold: expected a number, got 'high' @ \$\.sorter\.sorter_params"):
        check_config(SortingPipelineConfig().override(sorter="threshold", threshold="high"))
    from spikelab.cli.main import main

    assert main(["plugins", "--params", "threshold"]) == 0
    assert "Detection threshold below the median noise. [noise SD]" in capsys.readouterr().out


def test_the_plugin_guide_walks_through_public_imports_only():
    """docs/plugins.rst's python blocks import from public modules, as the example package does."""
    import ast
    import re

    page = (Path(__file__).resolve().parents[1] / "docs" / "plugins.rst").read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", page)
    imported = set()
    for block in blocks:
        for node in ast.walk(ast.parse("\n".join(line[3:] for line in block.splitlines()))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    spikelab_modules = {name for name in imported if name.startswith("spikelab")}
    assert "spikelab.plugin" in spikelab_modules
    assert not [name for name in spikelab_modules if any(part.startswith("_") for part in name.split("."))]
