"""recenter_stim_times: the five peak modes, multi-pulse alignment, the report and bad inputs."""

import numpy as np
import pytest
import structlog

from spikelab_stim import recenter_stim_times
from spikelab_stim.synthetic import make_stim_recording

PHASE_MS = 0.2


def _data(pulse, polarity, seed, **kw):
    return make_stim_recording(n_channels=12, duration_s=2.0, n_events=15, seed=seed, pulse=pulse,
                               polarity=polarity, phase_ms=PHASE_MS, jitter_ms=2.0, **kw)


# (pulse, polarity, peak_mode, earliest and latest position of the feature after the onset, ms).
# Flat phases tie up to noise, so the feature can be anywhere on its phase.
P = PHASE_MS
CASES = [
    ("monophasic", 1.0, "abs_max", 0.0, P),
    ("monophasic", 1.0, "pos_peak", 0.0, P),
    ("monophasic", -1.0, "neg_peak", 0.0, P),
    ("biphasic", 1.0, "abs_max", 0.0, 2 * P),
    ("biphasic", 1.0, "pos_peak", 0.0, P),
    ("biphasic", 1.0, "neg_peak", P, 2 * P),
    ("biphasic", 1.0, "down_edge", P, P),
    ("biphasic", -1.0, "up_edge", P, P),
    ("biphasic", -1.0, "neg_peak", 0.0, P),
    ("biphasic", -1.0, "pos_peak", P, 2 * P),
]


@pytest.mark.parametrize("saturating", [True, False], ids=["clipped", "unclipped"])
@pytest.mark.parametrize("pulse,polarity,mode,earliest,latest", CASES)
def test_peak_modes_find_the_pulse_feature_despite_jitter(pulse, polarity, mode, earliest, latest, saturating):
    rail = 3000.0 if saturating else 1e9
    data = _data(pulse, polarity, seed=len(mode) + int(polarity > 0), rail_uV=rail)
    assert np.abs(data.logged_stim_times_ms - data.stim_times_ms).max() > 1.0  # the log really is off
    corrected = recenter_stim_times(data.traces, data.logged_stim_times_ms, data.fs_Hz, peak_mode=mode)
    error = corrected - data.stim_times_ms
    assert np.all(error >= earliest - 0.051) and np.all(error < latest + 0.051), error


def test_edge_modes_pick_the_crossing_of_their_polarity():
    anodic = _data("biphasic", 1.0, seed=3)
    down = recenter_stim_times(anodic.traces, anodic.logged_stim_times_ms, anodic.fs_Hz, peak_mode="down_edge")
    np.testing.assert_allclose(down, anodic.stim_times_ms + PHASE_MS, atol=0.051)


def _pairs(train_gain, **kw):
    return make_stim_recording(n_channels=10, duration_s=2.0, n_events=10, seed=21, protocol="paired",
                               pair_interval_ms=8.0, train_gain=train_gain, rail_uV=1e9, **kw)


def test_without_multi_peak_the_strongest_pulse_wins():
    data = _pairs(train_gain=1.5)
    firsts, seconds = data.stim_times_ms[0::2], data.stim_times_ms[1::2]
    got = recenter_stim_times(data.traces, firsts + 1.0, data.fs_Hz, max_offset_ms=12.0, peak_mode="abs_max")
    assert np.all(np.abs(got - seconds) <= 2 * PHASE_MS + 0.06), got - seconds


@pytest.mark.parametrize("mode", ["abs_max", "pos_peak", "down_edge"])
def test_multi_peak_locks_onto_first_or_last_pulse_of_a_pair(mode):
    data = _pairs(train_gain=1.5)
    firsts, seconds = data.stim_times_ms[0::2], data.stim_times_ms[1::2]
    logged = (firsts + seconds) / 2  # the log sits between the two pulses
    offset = PHASE_MS if mode == "down_edge" else 0.0
    first = recenter_stim_times(data.traces, logged, data.fs_Hz, max_offset_ms=12.0, peak_mode=mode,
                                multi_peak=True, multi_peak_select="first")
    last = recenter_stim_times(data.traces, logged, data.fs_Hz, max_offset_ms=12.0, peak_mode=mode,
                               multi_peak=True, multi_peak_select="last")
    # Flat phases tie up to noise: anywhere on either phase (abs_max), on the first (pos_peak).
    slack = {"abs_max": 2 * PHASE_MS, "pos_peak": PHASE_MS, "down_edge": 0.0}[mode] + 0.06
    assert np.all(np.abs(first - (firsts + offset)) <= slack), first - firsts
    assert np.all(np.abs(last - (seconds + offset)) <= slack), last - seconds


def test_multi_peak_on_a_train_finds_the_first_pulse():
    data = make_stim_recording(n_channels=10, duration_s=3.0, n_events=8, seed=5, protocol="train", train_n=5,
                               train_interval_ms=5.0, train_gain=1.1)
    starts = data.stim_times_ms[0::5]
    got = recenter_stim_times(data.traces, starts + 6.0, data.fs_Hz, max_offset_ms=15.0, peak_mode="down_edge",
                              multi_peak=True, multi_peak_select="first", multi_peak_threshold=0.6,
                              multi_peak_min_separation_ms=2.0)
    np.testing.assert_allclose(got, starts + PHASE_MS, atol=0.3)


def test_min_separation_keeps_one_broad_pulse_from_counting_twice():
    # A 3 ms monophasic pulse: with a 4 ms separation, "last" must stay on the same pulse.
    data = make_stim_recording(n_channels=8, duration_s=1.0, n_events=6, seed=8, pulse="monophasic",
                               phase_ms=3.0, rail_uV=1e9)
    kw = dict(max_offset_ms=10.0, peak_mode="abs_max", multi_peak=True, multi_peak_min_separation_ms=4.0)
    first = recenter_stim_times(data.traces, data.stim_times_ms, data.fs_Hz, multi_peak_select="first", **kw)
    last = recenter_stim_times(data.traces, data.stim_times_ms, data.fs_Hz, multi_peak_select="last", **kw)
    assert np.all(np.abs(last - first) <= 3.0)


def test_report_lists_and_logs_events_moved_more_than_the_warning_offset(biphasic):
    logged = biphasic.stim_times_ms.copy()
    logged[[2, 7]] += 4.0  # two events logged 4 ms late
    with structlog.testing.capture_logs() as logs:
        corrected, report = recenter_stim_times(biphasic.traces, logged, biphasic.fs_Hz, warn_offset_ms=3.0,
                                                return_report=True)
    assert report.moved_indices.tolist() == [2, 7]
    assert report.n_moved == 2
    np.testing.assert_allclose(report.offsets_ms, corrected - logged)
    warned = [e for e in logs if e["event"] == "stim_recenter_large_offsets"]
    assert warned and warned[0]["n_moved"] == 2 and [i for i, _ in warned[0]["events"]] == [2, 7]


def test_warning_can_be_silenced(biphasic):
    with structlog.testing.capture_logs() as logs:
        _, report = recenter_stim_times(biphasic.traces, biphasic.logged_stim_times_ms, biphasic.fs_Hz,
                                        warn_offset_ms=None, return_report=True)
    assert report.n_moved == 0
    assert not [e for e in logs if e["event"] == "stim_recenter_large_offsets"]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(peak_mode="peak"), "peak_mode"),
        (dict(multi_peak_select="middle"), "multi_peak_select"),
        (dict(multi_peak_threshold=1.5), "multi_peak_threshold"),
        (dict(multi_peak_threshold=0.0), "multi_peak_threshold"),
        (dict(n_reference_channels=0), "n_reference_channels"),
        (dict(max_offset_ms=-1.0), "max_offset_ms"),
    ],
)
def test_bad_options_are_named(biphasic, kwargs, match):
    with pytest.raises(ValueError, match=match):
        recenter_stim_times(biphasic.traces, biphasic.stim_times_ms, biphasic.fs_Hz, **kwargs)


@pytest.mark.parametrize(
    "times,match",
    [
        ([10.0, np.nan, 30.0], "NaN"),
        ([10.0, 30.0, 20.0], "non-decreasing"),
        ([10.0, 5000.0], "outside the recording"),
        ([-1.0, 10.0], "outside the recording"),
        ([[10.0, 20.0]], "1-D"),
    ],
)
def test_bad_stim_times_are_named(biphasic, times, match):
    with pytest.raises(ValueError, match=rf"stim_times_ms.*{match}|{match}.*stim_times_ms"):
        recenter_stim_times(biphasic.traces, times, biphasic.fs_Hz)


def test_bad_traces_are_named(biphasic):
    with pytest.raises(ValueError, match="traces.*2-D"):
        recenter_stim_times(biphasic.traces[0], [10.0], biphasic.fs_Hz)
    bad = biphasic.traces.copy()
    bad[3, 100] = np.nan
    with pytest.raises(ValueError, match="traces.*NaN.*channel 3"):
        recenter_stim_times(bad, [10.0], biphasic.fs_Hz)
    with pytest.raises(ValueError, match="fs_Hz"):
        recenter_stim_times(biphasic.traces, [10.0], 0)
