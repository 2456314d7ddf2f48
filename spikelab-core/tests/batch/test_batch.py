"""sort_batch on a local Dask cluster of two worker processes, with the fake sorter."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from spikelab.spike_sorting import sort_batch

pytestmark = pytest.mark.timeout(600)


def _report(folder):
    return json.loads((folder / "batch_report.json").read_text())


def test_mixed_outcomes_follow_the_policy_per_family(recordings_factory, tmp_path, fast):
    paths = recordings_factory(["ok", "no_spikes", "gpu_oom", "ok"])
    results = sort_batch(
        paths, sorter="fake", workers=2, report_folder=tmp_path / "batch",
        oom_retry_max=0, fake_oom_above_batch=40000, **fast,
    )
    assert [r.rec_name for r in results] == ["rec0", "rec1", "rec2", "rec3"]
    assert [r.status for r in results] == ["success", "not_sortable", "success", "success"]
    report = _report(tmp_path / "batch")
    entries = {e["name"]: e for e in report["recordings"]}
    oom = entries["rec2"]["decisions"]
    assert [d["action"] for d in oom] == ["retry", "accept"]
    assert "batch_size=30000" in oom[0]["reason"]
    assert entries["rec1"]["decisions"][-1]["action"] == "skip"
    assert report["counts"] == {"not_sortable": 1, "success": 3}
    assert (tmp_path / "batch" / "batch_summary.png").stat().st_size > 1000
    markdown = (tmp_path / "batch" / "batch_report.md").read_text()
    assert "| rec1 | not_sortable |" in markdown
    for r in results:
        assert (tmp_path / "sorted_fake" / r.rec_name / "recording_report.json").is_file()


def test_auto_choice_and_its_reason_reach_the_batch_report_and_every_recording(
    recordings_factory, tmp_path, fast, monkeypatch
):
    table = tmp_path / "choices.toml"
    table.write_text('[[choice]]\narray = "probe"\nsource = "bench/results/batch.json"\n'
                     'recording = "batch (a probe)"\nranking = [{ sorter = "fake", well_detected = "4/4" }]\n')
    monkeypatch.setenv("SPIKELAB_SORTER_CHOICES", str(table))
    paths = recordings_factory(["ok", "ok"])
    results = sort_batch(paths, sorter="auto", workers=1, report_folder=tmp_path / "batch", **fast)
    assert [r.status for r in results] == ["success", "success"]
    report = _report(tmp_path / "batch")
    why = report["sorter_choice"]
    assert report["sorter"] == "fake" and why.startswith("sorter='auto' chose fake: best measured for a")
    assert "4/4 ground-truth units well detected" in why and "bench/results/batch.json" in why
    assert f"Why this sorter: {why}" in (tmp_path / "batch" / "batch_report.md").read_text()
    for result in results:  # each recording's own report says why, as a single sort_recording's does
        folder = tmp_path / "sorted_fake" / result.rec_name
        assert result.sorter_choice == why
        assert json.loads((folder / "recording_report.json").read_text())["sorter_choice"] == why
        assert f"| Why this sorter | {why}" in (folder / "sorting_report.md").read_text()


def test_environment_failure_stops_new_work_but_keeps_finished_results(recordings_factory, tmp_path, fast):
    paths = recordings_factory(["docker_down", "ok", "ok"])
    results = sort_batch(paths, sorter="fake", workers=1, report_folder=tmp_path / "batch", **fast)
    assert results[0].status == "environment"
    assert [r.status for r in results[1:]] == ["failed", "failed"]
    assert all(r.error_class == "BatchStoppedError" for r in results[1:])
    report = _report(tmp_path / "batch")
    assert "rec0" in report["stopped_reason"]
    assert "fix the environment" in report["stopped_reason"]


def test_rerun_skips_completed_recordings_and_redoes_invalid_ones(recordings_factory, tmp_path, fast):
    paths = recordings_factory(["ok", "ok"])
    first = sort_batch(paths, sorter="fake", workers=2, report_folder=tmp_path / "batch", **fast)
    assert [r.status for r in first] == ["success", "success"]
    os.remove(first[1].spikedata_path)  # rec1's results are no longer complete
    second = sort_batch(paths, sorter="fake", workers=2, report_folder=tmp_path / "batch", **fast)
    assert [r.status for r in second] == ["success", "success"]
    entries = _report(tmp_path / "batch")["recordings"]
    assert entries[0]["from_previous_run"] is True and entries[0]["decisions"] == []
    assert entries[1]["from_previous_run"] is False and entries[1]["decisions"][-1]["action"] == "accept"
    assert os.path.isfile(second[1].spikedata_path)


def test_killed_worker_mid_sort_is_retried_elsewhere_without_duplicates(recordings_factory, tmp_path, fast):
    from distributed import Client, LocalCluster

    paths = recordings_factory(["ok", "ok"])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        killed: list[int] = []

        def kill_when_sorting() -> None:
            deadline = time.monotonic() + 240
            log = tmp_path / "spikelab_intermediate" / "rec0_fake" / "sorter_output" / "fake.log"
            while time.monotonic() < deadline and not killed:
                if log.is_file() and "Computing drift correction" in log.read_text():
                    for address, keys in client.processing().items():
                        if any("rec0" in str(k) for k in keys):
                            pid = client.run(os.getpid, workers=[address])[address]
                            os.kill(pid, signal.SIGKILL)
                            killed.append(pid)
                time.sleep(0.2)

        import threading

        killer = threading.Thread(target=kill_when_sorting, daemon=True)
        killer.start()
        results = sort_batch(paths, sorter="fake", client=client, report_folder=tmp_path / "batch",
                             fake_delay_s=6.0, **fast)
        killer.join(5)
    assert killed, "the worker running rec0 was never killed"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    assert [r.status for r in results] == ["success", "success"]
    assert sorted(p.name for p in (tmp_path / "sorted_fake").iterdir()) == ["rec0", "rec1"]
    report = _report(tmp_path / "batch")
    assert [len(e["decisions"]) for e in report["recordings"]] == [1, 1]


DRIVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from spikelab.spike_sorting import sort_batch
    paths = [Path(p) for p in sys.argv[2:]]
    sort_batch(paths, sorter="fake", workers=1, report_folder=sys.argv[1], fake_delay_s=3.0,
               progress_bar=False, spikes_min=5, snr_min=None, std_norm_max=None, fr_min=None)
    """
)


def test_driver_killed_mid_batch_resumes_where_it_stopped(recordings_factory, tmp_path, fast):
    paths = recordings_factory(["ok", "ok", "ok"])
    report_folder = tmp_path / "batch"
    env = {**os.environ, "SPIKELAB_TEST_PLUGINS": "1"}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(report_folder), *map(str, paths)],
                              env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if (report_folder / "batch_report.json").is_file():
                counts = _report(report_folder)["counts"]
                if counts.get("success", 0) >= 1:
                    break
            assert driver.poll() is None, "driver ended before it could be killed"
            time.sleep(0.3)
        else:
            pytest.fail("no recording finished in time")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and its local cluster die together
        driver.wait(30)
    done_before = [e["name"] for e in _report(report_folder)["recordings"] if e["status"] == "success"]
    assert 1 <= len(done_before) < 3

    # The same command again: resume is keyed on every parameter, so a different fake_delay_s
    # would (rightly) sort everything again.
    results = sort_batch(paths, sorter="fake", workers=1, report_folder=report_folder,
                         fake_delay_s=3.0, **fast)
    assert [r.status for r in results] == ["success"] * 3
    entries = {e["name"]: e for e in _report(report_folder)["recordings"]}
    for name in done_before:
        assert entries[name]["from_previous_run"] is True
    assert sorted(p.name for p in (tmp_path / "sorted_fake").iterdir()) == ["rec0", "rec1", "rec2"]


def test_cli_sort_with_workers_runs_the_batch(recordings_factory, tmp_path, capsys):
    from spikelab.cli.main import main

    paths = recordings_factory(["ok", "no_spikes"])
    code = main(["sort", *map(str, paths), "--sorter", "fake", "--workers", "1",
                 "--set", "spikes_min=5", "--set", "snr_min=null", "--set", "std_norm_max=null",
                 "--set", "fr_min=null", "--set", "progress_bar=false"])
    out = capsys.readouterr().out
    assert code == 1  # one recording was not sortable
    assert "rec0" in out and "success" in out
    assert "rec1" in out and "not_sortable" in out
    assert (tmp_path / "batch_report.json").is_file()
    index = (tmp_path / "index.html").read_text()  # the batch's page, linking each recording's report
    assert "sorting_report.html" in index and "not_sortable" in index


def test_a_single_path_string_is_one_recording_not_its_characters(recordings_factory, tmp_path, fast):
    (path,) = recordings_factory(["ok"])
    results = sort_batch(str(path), sorter="fake", workers=1, report_folder=tmp_path / "batch", **fast)
    assert [r.rec_name for r in results] == ["rec0"]
    assert results[0].status == "success"


def test_rerun_with_another_config_or_input_sorts_again(recordings_factory, tmp_path, fast):
    """Finding 5: resume checked only the old report's status, so ``curate=False`` after
    ``spikes_min=1e9`` returned the old 0-unit result as ``cached_stages=['all']``."""
    paths = recordings_factory(["ok"])
    kwargs = dict(sorter="fake", workers=1, report_folder=tmp_path / "batch")
    strict = {**fast, "spikes_min": 10**9}
    (first,) = sort_batch(paths, **kwargs, **strict)
    assert first.status == "success" and first.n_curated_units == 0
    (same,) = sort_batch(paths, **kwargs, **strict)
    assert same.cached_stages == ["all"]
    (second,) = sort_batch(paths, **kwargs, **{**strict, "curate": False})
    assert second.cached_stages != ["all"] and second.n_curated_units == second.n_units > 0
    traces = next(paths[0].rglob("traces_cached_seg0.raw"))
    stat = traces.stat()
    os.utime(traces, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the input changed
    (third,) = sort_batch(paths, **kwargs, **{**strict, "curate": False})
    assert third.cached_stages != ["all"]


UNGUARDED = """
from spikelab.plugins import get_plugin_manager
from spikelab.testing import fake_backend
if "fake" not in get_plugin_manager().sorters():
    get_plugin_manager().register(fake_backend, name="spikelab.testing.fake_backend")
from spikelab.spike_sorting import sort_batch

def main():
    sort_batch([{path!r}], sorter="fake", workers=1, progress_bar=False)

main()
"""


def test_a_script_without_a_main_guard_gets_one_line_not_a_dask_traceback(recordings_factory, tmp_path):
    """Finding 10: an unguarded sort_batch died in a 224-line Dask traceback."""
    (path,) = recordings_factory(["ok"])
    script = tmp_path / "my_batch.py"
    script.write_text(UNGUARDED.format(path=str(path)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("spikelab.errors.MainGuardError") and "line 11" in last
    assert 'if __name__ == "__main__":' in last
    assert not (tmp_path / "sorted_fake").exists()


def test_a_guarded_script_passes_the_check(tmp_path):
    script = tmp_path / "guarded.py"
    script.write_text(
        "from spikelab.spike_sorting.batch._guard import check_main_guard\n"
        "def main():\n    check_main_guard()\n    print('ok')\n"
        "if __name__ == '__main__':\n    main()\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
