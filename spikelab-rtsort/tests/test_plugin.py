"""The rt_sort backend through core's plugin manager, its classifier and the conformance suite."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("spikelab.spike_sorting.backend")

from spikelab.spike_sorting import _exceptions as ex  # noqa: E402
from spikelab.testing.conformance import BackendConformance  # noqa: E402
from spikelab_rtsort.classifier import classify_rt_sort_failure  # noqa: E402
from spikelab_rtsort.model import load_detection_model  # noqa: E402

CUDA_OOM = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.20 GiB. GPU 0 has a total "
    "capacity of 7.79 GiB of which 301.00 MiB is free.\n"
)


class TestRTSortConformance(BackendConformance):
    backend_name = "rt_sort"
    failure_samples = {
        "spikelab_rtsort.ModelLoadingError: The folder /models/np does not contain "
        "init_dict.json and state_dict.pt (missing: state_dict.pt).\n": "environment",
        CUDA_OOM: "oom_gpu",
        "InsufficientActivityError: RT-Sort found 0 preliminary propagation sequences\n":
            "not_sortable",
    }
    can_run_here = True


def test_model_loading_failure_is_classified_with_the_model_path(tmp_path):
    with pytest.raises(ex.ModelLoadingError) as info:
        load_detection_model(tmp_path / "nowhere")
    assert info.value.model_path == str(tmp_path / "nowhere")
    # the same text, as a child process would leave it in the log, classifies identically
    (tmp_path / "rt_sort.log").write_text(f"Traceback ...\n{info.value.message}\n")
    classified = classify_rt_sort_failure(tmp_path, RuntimeError("sorter child failed"))
    assert isinstance(classified, ex.ModelLoadingError)
    assert classified.model_path == str(tmp_path / "nowhere")
    assert classified.missing == "init_dict.json, state_dict.pt"


def test_presets_select_probe_and_neuropixels_model_is_reported_missing():
    from spikelab.plugins import get_plugin_manager
    from spikelab.spike_sorting.config import RT_SORT, RT_SORT_MEA, RT_SORT_NEUROPIXELS

    assert RT_SORT == RT_SORT_MEA
    assert RT_SORT_NEUROPIXELS.sorter.sorter_params["rt_sort_probe"] == "neuropixels"
    backend = get_plugin_manager().sorter("rt_sort")
    assert backend.check_environment(RT_SORT_MEA) == []
    problems = backend.check_environment(RT_SORT_NEUROPIXELS)
    assert problems and "rt_sort_model_path" in problems[0]


def test_sort_recording_finds_half_the_ground_truth_units(tmp_path):
    from spikeinterface.comparison import compare_sorter_to_ground_truth

    from spikelab.spike_sorting import sort_recording
    from spikelab_rtsort.synthetic import generate_mea_recording

    recording, gt = generate_mea_recording(duration_s=20.0, num_units=8, seed=777)
    results = sort_recording([recording], sorter="rt_sort",
                             intermediate_folders=[tmp_path / "inter"],
                             results_folders=[tmp_path / "results"])
    sd = results[0]
    assert sd.N >= 4
    from spikeinterface.core import NumpySorting

    fs = recording.get_sampling_frequency()
    trains = {k: (train_ms * fs / 1000).round().astype("int64") for k, train_ms in
              enumerate(sd.train)}
    sorting = NumpySorting.from_unit_dict(trains, fs)
    perf = compare_sorter_to_ground_truth(gt, sorting, delta_time=0.4).get_performance()
    assert (perf["accuracy"] > 0.8).mean() >= 0.5, perf
    # the sorter's log shows detection's progress: on a whole array it runs for many minutes, and
    # a silent log is what the inactivity watchdog stops as hung
    log_text = next((tmp_path / "inter").rglob("rt_sort.log")).read_text()
    assert "rtsort detection" in log_text and "rtsort sequences" in log_text
    # and so does every later step of sequence detection (each took minutes on a whole array)
    for step in ("rtsort assignment", "rtsort sequence statistics", "rtsort.reassigned", "rtsort.merged"):
        assert step in log_text, step
    # the band-passed copy written for RT-Sort is float16: half this float32 input on disk
    import spikeinterface as si

    prepared = si.load(sd.metadata["recording_folder"])
    assert prepared.get_dtype() == np.float16
    copy_bytes = sum(f.stat().st_size for f in Path(sd.metadata["recording_folder"]).rglob("*.raw"))
    assert copy_bytes <= 0.51 * recording.get_num_samples() * recording.get_num_channels() * 4
    # and phy opens it: its traces are the band-passed recording
    from phylib.io.model import load_model

    from spikelab.export import export

    model = load_model(export(sd, "phy", tmp_path / "phy") / "params.py")
    try:
        shown = np.asarray(model.traces[:20000], dtype=np.float32)
    finally:
        model.close()
    assert np.isfinite(shown).all() and 2.0 < shown.std() < 50.0  # µV: noise and spikes, no offset
    # SpikeInterface's analyzer of the export reads the copy in µV, widened: its std templates
    # (squares of traces of several hundred µV) stay finite
    analyzer = si.load_sorting_analyzer(export(sd, "spikeinterface", tmp_path / "si",
                                                recording=sd.metadata["recording_folder"]) / "analyzer")
    spread = analyzer.get_extension("templates").get_templates(operator="std")
    assert np.isfinite(spread).all() and spread.max() > 0


def test_spikelab_rtsort_train_runs_through_core_command_line(tmp_path, monkeypatch):
    import json
    import sys

    from spikelab.cli.main import main

    argv = ["rtsort", "train", str(tmp_path / "m"), "--seed", "5", "--n-train-recordings", "1",
            "--n-val-recordings", "1", "--duration-s", "3", "--num-units", "5", "--hidden", "4",
            "--samples-per-epoch", "1000", "--val-samples", "500", "--max-epochs", "1"]
    monkeypatch.setattr(sys, "argv", ["spikelab", *argv])
    assert main(argv) == 0
    training = json.loads((tmp_path / "m" / "init_dict.json").read_text())["training"]
    assert training["command"].startswith("spikelab rtsort train")
    assert load_detection_model(tmp_path / "m").receptive_field == 81


def test_plugin_discovery_and_help_import_no_torch():
    """Issue 22.7: every ``spikelab`` command paid for importing torch (about 8 s) at start."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from spikelab.plugins import get_plugin_manager\n"
        "from spikelab.cli.main import main\n"
        "manager = get_plugin_manager()\n"
        "assert 'rt_sort' in manager.sorters() and 'rtsort' in manager.commands()\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_rtsort_without_a_sub_command_names_the_choices_not_an_internal_argument(capsys):
    from spikelab.cli.main import main

    try:
        code = main(["rtsort"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert "{train}" in err and "rtsort_command" not in err


def test_a_30_khz_probe_recording_is_refused_before_any_work_with_the_fix(tmp_path):
    """Issue 20 item 4: the shipped model is trained at 20 kHz; a 30 kHz probe sorted with it
    found 6 of 16 units (bench/results/accuracy/accuracy_quick.md) and nothing said why."""
    from spikeinterface.core import generate_ground_truth_recording

    from spikelab.spike_sorting import sort_recording

    recording, _ = generate_ground_truth_recording(durations=[2.0], sampling_frequency=30000.0,
                                                   num_channels=16, num_units=3, seed=1)
    with pytest.raises(ex.ModelLoadingError) as info:
        sort_recording([recording], sorter="rt_sort", intermediate_folders=[tmp_path / "inter"],
                       results_folders=[tmp_path / "results"])
    message = str(info.value)
    assert "\n" not in message and "30 kHz" in message and "20 kHz" in message
    assert "spikelab rtsort train" in message and "--sampling-frequency 30000" in message
    assert 'sorter="auto"' in message
    assert info.value.stage == "preflight"
    assert not (tmp_path / "inter").exists() and not (tmp_path / "results").exists()


def test_auto_passes_over_rt_sort_for_a_30_khz_recording_and_says_why():
    from spikeinterface.core import generate_ground_truth_recording

    from spikelab.spike_sorting.sorter_choice import choose_sorter

    recording, _ = generate_ground_truth_recording(durations=[1.0], sampling_frequency=30000.0,
                                                   num_channels=16, num_units=2, seed=1)
    table = [{"array": "probe", "source": "probe.json", "ranking": [
        {"sorter": "rt_sort", "package": "spikelab-rtsort", "well_detected": "16/16"},
        {"sorter": "fake", "well_detected": "10/16"}]}]
    choice = choose_sorter(recording, table=table, load_nvml=lambda: None)
    assert choice.sorter == "fake"
    assert choice.skipped[0].startswith("rt_sort (16/16) cannot sort it here: RT-Sort cannot sort this 30 kHz")


def test_a_bad_probe_is_refused_once_with_its_path_before_any_work(tmp_path):
    from spikelab.errors import ConfigError
    from spikelab.spike_sorting import sort_recording

    with pytest.raises(ConfigError) as info:
        sort_recording([tmp_path / "session.raw.h5"], sorter="rt_sort", rt_sort_probe="utah",
                       intermediate_folders=[tmp_path / "inter"], results_folders=[tmp_path / "results"])
    message = str(info.value)
    assert message.count("rt_sort_probe") == 2  # the knob's name once, and once in its path
    assert "['mea', 'neuropixels'], got 'utah' @ $.sorter.sorter_params.rt_sort_probe" in message
    assert not (tmp_path / "inter").exists() and not (tmp_path / "results").exists()
