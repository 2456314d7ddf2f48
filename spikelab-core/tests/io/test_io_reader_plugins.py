"""Formats come from reader plugins: a third-party reader claims its files before the built-ins."""

from __future__ import annotations

import numpy as np
import pytest

from spikelab.errors import InputError
from spikelab.plugins import SpikeLabPluginManager, hookimpl
from spikelab.plugins.manager import set_plugin_manager
from spikelab.spike_sorting.io import list_streams, open_recording
from spikelab.testing import maxwell as mxw


class CsvReader:
    """A toy plugin: ``.csvrec`` files of comma-separated samples (one column per channel), 1 kHz."""

    @hookimpl
    def spikelab_read_recording(self, source, config):
        from pathlib import Path

        from spikeinterface.core import NumpyRecording

        if not isinstance(source, (str, Path)) or not str(source).endswith(".csvrec"):
            return None
        traces = np.loadtxt(source, delimiter=",", dtype=np.float32, ndmin=2)
        recording = NumpyRecording([traces], sampling_frequency=1000.0)
        recording.set_dummy_probe_from_locations(
            np.column_stack([np.zeros(traces.shape[1]), np.arange(traces.shape[1])])
        )
        return recording

    @hookimpl
    def spikelab_list_streams(self, source):
        return ["only"] if str(source).endswith(".csvrec") else None


@pytest.fixture
def manager_with_csv():
    manager = SpikeLabPluginManager(autoload=False)
    manager.register(CsvReader(), name="csv-reader")
    previous = set_plugin_manager(manager)
    yield manager
    set_plugin_manager(previous)


def test_third_party_reader_opens_its_format(tmp_path, manager_with_csv):
    path = tmp_path / "session.csvrec"
    np.savetxt(path, np.arange(30, dtype=float).reshape(10, 3), delimiter=",")
    loaded = open_recording(path)
    assert loaded.name == "session" and loaded.recording.get_num_channels() == 3
    np.testing.assert_array_equal(loaded.recording.get_traces()[:, 1], np.arange(1, 30, 3))
    assert list_streams(path) == ["only"]


def test_builtin_readers_still_serve_other_formats(tmp_path, manager_with_csv):
    path = mxw.write_legacy(tmp_path / "m.raw.h5", num_channels=4, extra_rows=3)
    assert open_recording(path).recording.get_num_channels() == 4


def test_without_builtins_nothing_reads_maxwell(tmp_path):
    manager = SpikeLabPluginManager(autoload=False, builtins=False)
    previous = set_plugin_manager(manager)
    try:
        with pytest.raises(InputError, match="No reader plugin"):
            open_recording(mxw.write_legacy(tmp_path / "m.raw.h5"))
    finally:
        set_plugin_manager(previous)
