"""From a pipeline run (fake sorter, a generated Maxwell file) to phy and NWB, as the docs promise.

``spikelab export RESULTS --to phy OUT`` finds the recording through the SpikeData's metadata;
``--recording session.raw.h5`` reopens the original with the sort's reader; the curation history
reaches every export; ``SpikeData.load`` tells the formats apart.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from spikelab import SpikeData
from spikelab.cli.main import main
from spikelab.spikedata.errors import SpikeDataError


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    from spikelab.demo import write_demo_recording
    from spikelab.spike_sorting import sort_recording

    folder = tmp_path_factory.mktemp("pipeline")
    path, _ = write_demo_recording(folder / "data" / "session.raw.h5", duration_s=8.0, num_channels=16, seed=1)
    sort_recording(
        [path], sorter="fake", n_jobs=1, progress_bar=False, prevent_system_sleep=False, isolation="inline",
        intermediate_folders=[folder / "inter"], results_folders=[folder / "results"],
    )
    return path, folder / "inter", folder / "results"


def _traces(folder):
    from phylib.io.model import load_model

    model = load_model(folder / "params.py")
    try:
        assert model.traces is not None, "phy has no traces"
        return np.asarray(model.traces[:])
    finally:
        model.close()


def test_pipeline_spikedata_records_its_recording_and_history(pipeline_run):
    path, inter, results = pipeline_run
    sd = SpikeData.load(results / "sorted_spikedata_curated.pkl")
    assert sd.metadata["recording_folder"] == str(inter / "recording")
    assert sd.metadata["source_file"] == str(path)
    assert sd.metadata["curation_history"] == json.loads((results / "curation_history.json").read_text())


def test_cli_exports_to_phy_without_and_with_the_original_file(pipeline_run, tmp_path, capsys):
    import spikeinterface as si

    path, inter, results = pipeline_run
    assert main(["export", str(results), "--to", "phy", str(tmp_path / "phy")]) == 0
    recorded = _traces(tmp_path / "phy")
    prepared = si.load(inter / "recording")
    np.testing.assert_allclose(recorded, prepared.get_traces(), rtol=1e-6)
    assert main(["export", str(results), "--to", "phy", str(tmp_path / "phy_raw"), "--recording", str(path)]) == 0
    assert _traces(tmp_path / "phy_raw").shape == recorded.shape
    history = json.loads((tmp_path / "phy" / "spikelab_curation_history.json").read_text())
    assert history == json.loads((results / "curation_history.json").read_text())
    capsys.readouterr()


def test_cli_names_a_missing_recording_in_one_line(pipeline_run, tmp_path, capsys):
    _, _, results = pipeline_run
    code = main(
        ["export", str(results), "--to", "phy", str(tmp_path / "phy"), "--recording", str(tmp_path / "nope.raw.h5")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "nope.raw.h5" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "phy").exists()


def test_without_the_intermediate_folder_the_original_file_is_used(pipeline_run, tmp_path):
    path, inter, results = pipeline_run
    sd = SpikeData.load(results / "sorted_spikedata_curated.pkl")
    sd.metadata["recording_folder"] = str(tmp_path / "deleted")
    folder = sd.export("phy", tmp_path / "phy")
    assert _traces(folder).shape[0] == round(sd.length * sd.fs_Hz / 1000)
    sd.metadata["source_file"] = str(tmp_path / "moved.raw.h5")
    with pytest.raises(Exception, match="moved.raw.h5"):
        sd.export("phy", tmp_path / "phy2")


def test_curation_history_reaches_nwb(pipeline_run, tmp_path):
    from spikelab.export.nwb import load_nwb

    _, _, results = pipeline_run
    assert main(["export", str(results), "--to", "nwb", str(tmp_path / "units.nwb")]) == 0
    history = json.loads((results / "curation_history.json").read_text())
    assert load_nwb(tmp_path / "units.nwb").metadata["curation_history"] == history
    from nwbinspector import inspect_nwbfile

    worst = {m.importance.name for m in inspect_nwbfile(nwbfile_path=str(tmp_path / "units.nwb"))}
    assert not worst & {"BEST_PRACTICE_VIOLATION", "PYNWB_VALIDATION", "ERROR"}, worst


def test_spikedata_load_tells_the_formats_apart(pipeline_run, tmp_path):
    path, _, results = pipeline_run
    sd = SpikeData.load(results / "sorted_spikedata_curated.pkl")
    sd.export("nwb", tmp_path / "units.nwb")
    sd.export("phy", tmp_path / "phy")
    for loaded in (SpikeData.load(tmp_path / "units.nwb"), SpikeData.load(tmp_path / "phy")):
        assert list(loaded.unit_ids) == list(sd.unit_ids)
        for a, b in zip(sd.train, loaded.train):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(SpikeDataError, match="not NWB"):
        SpikeData.load(path)  # the recording itself
    shutil.copy(tmp_path / "units.nwb", tmp_path / "units.pkl")
    assert SpikeData.load(tmp_path / "units.pkl").N == sd.N  # the content decides, not the suffix
