"""One declared set of stim options: one spelling, one default and one check in every function."""

import inspect
import warnings

import attrs
import numpy as np
import pytest
from spikeinterface.core import NumpyRecording

from spikelab_stim import (
    StimParams,
    preprocess_stim_artifacts,
    recenter_stim_times,
    remove_stim_artifacts,
    sort_stim_recording,
)
from spikelab_stim.synthetic import make_stim_recording


class NoSpikes:
    """Stand-in for a fitted RT-Sort that finds one silent unit (these tests look at the events)."""

    def sort_offline(self, recording):
        return [np.zeros(0, dtype=np.int64)]


@pytest.fixture(scope="module")
def evoked():
    return make_stim_recording(n_channels=8, duration_s=3.0, n_events=20, seed=51, jitter_ms=1.0,
                               spike_amplitude_uV=(80.0, 150.0), evoked_probability=0.7,
                               spontaneous_rate_hz=0.5)


def _sort(evoked, **options):
    return sort_stim_recording(evoked.traces, NoSpikes(), evoked.logged_stim_times_ms, 5.0, 15.0,
                               fs_Hz=evoked.fs_Hz, **options)


@pytest.mark.parametrize("function", [recenter_stim_times, remove_stim_artifacts])
def test_explicit_signatures_use_the_declared_names_and_defaults(function):
    defaults = {f.name: f.default for f in attrs.fields(StimParams)}
    shared = {
        name: p.default for name, p in inspect.signature(function).parameters.items() if name in defaults
    }
    assert len(shared) >= 9
    assert shared == {name: defaults[name] for name in shared}


def test_sort_stim_recording_takes_the_same_spelling_as_the_other_functions(evoked):
    slices, _ = _sort(evoked, method="blank", max_offset_ms=5.0, peak_mode="down_edge")
    assert slices.n_events == 20
    np.testing.assert_allclose(slices.stim_times_ms, evoked.stim_times_ms + 0.2, atol=0.06)


def test_old_spellings_still_work_and_name_the_new_one(evoked):
    new, _ = _sort(evoked, method="blank", max_offset_ms=5.0)
    with pytest.warns(DeprecationWarning) as caught:
        old, _ = _sort(evoked, artifact_method="blank", max_stim_offset_ms=5.0)
    messages = sorted(str(w.message) for w in caught)
    assert "`artifact_method` is deprecated, use `method`" in messages[0]
    assert "`max_stim_offset_ms` is deprecated, use `max_offset_ms`" in messages[1]
    assert all(w.filename == __file__ for w in caught)  # points at the caller's line
    np.testing.assert_array_equal(old.stim_times_ms, new.stim_times_ms)


def test_both_spellings_at_once_are_refused(evoked):
    with pytest.raises(TypeError, match="both `max_stim_offset_ms` and `max_offset_ms`"):
        _sort(evoked, max_stim_offset_ms=5.0, max_offset_ms=5.0)


@pytest.mark.parametrize(
    "options,message",
    [
        (dict(multi_peak_threshold=1.5), r"multi_peak_threshold must be in \(0, 1\], got 1.5"),
        (dict(max_offset_ms=-1.0), r"max_offset_ms must be >= 0, got -1.0"),
        (dict(poly_order=7), r"poly_order must be in \[0, 6\], got 7"),
        (dict(method="median"), r"method must be one of \['polynomial', 'blank'\], got 'median'"),
        (dict(poly_order=2.5), r"poly_order: expected an integer, got 2.5"),
    ],
)
def test_bad_values_name_the_option_and_the_accepted_range(evoked, options, message):
    for call in (
        lambda: _sort(evoked, **options),
        lambda: preprocess_stim_artifacts(NumpyRecording(evoked.traces.T.copy(), evoked.fs_Hz),
                                          evoked.logged_stim_times_ms, **options),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_a_declared_params_object_is_shared_and_overridden_per_call(evoked):
    params = StimParams(method="blank", max_offset_ms=5.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, _ = _sort(evoked, params=params)
        b, _ = _sort(evoked, params=params, method="polynomial")
    assert a.n_events == b.n_events == 20


def test_a_misspelt_option_is_refused_with_close_matches(evoked):
    with pytest.raises(TypeError, match="unknown option 'max_ofset_ms'.*max_offset_ms"):
        _sort(evoked, max_ofset_ms=5.0)
