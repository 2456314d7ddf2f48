"""``spikelab plugins`` shows what is installed."""

from __future__ import annotations

import json
import subprocess
import sys


def test_plugins_command_lists_builtins_and_sorters(capsys):
    from spikelab.cli.main import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "spikelab.cli.builtin_commands" in out
    assert "spikelab_register_commands" in out
    assert "fake" in out  # registered by the test kit


def test_plugins_command_json_is_machine_readable(capsys):
    from spikelab.cli.main import main

    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any(p["name"] == "spikelab.spike_sorting.builtin_classifiers" for p in data["plugins"])


def test_console_script_runs_in_a_fresh_interpreter():
    proc = subprocess.run(
        [sys.executable, "-m", "spikelab.cli.main", "plugins"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "Sorters:" in proc.stdout


def test_core_imports_without_torch():
    code = (
        "import sys, spikelab, spikelab.spike_sorting.config, spikelab.plugins; "
        "spikelab.plugins.get_plugin_manager(); print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"SPIKELAB_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
