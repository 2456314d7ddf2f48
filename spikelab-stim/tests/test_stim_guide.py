"""The guide's "Stimulation Artifact Removal" examples run verbatim at the guide's import paths."""

import textwrap

import numpy as np
import pytest

from spikelab_stim.synthetic import make_stim_recording

GUIDE_REMOVAL = textwrap.dedent('''
    from spikelab.spike_sorting.stim_sorting.recentering import recenter_stim_times
    from spikelab.spike_sorting.stim_sorting.artifact_removal import remove_stim_artifacts

    # Recenter stim times to the actual artifact onset
    corrected_times = recenter_stim_times(
        traces,  # (channels, samples) raw voltage
        stim_times_ms,  # logged stim times in ms
        fs_Hz=20000,
        peak_mode="down_edge",  # alignment mode for biphasic pulses
    )

    # Remove artifacts
    cleaned, blanked_mask = remove_stim_artifacts(
        traces,
        corrected_times,
        fs_Hz=20000,
        method="polynomial",
        artifact_window_ms=10.0,  # max tail duration after desaturation
        poly_order=3,  # cubic polynomial (default)
    )
''')

GUIDE_MULTI_PEAK = textwrap.dedent('''
    corrected_times = recenter_stim_times(
        traces,
        stim_times_ms,
        fs_Hz=20000,
        peak_mode="down_edge",
        multi_peak=True,
        multi_peak_select="first",
        multi_peak_threshold=0.6,
        multi_peak_min_separation_ms=2.0,
    )
''')


@pytest.fixture(scope="module")
def namespace():
    data = make_stim_recording(n_channels=16, duration_s=3.0, n_events=25, seed=61, jitter_ms=2.0)
    return {"traces": data.traces, "stim_times_ms": data.logged_stim_times_ms, "_data": data}


def test_guide_removal_example_runs_verbatim(namespace):
    pytest.importorskip("spikelab.spike_sorting.stim_sorting.recentering")
    exec(GUIDE_REMOVAL, namespace)
    data = namespace["_data"]
    np.testing.assert_allclose(namespace["corrected_times"], data.stim_times_ms + 0.2, atol=0.06)
    cleaned, blanked = namespace["cleaned"], namespace["blanked_mask"]
    assert cleaned.shape == blanked.shape == data.traces.shape and blanked.any()


def test_guide_multi_peak_example_runs_verbatim(namespace):
    exec(GUIDE_REMOVAL, namespace)
    exec(GUIDE_MULTI_PEAK, namespace)
    np.testing.assert_allclose(namespace["corrected_times"], namespace["_data"].stim_times_ms + 0.2, atol=0.06)


def test_guide_package_level_names_resolve():
    import spikelab_stim
    from spikelab.spike_sorting.stim_sorting import preprocess_stim_artifacts, sort_stim_recording

    assert preprocess_stim_artifacts is spikelab_stim.preprocess_stim_artifacts
    assert sort_stim_recording is spikelab_stim.sort_stim_recording
