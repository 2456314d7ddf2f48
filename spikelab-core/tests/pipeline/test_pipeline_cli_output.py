"""What ``spikelab sort`` and ``spikelab demo`` show, run as a user runs them: in a terminal or a pipe.

A pseudo-terminal stands in for the user's terminal (Python's ``pty``); a pipe is what a batch
job or ``| tee`` gives. The fake sorter writes Kilosort4's own log lines.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

QUICK = ["--set", "n_jobs=1", "--set", "prevent_system_sleep=false"]


def run_cli(args, *, terminal: bool, cwd, timeout_s: float = 300.0) -> tuple[int, str]:
    """``spikelab ARGS`` in a fresh interpreter; stdout and stderr together."""
    command = [sys.executable, "-m", "spikelab.cli.main", *map(str, args)]
    env = dict(os.environ)
    if not terminal:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
        return done.returncode, done.stdout + done.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=timeout_s), b"".join(chunks).decode("utf-8", errors="replace")


def test_terminal_shows_plan_bars_sorter_lines_and_summary(small_file, tmp_path):
    path, _ = small_file
    code, out = run_cli(["sort", path, "--sorter", "fake", *QUICK, "--results", tmp_path / "res"],
                        terminal=True, cwd=tmp_path)
    assert code == 0, out
    assert out.startswith("spikelab sort: fake (chosen with --sorter)")
    assert "8 channels x 4.0 s at 20 kHz" in out and str(tmp_path / "res") in out and "GB of intermediate" in out
    assert "sort (fake):" in out and "waveforms" in out  # bars of the sort and waveform stages
    assert "kilosort.run_kilosort INFO Extracting spikes using templates" in out  # the sorter's own lines
    assert "done in" in out and "1/1 recordings sorted" in out and "sorting_report.html" in out


def test_pipe_is_quiet_about_progress_but_keeps_plan_and_summary(small_file, tmp_path):
    path, _ = small_file
    code, out = run_cli(["sort", path, "--sorter", "fake", *QUICK], terminal=False, cwd=tmp_path)
    assert code == 0, out
    assert out.startswith("spikelab sort: fake (chosen with --sorter)")
    assert "Extracting spikes using templates" not in out and "sort (fake):" not in out
    assert "1/1 recordings sorted" in out


def test_verbose_streams_the_sorter_even_into_a_pipe_and_quiet_keeps_the_summary(small_file, tmp_path):
    path, _ = small_file
    code, out = run_cli(["--verbose", "sort", path, "--sorter", "fake", *QUICK], terminal=False, cwd=tmp_path)
    assert code == 0 and "Extracting spikes using templates" in out, out
    code, out = run_cli(["sort", path, "--sorter", "fake", *QUICK, "--quiet"], terminal=True, cwd=tmp_path)
    assert code == 0, out
    assert "spikelab sort:" not in out and "Extracting spikes" not in out and "sort (fake):" not in out
    assert "[info" not in out and "1/1 recordings sorted" in out


def test_the_default_sorter_is_named_first_and_in_help(tmp_path, capsys):
    from spikelab.cli.main import main

    assert main(["sort", "--help"]) == 0
    assert "else 'auto' (the best measured installed sorter" in " ".join(capsys.readouterr().out.split())
    missing = tmp_path / "nothing.raw.h5"
    code, out = run_cli(["sort", missing], terminal=False, cwd=tmp_path)
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "nothing.raw.h5" in lines[0], out  # auto opens the header first


def test_auto_is_the_default_and_its_reason_reaches_the_plan_report_and_history(small_file, tmp_path, monkeypatch):
    """Issue 20 item 5: without --sorter, the sorter is the table's best measured installed one."""
    import json

    path, _ = small_file
    table = tmp_path / "choices.toml"
    table.write_text(
        '[[choice]]\narray = "probe"\nsource = "bench/results/accuracy/site.json"\n'
        'recording = "our own probes"\nranking = [\n'
        '  { sorter = "sorter_we_lack", package = "spikelab-lacking", well_detected = "15/16" },\n'
        '  { sorter = "fake", package = "spikelab-core", well_detected = "12/16" },\n]\n'
        '[[choice]]\narray = "grid"\nsource = "elsewhere.json"\nranking = [{ sorter = "kilosort4" }]\n')
    monkeypatch.setenv("SPIKELAB_SORTER_CHOICES", str(table))  # a site's own measured table
    code, out = run_cli(["sort", path, *QUICK, "--results", tmp_path / "res"], terminal=False, cwd=tmp_path)
    assert code == 0, out
    first = out.splitlines()[0]
    assert first.startswith("spikelab sort: fake (sorter 'auto': best measured for a linear/multi-shank probe "
                            "at 20 kHz"), out
    assert "12/16" in first and "bench/results/accuracy/site.json" in first
    assert "sorter_we_lack (15/16) is not installed: `pip install spikelab-lacking`" in first
    report = json.loads((tmp_path / "res" / "recording_report.json").read_text())
    assert report["sorter"] == "fake" and "bench/results/accuracy/site.json" in report["sorter_choice"]
    assert "Why this sorter" in (tmp_path / "res" / "sorting_report.html").read_text()
    history = [json.loads(line) for line in (tmp_path / "res" / "run_history.jsonl").read_text().splitlines()]
    assert history[-1]["sorter_choice"] == report["sorter_choice"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["demo", "--channels", "0"], "--channels: must be >= 1, got 0"),
        (["demo", "--duration", "-3"], "--duration: must be a finite number > 0"),
        (["demo", "--units", "many"], "--units: expected a whole number >= 1, got 'many'"),
        (["sort"], "the following arguments are required: files"),
        (["sort", "no_such_file.raw.h5", "--sorter", "fake"], "no_such_file.raw.h5"),
        (["sort", "x.raw.h5", "--sorter", "kilosort9"], "kilosort9"),
        (["report", "."], "recording_report.json"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(args, named, tmp_path):
    code, out = run_cli(args, terminal=False, cwd=tmp_path)
    assert code == 2, out
    plan = re.compile(r"spikelab sort: \w+ \(")  # the plan's first line precedes a missing-file error
    lines = [line for line in out.splitlines() if line.strip() and not plan.match(line)]
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in out, out


def test_a_sort_in_a_pipe_lists_no_display_setting_as_a_user_change(small_file, tmp_path):
    import json

    path, _ = small_file
    code, out = run_cli(["sort", path, "--sorter", "fake", *QUICK, "--results", tmp_path / "res"],
                        terminal=False, cwd=tmp_path)
    assert code == 0, out
    changed = {
        c["setting"] for c in json.loads((tmp_path / "res" / "recording_report.json").read_text())["config_changes"]
    }
    assert "n_jobs" in changed  # what the user typed is listed
    assert not {"progress_bar", "sorter_output"} & changed  # what the terminal decided is not
