"""remove_stim_artifacts: spikes on tails survive, clipping is blanked, bursts, options, bad inputs."""

import numpy as np
import pytest

from spikelab_stim import remove_stim_artifacts
from spikelab_stim.synthetic import make_stim_recording, score_cleaning


def _clean(data, **kw):
    return remove_stim_artifacts(data.traces, data.stim_times_ms, data.fs_Hz, **kw)


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(pulse="monophasic"),
        dict(polarity=-1.0),
        dict(tail_tau_ms=2.5),
        dict(dc_offset_uV=400.0),
        dict(protocol="paired", pair_interval_ms=20.0),
        dict(protocol="train", train_n=5, train_interval_ms=10.0),
    ],
    ids=["biphasic", "monophasic", "cathodic", "slow-tail", "dc-offset", "paired", "train"],
)
def test_spikes_riding_on_the_tail_are_recovered(kw):
    data = make_stim_recording(n_channels=16, duration_s=3.0, n_events=30, seed=31, **kw)
    cleaned, blanked = _clean(data)
    score = score_cleaning(data, cleaned, blanked)
    assert score["n_spikes_scored"] > 100
    assert score["recovered_fraction"] >= 0.9, score
    assert score["amplitude_error"] < 0.1, score
    assert score["residual_to_noise"] < 1.5, score


def test_raw_tail_would_have_hidden_the_spikes(biphasic):
    # Same scoring on the uncleaned traces: the artifact swamps the spikes.
    untouched = score_cleaning(biphasic, biphasic.traces, np.zeros(biphasic.traces.shape, bool))
    cleaned = score_cleaning(biphasic, *_clean(biphasic))
    assert untouched["residual_to_noise"] > 5
    assert untouched["recovered_fraction"] < cleaned["recovered_fraction"] - 0.1


def test_blank_method_discards_spikes_in_the_window(biphasic):
    cleaned, blanked = _clean(biphasic, method="blank")
    score = score_cleaning(biphasic, cleaned, blanked)
    assert score["recovered_fraction"] < 0.2
    # ...but the polynomial method keeps them.
    poly = score_cleaning(biphasic, *_clean(biphasic))
    assert poly["recovered_fraction"] > 0.9


def test_every_clipped_sample_is_blanked_without_a_threshold(biphasic):
    cleaned, blanked = _clean(biphasic)
    railed = np.abs(biphasic.traces) >= biphasic.params["rail_uV"]
    assert railed.sum() > 1000  # the fixture really saturates
    assert blanked[railed].all()
    # Nothing near the rail survives in the output.
    assert np.abs(cleaned).max() < 0.2 * biphasic.params["rail_uV"]


def test_blanking_is_short_where_nothing_saturates():
    data = make_stim_recording(n_channels=8, duration_s=2.0, n_events=15, seed=4, rail_uV=1e9, amplitude_uV=2000.0)
    _, blanked = _clean(data)
    per_event_ms = blanked.sum(axis=1) / 15 / (data.fs_Hz / 1000.0)
    # pre_blank 0.5 ms + min_blank 1 ms, plus at most a little SALPA-style extension.
    assert np.all(per_event_ms < 2.5), per_event_ms


def test_saturation_threshold_adds_an_amplitude_criterion(biphasic):
    _, flat_only = _clean(biphasic)
    _, with_threshold = _clean(biphasic, saturation_threshold=500.0)
    assert with_threshold.sum() >= flat_only.sum()
    big = np.abs(biphasic.traces) >= 500.0
    near = np.zeros_like(big)
    for t in np.round(biphasic.stim_times_ms * 20).astype(int):
        near[:, t : t + 200] = True
    assert with_threshold[big & near].all()


def test_raw_traces_drive_saturation_detection(biphasic):
    # Filtering hides flat rail runs; giving the raw traces finds them again.
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, 300.0, btype="highpass", fs=biphasic.fs_Hz, output="sos")
    filtered = sosfiltfilt(sos, biphasic.traces, axis=1).astype(np.float32)
    _, from_raw = remove_stim_artifacts(filtered, biphasic.stim_times_ms, biphasic.fs_Hz,
                                        raw_traces=biphasic.traces)
    _, from_raw_only = _clean(biphasic)
    np.testing.assert_array_equal(from_raw, from_raw_only)


def test_bursts_too_close_to_fit_are_blanked_whole():
    data = make_stim_recording(n_channels=12, duration_s=2.0, n_events=8, seed=6, protocol="train", train_n=6,
                               train_interval_ms=1.5)
    # Six summed tails outlast 10 ms; a burst needs the wider window the docs advise.
    cleaned, blanked = _clean(data, artifact_window_ms=20.0)
    fs_ms = data.fs_Hz / 1000.0
    centre = data.traces.shape[0] // 2  # the stimulating electrode saturates on every pulse
    starts = np.round(data.stim_times_ms[0::6] * fs_ms).astype(int)
    ends = np.round(data.stim_times_ms[5::6] * fs_ms).astype(int)
    for a, b in zip(starts, ends):
        assert blanked[centre, a:b].all()
    score = score_cleaning(data, cleaned, blanked, window_ms=20.0)
    assert score["residual_to_noise"] < 1.5, score


def test_blank_fill_keeps_the_dc_offset_or_zeroes(offset_recording):
    cleaned, blanked = _clean(offset_recording)
    baseline = np.median(offset_recording.clean, axis=1)
    for c in range(cleaned.shape[0]):
        vals = cleaned[c, blanked[c]]
        assert np.all(np.abs(vals - baseline[c]) < 15.0)  # blanked = that channel's own baseline
    zeroed, blanked_zero = _clean(offset_recording, blank_fill="zero")
    assert np.all(zeroed[blanked_zero] == 0.0)


def test_untouched_outside_the_artifacts(biphasic):
    cleaned, blanked = _clean(biphasic)
    fs_ms = biphasic.fs_Hz / 1000.0
    far = np.ones(biphasic.traces.shape[1], dtype=bool)
    for t in np.round(biphasic.stim_times_ms * fs_ms).astype(int):
        far[max(0, t - int(fs_ms)) : t + int(25 * fs_ms)] = False
    np.testing.assert_array_equal(cleaned[:, far], biphasic.traces[:, far])


def test_copy_false_cleans_in_place_and_copy_true_does_not(biphasic):
    original = biphasic.traces.copy()
    cleaned, _ = _clean(biphasic)
    np.testing.assert_array_equal(biphasic.traces, original)
    work = original.copy()
    in_place, _ = remove_stim_artifacts(work, biphasic.stim_times_ms, biphasic.fs_Hz, copy=False)
    assert in_place is work
    np.testing.assert_array_equal(in_place, cleaned)


def test_threads_give_the_same_result(biphasic, monkeypatch):
    from spikelab_stim import _engine

    monkeypatch.setattr(_engine, "_WINDOW_BUDGET", 16 * 410 * 3)  # 3 events per batch: 10 batches
    one, mask_one = _clean(biphasic)
    two, mask_two = _clean(biphasic, n_jobs=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(mask_one, mask_two)


def test_integer_input_gives_float32(biphasic):
    ints = np.round(biphasic.traces).astype(np.int16)
    cleaned, _ = remove_stim_artifacts(ints, biphasic.stim_times_ms, biphasic.fs_Hz)
    assert cleaned.dtype == np.float32


def test_no_stim_times_returns_a_copy(biphasic):
    cleaned, blanked = remove_stim_artifacts(biphasic.traces, [], biphasic.fs_Hz)
    np.testing.assert_array_equal(cleaned, biphasic.traces)
    assert cleaned is not biphasic.traces and not blanked.any()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(method="spline"), "method"),
        (dict(poly_order=9), "poly_order"),
        (dict(poly_order=2.5), "poly_order"),
        (dict(artifact_window_ms=0), "artifact_window_ms"),
        (dict(saturation_threshold=-5), "saturation_threshold"),
        (dict(blank_fill="nan"), "blank_fill"),
        (dict(min_flat_samples=1), "min_flat_samples"),
        (dict(noise_levels=[1.0, 2.0]), "noise_levels"),
        (dict(n_jobs=0), "n_jobs"),
        (dict(raw_traces=np.zeros((3, 10))), "raw_traces"),
    ],
)
def test_bad_options_are_named(biphasic, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _clean(biphasic, **kwargs)


@pytest.mark.parametrize(
    "traces,times,match",
    [
        ("1d", [10.0], "traces.*2-D"),
        ("nan", [10.0], "traces.*NaN"),
        ("transposed", [10.0], "transposed"),
        ("ok", [10.0, np.inf], "stim_times_ms.*NaN or inf"),
        ("ok", [20.0, 10.0], "stim_times_ms.*non-decreasing"),
        ("ok", [1e6], "stim_times_ms.*outside the recording"),
    ],
)
def test_bad_inputs_are_named(biphasic, traces, times, match):
    arr = {
        "1d": biphasic.traces[0],
        "nan": np.where(np.arange(biphasic.traces.shape[1]) == 5, np.nan, biphasic.traces),
        "transposed": np.zeros((20_000, 16), dtype=np.float32),
        "ok": biphasic.traces,
    }[traces]
    with pytest.raises(ValueError, match=match):
        remove_stim_artifacts(arr, times, biphasic.fs_Hz)
