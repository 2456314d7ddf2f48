"""Bad configuration values and inputs fail before any work, naming the knob (issue 17 item 8)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pipeline_helpers import inline_kwargs

from spikelab.errors import ConfigError, InputError
from spikelab.spike_sorting import sort_recording


def test_freq_max_above_nyquist_is_refused_before_any_folder_is_made(small_file, tmp_path):
    path, _ = small_file  # 20 kHz: Nyquist is 10 kHz
    with pytest.raises(ConfigError, match=r"freq_max=15000 Hz .*Nyquist .*10000 Hz.* @ \$\.recording\.freq_max"):
        sort_recording([path], **inline_kwargs(freq_max=15000.0))
    assert not (tmp_path / "data" / "sorted_fake").exists()
    assert not (tmp_path / "data" / "inter_fake").exists()


def test_recording_entries_that_are_not_paths_name_their_position():
    with pytest.raises(InputError, match=r"recording_files\[0\] is 1 \(int\)"):
        sort_recording([1, 2], **inline_kwargs())


def test_an_empty_sorter_name_is_an_error_not_kilosort4(small_file):
    path, _ = small_file
    with pytest.raises(ConfigError, match=r"sorter_name must not be empty @ \$\.sorter\.sorter_name"):
        sort_recording([path], **{**inline_kwargs(), "sorter": ""})


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--set", "fr_min"], "--set expects KEY=VALUE"),
        (["--preset", "NOPE"], "No preset called 'NOPE'"),
        (["--preset", "FAKEE"], "Did you mean 'FAKE'"),
        (["--set", "snr_min=banana"], "snr_min: expected a number or None, got 'banana' @ $.curation.snr_min"),
        (["--set", "curate=no"], "curate: expected true or false, got 'no'"),
    ],
)
def test_cli_user_errors_are_one_line_with_exit_code_2(small_file, argv, expected):
    path, _ = small_file
    done = subprocess.run(
        [sys.executable, "-m", "spikelab.cli.main", "sort", str(path), "--sorter", "fake", *argv],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and expected in done.stderr


def test_a_cli_sort_reports_only_what_the_user_changed_and_each_version_once(small_file, tmp_path, capsys):
    """Issue 22.10: 'raise_on_failure yes->no' and both 'fake' and its distribution were listed."""
    import json

    from spikelab.cli.main import main

    path, _ = small_file
    fast = ["--set", "isolation=inline", "--set", "n_jobs=1", "--set", "prevent_system_sleep=false"]
    assert main(["sort", str(path), "--sorter", "fake", *fast, "--results", str(tmp_path / "res")]) == 0
    report = json.loads((tmp_path / "res" / "recording_report.json").read_text())
    changed = {change["setting"] for change in report["config_changes"]}
    assert "raise_on_failure" not in changed and "isolation" in changed
    versions = report["versions"]
    assert "fake" not in versions and "spikelab-core" in versions


def test_a_backend_whose_default_preset_is_for_another_sorter_does_not_run_that_sorter(small_file, tmp_path):
    """A backend made from another (``attrs.evolve``) kept its preset, a config for the original:
    ``sorter="copy"`` then silently sorted with the original backend."""
    import attrs

    from spikelab.plugins import get_plugin_manager, hookimpl
    from spikelab.testing import fake_backend

    path, _ = small_file
    copy = attrs.evolve(fake_backend.BACKEND, name="fake_copy")

    class _Plugin:
        @hookimpl
        def spikelab_register_sorters(self, register):
            register(copy)

    pm = get_plugin_manager()
    pm.register(_Plugin(), name="test.fake_copy")
    try:
        with pytest.raises(ConfigError, match=r"'fake_copy' declares the default preset 'FAKE', which is a config "
                                              r"for 'fake'"):
            sort_recording([path], **{**inline_kwargs(), "sorter": "fake_copy"})
    finally:
        pm.unregister(name="test.fake_copy")
    assert not (tmp_path / "data" / "sorted_fake").exists()
