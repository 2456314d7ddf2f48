"""Plugin discovery: entry points load once, broken plugins are skipped, switches are honoured."""

from __future__ import annotations

import pytest

from spikelab.plugins import SpikeLabPluginManager

ACME_SORTER = '''
from pathlib import Path
import numpy as np
from spikelab import hookimpl
from spikelab.spike_sorting.backend import OomKnob, SorterBackend

def run(job):
    import spikeinterface as si
    recording = si.load(job.recording_folder)
    print("acme: sorting", recording.get_num_channels(), "channels", flush=True)
    n = recording.get_num_samples()
    np.save(job.sorter_folder / "spikes.npy", np.arange(100, n, 2000, dtype=np.int64))
    (job.sorter_folder / "fs.txt").write_text(str(recording.get_sampling_frequency()))

def read_sorting(folder):
    import spikeinterface.core as sc
    folder = Path(folder)
    samples = np.load(folder / "spikes.npy")
    fs = float((folder / "fs.txt").read_text())
    return sc.NumpySorting.from_samples_and_labels([samples], [np.zeros_like(samples)], fs)

@hookimpl
def spikelab_register_sorters(register):
    register(SorterBackend(name="acme", distribution="acme-sorter", version="1.2",
                           run=run, read_sorting=read_sorting,
                           default_params={"acme_threshold": 4.0},
                           oom_knob=OomKnob(name="acme_batch", default=4096, floor=256)))
'''


def test_entry_point_plugin_is_discovered_with_its_distribution(install_distribution):
    install_distribution("acme-sorter", "1.2", {"acme": "acme_sorter"}, {"acme_sorter": ACME_SORTER})
    manager = SpikeLabPluginManager()
    assert "acme" in manager.sorters()
    info = {i.name: i for i in manager.plugin_info()}["acme"]
    assert (info.distribution, info.version) == ("acme-sorter", "1.2")
    assert "spikelab_register_sorters" in info.hooks


def test_loading_is_idempotent(install_distribution):
    install_distribution("acme-sorter", "1.2", {"acme": "acme_sorter"}, {"acme_sorter": ACME_SORTER})
    manager = SpikeLabPluginManager()
    manager.load()
    manager.load()
    names = [info.name for info in manager.plugin_info()]
    assert names.count("acme") == 1
    assert len([s for s in manager.sorters() if s == "acme"]) == 1


def test_broken_plugin_is_reported_and_others_still_load(install_distribution):
    install_distribution("acme-sorter", "1.2", {"acme": "acme_sorter"}, {"acme_sorter": ACME_SORTER})
    install_distribution(
        "broken-plugin", "0.1", {"broken": "broken_plugin"}, {"broken_plugin": "raise ImportError('no numpy 3 yet')\n"}
    )
    manager = SpikeLabPluginManager()
    assert "acme" in manager.sorters()
    broken = {info.name: info for info in manager.broken}
    assert "broken" in broken
    assert "no numpy 3 yet" in broken["broken"].error
    assert broken["broken"].distribution == "broken-plugin"


def test_plugin_with_a_misspelled_hook_is_rejected_but_isolated(install_distribution):
    bad = "from spikelab import hookimpl\n@hookimpl\ndef spikelab_register_sorterz(register):\n    pass\n"
    install_distribution("typo-plugin", "0.1", {"typo": "typo_plugin"}, {"typo_plugin": bad})
    install_distribution("acme-sorter", "1.2", {"acme": "acme_sorter"}, {"acme_sorter": ACME_SORTER})
    manager = SpikeLabPluginManager()
    manager.load()
    assert "acme" in manager.sorters()


def test_autoload_can_be_disabled(install_distribution, monkeypatch):
    install_distribution("acme-sorter", "1.2", {"acme": "acme_sorter"}, {"acme_sorter": ACME_SORTER})
    monkeypatch.setenv("SPIKELAB_DISABLE_PLUGIN_AUTOLOAD", "1")
    manager = SpikeLabPluginManager()
    assert "acme" not in manager.sorters()
    # built-ins still come through the same manager
    assert any(info.name == "spikelab.cli.builtin_commands" for info in manager.plugin_info())


def test_named_plugins_can_be_disabled(install_distribution, monkeypatch):
    install_distribution("acme-sorter", "1.2", {"acme": "acme_sorter"}, {"acme_sorter": ACME_SORTER})
    monkeypatch.setenv("SPIKELAB_DISABLED_PLUGINS", "other, acme")
    assert "acme" not in SpikeLabPluginManager().sorters()


def test_unknown_sorter_error_lists_installed_and_close_matches(install_distribution):
    from spikelab.spike_sorting._exceptions import UnknownSorterError

    install_distribution("acme-sorter", "1.2", {"acme": "acme_sorter"}, {"acme_sorter": ACME_SORTER})
    manager = SpikeLabPluginManager()
    with pytest.raises(UnknownSorterError, match="Did you mean 'acme'"):
        manager.sorter("acmee")


def test_missing_known_backend_names_its_pip_install(monkeypatch):
    from spikelab.plugins import _provided
    from spikelab.spike_sorting._exceptions import UnknownSorterError

    monkeypatch.setattr(_provided, "installed_provides", dict)  # as if no backend were installed
    manager = SpikeLabPluginManager(autoload=False)
    with pytest.raises(UnknownSorterError, match="spikelab-ks2, which is not installed: `pip install spikelab-ks2`"):
        manager.sorter("kilosort2")


def test_installed_but_disabled_backend_is_not_called_uninstalled(monkeypatch):
    """The distribution's metadata says it is there: the error says why its plugin is absent."""
    pytest.importorskip("spikelab_ks2")
    from spikelab.spike_sorting._exceptions import UnknownSorterError

    monkeypatch.setenv("SPIKELAB_DISABLED_PLUGINS", "kilosort2")
    with pytest.raises(UnknownSorterError, match="spikelab-ks2, which is installed but .*disabled") as error:
        SpikeLabPluginManager().sorter("kilosort2")
    assert "not installed" not in str(error.value)


BROKEN_ACME = "raise ImportError('acme needs libacme.so')\n"


def test_third_party_broken_backend_names_its_distribution_and_the_error(install_distribution, monkeypatch):
    """A third-party distribution's declared names give the same errors as the built-ins' do."""
    from spikelab.plugins import manager
    from spikelab.spike_sorting._classifier import get_classifier
    from spikelab.spike_sorting._exceptions import UnknownSorterError
    from spikelab.spike_sorting.config import get_preset

    provides = {"acme": "acme_broken", "ACME": "acme_broken", "classify_acme_failure": "acme_broken"}
    install_distribution("acme-sorter", "1.2", {"acme": "acme_broken"}, {"acme_broken": BROKEN_ACME}, provides)
    fresh = SpikeLabPluginManager()
    monkeypatch.setattr(manager, "_GLOBAL", fresh)
    with pytest.raises(
        UnknownSorterError,
        match=r"acme-sorter, which is installed but its plugin failed to load \(ImportError: acme needs libacme.so\)",
    ):
        fresh.sorter("acme")
    with pytest.raises(ImportError, match="The ACME preset is provided by acme-sorter"):
        get_preset("ACME")
    with pytest.raises(ImportError, match="classify_acme_failure is provided by acme-sorter"):
        get_classifier("classify_acme_failure")


def test_declared_names_match_what_each_installed_backend_registers():
    """Each backend distribution's ``spikelab.provides`` metadata lists the sorter, presets and
    classifier it registers, and core's first-party list agrees with that metadata."""
    from spikelab.plugins import get_plugin_manager
    from spikelab.plugins._provided import FIRST_PARTY, installed_provides

    declared = installed_provides()
    for backend in get_plugin_manager().sorters().values():
        if backend.distribution not in FIRST_PARTY:
            if backend.distribution not in declared.values():
                continue  # declares nothing (the test kit's fake sorter)
            names = {backend.name, *backend.presets, backend.classifier_name} - {None}
            assert {n: declared.get(n) for n in names} == dict.fromkeys(names, backend.distribution)
            continue
        dist = backend.distribution
        names = {backend.name, *backend.presets, backend.classifier_name} - {None}
        in_metadata = {n for n, d in declared.items() if d == dist}
        assert in_metadata, f"{dist} declares no spikelab.provides names: `pip install --no-deps -e` it again"
        assert names <= in_metadata == set(FIRST_PARTY[dist])


def test_third_party_sorter_runs_by_name_with_no_change_to_core(
    install_distribution, request, tmp_path, tiny_ground_truth
):
    """A pip-installed sorter is usable by name: flat overrides, OOM knob, and a real run."""
    from spikelab.spike_sorting.backend import SortJob
    from spikelab.spike_sorting.config import SortingPipelineConfig

    install_distribution("acme-sorter", "1.2", {"acme": "acme_sorter"}, {"acme_sorter": ACME_SORTER})
    manager = request.getfixturevalue("fresh_global_manager")
    backend = manager.sorter("acme")
    config = SortingPipelineConfig().override(sorter="acme", acme_threshold=6.0, acme_batch=1024)
    assert config.sorter.sorter_params == {"acme_threshold": 6.0, "acme_batch": 1024}

    recording, _ = tiny_ground_truth
    recording.save(folder=tmp_path / "rec", format="binary", verbose=False)
    job = SortJob(
        recording_folder=tmp_path / "rec",
        sorter_folder=tmp_path / "acme_out",
        log_path=tmp_path / "acme_out" / "acme.log",
        params=backend.resolve_params(config),
        config=config,
    )
    assert manager.run_sort(backend, job) == job.sorter_folder
    sorting = backend.read_sorting(job.sorter_folder)
    assert sorting.get_num_units() == 1
    assert sorting.count_num_spikes_per_unit()[0] == len(range(100, recording.get_num_samples(), 2000))
    assert "acme: sorting 16 channels" in job.log_path.read_text()
